"""Every cursor-paginated list of both faces, with what its cursors hold (for the cursor tests).

A list is described once: its REST path, its GraphQL field (and the arguments it needs), its
sort names and, for each sort, the kinds of the values a cursor carries, in order.
"""

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.factories import book_session, bookable, create_skill


@dataclass(frozen=True)
class Listing:
    name: str
    path: str  # REST, with {mentor_id} / {endpoint_id} filled by `fill`
    gql_field: str
    gql_args: str  # extra GraphQL arguments, e.g. 'mentorId: "{mentor_id}"'
    sorts: dict[str, tuple[str, ...]]  # sort name in the cursor -> kinds of its key values
    rest_sort: dict[str, str] = field(default_factory=dict)  # cursor sort -> `sort=` value
    gql_sort: dict[str, str] = field(default_factory=dict)  # cursor sort -> GraphQL enum
    prefix: str = ""  # the id kind of the rows


LISTINGS = [
    Listing(
        "mentors",
        "/v1/mentors",
        "mentors",
        "",
        {
            "created": ("id",),
            "-created": ("id",),
            "name": ("text", "id"),
            "-name": ("text", "id"),
            "rating": ("float", "id"),
            "sessions": ("int", "id"),
        },
        rest_sort={
            "created": "created",
            "-created": "-created",
            "name": "name",
            "-name": "-name",
            "rating": "rating",
            "sessions": "sessions",
        },
        gql_sort={
            "created": "CREATED",
            "-created": "NEWEST",
            "name": "NAME",
            "-name": "NAME_DESC",
            "rating": "RATING",
            "sessions": "SESSIONS",
        },
        prefix="mtr",
    ),
    Listing("mentees", "/v1/mentees", "mentees", "", {"created": ("id",)}, prefix="mte"),
    Listing("sessions", "/v1/sessions", "sessions", "", {"created": ("id",)}, prefix="ses"),
    Listing(
        "group sessions",
        "/v1/group-sessions",
        "groupSessions",
        "",
        {"created": ("id",)},
        prefix="grp",
    ),
    Listing("skills", "/v1/skills", "skills", "", {"slug": ("text", "id")}, prefix="skl"),
    Listing(
        "mentoring events",
        "/v1/mentoring-events",
        "mentoringEvents",
        "",
        {"created": ("id",)},
        prefix="mev",
    ),
    Listing(
        "webhook endpoints",
        "/v1/webhook-endpoints",
        "webhookEndpoints",
        "",
        {"id": ("id",)},
        prefix="whe",
    ),
    Listing(
        "deliveries",
        "/v1/webhook-endpoints/{endpoint_id}/deliveries",
        "webhookDeliveries",
        'endpointId: "{endpoint_id}"',
        {"-id": ("id",)},
        prefix="dla",
    ),
    Listing("events", "/v1/events", "events", "", {"-id": ("id",)}, prefix="evt"),
    Listing("cohorts", "/v1/cohorts", "cohorts", "", {"id": ("id",)}, prefix="coh"),
    Listing("matches", "/v1/matches", "matches", "", {"id": ("id",)}, prefix="mat"),
    Listing(
        "mentor feedback",
        "/v1/mentors/{mentor_id}/feedback",
        "mentorFeedback",
        'mentorId: "{mentor_id}"',
        {"-created": ("id",)},
        prefix="fbk",
    ),
]


@dataclass
class World:
    """The parents the nested lists need."""

    mentor_id: str
    endpoint_id: str

    def fill(self, text: str) -> str:
        return text.format(mentor_id=self.mentor_id, endpoint_id=self.endpoint_id)


async def make_world(client: httpx.AsyncClient) -> World:
    base = await bookable(client)
    await book_session(client, base, "2031-03-04T10:00:00Z")  # an event, a session
    await create_skill(client)
    response = await client.post(
        "/v1/webhook-endpoints", json={"url": "https://example.com/hook", "events": []}
    )
    assert response.status_code == 201, response.text
    return World(mentor_id=base["mentor_id"], endpoint_id=response.json()["id"])


def forge(*values: Any) -> str:
    """A cursor as the server writes them (base64url of a JSON array), holding anything."""
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def rest_request(listing: Listing, world: World, sort: str) -> tuple[str, dict[str, str]]:
    """The path of a listing and the query parameters that ask for `sort` (given to httpx as
    `params`: a query string written into the URL would be replaced by them)."""
    path = world.fill(listing.path)
    return path, {"sort": listing.rest_sort[sort]} if listing.rest_sort else {}


def gql_query(listing: Listing, world: World, sort: str, first: int = 3) -> str:
    args = [world.fill(listing.gql_args)] if listing.gql_args else []
    if listing.gql_sort:
        args.append(f"sort: {listing.gql_sort[sort]}")
    args.append(f"first: {first}")
    args.append("after: $after")
    return (
        f"query($after: String) {{ {listing.gql_field}({', '.join(args)}) "
        "{ edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"
    )
