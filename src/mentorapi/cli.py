"""The `mentorapi` command: serve, worker, migrate, apps, demo, export-schemas."""

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from mentorapi.config import get_settings
from mentorapi.db.engine import Database, create_database

T = TypeVar("T")


async def _with_db(work: Callable[[Database], Awaitable[T]]) -> T:
    db = create_database(get_settings())
    try:
        return await work(db)
    finally:
        await db.dispose()


def _migrate(_args: argparse.Namespace) -> None:
    from mentorapi.db.migrate import upgrade

    # DDL and its locks on a session of their own: straight to PostgreSQL, not via PgBouncer.
    upgrade(get_settings().session_database_url)
    print("database is at the latest migration", file=sys.stderr)


def _serve(args: argparse.Namespace) -> None:
    import logging

    import uvicorn

    from mentorapi.startup import fleet_metrics_directory, log_fleet_warnings, logger

    settings = get_settings()
    # Before uvicorn's own lines, in their shape; the workers' logging is uvicorn's as before.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)-9s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    log_fleet_warnings(settings, args.workers)
    with fleet_metrics_directory(args.workers):
        uvicorn.run(
            "mentorapi.main:create_app",
            factory=True,
            host=args.host or settings.host,
            port=args.port or settings.port,
            workers=args.workers,
            log_level="info",
            access_log=False,
            # After the drain (drain.py): how long the requests in flight may take to finish.
            timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
            http=_http_protocol(),
        )


def _http_protocol() -> Any:
    """uvicorn's httptools protocol with a deadline for headers, where httptools is there."""
    try:
        from mentorapi.http_protocol import HeaderDeadlineProtocol
    except ImportError:  # uvicorn without its [standard] extras: h11, as uvicorn picks
        return "auto"
    return HeaderDeadlineProtocol


def _worker(_args: argparse.Namespace) -> None:
    import logging

    from mentorapi.webhooks.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per delivery is noise
    try:
        import uvloop
    except ImportError:  # uvloop comes with uvicorn[standard]; plain asyncio works too
        asyncio.run(run_worker(get_settings()))
    else:
        uvloop.run(run_worker(get_settings()))


def _apps_create(args: argparse.Namespace) -> None:
    from mentorapi.apps import service

    async def work(db: Database) -> dict[str, str]:
        async with db.sessionmaker() as s, s.begin():
            app, issued = await service.create_app(db_session=s, name=args.name)
            return {
                "id": app.id,
                "name": app.name,
                "api_key": issued.secret,
                "token_secret": app.token_secret,
            }

    print(json.dumps(asyncio.run(_with_db(work)), indent=2))


def _apps_list(_args: argparse.Namespace) -> None:
    from mentorapi.apps import repository

    async def work(db: Database) -> list[dict[str, object]]:
        async with db.sessionmaker() as s:
            out: list[dict[str, object]] = []
            for app in await repository.list_apps(s):
                keys = await repository.list_keys(s, app.id)
                out.append(
                    {
                        "id": app.id,
                        "name": app.name,
                        "keys": [
                            {
                                "id": k.id,
                                "prefix": k.prefix,
                                "expires_at": k.expires_at.isoformat() if k.expires_at else None,
                                "revoked": k.revoked_at is not None,
                            }
                            for k in keys
                        ],
                    }
                )
            return out

    print(json.dumps(asyncio.run(_with_db(work)), indent=2))


def _apps_rotate_key(args: argparse.Namespace) -> None:
    from mentorapi.apps import service

    async def work(db: Database) -> dict[str, str]:
        async with db.sessionmaker() as s, s.begin():
            issued = await service.rotate_key(
                db_session=s, app_id=args.app_id, grace=timedelta(hours=args.grace_hours)
            )
            return {"id": issued.key.id, "api_key": issued.secret}

    print(json.dumps(asyncio.run(_with_db(work)), indent=2))


