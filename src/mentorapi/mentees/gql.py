"""GraphQL face of mentees: types, queries and mutations over mentees.service (no rules here)."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from mentorapi.goals.gql import GoalType
from mentorapi.graphql.context import Info
from mentorapi.graphql.inputs import as_dict, typed_id, validate
from mentorapi.graphql.relay import AFTER_DESCRIPTION, FIRST_DESCRIPTION, Connection, page_args
from mentorapi.kit.pagination import DEFAULT_LIMIT
from mentorapi.mentees import service
from mentorapi.mentees.models import Mentee
from mentorapi.mentees.schemas import MenteeCreate, MenteeListArgs, MenteeUpdate
from mentorapi.mentees.service import MenteeView
from mentorapi.skills.gql import SkillChoiceInput, SkillLevel, SkillType

if TYPE_CHECKING:
    from mentorapi.sessions.gql import SessionType

NESTED_FIRST = 5


@strawberry.type(name="Mentee", description="A mentee profile.")
class MenteeType:
    id: strawberry.ID
    external_id: str
    name: str
    timezone: str
    languages: list[str]
    version: int
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="The skills the mentee wants to develop (level: theirs today).")
    async def seeking(self, info: Info) -> list[SkillLevel]:
        links = await info.context.loaders.mentee_seeking.load(self.id)
        return [
            SkillLevel(skill=SkillType.from_model(skill), level=link.level, note=link.note)
            for link, skill in links
        ]

    @strawberry.field(description="The mentee's goals, oldest first.")
    async def goals(self, info: Info) -> list[GoalType]:
        rows = await info.context.loaders.goals.load(self.id)
        return [GoalType.from_model(g) for g in rows]

    @strawberry.field(description="The most recently booked sessions, newest first.")
    async def sessions(
        self,
        info: Info,
        first: Annotated[
            int, strawberry.argument(description=f"How many, 1-100 (default {NESTED_FIRST}).")
        ] = NESTED_FIRST,
    ) -> list[Annotated["SessionType", strawberry.lazy("mentorapi.sessions.gql")]]:
        from mentorapi.sessions.gql import SessionType

        page_args(first, None)
        rows = await info.context.loaders.mentee_sessions.load((self.id, first))
        return [SessionType.from_model(s) for s in rows]

    @classmethod
    def from_model(cls, mentee: Mentee) -> "MenteeType":
        return cls(
            id=strawberry.ID(mentee.id),
            external_id=mentee.external_id,
            name=mentee.name,
            timezone=mentee.timezone,
            languages=list(mentee.languages),
            version=mentee.version,
            created_at=mentee.created_at,
            updated_at=mentee.updated_at,
        )


def _node(info: Info, view: MenteeView) -> MenteeType:
    info.context.loaders.mentee_seeking.prime(view.mentee.id, view.seeking, force=True)
    return MenteeType.from_model(view.mentee)


@strawberry.input
class MenteeFilter:
    skill: str | None = strawberry.field(default=None, description="A skill slug sought.")
    q: str | None = strawberry.field(default=None, description="Search the name.")


@strawberry.input
class CreateMenteeInput:
    external_id: str
    name: str
    timezone: str
    languages: list[str] | None = strawberry.UNSET
    seeking: list[SkillChoiceInput] | None = strawberry.UNSET


@strawberry.input(description="Fields to change; leave one out (or null) to keep it.")
class UpdateMenteeInput:
    external_id: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    timezone: str | None = strawberry.UNSET
    languages: list[str] | None = strawberry.UNSET
    seeking: list[SkillChoiceInput] | None = strawberry.UNSET


@strawberry.type
class Query:
    @strawberry.field(description="The app's mentees, oldest first.")
    async def mentees(
        self,
        info: Info,
        filter: MenteeFilter | None = None,
        first: Annotated[int, strawberry.argument(description=FIRST_DESCRIPTION)] = DEFAULT_LIMIT,
        after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    ) -> Connection[MenteeType]:
        page = page_args(first, after)
        args = validate(MenteeListArgs, filter or {}, argument="filter")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            views, cursor = await service.list_mentees(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                page=page,
                skill=args.skill,
                q=args.q,
            )
        return Connection[MenteeType].build(
            views,
            cursor,
            node=lambda v: _node(info, v),
            sort="created",
            key=lambda v: [v.mentee.id],
            info=info,
        )

    @strawberry.field
    async def mentee(self, info: Info, id: strawberry.ID) -> MenteeType:
        mentee_id = typed_id(id, "mte")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.get_view(
                db_session=db_session, app_id=app_id, actor=actor, mentee_id=mentee_id
            )
        return _node(info, view)


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_mentee(self, info: Info, input: CreateMenteeInput) -> MenteeType:
        fields = {k: v for k, v in as_dict(input).items() if v is not None}
        data = validate(MenteeCreate, fields)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.create(
                db_session=db_session, app_id=app_id, actor=actor, data=data
            )
        return _node(info, view)

    @strawberry.mutation
    async def update_mentee(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateMenteeInput,
        expected_version: Annotated[
            int | None, strawberry.argument(description="Like REST's If-Match.")
        ] = None,
    ) -> MenteeType:
        mentee_id = typed_id(id, "mte")
        data = validate(MenteeUpdate, input)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.update(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                mentee_id=mentee_id,
                data=data,
                expected_version=expected_version,
            )
        return _node(info, view)

    @strawberry.mutation(description="Delete a mentee; returns its id.")
    async def delete_mentee(
        self, info: Info, id: strawberry.ID, expected_version: int | None = None
    ) -> strawberry.ID:
        mentee_id = typed_id(id, "mte")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            await service.delete(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                mentee_id=mentee_id,
                expected_version=expected_version,
            )
        return id
