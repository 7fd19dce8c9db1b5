"""Per-request DataLoaders over repository functions: one query per kind of thing per request,
however many objects ask (no N+1). Services prime them with what they already loaded."""

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.dataloader import DataLoader

from mentorapi.mentees import repository as mentees_repository
from mentorapi.mentees.models import MenteeSkill
from mentorapi.mentors import repository as mentors_repository
from mentorapi.mentors.models import MentorSkill
from mentorapi.skills import repository as skills_repository
from mentorapi.skills.models import Skill

if TYPE_CHECKING:
    from mentorapi.graphql.context import Context

V = TypeVar("V")

MentorSkills = list[tuple[MentorSkill, Skill]]
MenteeSeeking = list[tuple[MenteeSkill, Skill]]


class Loaders:
    def __init__(self, context: "Context") -> None:
        self._context = context
        # Both link loaders take ids of rows the app already reached through scoped queries.
        self.mentor_skills: DataLoader[str, MentorSkills] = DataLoader(
            self._grouped(mentors_repository.skills_for)
        )
        self.mentee_seeking: DataLoader[str, MenteeSeeking] = DataLoader(
            self._grouped(mentees_repository.seeking_for)
        )
        self.skill: DataLoader[str, Skill | None] = DataLoader(self._skills)

    def _grouped(
        self, fetch: Callable[[AsyncSession, Sequence[str]], Awaitable[dict[str, list[V]]]]
    ) -> Callable[[list[str]], Awaitable[list[list[V]]]]:
        async def load(keys: list[str]) -> list[list[V]]:
            async with self._context.session() as db_session:
                found = await fetch(db_session, keys)
            return [found.get(key, []) for key in keys]

        return load

    async def _skills(self, keys: list[str]) -> list[Skill | None]:
        app_id = await self._context.app_id()
        async with self._context.session() as db_session:
            found = await skills_repository.find(db_session, app_id, ids=keys)
        by_id: dict[str, Any] = {s.id: s for s in found}
        return [by_id.get(key) for key in keys]
