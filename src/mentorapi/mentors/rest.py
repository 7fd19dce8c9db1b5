from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from mentorapi.apps.auth import CurrentCaller
from mentorapi.db.uow import DbSession
from mentorapi.kit.ids import MentorId
from mentorapi.kit.pagination import Page, PageRequest, page_request
from mentorapi.kit.problems import problems
from mentorapi.kit.query import query_model
from mentorapi.kit.responses import data_response
from mentorapi.kit.versioning import parse_if_match, set_etag
from mentorapi.mentors import service
from mentorapi.mentors.models import Format
from mentorapi.mentors.schemas import (
    MentorCreate,
    MentorRead,
    MentorSearch,
    MentorSkillsPut,
    MentorSort,
    MentorUpdate,
    read_data,
)
from mentorapi.mentors.service import MentorView

router = APIRouter(prefix="/v1/mentors", tags=["mentors"])


def _read(view: MentorView, response: Response | None = None) -> MentorRead:
    if response is not None:
        set_etag(response, view.mentor.version)
    return MentorRead.from_model(view.mentor, view.skills)


@router.get("", summary="Search mentors", response_model=Page[MentorRead], responses=problems(422))
async def list_mentors(
    caller: CurrentCaller,
    db_session: DbSession,
    page: Annotated[PageRequest, Depends(page_request)],
    skill: Annotated[
        list[str],
        Query(description="Skill slugs (up to 10); repeat or comma-separate. All must match."),
    ] = [],  # noqa: B006 - FastAPI copies query defaults
    q: Annotated[str | None, Query(description="Search name, headline and bio.")] = None,
    language: Annotated[str | None, Query(description="A BCP 47 tag.")] = None,
    format: Annotated[Format | None, Query()] = None,
    session_length: Annotated[int | None, Query(description="Minutes (5-60).")] = None,
    sort: MentorSort = MentorSort.created,
) -> Response:
    search = query_model(
        MentorSearch,
        {
            "skills": skill,
            "q": q,
            "language": language,
            "format": format,
            "session_length": session_length,
        },
        names={"skills": "skill"},
    )
    views, cursor = await service.list_mentors(
        db_session=db_session,
        app_id=caller.app_id,
        page=page,
        skills=search.skills,
        q=search.q,
        language=search.language,
        format=search.format.value if search.format else None,
        session_length=search.session_length,
        sort=sort,
    )
    # The hot path: plain data straight to JSON (tests/test_query_counts.py holds it to
    # MentorRead byte for byte).
    data = [read_data(v.mentor, v.skills) for v in views]
    return data_response({"data": data, "next_cursor": cursor})


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create a mentor", responses=problems(409, 422)
)
async def create_mentor(
    caller: CurrentCaller, db_session: DbSession, body: MentorCreate, response: Response
) -> MentorRead:
    view = await service.create(
        db_session=db_session, app_id=caller.app_id, actor=caller, data=body
    )
    return _read(view, response)


@router.get("/{mentor_id}", summary="Get a mentor", responses=problems(404, 422))
async def get_mentor(
    caller: CurrentCaller, db_session: DbSession, mentor_id: MentorId, response: Response
) -> MentorRead:
    view = await service.get_view(db_session=db_session, app_id=caller.app_id, mentor_id=mentor_id)
    return _read(view, response)


@router.patch("/{mentor_id}", summary="Update a mentor", responses=problems(404, 409, 412, 422))
async def update_mentor(
    caller: CurrentCaller,
    db_session: DbSession,
    mentor_id: MentorId,
    body: MentorUpdate,
    response: Response,
    expected_version: Annotated[int | None, Depends(parse_if_match)],
) -> MentorRead:
    view = await service.update(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        mentor_id=mentor_id,
        data=body,
        expected_version=expected_version,
    )
    return _read(view, response)


@router.put(
    "/{mentor_id}/skills",
    summary="Replace the skills a mentor offers",
    responses=problems(404, 412, 422),
)
async def put_mentor_skills(
    caller: CurrentCaller,
    db_session: DbSession,
    mentor_id: MentorId,
    body: MentorSkillsPut,
    response: Response,
    expected_version: Annotated[int | None, Depends(parse_if_match)],
) -> MentorRead:
    view = await service.put_skills(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        mentor_id=mentor_id,
        choices=body.skills,
        expected_version=expected_version,
    )
    return _read(view, response)


@router.delete(
    "/{mentor_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a mentor",
    responses=problems(404, 412, 422),
)
async def delete_mentor(
    caller: CurrentCaller,
    db_session: DbSession,
    mentor_id: MentorId,
    expected_version: Annotated[int | None, Depends(parse_if_match)],
) -> None:
    await service.delete(
        db_session=db_session,
        app_id=caller.app_id,
        actor=caller,
        mentor_id=mentor_id,
        expected_version=expected_version,
    )
