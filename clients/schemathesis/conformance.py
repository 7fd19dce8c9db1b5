"""Schemathesis against a live server: every phase (examples, coverage, fuzzing, stateful) and
the five conformance checks. Zero failures means the document tells the whole truth: every
status, content type, body and header the server answers is declared, and no input is a 5xx.

Run by clients/run-proofs.sh (MENTORAPI_URL, MENTORAPI_KEY set). Failures are printed grouped by
check, then by operation and status, with one curl line to reproduce each group.
MENTORAPI_SCHEMATHESIS_SEED and MENTORAPI_SCHEMATHESIS_EXAMPLES change the seed and the
number of fuzzed examples per operation.
"""

import os
import sys
from collections import Counter, defaultdict
from typing import Any

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
]
SEED = int(os.environ.get("MENTORAPI_SCHEMATHESIS_SEED", "20261204"))
EXAMPLES = int(os.environ.get("MENTORAPI_SCHEMATHESIS_EXAMPLES", "5"))


def main() -> int:
    base_url = os.environ["MENTORAPI_URL"]
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "workers": 1,
            "headers": {"Authorization": f"Bearer {os.environ['MENTORAPI_KEY']}"},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": True, "max-steps": 20},
            },
            "generation": {"max-examples": EXAMPLES, "database": "none"},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        }
    )
    # The document the server serves: the committed one (`export-schemas --check` guards that).
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)
    statuses: Counter[int] = Counter()
    phases: Counter[str] = Counter()
    errors: list[str] = []
    ours = f"Bearer {os.environ['MENTORAPI_KEY']}"
    # 401s to requests that carried our key: the key did not work. (The document declares
    # bearer security, so schemathesis also sends requests without it on purpose: those 401s
    # are the service doing its job.)
    refused_our_key = 0
    # (check, title) -> (method path -> status) -> (count, reproduce)
    groups: dict[tuple[str, str], dict[tuple[str, int | None], list[Any]]] = defaultdict(dict)
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            phases[str(event.phase)] += len(recorder.interactions)
            for answered in recorder.interactions.values():
                if answered.response is not None:
                    statuses[answered.response.status_code] += 1
                    sent = {
                        value
                        for name, values in answered.request.headers.items()
                        if name.lower() == "authorization"
                        for value in values
                    }
                    if answered.response.status_code == 401 and sent == {ours}:
                        refused_our_key += 1
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.failure_info is None:
                        continue
                    case = recorder.cases[case_id].value
                    interaction = recorder.interactions.get(case_id)
                    status = (
                        interaction.response.status_code
                        if interaction and interaction.response
                        else None
                    )
                    key = (check.name, check.failure_info.failure.title)
                    place = (f"{case.method} {case.path}", status)
                    entry = groups[key].setdefault(place, [0, check.failure_info.code_sample])
                    entry[0] += 1
        elif isinstance(event, events.NonFatalError | events.FatalError):
            errors.append(str(getattr(event, "info", event)))

    print(f"seed {SEED}; phases {dict(phases)}; statuses {dict(sorted(statuses.items()))}")
    for check_name, title in sorted(groups):
        where = groups[(check_name, title)]
        total = sum(count for count, _ in where.values())
        print(f"\n{check_name}: {title} ({total} failures, {len(where)} operation/status pairs)")
        for (operation, status), (count, _) in sorted(where.items(), key=str):
            print(f"  {operation} -> {status} x{count}")
        first = next(iter(where.values()))[1]
        print("  e.g. " + first.replace("\n", "\n       "))
    for error in errors:
        print(f"\nerror: {error}")
    failures = sum(sum(c for c, _ in w.values()) for w in groups.values())
    print(f"\nschemathesis: {failures} failures in {len(groups)} groups, {len(errors)} errors")
    ran = {"examples", "coverage", "fuzzing"} <= set(phases) and refused_our_key == 0
    if not ran:
        print("schemathesis did not run every phase authenticated", file=sys.stderr)
    return 0 if failures == 0 and not errors and ran else 1


if __name__ == "__main__":
    sys.exit(main())
