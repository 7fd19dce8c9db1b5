"""GraphQL face of apps: the calling client app."""

from datetime import datetime

import strawberry

from mentorapi.apps.models import AppFields
from mentorapi.graphql.context import Info


@strawberry.type(name="App", description="The calling client app (the tenant).")
class AppType:
    id: strawberry.ID
    name: str
    created_at: datetime

    @classmethod
    def from_model(cls, app: AppFields) -> "AppType":
        return cls(id=strawberry.ID(app.id), name=app.name, created_at=app.created_at)


@strawberry.type
class Query:
    @strawberry.field(description="The client app whose API key is calling.")
    async def app(self, info: Info) -> AppType:
        return AppType.from_model(await info.context.app())
