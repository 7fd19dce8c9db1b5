"""Per-request DataLoaders over repository functions: one query per kind of thing per request,
however many objects ask (no N+1). Resolvers prime them with what a service already loaded.

Loaders of rows a member might not see filter by the request's caller with the services'
rules (`feedback.service.readable`, sessions a member takes part in), so a nested field never
shows more than the matching query would."""

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Protocol, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession
from strawberry.dataloader import DataLoader

from mentorapi.apps.caller import own_profiles
from mentorapi.availability import repository as availability_repository
from mentorapi.availability.models import Availability
from mentorapi.cohorts import repository as cohorts_repository
from mentorapi.feedback import repository as feedback_repository
from mentorapi.feedback import service as feedback_service
from mentorapi.feedback.models import Feedback, ImpactUpdate
from mentorapi.goals import repository as goals_repository
from mentorapi.goals.models import Goal, Milestone
from mentorapi.group_sessions import repository as group_sessions_repository
from mentorapi.group_sessions import service as group_sessions_service
from mentorapi.group_sessions.models import GroupSession, Seat
from mentorapi.mentees import repository as mentees_repository
from mentorapi.mentees.models import Mentee, MenteeSkill
from mentorapi.mentors import repository as mentors_repository
from mentorapi.mentors.models import Mentor
from mentorapi.sessions import repository as sessions_repository
from mentorapi.sessions import service as sessions_service
from mentorapi.sessions.models import Series, Session
from mentorapi.skills import repository as skills_repository
from mentorapi.skills.models import Skill

if TYPE_CHECKING:
    from mentorapi.graphql.context import Context


class HasId(Protocol):
    id: str


V = TypeVar("V")
Row = TypeVar("Row", bound=HasId)

MentorSkills = list[mentors_repository.SkillLink]
MenteeSeeking = list[tuple[MenteeSkill, Skill]]
# (parent id, how many): nested lists with a `first` argument.
FirstOf = tuple[str, int]
Only = tuple[str | None, str | None] | None


K = TypeVar("K")


async def load_all(loader: DataLoader[K, V], keys: Iterable[K]) -> list[V]:
    """`loader.load_many(keys)`, batched and cached alike, without its gather: that put a
    callback per key on the event loop when the batch completed (50 for a page of mentors);
    awaiting the futures in turn wakes this task once, the rest being done by then. A failed
    batch raises its error here, as the gather did, the other futures' errors retrieved."""
    futures = [loader.load(key) for key in keys]
    try:
        return [await future for future in futures]
    except BaseException:
        for future in futures:
            if isinstance(future, asyncio.Future) and future.done() and not future.cancelled():
                future.exception()
        raise


