"""Who is calling, and what they may do: the permission model every service shares.

A request acts either with the app's API key (its servers: everything of that app) or as one
member through a member token (a person on a phone or in a browser: their own things only).
Services take the caller as a keyword-only `actor` and call the helpers below before they
change or reveal anything, so REST, GraphQL and anything later enforce the same rules.

Status codes: a member who may see a thing but not change it gets a 403 (Forbidden); where even
knowing that the thing exists would leak (another mentee, another member's session) the helper
answers 404 exactly as for an unknown id, so ids reveal nothing.

How a service adopts it (faces pass `actor=caller` from the `CurrentCaller` dependency):
    session = await get(...)                      # 404 for an unknown id, as before
    require_party(actor, Role.mentor, mentor_id=session.mentor_id,
                  mentee_id=session.mentee_id, not_found=f"no session {id}", action="accepting")
    require_mentee(actor, data.mentee_id)         # booking: only for oneself (else 404)
    require_participant(actor, ..., not_found=…)  # reading one session
    own_profiles(actor)                           # listing: None = all, else filter to own ids
    require_api_key(actor, "managing webhooks")   # app-only operations (403 for members)
"""

from dataclasses import dataclass

from mentorapi.kit.enums import NamedStrEnum
from mentorapi.kit.errors import Forbidden, NotFound


class Role(NamedStrEnum):
    mentee = "mentee"
    mentor = "mentor"
    # One person who both mentors and is mentored in the same app.
    both = "both"

    @property
    def grants(self) -> frozenset["Role"]:
        if self is Role.both:
            return frozenset({Role.mentee, Role.mentor})
        return frozenset({self})


@dataclass(frozen=True, slots=True)
class Member:
    """A person acting through a member token, resolved to their profiles in the app."""

    external_id: str
    roles: frozenset[Role]
    # Set exactly for the roles in `roles` (authentication refuses a token whose profile is
    # missing), None otherwise.
    mentor_id: str | None = None
    mentee_id: str | None = None


@dataclass(frozen=True, slots=True)
class Caller:
    app_id: str
    member: Member | None = None

    @classmethod
    def api_key(cls, app_id: str) -> "Caller":
        """The app itself: its API key, or trusted code of ours (CLI, demo, workers)."""
        return cls(app_id=app_id)

    @property
    def is_api_key(self) -> bool:
        return self.member is None

    @property
    def mentor_id(self) -> str | None:
        return self.member.mentor_id if self.member else None

    @property
    def mentee_id(self) -> str | None:
        return self.member.mentee_id if self.member else None

    def describe(self) -> str:
        if self.member is None:
            return "the API key"
        return f"member {self.member.external_id!r}"


# --- predicates: no error, for filters and for choosing between 403 and 404 -------------------


def acts_as_mentor(caller: Caller, mentor_id: str) -> bool:
    """The API key, or the member whose mentor profile this is."""
    return caller.member is None or caller.member.mentor_id == mentor_id


def acts_as_mentee(caller: Caller, mentee_id: str) -> bool:
    """The API key, or the member whose mentee profile this is."""
    return caller.member is None or caller.member.mentee_id == mentee_id


def is_participant(caller: Caller, *, mentor_id: str, mentee_id: str) -> bool:
    """The API key, the mentor or the mentee of a session (or anything else with both sides)."""
    return caller.member is None or (
        caller.member.mentor_id == mentor_id or caller.member.mentee_id == mentee_id
    )


# --- guards: raise the right domain error -----------------------------------------------------


def require_api_key(caller: Caller, action: str) -> None:
    """`action` (a phrase such as "creating skills") needs the app's API key (its servers);
    a member token is a 403."""
    if caller.member is not None:
        raise Forbidden(
            f"{action} needs the app's API key; a member token cannot do it "
            "(ask your app's server to do it)"
        )


def require_mentor(caller: Caller, mentor_id: str, action: str = "this") -> None:
    """Only the API key or mentor `mentor_id` themself; mentors are public, so others get 403.
    `action` is a phrase such as "changing the profile"."""
    if not acts_as_mentor(caller, mentor_id):
        raise Forbidden(
            f"{action} is allowed only to mentor {mentor_id} themself or the app's API key, "
            f"not to {caller.describe()}"
        )


def require_mentee(caller: Caller, mentee_id: str, what: str = "mentee") -> None:
    """Only the API key or mentee `mentee_id` themself. Mentee profiles are private, so to any
    other member the mentee does not exist: 404 with the usual wording."""
    if not acts_as_mentee(caller, mentee_id):
        raise NotFound(f"no {what} {mentee_id}")


def require_participant(caller: Caller, *, mentor_id: str, mentee_id: str, not_found: str) -> None:
    """Reading a thing between a mentor and a mentee (a session, private feedback): the API key
    or either side. To anyone else it does not exist: NotFound(`not_found`)."""
    if not is_participant(caller, mentor_id=mentor_id, mentee_id=mentee_id):
        raise NotFound(not_found)


def require_party(
    caller: Caller, side: Role, *, mentor_id: str, mentee_id: str, not_found: str, action: str
) -> None:
    """An action one side of a session takes (the mentor accepts, the mentee reschedules, an
    author submits feedback): a stranger gets 404 (`not_found`), the other side 403."""
    if side is Role.both:
        raise ValueError("require_party takes one side: Role.mentor or Role.mentee")
    require_participant(caller, mentor_id=mentor_id, mentee_id=mentee_id, not_found=not_found)
    if side is Role.mentor:
        allowed = acts_as_mentor(caller, mentor_id)
    else:
        allowed = acts_as_mentee(caller, mentee_id)
    if not allowed:
        raise Forbidden(f"{action} is for the {side.value} of this session only")


@dataclass(frozen=True, slots=True)
class OwnProfiles:
    mentor_id: str | None
    mentee_id: str | None


def own_profiles(caller: Caller) -> OwnProfiles | None:
    """For list filters: None for the API key (no filter); for a member, the profile ids their
    rows must match ("mentor_id = x OR mentee_id = y", a None side matching nothing)."""
    if caller.member is None:
        return None
    return OwnProfiles(caller.member.mentor_id, caller.member.mentee_id)


def require_role(caller: Caller, role: Role, action: str) -> None:
    """A member must hold `role` (the API key holds every role)."""
    if caller.member is not None and role not in caller.member.roles:
        raise Forbidden(f"{action} needs a {role.value} member token")
