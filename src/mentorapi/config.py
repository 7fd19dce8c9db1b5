"""Settings, read from MENTORAPI_* environment variables (each one is listed in the README)."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MENTORAPI_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./mentorapi.db"
    # Connection pool per process; PostgreSQL only (SQLite uses one file, no pool to size).
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_echo: bool = False

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    # Where the demo's API key is remembered between `make run`s (the key itself is stored hashed).
    demo_key_file: str = ".mentorapi-demo-key"

    # Webhook delivery (see README "Receiving webhooks").
    webhook_allow_private_urls: bool = False
    webhook_retry_schedule: str = "5,300,1800,7200,18000,36000,50400,72000,86400"
    webhook_worker_enabled: bool = True

    rate_limits_enabled: bool = True
    # How long a process trusts an API key it has seen live without asking the database again:
    # a revoked key keeps working in a server process for at most this long (0: always ask).
    api_key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    graphql_introspection: bool = True

    # Adds an `X-SQL-Statements` header (SQL statements run for the request) to every response:
    # for the query-count check of `make bench`, never for production (it costs a list per request).
    debug_sql_count: bool = False

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
