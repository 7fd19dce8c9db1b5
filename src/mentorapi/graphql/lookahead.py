"""Look ahead in the selection: whether a resolver's result will be asked for a nested field.

A resolver that builds many objects (a page of mentors) can load, in one call, what each of
them would otherwise load through a resolver of its own (their skills): the objects then
carry it as plain data, and execution reads it like any attribute (graphql/execution.py).
`selects_only` tells whether a selection asks for nothing beyond a given set of fields, so that
a cheaper copy of the data (a mentor's stored offers) may answer it.
"""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)


def _below(
    sets: Iterable[SelectionSetNode | None],
    name: str,
    fragments: dict[str, FragmentDefinitionNode],
) -> list[FieldNode]:
    """The fields named `name` (not aliases) in `sets`, through fragments."""
    found: list[FieldNode] = []
    level = [s for s in sets if s is not None]
    spread: set[str] = set()  # a fragment spread twice at one level is looked at once
    while level:
        for selection in level.pop().selections:
            if isinstance(selection, FieldNode):
                if selection.name.value == name:
                    found.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                level.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None and selection.name.value not in spread:
                    spread.add(selection.name.value)
                    level.append(fragment.selection_set)
    return found


def _reaches(
    sets: Iterable[SelectionSetNode | None],
    path: Sequence[str],
    fragments: dict[str, FragmentDefinitionNode],
) -> list[FieldNode] | None:
    """The field nodes at the end of `path` (None for an empty path: the current field)."""
    found: list[FieldNode] | None = None
    for name in path:
        found = _below(sets, name, fragments)
        sets = [node.selection_set for node in found]
    return found


# What a selection may ask for below a field, for `selects_only`: a field name with what may
# be asked below it (None: a leaf; `ANY`: anything).
Allowed = Mapping[str, "Allowed | None"]


class _Any(Mapping[str, "Allowed | None"]):
    """Anything below a field: every name, with anything below it."""

    def __getitem__(self, _name: str) -> "_Any":
        return self

    def __contains__(self, _name: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


ANY: Allowed = _Any()


def _only(
    set_: SelectionSetNode | None,
    allowed: Allowed,
    fragments: dict[str, FragmentDefinitionNode],
    spread: frozenset[str],
) -> bool:
    if set_ is None:
        return True
    for selection in set_.selections:
        if selection.directives:  # @include/@skip (maybe on variables): not worth the doubt
            return False
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if name not in allowed:
                return False
            below = allowed[name]
            if below is ANY:
                continue
            if below is None:
                if selection.selection_set is not None:
                    return False
            elif not _only(selection.selection_set, below, fragments, spread):
                return False
        elif isinstance(selection, InlineFragmentNode):
            if not _only(selection.selection_set, allowed, fragments, spread):
                return False
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None or fragment.directives or selection.name.value in spread:
                return False  # unknown, or a cycle (validation refuses both): be sure
            inner = spread | {selection.name.value}
            if not _only(fragment.selection_set, allowed, fragments, inner):
                return False
        else:
            return False
    return True


def selects(info: Any, *path: str) -> bool:
    """Whether the current field's selection reaches the fields `path` (names, not aliases),
    through fragments, whatever directives say: a superset, so what a `@skip` leaves out may
    be loaded for nothing, but nothing selected is ever left out. Same-named fields at a level
    are merged, as execution merges them."""
    raw = info._raw_info  # strawberry's Info wraps graphql-core's: its field nodes, fragments
    nodes: list[FieldNode] = raw.field_nodes
    return _reaches([node.selection_set for node in nodes], path, raw.fragments) != []


def selects_only(info: Any, path: Sequence[str], allowed: Allowed) -> bool:
    """Whether everything the current field's selection asks for under the fields `path`
    (names, not aliases; each of them, wherever fragments put it) is within `allowed`, through
    aliases, fragments and inline fragments. Conservative: any directive there (@include,
    @skip, with or without variables) answers False, as does an unknown fragment; so does a
    path the selection does not reach, since nothing is then known to fit."""
    raw = info._raw_info
    nodes: list[FieldNode] = raw.field_nodes
    found = _reaches([node.selection_set for node in nodes], path, raw.fragments)
    if not found:
        return False
    return all(
        not node.directives and _only(node.selection_set, allowed, raw.fragments, frozenset())
        for node in found
    )
