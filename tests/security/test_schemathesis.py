"""Schemathesis against the served /openapi.json: no input a client can send is a 5xx.

Its examples, coverage and fuzzing phases run against the app (uvicorn on a loopback port in
this process, its lifespan already running), authenticated with a fresh tenant's API key, rate
limits off (the suite's settings), on each database. Only the not_a_server_error check: the
other checks (schema conformance of every 4xx, say) are another question than "never a 500".

Bounded: five fuzzed examples per operation and the coverage phase's own cases, about 35 s per
database on the CI machine. The seed is fixed so that CI is repeatable; set
MENTORAPI_SCHEMATHESIS_SEED to explore other inputs (a failure prints the seed it ran with).
"""

import asyncio
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis
from fastapi import FastAPI
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from tests.conftest import Tenant
from tests.gql.helpers import serve

SEED = int(os.environ.get("MENTORAPI_SCHEMATHESIS_SEED", "20261204"))
MAX_EXAMPLES = 5


@dataclass
class Finding:
    method: str
    path: str
    status: int | None
    reproduce: str  # schemathesis's curl line


@dataclass
class Report:
    authorization: str = ""
    # 401s to requests that carried our key: the key did not work. (The document declares bearer
    # security, so the coverage phase also sends requests without it, or with another: those
    # 401s are the service doing its job.)
    refused_our_key: int = 0
    findings: list[Finding] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    phases: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def run_schemathesis(base_url: str, api_key: str, max_examples: int = MAX_EXAMPLES) -> Report:
    """Run schemathesis's engine (blocking: call it in a thread while the server serves)."""
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "workers": 1,  # more threads only fight the server for the GIL in this process
            "headers": {"Authorization": f"Bearer {api_key}"},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            # No Hypothesis example database: nothing written into the work tree.
            "generation": {"max-examples": max_examples, "database": "none"},
            "checks": {"enabled": False, "not_a_server_error": {"enabled": True}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)
    report = Report(authorization=f"Bearer {api_key}")
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            _record(report, event)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            report.errors.append(str(getattr(event, "info", event)))
    return report


def _record(report: Report, event: Any) -> None:
    recorder = event.recorder
    report.phases[str(event.phase)] += len(recorder.interactions)
    for interaction in recorder.interactions.values():
        if interaction.response is not None:
            status = interaction.response.status_code
            report.statuses[status] += 1
            sent = {
                value
                for name, values in interaction.request.headers.items()
                if name.lower() == "authorization"
                for value in values
            }
            if status == 401 and sent == {report.authorization}:
                report.refused_our_key += 1
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.failure_info is None:
                continue
            case = recorder.cases[case_id].value
            interaction = recorder.interactions.get(case_id)
            status = (
                interaction.response.status_code if interaction and interaction.response else None
            )
            report.findings.append(
                Finding(case.method, case.path, status, check.failure_info.code_sample)
            )


def _describe(report: Report) -> str:
    lines = [f"seed {SEED}; statuses {dict(report.statuses)}"]
    for f in report.findings[:20]:
        lines.append(f"{f.method} {f.path} -> {f.status}\n{f.reproduce}")
    return "\n".join(lines)


async def test_no_request_schemathesis_makes_is_a_server_error(
    app: FastAPI, tenant: Tenant
) -> None:
    async with serve(app) as base_url:
        report = await asyncio.to_thread(run_schemathesis, base_url, tenant.key)
    assert report.errors == [], report.errors
    # It really ran, every phase, authenticated (201s are writes that got through).
    assert {"examples", "coverage", "fuzzing"} <= set(report.phases), report.phases
    assert sum(report.statuses.values()) > 1000, report.statuses
    assert report.statuses[201] > 0, report.statuses
    assert report.refused_our_key == 0, report.statuses
    assert report.findings == [], _describe(report)


# ---- the harness itself can fail ----------------------------------------------------------------


def _broken_app() -> FastAPI:
    broken = FastAPI()

    @broken.get("/v1/widgets/{n}")
    async def widget(n: int) -> dict[str, int]:
        return {"inverse": 1 // (n % 7)}  # a ZeroDivisionError for every seventh n: a 500

    return broken


async def test_the_harness_reports_a_server_error() -> None:
    async with serve(_broken_app()) as base_url:
        report = await asyncio.to_thread(run_schemathesis, base_url, "unused", 20)
    assert report.findings, _describe(report)
    assert {(f.method, f.path) for f in report.findings} == {("GET", "/v1/widgets/{n}")}
    assert all(f.status == 500 for f in report.findings)
    # Nothing that serve() or the test client would swallow: the server really answered 500.
    async with serve(_broken_app()) as base_url, httpx.AsyncClient() as client:
        assert (await client.get(f"{base_url}/v1/widgets/0")).status_code == 500
