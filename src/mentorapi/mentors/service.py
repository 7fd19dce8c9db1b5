"""Mentor profiles: create, search, update, the skills they offer."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.caller import Caller, require_api_key, require_mentor
from mentorapi.db.integrity import flush_or_conflict
from mentorapi.group_sessions import repository as group_sessions_repository
from mentorapi.kit.errors import Conflict, Forbidden, NotFound
from mentorapi.kit.pagination import PageRequest
from mentorapi.kit.timezones import utcnow
from mentorapi.kit.versioning import check_version
from mentorapi.mentors import repository
from mentorapi.mentors.models import Mentor, MentorFields, MentorSkill, SkillOffer, offer_of
from mentorapi.mentors.schemas import MentorCreate, MentorSort, MentorUpdate
from mentorapi.sessions import repository as sessions_repository
from mentorapi.skills import service as skills_service
from mentorapi.skills.models import Skill
from mentorapi.skills.schemas import SkillChoice


@dataclass
class MentorView:
    mentor: MentorFields  # a Mentor, or a row of the table where the view is read-only (lists)
    skills: list[SkillOffer]  # highest level first, then by slug


def cursor_values(mentor: MentorFields, sort: MentorSort) -> list[object]:
    """The sort-key values of a cursor placed after `mentor` (GraphQL edge cursors)."""
    return repository.cursor_values(mentor, sort)


async def get(
    *, db_session: AsyncSession, app_id: str, mentor_id: str, for_update: bool = False
) -> Mentor:
    mentor = await repository.get(db_session, app_id, mentor_id, for_update=for_update)
    if mentor is None:
        raise NotFound(f"no mentor {mentor_id}")
    return mentor


async def get_view(*, db_session: AsyncSession, app_id: str, mentor_id: str) -> MentorView:
    mentor = await get(db_session=db_session, app_id=app_id, mentor_id=mentor_id)
    offers = await repository.offers_for(db_session, app_id, [mentor.id])
    return MentorView(mentor, offers.get(mentor.id, []))


async def list_mentors(
    *,
    db_session: AsyncSession,
    app_id: str,
    page: PageRequest,
    skills: Sequence[str] = (),
    q: str | None = None,
    language: str | None = None,
    format: str | None = None,
    session_length: int | None = None,
    sort: MentorSort = MentorSort.created,
) -> tuple[list[MentorView], str | None]:
    found, cursor = await repository.list_page(
        db_session,
        app_id,
        page,
        skills=skills,
        q=q,
        language=language,
        format=format,
        session_length=session_length,
        sort=sort,
    )
    return [MentorView(mentor, offers) for mentor, offers in found], cursor


async def _ensure_external_id_free(db_session: AsyncSession, app_id: str, external_id: str) -> None:
    if await repository.get_by_external_id(db_session, app_id, external_id) is not None:
        raise Conflict(
            f"a mentor with external_id {external_id!r} already exists",
            extra={"external_id": external_id},
        )


async def _links(
    db_session: AsyncSession, mentor: Mentor, choices: list[SkillChoice]
) -> list[tuple[MentorSkill, Skill]]:
    resolved = await skills_service.resolve_choices(
        db_session=db_session, app_id=mentor.app_id, choices=choices, field="skills", hold=True
    )
    return [
        (
            MentorSkill(
                mentor_id=mentor.id,
                skill_id=skill.id,
                app_id=mentor.app_id,
                level=choice.level,
                note=choice.note,
            ),
            skill,
        )
        for skill, choice in resolved
    ]


def _ordered(links: list[tuple[MentorSkill, Skill]]) -> list[SkillOffer]:
    return repository.sort_offers([offer_of(link, skill) for link, skill in links])


async def create(
    *, db_session: AsyncSession, app_id: str, actor: Caller, data: MentorCreate
) -> MentorView:
    require_api_key(actor, "creating mentors")
    await _ensure_external_id_free(db_session, app_id, data.external_id)
    mentor = Mentor(app_id=app_id, **data.model_dump(exclude={"skills"}, mode="json"))
    links = await _links(db_session, mentor, data.skills)
    mentor.offers = _ordered(links)
    db_session.add(mentor)
    await flush_or_conflict(db_session, f"a mentor with external_id {data.external_id!r} exists")
    db_session.add_all([link for link, _ in links])
    await db_session.flush()
    return MentorView(mentor, _ordered(links))


async def update(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    mentor_id: str,
    data: MentorUpdate,
    expected_version: int | None = None,
) -> MentorView:
    mentor = await get(db_session=db_session, app_id=app_id, mentor_id=mentor_id)
    require_mentor(actor, mentor.id, "changing the profile")
    check_version(mentor.version, expected_version, "the mentor")
    # null means "leave as is" for required fields; they cannot be cleared.
    changes = {
        k: v for k, v in data.model_dump(exclude_unset=True, mode="json").items() if v is not None
    }
    if "external_id" in changes and changes["external_id"] != mentor.external_id:
        _require_api_key_for_external_id(actor)
        await _ensure_external_id_free(db_session, app_id, changes["external_id"])
    if changes:
        for field, value in changes.items():
            setattr(mentor, field, value)
        _touch(mentor)
        db_session.add(mentor)
        await flush_or_conflict(db_session, "a mentor with that external_id already exists")
    return await get_view(db_session=db_session, app_id=app_id, mentor_id=mentor_id)


async def put_skills(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    mentor_id: str,
    choices: list[SkillChoice],
    expected_version: int | None = None,
) -> MentorView:
    mentor = await get(db_session=db_session, app_id=app_id, mentor_id=mentor_id)
    require_mentor(actor, mentor.id, "changing the skills offered")
    # Locks, in the order a skill's rename takes them (no deadlock between the two): the
    # skills (held, since the mentor keeps a copy of them), then the mentor. Without the
    # mentor's lock two PUTs for one mentor would each delete the links and insert theirs, and
    # the second insert would collide with the first's (a 500); in turn, the last one wins.
    links = await _links(db_session, mentor, choices)
    mentor = await get(db_session=db_session, app_id=app_id, mentor_id=mentor_id, for_update=True)
    check_version(mentor.version, expected_version, "the mentor")
    await repository.replace_skills(db_session, mentor, [link for link, _ in links])
    mentor.offers = _ordered(links)
    _touch(mentor)
    db_session.add(mentor)
    await db_session.flush()
    return MentorView(mentor, _ordered(links))


async def delete(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    mentor_id: str,
    expected_version: int | None = None,
) -> None:
    require_api_key(actor, "deleting mentors")
    mentor = await get(db_session=db_session, app_id=app_id, mentor_id=mentor_id)
    check_version(mentor.version, expected_version, "the mentor")
    # Past sessions go with the mentor; upcoming ones must be cancelled first (and notified).
    # The booking lock on the mentor row first, so no booking slips in between count and delete.
    await sessions_repository.lock_mentor(db_session, app_id, mentor.id)
    active = await sessions_repository.count_active(db_session, app_id, mentor_id=mentor.id)
    if active:
        raise Conflict(
            f"the mentor has {active} requested or booked session(s); cancel them first",
            extra={"active_sessions": active},
        )
    groups = await group_sessions_repository.count_scheduled(db_session, app_id, mentor.id)
    if groups:
        raise Conflict(
            f"the mentor has {groups} scheduled group session(s); cancel them first",
            extra={"group_sessions": groups},
        )
    await repository.delete(db_session, mentor)


def _require_api_key_for_external_id(actor: Caller) -> None:
    # The external_id is who a member token speaks for: only the app may move it.
    if not actor.is_api_key:
        raise Forbidden("external_id can be changed only with the app's API key")


def _touch(mentor: Mentor) -> None:
    mentor.version += 1
    mentor.updated_at = utcnow()
