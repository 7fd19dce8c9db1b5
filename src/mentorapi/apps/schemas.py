from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field

from mentorapi.apps.caller import Role
from mentorapi.apps.cors import MAX_ORIGINS, normalize_origins
from mentorapi.apps.tokens import MAX_TTL
from mentorapi.kit import examples as ex
from mentorapi.kit.bodies import RequestBody, ResponseBody
from mentorapi.kit.fields import ExternalId, shown
from mentorapi.kit.ids import AppIdOut

# What `normalize_origin` accepts, in short: http(s)://host[:port], nothing after but a `/`.
ORIGIN_PATTERN = r"^\s*[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\s]+/?\s*$"

CorsOrigins = Annotated[
    list[Annotated[str, Field(max_length=300), shown(pattern=ORIGIN_PATTERN)]],
    Field(
        max_length=MAX_ORIGINS,
        description="Browser origins (scheme://host[:port]) allowed to call with member tokens.",
        examples=[["https://app.example.com", "http://localhost:5173"]],
    ),
    AfterValidator(normalize_origins),
]


class AppRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": ex.APP_ID,
                    "name": "Acme Learning",
                    "cors_origins": ["https://app.acme-learning.example"],
                    "created_at": ex.CREATED_AT,
                }
            ]
        }
    )

    id: AppIdOut
    name: str
    cors_origins: list[str]
    created_at: datetime


class AppUpdate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"cors_origins": ["https://app.acme-learning.example", "http://localhost:5173"]}
            ]
        }
    )

    cors_origins: CorsOrigins | None = None


class TokenSecretRotate(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"grace_seconds": 3600}]})

    grace_seconds: int = Field(
        default=int(MAX_TTL.total_seconds()),
        ge=0,
        le=int(MAX_TTL.total_seconds()),
        description="How long the previous secret keeps verifying tokens; 0 revokes it now "
        "(every token signed with it stops working at once).",
    )


class TokenSecretRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "token_secret": "mts_Zq3W9bX1nR7yT2kV8mP4cH6jL0aS5dFe7Gh1Jk2Lm3N",
                    "previous_expires_at": "2026-11-25T09:12:44Z",
                }
            ]
        }
    )

    token_secret: str = Field(description="Shown once: sign member tokens with it (HS256).")
    previous_expires_at: datetime | None = Field(
        description="Until when tokens signed with the previous secret keep working."
    )


class MemberTokenCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"external_id": "user-4821", "role": "mentee", "ttl_seconds": 3600}]
        }
    )

    external_id: ExternalId
    role: Role = Field(
        description='"mentee", "mentor", or "both" for a person who is both in this app. '
        "The member must have a profile for each role."
    )
    ttl_seconds: int = Field(
        default=3600, ge=60, le=int(MAX_TTL.total_seconds()), description="60 s to 24 h."
    )


class MemberTokenRead(ResponseBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQ4MjEifQ.c2lnbmF0dXJl",
                    "expires_at": "2026-11-24T17:03:10Z",
                }
            ]
        }
    )

    token: str
    expires_at: datetime