def _apps_rotate_token_secret(args: argparse.Namespace) -> None:
    from mentorapi.apps import service
    from mentorapi.apps.caller import Caller

    if not 0 <= args.grace_hours <= 24:
        raise SystemExit("--grace-hours must be between 0 and 24")

    async def work(db: Database) -> dict[str, str | None]:
        async with db.sessionmaker() as s, s.begin():
            app = await service.rotate_token_secret(
                db_session=s,
                app_id=args.app_id,
                actor=Caller.api_key(args.app_id),
                grace=timedelta(hours=args.grace_hours),
            )
            expires = app.previous_token_secret_expires_at
            return {
                "id": app.id,
                "token_secret": app.token_secret,
                "previous_expires_at": expires.isoformat() if expires else None,
            }

    print(json.dumps(asyncio.run(_with_db(work)), indent=2))


def _apps_revoke_key(args: argparse.Namespace) -> None:
    from mentorapi.apps import service

    async def work(db: Database) -> None:
        async with db.sessionmaker() as s, s.begin():
            await service.revoke_key(db_session=s, key_id=args.key_id)

    asyncio.run(_with_db(work))
    print(f"revoked {args.key_id}", file=sys.stderr)


def _demo(_args: argparse.Namespace) -> None:
    from mentorapi.demo import ensure_demo

    settings = get_settings()
    # The key is kept in a local file (mode 600, git-ignored) so `make run` prints the same key
    # every time; the database holds only its hash.
    key_file = Path(settings.demo_key_file)
    remembered = key_file.read_text().strip() if key_file.exists() else None
    key = asyncio.run(_with_db(lambda db: ensure_demo(db, remembered)))
    if key != remembered:
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
    base = f"http://{settings.host}:{settings.port}"
    print(
        f"\n  mentorapi demo app ready\n"
        f"  API key:  {key}\n"
        f"  Swagger:  {base}/docs\n"
        f"  ReDoc:    {base}/redoc\n"
        f"  GraphQL:  {base}/graphql\n"
        f"  try:      curl -H 'Authorization: Bearer {key}' {base}/v1/mentors\n"
    )


def _export_schemas(args: argparse.Namespace) -> None:
    from mentorapi.schemas_export import export

    drift = export(check=args.check)
    if drift:
        print("schemas out of date: " + ", ".join(drift), file=sys.stderr)
        print("run `mentorapi export-schemas` and commit the result", file=sys.stderr)
        raise SystemExit(1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mentorapi", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=_serve)

    sub.add_parser(
        "worker",
        help="send reminders and deliver webhooks (run any number of them on PostgreSQL)",
    ).set_defaults(func=_worker)

    sub.add_parser("migrate", help="migrate the database to the latest schema").set_defaults(
        func=_migrate
    )
    sub.add_parser("demo", help="create the demo app if missing; print its key").set_defaults(
        func=_demo
    )
    export = sub.add_parser("export-schemas", help="write openapi/openapi.json and schema.graphql")
    export.add_argument("--check", action="store_true", help="fail if the files are out of date")
    export.set_defaults(func=_export_schemas)

    apps = sub.add_parser("apps", help="client apps and their API keys")
    apps_sub = apps.add_subparsers(dest="apps_command", required=True)
    create = apps_sub.add_parser("create", help="create an app; prints its id and API key")
    create.add_argument("name")
    create.set_defaults(func=_apps_create)
    apps_sub.add_parser("list", help="list apps and their keys").set_defaults(func=_apps_list)
    rotate = apps_sub.add_parser(
        "rotate-key", help="issue a new key; older keys keep working for the grace period"
    )
    rotate.add_argument("app_id")
    rotate.add_argument("--grace-hours", type=float, default=24.0)
    rotate.set_defaults(func=_apps_rotate_key)
    rotate_secret = apps_sub.add_parser(
        "rotate-token-secret",
        help="new member-token secret; the previous one verifies tokens for the grace period",
    )
    rotate_secret.add_argument("app_id")
    rotate_secret.add_argument(
        "--grace-hours",
        type=float,
        default=24.0,
        help="0-24 (default 24, the longest a member token lives); 0 revokes the old one now",
    )
    rotate_secret.set_defaults(func=_apps_rotate_token_secret)
    revoke = apps_sub.add_parser("revoke-key", help="revoke a key at once")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=_apps_revoke_key)
    return parser


def main(argv: list[str] | None = None) -> None:
    from mentorapi.kit.errors import DomainError

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except DomainError as exc:  # an unknown app id and the like: a message, not a traceback
        raise SystemExit(f"error: {exc.detail}") from None


if __name__ == "__main__":
    main()
