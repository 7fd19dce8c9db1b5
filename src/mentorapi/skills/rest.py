from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from mentorapi.apps.auth import CurrentCaller
from mentorapi.db.uow import DbSession
from mentorapi.kit.fields import SearchText
from mentorapi.kit.ids import SkillId
from mentorapi.kit.pagination import Page, PageRequest, page_request
from mentorapi.kit.problems import problems
from mentorapi.kit.versioning import parse_if_match, set_etag
from mentorapi.skills import service
from mentorapi.skills.schemas import CategoryFilter, SkillCreate, SkillRead, SkillUpdate

router = APIRouter(prefix="/v1/skills", tags=["skills"])


@router.get("", summary="List the app's skills", responses=problems(422))
async def list_skills(
    caller: CurrentCaller,
    db_session: DbSession,
    page: Annotated[PageRequest, Depends(page_request)],
    category: Annotated[CategoryFilter | None, Query()] = None,
    q: Annotated[SearchText | None, Query(description="Search slug and name.")] = None,
) -> Page[SkillRead]:
    rows, cursor = await service.list_skills(
        db_session=db_session, app_id=caller.app_id, page=page, category=category, q=q
    )
    return Page(data=[SkillRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a skill",
    responses=problems(409, 422, etag=201),
)
async def create_skill(
    caller: CurrentCaller, db_session: DbSession, body: SkillCreate, response: Response
) -> SkillRead:
    skill = await service.create(
        db_session=db_session, app_id=caller.app_id, actor=caller, data=body
    )
    set_etag(response, skill.version)
    return SkillRead.model_validate(skill)


@router.get("/{skill_id}", summary="Get a skill", responses=problems(404, 422, etag=200))
async def get_skill(
    caller: CurrentCaller, db_session: DbSession, skill_id: SkillId, response: Response
) -> SkillRead:
    skill = await service.get(db_session=db_session, app_id=caller.app_id, skill_id=skill_id)
    set_etag(response, skill.version)
    return SkillRead.model_validate(skill)


@router.patch(
    "/{skill_id}", summary="Update a skill", responses=problems(404, 409, 412, 422, etag=200)
)
async def update_skill(
    caller: CurrentCaller,
    db_session: DbSession,
    skill_id: SkillId,
    body: SkillUpdate,
    response: Response,
    expected_version: Annotated[int | None, Depends(parse_if_match)],
) -> SkillRead:
    skill = await service.update(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        skill_id=skill_id,
        data=body,
        expected_version=expected_version,
    )
    set_etag(response, skill.version)
    return SkillRead.model_validate(skill)


@router.delete(
    "/{skill_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a skill no mentor or mentee uses",
    responses=problems(404, 409, 412, 422),
)
async def delete_skill(
    caller: CurrentCaller,
    db_session: DbSession,
    skill_id: SkillId,
    expected_version: Annotated[int | None, Depends(parse_if_match)],
) -> None:
    await service.delete(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        skill_id=skill_id,
        expected_version=expected_version,
    )
