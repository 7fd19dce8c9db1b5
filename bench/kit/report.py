"""Results: a table on stdout and bench/results/<timestamp>.json (git-ignored)."""

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[1] / "results"


def table(title: str, columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    """A table a scenario can return under "tables" to have it printed."""
    return {"title": title, "columns": columns, "rows": rows}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return "-" if value is None else str(value)


def render(t: dict[str, Any]) -> str:
    cells = [[_cell(v) for v in row] for row in t["rows"]]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(t["columns"])]
    line = "  ".join(c.ljust(w) for c, w in zip(t["columns"], widths, strict=True))
    out = [t["title"], line, "  ".join("-" * w for w in widths)]
    numeric = [all(isinstance(r[i], int | float) for r in t["rows"]) for i in range(len(widths))]
    out += [
        "  ".join(
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric, strict=True)
        )
        for r in cells
    ]
    return "\n".join(out)


def print_result(name: str, result: dict[str, Any]) -> None:
    print(f"\n=== {name} ===")
    tables = result.get("tables")
    if tables:
        for t in tables:
            print(render(t) + "\n")
        return
    for key, value in result.items():
        if not isinstance(value, dict | list):
            print(f"  {key}: {_cell(value)}")


def machine() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit or None,
    }


def write(document: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{stamp}.json"
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path
