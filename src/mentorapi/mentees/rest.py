from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from mentorapi.apps.auth import CurrentCaller
from mentorapi.db.uow import DbSession
from mentorapi.kit.fields import SearchText
from mentorapi.kit.ids import MenteeId
from mentorapi.kit.pagination import Page, PageRequest, page_request
from mentorapi.kit.problems import problems
from mentorapi.kit.versioning import parse_if_match, set_etag
from mentorapi.mentees import service
from mentorapi.mentees.schemas import MenteeCreate, MenteeRead, MenteeUpdate
from mentorapi.mentees.service import MenteeView
from mentorapi.skills.schemas import SlugFilter

router = APIRouter(prefix="/v1/mentees", tags=["mentees"])


def _read(view: MenteeView, response: Response | None = None) -> MenteeRead:
    if response is not None:
        set_etag(response, view.mentee.version)
    return MenteeRead.from_model(view.mentee, view.seeking)


@router.get("", summary="List mentees", responses=problems(422))
async def list_mentees(
    caller: CurrentCaller,
    db_session: DbSession,
    page: Annotated[PageRequest, Depends(page_request)],
    skill: Annotated[SlugFilter | None, Query(description="A skill slug sought.")] = None,
    q: Annotated[SearchText | None, Query(description="Search the name.")] = None,
) -> Page[MenteeRead]:
    views, cursor = await service.list_mentees(
        db_session=db_session, app_id=caller.app_id, actor=caller, page=page, skill=skill, q=q
    )
    return Page(data=[_read(v) for v in views], next_cursor=cursor)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a mentee",
    responses=problems(409, 422, etag=201),
)
async def create_mentee(
    caller: CurrentCaller, db_session: DbSession, body: MenteeCreate, response: Response
) -> MenteeRead:
    return _read(
        await service.create(db_session=db_session, app_id=caller.app_id, actor=caller, data=body),
        response,
    )


@router.get("/{mentee_id}", summary="Get a mentee", responses=problems(404, 422, etag=200))
async def get_mentee(
    caller: CurrentCaller, db_session: DbSession, mentee_id: MenteeId, response: Response
) -> MenteeRead:
    view = await service.get_view(
        db_session=db_session, app_id=caller.app_id, actor=caller, mentee_id=mentee_id
    )
    return _read(view, response)


@router.patch(
    "/{mentee_id}", summary="Update a mentee", responses=problems(404, 409, 412, 422, etag=200)
)
async def update_mentee(
    caller: CurrentCaller,
    db_session: DbSession,
    mentee_id: MenteeId,
    body: MenteeUpdate,
    response: Response,
    expected_version: Annotated[int | None, Depends(parse_if_match)],
) -> MenteeRead:
    view = await service.update(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        mentee_id=mentee_id,
        data=body,
        expected_version=expected_version,
    )
    return _read(view, response)


@router.delete(
    "/{mentee_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a mentee",
    responses=problems(404, 412, 422),
)
async def delete_mentee(
    caller: CurrentCaller,
    db_session: DbSession,
    mentee_id: MenteeId,
    expected_version: Annotated[int | None, Depends(parse_if_match)],
) -> None:
    await service.delete(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        mentee_id=mentee_id,
        expected_version=expected_version,
    )
