"""GraphQL's side of kit/text.py: BAD_USER_INPUT for text the database cannot store, in any
variable or any string literal of the document, before a resolver (or a query) runs."""

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from graphql.language import ArgumentNode, Node, ObjectFieldNode, StringValueNode
from strawberry.extensions import SchemaExtension

from mentorapi.kit import text


def _literals(node: Node, loc: text.Loc) -> Iterator[tuple[StringValueNode, text.Loc]]:
    """Every string literal of the document, located by the argument (and input fields) that
    hold it."""
    if isinstance(node, StringValueNode):
        yield node, loc
        return
    if isinstance(node, ArgumentNode | ObjectFieldNode):
        loc = (*loc, node.name.value)
    for key in node.keys:
        child = getattr(node, key, None)
        if isinstance(child, Node):
            yield from _literals(child, loc)
        elif isinstance(child, tuple | list):
            for item in child:
                if isinstance(item, Node):
                    yield from _literals(item, loc)


def _may_hold_unstorable_literal(query: str | None) -> bool:
    # A literal carries NUL or a surrogate only as an escape (`\u0000`, `\u{0}`) or raw text:
    # most documents have neither, and skip the walk.
    return query is None or "\\u" in query or not text.storable(query)


def unstorable_input(
    variables: dict[str, Any] | None, document: Node | None, query: str | None
) -> GraphQLError | None:
    issues = text.issues(variables or {}, ("variables",))
    nodes: list[Node] = []
    if document is not None and _may_hold_unstorable_literal(query):
        for literal, loc in _literals(document, ()):
            if not text.storable(literal.value):
                issues += text.issues(literal.value, loc)
                nodes.append(literal)
    if not issues:
        return None
    where = ".".join(str(p) for p in issues[0]["loc"])
    more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
    return GraphQLError(
        f"{where}: {text.MESSAGE}{more}",
        nodes=nodes or None,
        extensions={"code": "BAD_USER_INPUT", "errors": issues},
    )


class RefuseUnstorableText(SchemaExtension):
    """Runs in the validation step, after DocumentValidation (it must come after it in the list
    of extensions: that one sets the validation errors, this one adds to them), so an operation
    with unstorable text is refused like an invalid one: nothing executes. A document already
    refused is not walked (it may be one built to be expensive to walk)."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.pre_execution_errors:
            yield
            return
        error = unstorable_input(context.variables, context.graphql_document, context.query)
        if error is not None:
            # A new list: the one there may be ValidationCache's cached result.
            context.pre_execution_errors = [*(context.pre_execution_errors or []), error]
        yield