class Loaders:
    def __init__(self, context: "Context") -> None:
        self._context = context
        # Each loader is made when first asked for: a request uses one or two of them.

    def close(self) -> None:
        """Forget the context and the loaders made (`Context.close`, when the request or the
        socket ends). Both are reference cycles: the context holds this object, which holds
        it back, and each loader's batch function is a closure over (or a method of) this
        object, which holds the loader. Left alone, a request's context, session and loaded
        rows were freed only by the garbage collector, whose passes under load stall every
        request in flight (bench/README.md, "GraphQL's tail")."""
        self.__dict__.clear()

    @cached_property
    def mentor_skills(self) -> DataLoader[str, MentorSkills]:
        # Rows under a parent, scoped to the calling app like every loader: a parent id from
        # another app (a forged global id, a stale key) loads nothing.
        return DataLoader(self._scoped_groups(mentors_repository.skills_for))

    @cached_property
    def mentee_seeking(self) -> DataLoader[str, MenteeSeeking]:
        return DataLoader(self._scoped_groups(mentees_repository.seeking_for))

    @cached_property
    def milestones(self) -> DataLoader[str, list[Milestone]]:
        return DataLoader(self._scoped_groups(goals_repository.milestones_for))

    @cached_property
    def impact_updates(self) -> DataLoader[str, list[ImpactUpdate]]:
        return DataLoader(self._scoped_groups(feedback_repository.updates_for))

    @cached_property
    def skill(self) -> DataLoader[str, Skill | None]:
        # Rows by id, scoped to the calling app (another app's id loads as None).
        return DataLoader(
            self._by_id(lambda s, app_id, ids: skills_repository.find(s, app_id, ids=ids))
        )

    @cached_property
    def mentor(self) -> DataLoader[str, Mentor | None]:
        return DataLoader(self._by_id(mentors_repository.get_many))

    @cached_property
    def mentee(self) -> DataLoader[str, Mentee | None]:
        return DataLoader(self._by_id(mentees_repository.get_many))

    @cached_property
    def series(self) -> DataLoader[str, Series | None]:
        return DataLoader(self._by_id(sessions_repository.get_many_series))

    @cached_property
    def series_sessions(self) -> DataLoader[str, list[Session]]:
        return DataLoader(self._scoped_groups(sessions_repository.sessions_of_series))

    @cached_property
    def availability(self) -> DataLoader[str, Availability | None]:
        return DataLoader(self._availability)

    @cached_property
    def group_session(self) -> DataLoader[str, GroupSession | None]:
        return DataLoader(self._by_id(group_sessions_repository.get_many))

    @cached_property
    def attendees(self) -> DataLoader[str, list[Seat]]:
        # The taken seats of a group session that the caller may see.
        return DataLoader(self._attendees)

    @cached_property
    def cohort_members(self) -> DataLoader[str, cohorts_repository.Members]:
        # The lists of cohorts a resolver has already been allowed to read (API key only).
        return DataLoader(self._cohort_members)

    @cached_property
    def cohort_sizes(self) -> DataLoader[str, tuple[int, int]]:
        return DataLoader(self._cohort_sizes)

    @cached_property
    def goals(self) -> DataLoader[str, list[Goal]]:
        return DataLoader(self._scoped_groups(goals_repository.for_mentees))

    @cached_property
    def session_feedback(self) -> DataLoader[str, list[Feedback]]:
        return DataLoader(self._session_feedback)

    @cached_property
    def group_session_feedback(self) -> DataLoader[str, list[Feedback]]:
        return DataLoader(self._group_session_feedback)

    @cached_property
    def mentor_feedback(self) -> DataLoader[FirstOf, list[Feedback]]:
        return DataLoader(
            self._first_of(
                lambda s, app_id, ids, n, _only: feedback_repository.public_for_mentors(
                    s, app_id, ids, limit=n
                )
            )
        )

    @cached_property
    def upcoming_sessions(self) -> DataLoader[FirstOf, list[Session]]:
        return DataLoader(
            self._first_of(
                lambda s, app_id, ids, n, only: sessions_repository.upcoming_for_mentors(
                    s, app_id, ids, now=sessions_service.now(), limit=n, participant=only
                )
            )
        )

    @cached_property
    def mentee_sessions(self) -> DataLoader[FirstOf, list[Session]]:
        return DataLoader(
            self._first_of(
                lambda s, app_id, ids, n, only: sessions_repository.latest_for_mentees(
                    s, app_id, ids, limit=n, participant=only
                )
            )
        )

    def _scoped_groups(
        self, fetch: Callable[[AsyncSession, str, Sequence[str]], Awaitable[dict[str, list[V]]]]
    ) -> Callable[[list[str]], Awaitable[list[list[V]]]]:
        async def load(keys: list[str]) -> list[list[V]]:
            app_id = await self._context.app_id()
            async with self._context.session() as db_session:
                found = await fetch(db_session, app_id, keys)
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

    def _first_of(
        self,
        fetch: Callable[[AsyncSession, str, list[str], int, Only], Awaitable[dict[str, list[V]]]],
    ) -> Callable[[list[FirstOf]], Awaitable[list[list[V]]]]:
        """Keys (parent id, n): one query per distinct n (in practice one per request)."""

        async def load(keys: list[FirstOf]) -> list[list[V]]:
            app_id = await self._context.app_id()
            own = own_profiles(await self._context.caller())
            only: Only = None if own is None else (own.mentor_id, own.mentee_id)
            by_n: defaultdict[int, list[str]] = defaultdict(list)
            for parent, n in keys:
                by_n[n].append(parent)
            found: dict[FirstOf, list[V]] = {}
            async with self._context.session() as db_session:
                for n, parents in by_n.items():
                    rows = await fetch(db_session, app_id, parents, n, only)
                    found.update({(p, n): rows.get(p, []) for p in parents})
            return [found[key] for key in keys]

        return load

    async def _availability(self, keys: list[str]) -> list[Availability | None]:
        app_id = await self._context.app_id()
        async with self._context.session() as db_session:
            rows = await availability_repository.get_many(db_session, app_id, keys)
        found = {row.mentor_id: row for row in rows}
        return [found.get(key) for key in keys]

    async def _attendees(self, keys: list[str]) -> list[list[Seat]]:
        app_id = await self._context.app_id()
        caller = await self._context.caller()
        async with self._context.session() as db_session:
            found = await group_sessions_service.attendees(db_session, app_id, caller, keys)
        return [found.get(key, []) for key in keys]

    async def _cohort_members(self, keys: list[str]) -> list[cohorts_repository.Members]:
        app_id = await self._context.app_id()
        async with self._context.session() as db_session:
            found = await cohorts_repository.members_of(db_session, app_id, keys)
        return [found[key] for key in keys]

    async def _cohort_sizes(self, keys: list[str]) -> list[tuple[int, int]]:
        app_id = await self._context.app_id()
        async with self._context.session() as db_session:
            found = await cohorts_repository.sizes_of(db_session, app_id, keys)
        return [found[key] for key in keys]

    async def _session_feedback(self, keys: list[str]) -> list[list[Feedback]]:
        app_id = await self._context.app_id()
        caller = await self._context.caller()
        async with self._context.session() as db_session:
            found = await feedback_repository.for_sessions(db_session, app_id, keys)
        return [feedback_service.readable(caller, found.get(key, [])) for key in keys]

    async def _group_session_feedback(self, keys: list[str]) -> list[list[Feedback]]:
        app_id = await self._context.app_id()
        caller = await self._context.caller()
        async with self._context.session() as db_session:
            found = await feedback_repository.for_group_sessions(db_session, app_id, keys)
        return [feedback_service.readable(caller, found.get(key, [])) for key in keys]
