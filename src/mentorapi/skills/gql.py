"""GraphQL face of skills: types, queries and mutations over skills.service (no rules here)."""

from datetime import datetime
from typing import Annotated

import strawberry

from mentorapi.graphql.context import Info
from mentorapi.graphql.inputs import typed_id, validate
from mentorapi.graphql.relay import (
    AFTER_DESCRIPTION,
    FIRST_DESCRIPTION,
    Connection,
    page_args,
)
from mentorapi.kit.pagination import DEFAULT_LIMIT
from mentorapi.skills import service
from mentorapi.skills.models import Skill, SkillFields
from mentorapi.skills.schemas import SkillCreate, SkillListArgs, SkillUpdate


@strawberry.type(name="Skill", description="A skill of the app's taxonomy.")
class SkillType:
    id: strawberry.ID
    slug: str
    name: str
    category: str | None
    description: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, skill: SkillFields) -> "SkillType":
        return cls(
            id=strawberry.ID(skill.id),
            slug=skill.slug,
            name=skill.name,
            category=skill.category,
            description=skill.description,
            version=skill.version,
            created_at=skill.created_at,
            updated_at=skill.updated_at,
        )


@strawberry.type(description="A skill with a level (1-5) and a note, inside a mentor or mentee.")
class SkillLevel:
    skill: SkillType
    level: int
    note: str | None


@strawberry.input(description="A skill picked by id or by slug (exactly one), with a level.")
class SkillChoiceInput:
    skill_id: strawberry.ID | None = strawberry.UNSET
    slug: str | None = strawberry.UNSET
    level: int = 3
    note: str | None = strawberry.UNSET


@strawberry.input
class SkillFilter:
    category: str | None = None
    q: str | None = strawberry.field(default=None, description="Search slug and name.")


@strawberry.input
class CreateSkillInput:
    slug: str
    name: str
    category: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET


@strawberry.input(description="Fields to change; leave one out to keep it.")
class UpdateSkillInput:
    slug: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    category: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET


def skill_connection(
    info: Info, rows: list[Skill], next_cursor: str | None
) -> Connection[SkillType]:
    return Connection[SkillType].build(
        rows,
        next_cursor,
        node=SkillType.from_model,
        sort="slug",
        key=lambda s: [s.slug, s.id],
        info=info,
    )


@strawberry.type
class Query:
    @strawberry.field(description="The app's skills, by slug.")
    async def skills(
        self,
        info: Info,
        filter: SkillFilter | None = None,
        first: Annotated[int, strawberry.argument(description=FIRST_DESCRIPTION)] = DEFAULT_LIMIT,
        after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    ) -> Connection[SkillType]:
        page = page_args(first, after)
        args = validate(SkillListArgs, filter or {}, argument="filter")
        app_id = await info.context.app_id()
        async with info.context.session() as db_session:
            rows, cursor = await service.list_skills(
                db_session=db_session, app_id=app_id, page=page, category=args.category, q=args.q
            )
        return skill_connection(info, rows, cursor)

    @strawberry.field
    async def skill(self, info: Info, id: strawberry.ID) -> SkillType:
        skill_id = typed_id(id, "skl")
        app_id = await info.context.app_id()
        async with info.context.session() as db_session:
            skill = await service.get(db_session=db_session, app_id=app_id, skill_id=skill_id)
        return SkillType.from_model(skill)


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_skill(self, info: Info, input: CreateSkillInput) -> SkillType:
        data = validate(SkillCreate, input)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            skill = await service.create(
                db_session=db_session, app_id=app_id, actor=actor, data=data
            )
        return SkillType.from_model(skill)

    @strawberry.mutation
    async def update_skill(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateSkillInput,
        expected_version: Annotated[
            int | None, strawberry.argument(description="Like REST's If-Match.")
        ] = None,
    ) -> SkillType:
        skill_id = typed_id(id, "skl")
        data = validate(SkillUpdate, input)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            skill = await service.update(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                skill_id=skill_id,
                data=data,
                expected_version=expected_version,
            )
        return SkillType.from_model(skill)

    @strawberry.mutation(description="Delete a skill no mentor or mentee uses; returns its id.")
    async def delete_skill(
        self, info: Info, id: strawberry.ID, expected_version: int | None = None
    ) -> strawberry.ID:
        skill_id = typed_id(id, "skl")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            await service.delete(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                skill_id=skill_id,
                expected_version=expected_version,
            )
        return id
