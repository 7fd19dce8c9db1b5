"""Per-request DataLoaders over repository functions: one query per kind of thing per request,
however many objects ask (no N+1). Resolvers prime them with what a service already loaded."""

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

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


class HasId(Protocol):
    id: str


V = TypeVar("V")
Row = TypeVar("Row", bound=HasId)

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
        # Rows by id, scoped to the calling app (another app's id loads as None).
        self.skill: DataLoader[str, Skill | None] = DataLoader(
            self._by_id(lambda s, app_id, ids: skills_repository.find(s, app_id, ids=ids))
        )

    def _grouped(
        self, fetch: Callable[[AsyncSession, Sequence[str]], Awaitable[dict[str, list[V]]]]
    ) -> Callable[[list[str]], Awaitable[list[list[V]]]]:
        async def load(keys: list[str]) -> list[list[V]]:
            async with self._context.session() as db_session:
                found = await fetch(db_session, keys)
            return [found.get(key, []) for key in keys]

        return load

    def _by_id(
        self, fetch: Callable[[AsyncSession, str, list[str]], Awaitable[Sequence[Row]]]
    ) -> Callable[[list[str]], Awaitable[list[Row | None]]]:
        async def load(keys: list[str]) -> list[Row | None]:
            app_id = await self._context.app_id()
            async with self._context.session() as db_session:
                found = {row.id: row for row in await fetch(db_session, app_id, keys)}
            return [found.get(key) for key in keys]

        return load
