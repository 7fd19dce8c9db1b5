"""Look ahead in the selection: whether a resolver's result will be asked for a nested field.

A resolver that builds many objects (a page of mentors) can load, in one call, what each of
them would otherwise load through a resolver of its own (their skills): the objects then
carry it as plain data, and execution reads it like any attribute (graphql/execution.py).
"""

from collections.abc import Iterable, Sequence
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)


def _reaches(
    sets: Iterable[SelectionSetNode | None],
    path: Sequence[str],
    fragments: dict[str, FragmentDefinitionNode],
) -> bool:
    if not path:
        return True
    below: list[SelectionSetNode | None] = []
    level = [s for s in sets if s is not None]
    spread: set[str] = set()  # a fragment spread twice at one level is looked at once
    while level:
        for selection in level.pop().selections:
            if isinstance(selection, FieldNode):
                if selection.name.value == path[0]:
                    below.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                level.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None and selection.name.value not in spread:
                    spread.add(selection.name.value)
                    level.append(fragment.selection_set)
    return bool(below) and _reaches(below, path[1:], fragments)


def selects(info: Any, *path: str) -> bool:
    """Whether the current field's selection reaches the fields `path` (names, not aliases),
    through fragments, whatever directives say: a superset, so what a `@skip` leaves out may
    be loaded for nothing, but nothing selected is ever left out. Same-named fields at a level
    are merged, as execution merges them."""
    raw = info._raw_info  # strawberry's Info wraps graphql-core's: its field nodes, fragments
    nodes: list[FieldNode] = raw.field_nodes
    return _reaches([node.selection_set for node in nodes], path, raw.fragments)
