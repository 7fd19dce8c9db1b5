"""GraphQL face of mentors: types, queries and mutations over mentors.service (no rules here)."""

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry.types.base import get_object_definition
from strawberry.utils.str_converters import to_camel_case

from mentorapi.availability.gql import AvailabilityType
from mentorapi.availability.models import Availability
from mentorapi.feedback.gql import FeedbackType
from mentorapi.graphql.context import Info
from mentorapi.graphql.inputs import as_dict, typed_id, validate
from mentorapi.graphql.loaders import load_all
from mentorapi.graphql.lookahead import ANY, Allowed, selects, selects_only
from mentorapi.graphql.relay import AFTER_DESCRIPTION, FIRST_DESCRIPTION, Connection, page_args
from mentorapi.kit.pagination import DEFAULT_LIMIT
from mentorapi.mentors import service
from mentorapi.mentors.models import Format, MentorFields, SkillOffer
from mentorapi.mentors.schemas import (
    MentorCreate,
    MentorSearch,
    MentorSkillsPut,
    MentorSort,
    MentorUpdate,
    stats_data,
)
from mentorapi.mentors.service import MentorView
from mentorapi.skills.gql import SkillChoiceInput, SkillLevel, SkillType
from mentorapi.skills.models import SkillFields

if TYPE_CHECKING:
    from mentorapi.sessions.gql import SessionType

NESTED_FIRST = 5
NESTED_FIRST_DESCRIPTION = f"How many, 1-100 (default {NESTED_FIRST})."


@strawberry.enum(name="SessionFormat")
class FormatEnum(Enum):
    VIDEO = Format.video.value
    PHONE = Format.phone.value
    CHAT = Format.chat.value
    IN_PERSON = Format.in_person.value
    ASYNC = Format.async_.value


# A mentor's formats by their stored values: a page converts 100 of them, and calling the
# enum class for each was a third of building its mentor objects.
_FORMATS = {member.value: member for member in FormatEnum}


@strawberry.enum(name="MentorSort")
class MentorSortEnum(Enum):
    CREATED = MentorSort.created.value
    NEWEST = MentorSort.newest.value
    NAME = MentorSort.name.value
    NAME_DESC = MentorSort.name_desc.value
    RATING = MentorSort.rating.value
    SESSIONS = MentorSort.sessions.value


@strawberry.type
class MentorStats:
    sessions_completed: int
    minutes_mentored: int
    average_rating: float | None
    ratings_count: int
    mentees_helped: int = strawberry.field(description="Distinct mentees with a completed session.")
    impact_stories: int = strawberry.field(
        description="Feedback and impact updates that told an impact."
    )


@strawberry.type(name="Mentor", description="A mentor profile.")
class MentorType:
    id: strawberry.ID
    external_id: str
    name: str
    headline: str
    bio: str
    timezone: str
    languages: list[str]
    formats: list[FormatEnum]
    session_lengths: list[int]
    stats: MentorStats
    version: int
    created_at: datetime
    updated_at: datetime
    # Loaded for many mentors at once by whoever builds them (`mentor_objects`), rather than
    # by a resolver per mentor: on a page of 50 that resolver was most of the request's CPU.
    skills: list[SkillLevel] = strawberry.field(
        description="The skills offered, highest level first."
    )

    @strawberry.field(description="Weekly windows and overrides (empty, version 0, if never set).")
    async def availability(self, info: Info) -> AvailabilityType:
        found = await info.context.loaders.availability.load(self.id)
        if found is None:  # as availability.service.get: never set is an empty availability
            found = Availability(app_id="", mentor_id=self.id, version=0)
        return AvailabilityType.from_model(found, self.timezone)

    @strawberry.field(
        description="The next requested or booked sessions, soonest first (a member sees only "
        "those they take part in)."
    )
    async def upcoming_sessions(
        self,
        info: Info,
        first: Annotated[
            int, strawberry.argument(description=NESTED_FIRST_DESCRIPTION)
        ] = NESTED_FIRST,
    ) -> list[Annotated["SessionType", strawberry.lazy("mentorapi.sessions.gql")]]:
        from mentorapi.sessions.gql import SessionType

        page_args(first, None)
        rows = await info.context.loaders.upcoming_sessions.load((self.id, first))
        return [SessionType.from_model(s) for s in rows]

    @strawberry.field(description="The newest public feedback, as on the mentor's profile.")
    async def feedback(
        self,
        info: Info,
        first: Annotated[
            int, strawberry.argument(description=NESTED_FIRST_DESCRIPTION)
        ] = NESTED_FIRST,
    ) -> list[FeedbackType]:
        page_args(first, None)
        rows = await info.context.loaders.mentor_feedback.load((self.id, first))
        return [FeedbackType.from_model(f) for f in rows]

    @classmethod
    def from_model(cls, mentor: MentorFields, skills: list[SkillLevel]) -> "MentorType":
        return cls(**mentor_data(mentor, skills))


