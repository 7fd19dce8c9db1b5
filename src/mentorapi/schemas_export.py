"""Export the public contract: openapi/openapi.json and openapi/schema.graphql (the SDL)."""

import json
from collections.abc import Callable
from pathlib import Path

from mentorapi.db.migrate import ROOT

OPENAPI_DIR = ROOT / "openapi"


def openapi_json() -> str:
    from mentorapi.main import create_app

    return json.dumps(create_app().openapi(), indent=2, sort_keys=False) + "\n"


def schema_graphql() -> str:
    from strawberry.printer import print_schema

    from mentorapi.graphql.schema import build_schema

    return print_schema(build_schema()) + "\n"


EXPORTS: dict[str, Callable[[], str]] = {
    "openapi.json": openapi_json,
    "schema.graphql": schema_graphql,
}


def export(check: bool = False, directory: Path = OPENAPI_DIR) -> list[str]:
    """Write every schema file; with check, write nothing and return the files that drifted."""
    drift = []
    for name, render in EXPORTS.items():
        path = directory / name
        text = render()
        if check:
            if not path.exists() or path.read_text() != text:
                drift.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return drift
