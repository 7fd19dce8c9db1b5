from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from mentorapi.db.engine import Database
from mentorapi.drain import Drain
from mentorapi.kit.problems import problem_doc, problem_response

router = APIRouter(tags=["health"])


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok"]
    database: str = Field(description="The database's dialect.", examples=["postgresql"])


@router.get("/healthz", operation_id="checkLiveness", summary="Liveness: the process answers")
async def healthz() -> Liveness:
    return Liveness(status="ok")


@router.get(
    "/readyz",
    operation_id="checkReadiness",
    summary="Readiness: the database answers and the process is not stopping",
    response_model=Readiness,
    responses={
        503: problem_doc(
            503, "Not ready: the database does not answer, or the process is stopping (draining)"
        )
    },
)
async def readyz(request: Request) -> JSONResponse | Readiness:
    drain: Drain = request.app.state.drain
    if drain.draining:
        # Stopping (drain.py): the balancer is to send nothing new here; everything else is
        # still served meanwhile.
        return problem_response(503, "Not ready", "draining: the process is stopping", "not-ready")
    db: Database = request.app.state.db
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means "not ready"
        return problem_response(
            503, "Not ready", f"database unreachable: {type(exc).__name__}", "not-ready"
        )
    return Readiness(status="ok", database=db.dialect)
