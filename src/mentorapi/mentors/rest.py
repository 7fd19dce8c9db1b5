from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.auth import CurrentCaller, lean_endpoint
from mentorapi.apps.caller import Caller
from mentorapi.db.uow import DbSession
from mentorapi.kit import lean
from mentorapi.kit.fields import LanguageTag, SearchText
from mentorapi.kit.ids import MentorId
from mentorapi.kit.pagination import (
    Page,
    PageRequest,
    page_request,
)
from mentorapi.kit.problems import problems
from mentorapi.kit.query import query_model
from mentorapi.kit.responses import data_response
from mentorapi.kit.versioning import parse_if_match, set_etag
from mentorapi.mentors import service
from mentorapi.mentors.models import Format
from mentorapi.mentors.schemas import (
    MAX_SKILL_FILTERS,
    MentorCreate,
    MentorRead,
    MentorSearch,
    MentorSkillsPut,
    MentorSort,
    MentorUpdate,
    SessionLength,
    read_data,
)
from mentorapi.mentors.service import MentorView
from mentorapi.skills.schemas import SlugFilter

router = APIRouter(prefix="/v1/mentors", tags=["mentors"])


def _read(view: MentorView, response: Response | None = None) -> MentorRead:
    if response is not None:
        set_etag(response, view.mentor.version)
    return MentorRead.from_model(view.mentor, view.skills)


# Bounded as sent (so the document can say it: `maxItems`, each item's `maxLength`); the
# slugs of comma-separated values count toward the same bound in MentorSearch.
Skills = Annotated[
    list[SlugFilter],
    Query(
        max_length=MAX_SKILL_FILTERS,
        description=f"Skill slugs (up to {MAX_SKILL_FILTERS}): repeat the parameter, or "
        "comma-separate slugs in one value (each slug counts toward the same bound). All must "
        "match.",
    ),
]
# The same bounds as MentorSearch's (which validates the values): shown here for the document.
Text = Annotated[SearchText | None, Query(description="Search name, headline and bio.")]
Language = Annotated[LanguageTag | None, Query(description="A BCP 47 tag.")]
FormatParam = Annotated[Format | None, Query()]
SessionLengthParam = Annotated[SessionLength | None, Query(description="Minutes (5-60).")]


async def _list_response(
    caller: Caller,
    db_session: AsyncSession,
    page: PageRequest,
    skill: list[str],
    q: str | None,
    language: str | None,
    format: Format | None,
    session_length: int | None,
    sort: MentorSort,
) -> Response:
    """The list page: one body for both faces of the route (below and `lean_routes`)."""
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


@router.get("", summary="Search mentors", response_model=Page[MentorRead], responses=problems(422))
async def list_mentors(
    caller: CurrentCaller,
    db_session: DbSession,
    page: Annotated[PageRequest, Depends(page_request)],
    skill: Skills = [],  # noqa: B006 - FastAPI copies query defaults
    q: Text = None,
    language: Language = None,
    format: FormatParam = None,
    session_length: SessionLengthParam = None,
    sort: MentorSort = MentorSort.created,
) -> Response:
    return await _list_response(
        caller, db_session, page, skill, q, language, format, session_length, sort
    )


async def _lean_list(
    caller: Caller, db_session: AsyncSession, limit: int, cursor: str | None, **filters: Any
) -> Response:
    page = PageRequest(limit=limit, cursor=cursor)
    return await _list_response(caller, db_session, page, **filters)


# The same route for every request whose parameters validate, without FastAPI's machinery
# (kit/lean.py); tests/test_lean_routes.py holds the two to the same answers.
lean_routes = [
    lean.LeanRoute(
        "/v1/mentors",
        lean_endpoint(_lean_list),
        documented=list_mentors,
    )
]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a mentor",
    responses=problems(409, 422, etag=201),
)
async def create_mentor(
    caller: CurrentCaller, db_session: DbSession, body: MentorCreate, response: Response
) -> MentorRead:
    view = await service.create(
        db_session=db_session, app_id=caller.app_id, actor=caller, data=body
    )
    return _read(view, response)


@router.get("/{mentor_id}", summary="Get a mentor", responses=problems(404, 422, etag=200))
async def get_mentor(
    caller: CurrentCaller, db_session: DbSession, mentor_id: MentorId, response: Response
) -> MentorRead:
    view = await service.get_view(db_session=db_session, app_id=caller.app_id, mentor_id=mentor_id)
    return _read(view, response)


@router.patch(
    "/{mentor_id}", summary="Update a mentor", responses=problems(404, 409, 412, 422, etag=200)
)
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
    operation_id="setMentorSkills",
    summary="Replace the skills a mentor offers",
    responses=problems(404, 412, 422, etag=200),
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
