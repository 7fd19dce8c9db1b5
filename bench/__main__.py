"""`python -m bench [scenario ...]`: run the named scenarios, or every one it finds.

Options become BENCH_* environment variables, read by bench.kit.options (scenarios take no
arguments). Example: `python -m bench mentors --workers 2 --duration 30`.
"""

import argparse
import asyncio
import os
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from bench.kit import procs, registry, report
from bench.kit.options import options


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("scenarios", nargs="*", help="scenario or module names (default: all)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--fleet",
        action="store_true",
        help="search and slots straight at one server and through the fleet (HAProxy, "
        "PgBouncer): the `fleet` scenario, with any others named",
    )
    parser.add_argument("--duration", type=float, help="measured seconds per run (15)")
    parser.add_argument("--warmup", type=float, help="unmeasured seconds before each run (3)")
    parser.add_argument("--connections", type=int, help="wrk connections (64)")
    parser.add_argument("--threads", type=int, help="wrk threads (2)")
    parser.add_argument("--workers", help="uvicorn worker counts to try, e.g. 1,2,3")
    parser.add_argument("--repeat", type=int, help="runs per worker count; median reported (1)")
    parser.add_argument("--mentors", type=int, help="mentors to seed (10000)")
    parser.add_argument("--skills", type=int, help="skills to seed (50)")
    parser.add_argument(
        "--neighbour-mentors", type=int, help="another tenant's mentors, seeded first (0)"
    )
    parser.add_argument(
        "--no-auto-analyze",
        dest="auto_analyze",
        action="store_false",
        default=None,
        help="import: servers with MENTORAPI_AUTO_ANALYZE=false (the search as it was before)",
    )
    return parser


def _export(args: argparse.Namespace) -> None:
    names = ["duration", "warmup", "connections", "threads", "workers", "repeat", "mentors"]
    for name in [*names, "skills", "neighbour_mentors", "auto_analyze"]:
        value = getattr(args, name)
        if value is not None:
            os.environ[f"BENCH_{name.upper()}"] = str(value)


async def _run_all(chosen: list[registry.Scenario]) -> tuple[dict[str, Any], bool]:
    results: dict[str, Any] = {}
    ok = True
    for scenario in chosen:
        print(f"\n>>> {scenario.name}: {scenario.description}", flush=True)
        started = time.perf_counter()
        try:
            result = await scenario.run()
        except Exception as exc:  # one failed scenario must not hide the others' results
            traceback.print_exc()
            result = {"error": f"{type(exc).__name__}: {exc}"}
            ok = False
        result["elapsed_seconds"] = round(time.perf_counter() - started, 1)
        results[scenario.name] = result
        report.print_result(scenario.name, result)
    return results, ok


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    procs.install_cleanup()
    scenarios = registry.discover()
    if args.list:
        for s in scenarios:
            print(f"{s.name:20} {s.description}{'' if s.default else ' (only when named)'}")
        return 0
    _export(args)
    opts = options()  # validate before any work
    wanted = list(args.scenarios)
    if args.fleet and "fleet" not in wanted:
        wanted.append("fleet")
    chosen = registry.select(scenarios, wanted)
    document: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "machine": report.machine(),
        "options": opts.as_dict(),
    }
    try:
        results, ok = asyncio.run(_run_all(chosen))
    finally:
        procs.stop_all()
    document["scenarios"] = results
    document["finished_at"] = datetime.now(UTC).isoformat()
    path = report.write(document)
    print(f"\nresults written to {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
