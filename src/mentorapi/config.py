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
    # Deliveries in flight at once in one worker process.
    webhook_worker_concurrency: int = Field(default=32, ge=1, le=1000)
    # One HTTP attempt may take this long in all (connect, send, wait, read).
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # A claimed delivery is due again after this long if its worker died: keep it above the
    # timeout (at least once, never lost).
    webhook_lease_seconds: float = Field(default=60.0, gt=0, le=3600)

    rate_limits_enabled: bool = True
    graphql_introspection: bool = True

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
