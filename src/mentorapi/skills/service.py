"""Skills: the app's taxonomy. Slugs are unique per app; a skill in use cannot be deleted."""

from sqlmodel.ext.asyncio.session import AsyncSession

from mentorapi.apps.caller import Caller, require_api_key
from mentorapi.db.integrity import flush_or_conflict
from mentorapi.goals import repository as goals_repository
from mentorapi.group_sessions import repository as group_sessions_repository
from mentorapi.kit.errors import Conflict, InvalidInput, NotFound
from mentorapi.kit.pagination import PageRequest
from mentorapi.kit.timezones import utcnow
from mentorapi.kit.versioning import check_version
from mentorapi.mentees import repository as mentees_repository
from mentorapi.mentors import repository as mentors_repository
from mentorapi.sessions import repository as sessions_repository
from mentorapi.skills import repository
from mentorapi.skills.models import Skill
from mentorapi.skills.schemas import SkillChoice, SkillCreate, SkillUpdate


async def get(*, db_session: AsyncSession, app_id: str, skill_id: str) -> Skill:
    skill = await repository.get(db_session, app_id, skill_id)
    if skill is None:
        raise NotFound(f"no skill {skill_id}")
    return skill


async def list_skills(
    *,
    db_session: AsyncSession,
    app_id: str,
    page: PageRequest,
    category: str | None = None,
    q: str | None = None,
) -> tuple[list[Skill], str | None]:
    return await repository.list_page(db_session, app_id, page, category=category, q=q)


async def _ensure_slug_free(db_session: AsyncSession, app_id: str, slug: str) -> None:
    if await repository.get_by_slug(db_session, app_id, slug) is not None:
        raise Conflict(f"a skill with slug {slug!r} already exists", extra={"slug": slug})


async def create(
    *, db_session: AsyncSession, app_id: str, actor: Caller, data: SkillCreate
) -> Skill:
    require_api_key(actor, "creating skills")
    await _ensure_slug_free(db_session, app_id, data.slug)
    skill = Skill(app_id=app_id, **data.model_dump())
    db_session.add(skill)
    await flush_or_conflict(db_session, f"a skill with slug {data.slug!r} already exists")
    return skill


async def update(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    skill_id: str,
    data: SkillUpdate,
    expected_version: int | None = None,
) -> Skill:
    require_api_key(actor, "changing skills")
    skill = await get(db_session=db_session, app_id=app_id, skill_id=skill_id)
    check_version(skill.version, expected_version, "the skill")
    changes = data.model_dump(exclude_unset=True)
    if changes.get("slug") is None:
        changes.pop("slug", None)
    if changes.get("name") is None:
        changes.pop("name", None)
    if "slug" in changes and changes["slug"] != skill.slug:
        await _ensure_slug_free(db_session, app_id, changes["slug"])
    if changes:
        for field, value in changes.items():
            setattr(skill, field, value)
        skill.version += 1
        skill.updated_at = utcnow()
        db_session.add(skill)
        await flush_or_conflict(db_session, "a skill with that slug already exists")
        if changes.keys() & {"slug", "name", "category"}:
            # Mentors show the skill as a copy of it (Mentor.offers): rewrite it with the skill.
            await mentors_repository.refresh_offers(db_session, app_id, skill.id)
    return skill


async def delete(
    *,
    db_session: AsyncSession,
    app_id: str,
    actor: Caller,
    skill_id: str,
    expected_version: int | None = None,
) -> None:
    require_api_key(actor, "deleting skills")
    skill = await get(db_session=db_session, app_id=app_id, skill_id=skill_id)
    check_version(skill.version, expected_version, "the skill")
    mentors = await mentors_repository.count_offering(db_session, app_id, skill_id)
    mentees = await mentees_repository.count_seeking(db_session, app_id, skill_id)
    # Sessions keep their skill for history (a RESTRICT foreign key): a 409, never a 500.
    sessions = await sessions_repository.count_for_skill(db_session, app_id, skill_id)
    if sessions:
        raise Conflict(
            f"the skill is the subject of {sessions} session(s) and stays for their history",
            extra={"sessions": sessions},
        )
    groups = await group_sessions_repository.count_for_skill(db_session, app_id, skill_id)
    if groups:
        raise Conflict(
            f"the skill is the subject of {groups} group session(s) and stays for their history",
            extra={"group_sessions": groups},
        )
    goals = await goals_repository.count_for_skill(db_session, app_id, skill_id)
    if mentors or mentees or goals:
        raise Conflict(
            f"the skill is in use by {mentors} mentor(s), {mentees} mentee(s) and "
            f"{goals} goal(s); remove it from them first",
            extra={"mentors": mentors, "mentees": mentees, "goals": goals},
        )
    await repository.delete(db_session, skill)


async def resolve_choices(
    *,
    db_session: AsyncSession,
    app_id: str,
    choices: list[SkillChoice],
    field: str,
    hold: bool = False,
) -> list[tuple[Skill, SkillChoice]]:
    """Match each choice to one of the app's skills (one query); unknown or repeated is a 422.
    `hold`: for a caller that copies the skills (Mentor.offers), keep them from changing until
    its transaction ends (a concurrent rename waits, then rewrites the copies itself)."""
    found = await repository.find(
        db_session,
        app_id,
        ids=[c.skill_id for c in choices if c.skill_id],
        slugs=[c.slug for c in choices if c.slug],
        for_share=hold,
    )
    by_id = {s.id: s for s in found}
    by_slug = {s.slug: s for s in found}
    resolved: list[tuple[Skill, SkillChoice]] = []
    seen: set[str] = set()
    for i, choice in enumerate(choices):
        skill = by_id.get(choice.skill_id or "") or by_slug.get(choice.slug or "")
        if skill is None:
            ref = choice.skill_id or choice.slug
            raise InvalidInput(f"no skill {ref!r} in this app", loc=["body", field, i])
        if skill.id in seen:
            raise InvalidInput(f"skill {skill.slug!r} is listed twice", loc=["body", field, i])
        seen.add(skill.id)
        resolved.append((skill, choice))
    return resolved
