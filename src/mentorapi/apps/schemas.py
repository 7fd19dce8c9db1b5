from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mentorapi.apps.caller import Role
from mentorapi.apps.cors import MAX_ORIGINS, normalize_origins
from mentorapi.apps.tokens import MAX_TTL
from mentorapi.kit.fields import ExternalId

CorsOrigins = Annotated[
    list[Annotated[str, Field(max_length=300)]],
    Field(
        max_length=MAX_ORIGINS,
        description="Browser origins (scheme://host[:port]) allowed to call with member tokens.",
        examples=[["https://app.example.com", "http://localhost:5173"]],
    ),
    AfterValidator(normalize_origins),
]


class AppRead(BaseModel):
    id: str
    name: str
    cors_origins: list[str]
    created_at: datetime


class AppUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cors_origins: CorsOrigins | None = None


class TokenSecretRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_seconds: int = Field(
        default=int(MAX_TTL.total_seconds()),
        ge=0,
        le=int(MAX_TTL.total_seconds()),
        description="How long the previous secret keeps verifying tokens; 0 revokes it now "
        "(every token signed with it stops working at once).",
    )


class TokenSecretRead(BaseModel):
    token_secret: str = Field(description="Shown once: sign member tokens with it (HS256).")
    previous_expires_at: datetime | None = Field(
        description="Until when tokens signed with the previous secret keep working."
    )


class MemberTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: ExternalId
    role: Role = Field(
        description='"mentee", "mentor", or "both" for a person who is both in this app. '
        "The member must have a profile for each role."
    )
    ttl_seconds: int = Field(
        default=3600, ge=60, le=int(MAX_TTL.total_seconds()), description="60 s to 24 h."
    )


class MemberTokenRead(BaseModel):
    token: str
    expires_at: datetime