def mentor_data(mentor: MentorFields, skills: list[SkillLevel]) -> dict[str, Any]:
    """A mentor's fields without resolvers by their Python names: `MentorType`'s arguments,
    or the mentor itself as plain data (graphql/execution.read_field) when the selection asks
    for no field with a resolver (`mentor_objects`)."""
    return {
        "id": mentor.id,
        "external_id": mentor.external_id,
        "name": mentor.name,
        "headline": mentor.headline,
        "bio": mentor.bio,
        "timezone": mentor.timezone,
        "languages": list(mentor.languages),
        "formats": [_FORMATS[f] for f in mentor.formats],
        "session_lengths": list(mentor.session_lengths),
        # Plain data (graphql/execution.read_field): MentorStats's fields by name.
        "stats": stats_data(mentor),
        "version": mentor.version,
        "created_at": mentor.created_at,
        "updated_at": mentor.updated_at,
        "skills": skills,
    }


# What a selection of mentors may ask for to be answered by plain data: the fields without a
# resolver, anything below them (a resolver reads its source's attributes: a dict has none).
_PLAIN: Allowed = {
    **{
        field.graphql_name or to_camel_case(field.python_name): ANY
        for field in get_object_definition(MentorType, strict=True).fields
        if field.base_resolver is None
    },
    "__typename": None,
}


class SkillsNotLoaded(list[SkillLevel]):
    """The skills of a mentor object built for a selection that does not ask for them. Never
    read; if a selection were missed, reading them is an error (INTERNAL, logged), never an
    empty list of skills."""

    def __iter__(self) -> Iterator[SkillLevel]:
        raise RuntimeError("a mentor's skills were read but not loaded (graphql/lookahead.py)")


# What a mentor's `skills` selection may ask for to be answered from the offers (names, not
# aliases; through fragments): the rest of Skill needs its rows, through the links.
_REF: Allowed = dict.fromkeys(("id", "slug", "name", "category", "__typename"))
OFFER_FIELDS: Allowed = {"level": None, "note": None, "__typename": None, "skill": _REF}


def _offers_fit(info: Info, at: Sequence[str]) -> bool:
    return selects_only(info, (*at, "skills"), OFFER_FIELDS)


async def mentor_objects(
    info: Info,
    mentors: Sequence[MentorFields],
    *at: str,
    offers: Sequence[list[SkillOffer]] | None = None,
) -> list[MentorType]:
    """`mentors` as GraphQL objects, with their skills when the selection asks for them (`at`:
    the fields between the current one and the mentors). When the caller has the mentors'
    offers (`offers`: the service's display copy, Mentor.offers, kept exact in the transactions
    that change skills or links) and the selection asks only for what they hold, the skills
    are built from them: no statement. Otherwise from the links (full Skill rows), in one
    loader call for all of them, so one statement per request however many mentors and
    resolvers ask."""
    # A page asking for no field with a resolver (availability, sessions, feedback): each
    # mentor as plain data, a dict, not an object (a 14-argument `__init__` each).
    build: Callable[[MentorFields, list[SkillLevel]], Any] = (
        mentor_data if at and selects_only(info, at, _PLAIN) else MentorType.from_model
    )
    if not selects(info, *at, "skills"):
        return [build(m, SkillsNotLoaded()) for m in mentors]
    if offers is not None and _offers_fit(info, at):
        # Plain data: an offer holds a SkillLevel's fields by their names, its `skill` the
        # Skill fields OFFER_FIELDS allows, and both are read as they are
        # (graphql/execution.read_field); a field outside them is a missing key, an error
        # (INTERNAL), never a made-up value.
        return [
            build(mentor, cast("list[SkillLevel]", shown))
            for mentor, shown in zip(mentors, offers, strict=True)
        ]
    links = await load_all(info.context.loaders.mentor_skills, [m.id for m in mentors])
    skills: dict[str, SkillType] = {}  # a page's mentors share a few skills: one object each

    def skill(row: SkillFields) -> SkillType:
        found = skills.get(row.id)
        if found is None:
            found = skills[row.id] = SkillType.from_model(row)
        return found

    return [
        build(
            mentor,
            [SkillLevel(skill=skill(ln.skill), level=ln.level, note=ln.note) for ln in found],
        )
        for mentor, found in zip(mentors, links, strict=True)
    ]


async def _node(info: Info, view: MentorView) -> MentorType:
    (node,) = await mentor_objects(info, [view.mentor], offers=[view.skills])
    return node


@strawberry.input
class MentorFilter:
    skills: list[str] | None = strawberry.field(
        default=None, description="Skill slugs; every one must be offered."
    )
    q: str | None = strawberry.field(default=None, description="Search name, headline and bio.")
    language: str | None = strawberry.field(default=None, description="A BCP 47 tag.")
    format: FormatEnum | None = None
    session_length: int | None = None


