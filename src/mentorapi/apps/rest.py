from fastapi import APIRouter

from mentorapi.apps.auth import CurrentApp
from mentorapi.apps.schemas import AppRead

router = APIRouter(prefix="/v1", tags=["app"])


@router.get("/app", summary="The calling client app")
async def get_app(app: CurrentApp) -> AppRead:
    return AppRead(id=app.id, name=app.name, created_at=app.created_at)
