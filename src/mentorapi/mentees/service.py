"""Mentee profiles and the skills they want to develop."""

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.caller import Caller, require_api_key, require_mentee
from mentorapi.db.integrity import flush_or_conflict
from mentorapi.group_sessions import repository as group_sessions_repository
from mentorapi.kit.errors import Conflict, Forbidden, NotFound
from mentorapi.kit.pagination import PageRequest
from mentorapi.kit.timezones import utcnow
from mentorapi.kit.versioning import check_version
from mentorapi.mentees import repository
from mentorapi.mentees.models import Mentee, MenteeSkill
from mentorapi.mentees.schemas import MenteeCreate, MenteeUpdate
from mentorapi.reminders import service as reminders_service
from mentorapi.sessions import repository as sessions_repository
from mentorapi.skills import service as skills_service
from mentorapi.skills.models import Skill
from mentorapi.skills.schemas import SkillChoice


@dataclass
class MenteeView:
    mentee: Mentee
    seeking: list[tuple[MenteeSkill, Skill]]


def not_found(mentee_id: str) -> NotFound:
    return NotFound(f"no mentee {mentee_id}")


async def get(*, db_session: AsyncSession, app_id: str, mentee_id: str) -> Mentee:
    mentee = await repository.get(db_session, app_id, mentee_id)
    if mentee is None:
        raise not_found(mentee_id)
    return mentee


async def get_view(
    *, db_session: AsyncSession, app_id: str, actor: Caller, mentee_id: str
) -> MenteeView:
    # Mentee profiles are private: a member sees their own only; any other is "not found".
    require_mentee(actor, mentee_id)
    mentee = await get(db_session=db_session, app_id=app_id, mentee_id=mentee_id)
    seeking = await repository.seeking_for(db_session, app_id, [mentee.id])
    return MenteeView(mentee, seeking.get(mentee.id, []))


async def list_mentees(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    page: PageRequest,
    skill: str | None = None,
    q: str | None = None,
) -> tuple[list[MenteeView], str | None]:
    if actor.member is not None and actor.member.mentee_id is None:
        return [], None  # a member who is no mentee sees no mentee
    mentees, cursor = await repository.list_page(
        db_session, app_id, page, skill=skill, q=q, only_id=actor.mentee_id
    )
    seeking = await repository.seeking_for(db_session, app_id, [m.id for m in mentees])
    return [MenteeView(m, seeking.get(m.id, [])) for m in mentees], cursor


async def _ensure_external_id_free(db_session: AsyncSession, app_id: str, external_id: str) -> None:
    if await repository.get_by_external_id(db_session, app_id, external_id) is not None:
        raise Conflict(
            f"a mentee with external_id {external_id!r} already exists",
            extra={"external_id": external_id},
        )


async def _links(
    db_session: AsyncSession, mentee: Mentee, choices: list[SkillChoice]
) -> list[tuple[MenteeSkill, Skill]]:
    resolved = await skills_service.resolve_choices(
        db_session=db_session, app_id=mentee.app_id, choices=choices, field="seeking"
    )
    links = [
        (
            MenteeSkill(
                mentee_id=mentee.id,
                skill_id=skill.id,
                app_id=mentee.app_id,
                level=choice.level,
                note=choice.note,
            ),
            skill,
        )
        for skill, choice in resolved
    ]
    return sorted(links, key=lambda pair: pair[1].slug)


async def create(
    *, db_session: AsyncSession, app_id: str, actor: Caller, data: MenteeCreate
) -> MenteeView:
    require_api_key(actor, "creating mentees")
    await _ensure_external_id_free(db_session, app_id, data.external_id)
    mentee = Mentee(app_id=app_id, **data.model_dump(exclude={"seeking"}, mode="json"))
    links = await _links(db_session, mentee, data.seeking)
    db_session.add(mentee)
    await flush_or_conflict(db_session, f"a mentee with external_id {data.external_id!r} exists")
    db_session.add_all([link for link, _ in links])
    await db_session.flush()
    return MenteeView(mentee, links)


async def update(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    mentee_id: str,
    data: MenteeUpdate,
    expected_version: int | None = None,
) -> MenteeView:
    require_mentee(actor, mentee_id)
    mentee = await get(db_session=db_session, app_id=app_id, mentee_id=mentee_id)
    check_version(mentee.version, expected_version, "the mentee")
    changes = {
        k: v
        for k, v in data.model_dump(exclude_unset=True, exclude={"seeking"}, mode="json").items()
        if v is not None
    }
    if "external_id" in changes and changes["external_id"] != mentee.external_id:
        if not actor.is_api_key:
            # The external_id is who a member token speaks for: only the app may move it.
            raise Forbidden("external_id can be changed only with the app's API key")
        await _ensure_external_id_free(db_session, app_id, changes["external_id"])
    moved = "timezone" in changes and changes["timezone"] != mentee.timezone
    for field, value in changes.items():
        setattr(mentee, field, value)
    if moved:
        # Action items fall due at 09:00 in the mentee's zone: now the new one.
        await reminders_service.plan_mentee_items(
            db_session, app_id, mentee.id, mentee.timezone, now=utcnow()
        )
    if data.seeking is not None:
        links = await _links(db_session, mentee, data.seeking)
        await repository.replace_seeking(db_session, mentee, [link for link, _ in links])
    if changes or data.seeking is not None:
        mentee.version += 1
        mentee.updated_at = utcnow()
        db_session.add(mentee)
        await flush_or_conflict(db_session, "a mentee with that external_id already exists")
    return await get_view(db_session=db_session, app_id=app_id, actor=actor, mentee_id=mentee_id)


async def delete(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    mentee_id: str,
    expected_version: int | None = None,
) -> None:
    require_mentee(actor, mentee_id)
    require_api_key(actor, "deleting mentees")
    mentee = await get(db_session=db_session, app_id=app_id, mentee_id=mentee_id)
    check_version(mentee.version, expected_version, "the mentee")
    # Past sessions go with the mentee; upcoming ones must be cancelled first (and notified).
    await sessions_repository.lock_mentee(db_session, app_id, mentee.id)
    active = await sessions_repository.count_active(db_session, app_id, mentee_id=mentee.id)
    if active:
        raise Conflict(
            f"the mentee has {active} requested or booked session(s); cancel them first",
            extra={"active_sessions": active},
        )
    seats = await group_sessions_repository.count_taken_seats(db_session, app_id, mentee.id)
    if seats:
        raise Conflict(
            f"the mentee has {seats} seat(s) in group sessions still to come; cancel them first",
            extra={"taken_seats": seats},
        )
    await repository.delete(db_session, mentee)
