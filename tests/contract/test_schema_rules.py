"""The schemas of the OpenAPI document tell the truth about what the server accepts and writes.

Clients are generated from openapi/openapi.json (openapi-typescript, openapi-python-client):
- a request field with a default must come out optional (openapi-typescript types any property
  that has a `default` as required: `bio`, `level`, `note`, `thanks` had to be sent);
- a response field that is always written must be required (no `?.` on every read);
- every rule the server checks (enums, patterns, bounds) must be in the schema, so client-side
  validation refuses what the server would refuse;
- every example must be one the server accepts.
"""

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import available_timezones

import jsonschema_rs
import langcodes
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from mentorapi.availability.schemas import HHMM_PATTERN, minutes_of
from mentorapi.kit import examples as ex
from mentorapi.kit.bodies import RequestBody, ResponseBody
from mentorapi.kit.ids import BODY_PATTERN, PREFIXES, check_id, new_id
from mentorapi.kit.languages import LANGUAGE_TAG_PATTERN
from mentorapi.kit.timezones import TIMEZONE_PATTERN, validate_timezone
from mentorapi.main import create_app
from mentorapi.skills.schemas import SLUG_PATTERN
from mentorapi.webhooks.schemas import MAX_URL_LENGTH
from tests.conftest import Tenant
from tests.factories import create_mentee, create_mentor, create_skill

Schema = dict[str, Any]


@cache
def document() -> Schema:
    doc: Schema = create_app().openapi()
    return doc