@strawberry.input
class CreateMentorInput:
    external_id: str
    name: str
    timezone: str
    headline: str | None = strawberry.UNSET
    bio: str | None = strawberry.UNSET
    languages: list[str] | None = strawberry.UNSET
    formats: list[FormatEnum] | None = strawberry.UNSET
    session_lengths: list[int] | None = strawberry.UNSET
    skills: list[SkillChoiceInput] | None = strawberry.UNSET


@strawberry.input(description="Fields to change; leave one out (or null) to keep it.")
class UpdateMentorInput:
    external_id: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    headline: str | None = strawberry.UNSET
    bio: str | None = strawberry.UNSET
    timezone: str | None = strawberry.UNSET
    languages: list[str] | None = strawberry.UNSET
    formats: list[FormatEnum] | None = strawberry.UNSET
    session_lengths: list[int] | None = strawberry.UNSET


def _drop_nulls(data: dict[str, object]) -> dict[str, object]:
    # MentorCreate has defaults, not nulls, for optional fields: null means "the default".
    return {k: v for k, v in data.items() if v is not None}


@strawberry.type
class Query:
    @strawberry.field(description="Search mentors (the same filters as GET /v1/mentors).")
    async def mentors(
        self,
        info: Info,
        filter: MentorFilter | None = None,
        sort: MentorSortEnum = MentorSortEnum.CREATED,
        first: Annotated[int, strawberry.argument(description=FIRST_DESCRIPTION)] = DEFAULT_LIMIT,
        after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    ) -> Connection[MentorType]:
        page = page_args(first, after)
        args = validate(MentorSearch, filter or {}, argument="filter")
        order = MentorSort(sort.value)
        app_id = await info.context.app_id()
        async with info.context.session() as db_session:
            views, cursor = await service.list_mentors(
                db_session=db_session,
                app_id=app_id,
                page=page,
                skills=args.skills,
                q=args.q,
                language=args.language,
                format=args.format.value if args.format else None,
                session_length=args.session_length,
                sort=order,
            )
        nodes = await mentor_objects(
            info, [v.mentor for v in views], "edges", "node", offers=[v.skills for v in views]
        )
        return Connection[MentorType].build(
            list(zip(views, nodes, strict=True)),
            cursor,
            node=lambda pair: pair[1],
            sort=order.value,
            key=lambda pair: service.cursor_values(pair[0].mentor, order),
            info=info,
        )

    @strawberry.field
    async def mentor(self, info: Info, id: strawberry.ID) -> MentorType:
        mentor_id = typed_id(id, "mtr")
        app_id = await info.context.app_id()
        async with info.context.session() as db_session:
            view = await service.get_view(db_session=db_session, app_id=app_id, mentor_id=mentor_id)
        return await _node(info, view)


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_mentor(self, info: Info, input: CreateMentorInput) -> MentorType:
        data = validate(MentorCreate, _drop_nulls(as_dict(input)))
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.create(
                db_session=db_session, app_id=app_id, actor=actor, data=data
            )
        return await _node(info, view)

    @strawberry.mutation
    async def update_mentor(
        self,
        info: Info,
        id: strawberry.ID,
        input: UpdateMentorInput,
        expected_version: Annotated[
            int | None, strawberry.argument(description="Like REST's If-Match.")
        ] = None,
    ) -> MentorType:
        mentor_id = typed_id(id, "mtr")
        data = validate(MentorUpdate, input)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.update(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                mentor_id=mentor_id,
                data=data,
                expected_version=expected_version,
            )
        return await _node(info, view)

    @strawberry.mutation(description="Replace the skills a mentor offers.")
    async def set_mentor_skills(
        self,
        info: Info,
        id: strawberry.ID,
        skills: list[SkillChoiceInput],
        expected_version: int | None = None,
    ) -> MentorType:
        mentor_id = typed_id(id, "mtr")
        body = validate(MentorSkillsPut, {"skills": skills}, argument=None)
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            view = await service.put_skills(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                mentor_id=mentor_id,
                choices=body.skills,
                expected_version=expected_version,
            )
        return await _node(info, view)

    @strawberry.mutation(description="Delete a mentor; returns its id.")
    async def delete_mentor(
        self, info: Info, id: strawberry.ID, expected_version: int | None = None
    ) -> strawberry.ID:
        mentor_id = typed_id(id, "mtr")
        app_id = await info.context.app_id()
        actor = await info.context.caller()
        async with info.context.session() as db_session:
            await service.delete(
                db_session=db_session,
                app_id=app_id,
                actor=actor,
                mentor_id=mentor_id,
                expected_version=expected_version,
            )
        return id
