from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from mentorapi.db.engine import Database
from mentorapi.kit.problems import problem_response

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the database answers", response_model=None)
async def readyz(request: Request) -> JSONResponse | dict[str, str]:
    db: Database = request.app.state.db
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means "not ready"
        return problem_response(
            503, "Not ready", f"database unreachable: {type(exc).__name__}", "not-ready"
        )
    return {"status": "ok", "database": db.dialect}