def schemas() -> dict[str, Schema]:
    found: dict[str, Schema] = document()["components"]["schemas"]
    return found


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            yield ref.rsplit("/", 1)[1]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _closure(roots: Iterator[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_refs(schemas()[name]))
    return seen


def _operations() -> Iterator[tuple[str, str, Schema]]:
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method in ("get", "put", "post", "patch", "delete"):
                yield method, path, operation


def request_schemas() -> set[str]:
    return _closure(_refs([op.get("requestBody", {}) for _, _, op in _operations()]))


def response_schemas() -> set[str]:
    """Schemas of success bodies (error bodies belong to kit/problems.py)."""
    bodies = [
        response
        for _, _, op in _operations()
        for status, response in op.get("responses", {}).items()
        if status.startswith("2")
    ]
    return _closure(_refs(bodies))


def _branches(prop: Schema) -> list[Schema]:
    """A property's schema, or each branch of a nullable `anyOf`."""
    return [b for b in prop.get("anyOf", [prop]) if b.get("type") != "null"]


def _models(base: type[BaseModel]) -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    todo = list(base.__subclasses__())
    while todo:
        cls = todo.pop()
        found.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    return found


# --- optional and required --------------------------------------------------------------------


def test_request_fields_with_a_default_are_optional() -> None:
    document()  # imports every schema module
    models = _models(RequestBody)
    wrong = []
    for name in sorted(request_schemas()):
        schema = schemas()[name]
        required = set(schema.get("required", []))
        for prop, prop_schema in schema.get("properties", {}).items():
            if "default" in prop_schema:
                wrong.append(f"{name}.{prop} has a `default` (openapi-typescript requires it)")
        model = models.get(name)
        if model is not None:
            for field_name, field in model.model_fields.items():
                if not field.is_required() and field_name in required:
                    wrong.append(f"{name}.{field_name} has a default but is required")
    assert not wrong, "\n".join(wrong)


def test_the_defaulted_fields_of_the_issue_are_optional_and_say_their_default() -> None:
    for name, prop, default in [
        ("MentorCreate", "bio", '""'),
        ("SkillChoice", "level", "3"),
        ("Complete", "note", '""'),
        ("FeedbackCreate", "thanks", '""'),
    ]:
        schema = schemas()[name]
        assert prop not in schema.get("required", []), (name, prop)
        assert "default" not in schema["properties"][prop], (name, prop)
        assert f"Default: `{default}`." in schema["properties"][prop]["description"], (name, prop)


def test_response_fields_are_required() -> None:
    """Every member of a success body is always written (null when empty), so it is required."""
    wrong = []
    for name in sorted(response_schemas()):
        schema = schemas()[name]
        required = set(schema.get("required", []))
        wrong += [f"{name}.{p}" for p in schema.get("properties", {}) if p not in required]
    assert not wrong, "optional in a response schema: " + ", ".join(wrong)


# --- enums, patterns, formats -----------------------------------------------------------------


def _only_ref(prop: Schema) -> str | None:
    (branch,) = _branches(prop)
    if branch.get("type") == "array":
        branch = branch["items"]
    ref = branch.get("$ref")
    return ref.rsplit("/", 1)[1] if isinstance(ref, str) else None


ENUM_FIELDS = [
    ("SessionRead", "status", "SessionStatus"),
    ("SessionEventData", "status", "SessionStatus"),
    ("SeriesRead", "status", "SeriesStatus"),
    ("SessionRead", "format", "Format"),
    ("SessionRead", "cancelled_by", "CancelledBy"),
    ("EventRead", "type", "EventType"),
    ("WebhookEndpointRead", "events", "EventType"),
    ("WebhookEndpointCreate", "events", "EventType"),
    ("DeliveryRead", "status", "DeliveryStatus"),
    ("DeliveryAttemptRead", "kind", "AttemptKind"),
    ("DeliveryAttemptRead", "event_type", "EventType"),
    ("FeedbackRead", "author", "Author"),
    ("FeedbackRead", "visibility", "Visibility"),
    ("WeeklyWindow", "day", "Day"),
    ("MemberTokenCreate", "role", "Role"),
    ("MentorRead", "formats", "Format"),
]


@pytest.mark.parametrize(("schema", "prop", "enum"), ENUM_FIELDS)
def test_fixed_sets_are_enums(schema: str, prop: str, enum: str) -> None:
    assert _only_ref(schemas()[schema]["properties"][prop]) == enum
    assert schemas()[enum]["enum"]


def test_enum_values_have_names() -> None:
    """A value that is not an identifier (`-created`, `session.booked`) gets its member's name,
    or generators invent one (`VALUE_1`)."""
    identifier = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
    for name, schema in schemas().items():
        if "enum" not in schema or all(identifier.match(str(v)) for v in schema["enum"]):
            continue
        names = schema.get("x-enum-varnames")
        assert names, name
        assert len(names) == len(schema["enum"]), name
        assert all(identifier.match(n) for n in names), (name, names)
        assert len(set(names)) == len(names), name
        assert schema.get("x-enumNames") == names, name
    sort = schemas()["MentorSort"]
    assert dict(zip(sort["enum"], sort["x-enum-varnames"], strict=True))["-created"] == "newest"


def _prop(schema: str, path: str) -> Schema:
    node = schemas()[schema]
    for part in path.split("."):
        if part == "[]":
            (node,) = _branches(node)
            node = node["items"]
        else:
            node = node["properties"][part]
    (branch,) = _branches(node)
    return branch


SHOWN = [
    ("SkillCreate", "slug", {"pattern": SLUG_PATTERN}),
    ("SkillUpdate", "slug", {"pattern": SLUG_PATTERN}),
    ("SkillChoice", "slug", {"pattern": SLUG_PATTERN}),
    ("GoalCreate", "slug", {"pattern": SLUG_PATTERN}),
    ("SkillChoice", "skill_id", {"pattern": f"^skl_{BODY_PATTERN}$"}),
    ("GoalCreate", "skill_id", {"pattern": f"^skl_{BODY_PATTERN}$"}),
    ("TimeWindow", "start", {"pattern": HHMM_PATTERN}),
    ("TimeWindow", "end", {"pattern": HHMM_PATTERN}),
    ("WeeklyWindow", "start", {"pattern": HHMM_PATTERN}),
    ("WeeklyWindow", "end", {"pattern": HHMM_PATTERN}),
    ("MentorCreate", "timezone", {"pattern": TIMEZONE_PATTERN}),
    ("MentorUpdate", "timezone", {"pattern": TIMEZONE_PATTERN}),
    ("MenteeCreate", "timezone", {"pattern": TIMEZONE_PATTERN}),
    ("MenteeUpdate", "timezone", {"pattern": TIMEZONE_PATTERN}),
    ("MentorCreate", "languages.[]", {"pattern": LANGUAGE_TAG_PATTERN}),
    ("MenteeCreate", "languages.[]", {"pattern": LANGUAGE_TAG_PATTERN}),
    ("MentorUpdate", "languages.[]", {"pattern": LANGUAGE_TAG_PATTERN}),
    ("WebhookEndpointCreate", "url", {"maxLength": MAX_URL_LENGTH, "format": "uri"}),
    ("WebhookEndpointUpdate", "url", {"maxLength": MAX_URL_LENGTH, "format": "uri"}),
    ("SessionCreate", "starts_at", {"format": "date-time"}),
    ("Reschedule", "starts_at", {"format": "date-time"}),
    ("DateOverride", "date", {"format": "date"}),
    ("ActionItemCreate", "due_on", {"format": "date"}),
    ("SessionCreate", "duration_minutes", {"minimum": 5, "maximum": 60}),
    ("SkillChoice", "level", {"minimum": 1, "maximum": 5}),
]


@pytest.mark.parametrize(("schema", "path", "keywords"), SHOWN)
def test_rules_checked_by_validators_are_in_the_schema(
    schema: str, path: str, keywords: Schema
) -> None:
    shown = _prop(schema, path)
    assert {k: shown.get(k) for k in keywords} == keywords


def test_every_id_field_has_the_id_pattern() -> None:
    """Request and response alike: `id`, `mentor_id`, ... are documented as ids of their kind."""
    # One kind (`mtr`), any kind (`[a-z]{3}`) or a few (`(mtr|mte)`, a member).
    kinds = r"[a-z]{3}|\[a-z\]\{3\}|\([a-z]{3}(\|[a-z]{3})+\)"
    id_pattern = re.compile(rf"^\^({kinds})_{re.escape(BODY_PATTERN)}\$$")
    wrong = []
    for name, schema in schemas().items():
        for prop, prop_schema in schema.get("properties", {}).items():
            if prop != "id" and not (prop.endswith("_id") and prop != "external_id"):
                continue
            for branch in _branches(prop_schema):
                if not id_pattern.match(branch.get("pattern", "")):
                    wrong.append(f"{name}.{prop}: {branch}")
    assert not wrong, "\n".join(wrong)


# --- the documented patterns agree with the server's checks -----------------------------------


def _server_accepts_hhmm(value: str) -> bool:
    from mentorapi.availability.schemas import _hhmm

    try:
        _hhmm(value)
    except ValueError:
        return False
    return True


def test_hhmm_pattern_is_the_servers_rule() -> None:
    pattern = re.compile(HHMM_PATTERN)
    for hours in range(30):
        for minutes in range(0, 70, 1):
            value = f"{hours:02d}:{minutes:02d}"
            assert bool(pattern.match(value)) == _server_accepts_hhmm(value), value
            assert (minutes_of(value) <= 24 * 60) or not pattern.match(value)
    # Arabic-Indic digits are digits to Python's `\d`, never to the server.
    for value in ["9:00", "09:0", "0900", "\u0660\u0669:\u0660\u0660", "24:01", " 09:00"]:
        assert not pattern.match(value), value
        assert not _server_accepts_hhmm(value), value


def test_every_known_time_zone_matches_the_pattern() -> None:
    pattern = re.compile(TIMEZONE_PATTERN)
    zones = available_timezones()
    assert zones
    assert [z for z in zones if not pattern.match(validate_timezone(z))] == []


@given(st.text(alphabet="abcxyzENQ019-_ .@/", min_size=1, max_size=14))
def test_every_language_tag_the_server_accepts_matches_the_pattern(tag: str) -> None:
    if langcodes.tag_is_valid(tag) and len(tag) <= 35:
        assert re.match(LANGUAGE_TAG_PATTERN, tag), tag


@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZa_mtr", min_size=26, max_size=32))
def test_the_id_pattern_is_the_servers_rule(value: str) -> None:
    for prefix in ("mtr", "skl"):
        pattern = re.compile(f"^{prefix}_{BODY_PATTERN}$")
        try:
            check_id(value, prefix)
            accepted = True
        except ValueError:
            accepted = False
        assert accepted == bool(pattern.match(value)), value
        assert pattern.match(new_id(prefix))
    assert set(PREFIXES) >= {"mtr", "skl"}


# --- examples ---------------------------------------------------------------------------------


def _validator(schema: Schema) -> Any:
    return jsonschema_rs.Draft202012Validator(
        {**schema, "components": document()["components"]}, validate_formats=True
    )


def _examples() -> Iterator[tuple[str, str, Schema, Any]]:
    """(where, schema name, schema, example) for every example in components.schemas: the
    schemas' own examples and those of their properties."""
    for name, schema in schemas().items():
        for example in schema.get("examples", []):
            yield name, name, {"$ref": f"#/components/schemas/{name}"}, example
        for prop, prop_schema in schema.get("properties", {}).items():
            bare = {k: v for k, v in prop_schema.items() if k != "examples"}
            for example in prop_schema.get("examples", []):
                yield f"{name}.{prop}", name, bare, example
            for branch in prop_schema.get("anyOf", []):
                for example in branch.get("examples", []):
                    yield f"{name}.{prop}", name, bare, example


def test_every_schema_has_examples() -> None:
    document()
    missing = [
        name
        for name in _models(RequestBody) | _models(ResponseBody)
        if name in schemas() and not schemas()[name].get("examples")
    ]
    assert not missing, missing


def test_examples_match_their_schema() -> None:
    wrong = []
    count = 0
    for where, _, schema, example in _examples():
        count += 1
        errors = [e.message for e in _validator(schema).iter_errors(example)]
        if errors:
            wrong.append(f"{where}: {json.dumps(example)[:200]}: {errors}")
    assert count > 50
    assert not wrong, "\n".join(wrong)


def test_examples_pass_the_servers_validation() -> None:
    """Each body example as the server reads it (the request models' validators, the same
    ones a request goes through); a response example round-trips unchanged."""
    document()
    wrong = []
    for models, is_request in ((_models(RequestBody), True), (_models(ResponseBody), False)):
        for name, model in models.items():
            for example in schemas().get(name, {}).get("examples", []):
                try:
                    parsed = model.model_validate(example)
                except ValueError as exc:
                    wrong.append(f"{name}: {exc}")
                    continue
                back = parsed.model_dump(mode="json", exclude_unset=True)
                if not is_request and back != example:
                    wrong.append(f"{name}: {example} reads back as {back}")
    assert not wrong, "\n".join(wrong)


# Request bodies, in the order a client builds a world: what a later example refers to exists.
ORDER = [
    "SkillCreate",
    "MentorCreate",
    "MenteeCreate",
    "AvailabilityPut",
    "SessionCreate",
    "SeriesCreate",
    "GroupSessionCreate",
    "SeatCreate",
    "GoalCreate",
    "MilestoneCreate",
    "NotesPut",
    "ActionItemCreate",
    "WebhookEndpointCreate",
    "CohortCreate",
    "MentoringEventCreate",
]
# The example ids (kit/examples.py) of the objects created above, by path parameter.
PARAMS = {
    "skill_id": ex.SKILL_ID,
    "mentor_id": ex.MENTOR_ID,
    "mentee_id": ex.MENTEE_ID,
    "session_id": ex.SESSION_ID,
    "series_id": ex.SERIES_ID,
    "goal_id": ex.GOAL_ID,
    "milestone_id": ex.MILESTONE_ID,
    "item_id": ex.ACTION_ITEM_ID,
    "endpoint_id": ex.ENDPOINT_ID,
    "feedback_id": ex.FEEDBACK_ID,
    "event_id": ex.EVENT_ID,
    "group_session_id": ex.GROUP_SESSION_ID,
    "seat_id": ex.SEAT_ID,
    "cohort_id": ex.COHORT_ID,
    "mentoring_event_id": ex.MENTORING_EVENT_ID,
}
CREATES = {  # what a 2xx body of these requests is: the id it stands for
    "SkillCreate": ex.SKILL_ID,
    "MentorCreate": ex.MENTOR_ID,
    "MenteeCreate": ex.MENTEE_ID,
    "SessionCreate": ex.SESSION_ID,
    "SeriesCreate": ex.SERIES_ID,
    "GroupSessionCreate": ex.GROUP_SESSION_ID,
    "SeatCreate": ex.SEAT_ID,
    "GoalCreate": ex.GOAL_ID,
    "ActionItemCreate": ex.ACTION_ITEM_ID,
    "WebhookEndpointCreate": ex.ENDPOINT_ID,
    "CohortCreate": ex.COHORT_ID,
    "MentoringEventCreate": ex.MENTORING_EVENT_ID,
}


def _still_ahead(body: Any) -> Any:
    """The examples book March 2027; once that has passed, the same weekday and time whole
    years of weeks later (a past slot is a 409, and creating must work for the rest)."""
    if not isinstance(body, dict) or "starts_at" not in body:
        return body
    starts_at = datetime.fromisoformat(body["starts_at"])
    weeks = 0
    while starts_at + timedelta(weeks=weeks) < datetime.now(UTC) + timedelta(days=30):
        weeks += 52
    later = (starts_at + timedelta(weeks=weeks)).isoformat().replace("+00:00", "Z")
    return {**body, "starts_at": later}


def _requests() -> list[tuple[str, str, str]]:
    found = []
    for method, path, op in _operations():
        content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        ref = content.get("schema", {}).get("$ref", "")
        if ref:
            found.append((ref.rsplit("/", 1)[1], method, path))
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(found, key=lambda r: (rank.get(r[0], len(ORDER)), r[1] != "post", r[2]))


async def test_request_examples_are_accepted_by_the_server(tenant: Tenant) -> None:
    """Every request example, sent to every operation that takes it, with the example ids
    standing for objects the earlier examples created: never a 422 (nor a 5xx). A 404 or a
    409 (a session not yet held, a slot taken) is the state speaking, not the example."""
    real: dict[str, str] = {}
    second = await create_skill(tenant.client, slug="excel-formulas", name="Excel formulas")
    real[ex.SKILL_2_ID] = second["id"]
    # The cohort examples match two mentees with two mentors.
    real[ex.MENTEE_2_ID] = (await create_mentee(tenant.client))["id"]
    real[ex.MENTOR_2_ID] = (await create_mentor(tenant.client))["id"]

    def substituted(value: str) -> str:
        for example_id, real_id in real.items():
            value = value.replace(example_id, real_id)
        return value

    sent = 0
    refused: list[str] = []
    statuses: list[str] = []
    for name, method, path in _requests():
        url = substituted(re.sub(r"\{(\w+)\}", lambda m: PARAMS.get(m[1], m[0]), path))
        for example in schemas()[name].get("examples", []):
            body = _still_ahead(json.loads(substituted(json.dumps(example))))
            response = await tenant.client.request(method, url, json=body)
            sent += 1
            statuses.append(f"{response.status_code} {method.upper()} {path} {name}")
            if response.status_code == 422 or response.status_code >= 500:
                refused.append(f"{method.upper()} {path} {name}: {response.text[:300]}")
            elif response.is_success and name in CREATES and CREATES[name] not in real:
                created = response.json()
                real[CREATES[name]] = created["id"]
                for milestone in created.get("milestones", []):
                    real.setdefault(ex.MILESTONE_ID, milestone["id"])
    assert sent >= len(_requests())
    assert set(CREATES.values()) <= set(real), "\n".join(statuses)
    assert not refused, "\n".join(refused)


def test_a_window_built_from_its_fields_examples_is_valid() -> None:
    """Tools that build an example from the properties' own examples (Swagger UI, schemathesis)
    sent `09:00`-`09:00`, which the server refuses: each end has its own example now."""
    from mentorapi.availability.schemas import TimeWindow, WeeklyWindow

    for model in (TimeWindow, WeeklyWindow):
        props = schemas()[model.__name__]["properties"]
        built = {
            name: (prop.get("examples") or schemas()[_only_ref(prop) or ""]["enum"])[0]
            for name, prop in props.items()
        }
        model.model_validate(built)
