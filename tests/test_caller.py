"""The permission helpers other services (sessions, feedback, webhooks) build on."""

import pytest

from mentorapi.apps.caller import (
    Caller,
    Member,
    OwnProfiles,
    Role,
    own_profiles,
    require_api_key,
    require_mentee,
    require_mentor,
    require_participant,
    require_party,
    require_role,
)
from mentorapi.kit.errors import Forbidden, NotFound

APP = "app_1"
KEY = Caller.api_key(APP)
MENTOR = Caller(APP, Member("u1", frozenset({Role.mentor}), mentor_id="mtr_1"))
MENTEE = Caller(APP, Member("u2", frozenset({Role.mentee}), mentee_id="mte_2"))
BOTH = Caller(APP, Member("u3", Role.both.grants, mentor_id="mtr_3", mentee_id="mte_3"))
STRANGER = Caller(APP, Member("u4", frozenset({Role.mentee}), mentee_id="mte_4"))
SESSION = {"mentor_id": "mtr_1", "mentee_id": "mte_2"}


def test_api_key_passes_everything() -> None:
    require_api_key(KEY, "x")
    require_mentor(KEY, "mtr_9")
    require_mentee(KEY, "mte_9")
    require_participant(KEY, **SESSION, not_found="no session")
    require_party(KEY, Role.mentee, **SESSION, not_found="no session", action="cancelling")
    require_role(KEY, Role.mentor, "x")
    assert own_profiles(KEY) is None


def test_members_are_refused_app_only_actions() -> None:
    for member in (MENTOR, MENTEE, BOTH):
        with pytest.raises(Forbidden, match="API key"):
            require_api_key(member, "managing webhooks")


def test_mentor_and_mentee_guards() -> None:
    require_mentor(MENTOR, "mtr_1")
    with pytest.raises(Forbidden):
        require_mentor(MENTOR, "mtr_3")
    with pytest.raises(Forbidden):
        require_mentor(MENTEE, "mtr_1")
    require_mentee(MENTEE, "mte_2")
    with pytest.raises(NotFound, match="no mentee mte_3"):
        require_mentee(MENTEE, "mte_3")  # private: another mentee does not exist
    require_mentor(BOTH, "mtr_3")
    require_mentee(BOTH, "mte_3")


def test_session_parties() -> None:
    args = {**SESSION, "not_found": "no session ses_1"}
    require_party(MENTOR, Role.mentor, **args, action="accepting")
    require_party(MENTEE, Role.mentee, **args, action="rescheduling")
    with pytest.raises(Forbidden, match="for the mentor of this session"):
        require_party(MENTEE, Role.mentor, **args, action="accepting")
    with pytest.raises(Forbidden, match="for the mentee of this session"):
        require_party(MENTOR, Role.mentee, **args, action="rescheduling")
    with pytest.raises(NotFound, match="no session ses_1"):
        require_party(STRANGER, Role.mentee, **args, action="cancelling")
    with pytest.raises(NotFound):
        require_participant(BOTH, **args)
    require_participant(MENTEE, **args)
    with pytest.raises(ValueError, match="one side"):
        require_party(KEY, Role.both, **args, action="x")


def test_roles_and_list_scope() -> None:
    require_role(MENTOR, Role.mentor, "offering availability")
    with pytest.raises(Forbidden, match="mentee member token"):
        require_role(MENTOR, Role.mentee, "booking")
    assert own_profiles(MENTOR) == OwnProfiles("mtr_1", None)
    assert own_profiles(BOTH) == OwnProfiles("mtr_3", "mte_3")
