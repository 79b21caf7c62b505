"""The `cbdialer` command line: migrate, run, watch, disposition, token create/list/revoke. Rule: a problem the operator can fix is one clear line
on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import structlog
from pydantic import ValidationError

from cbdialer import __version__
from cbdialer.adapters.ami import AmiLoginError
from cbdialer.adapters.db import Database, DatabaseUnavailable, MigrationError
from cbdialer.app import DaemonError, install_signal_handlers, run_daemon
from cbdialer.domain.access import COMMAND_LINE, Role
from cbdialer.domain.models import CompletionStatus, InvalidValue
from cbdialer.domain.outcomes import DISPOSITIONS
from cbdialer.logs import configure_logging
from cbdialer.services import Admin, Conflict, NotFound
from cbdialer.settings import Settings, SettingsError, load_settings
from cbdialer.watch import watch


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cbdialer", description="Callback dialer for Asterisk contact centres")
    parser.add_argument("--version", action="version", version=f"cbdialer {__version__}")
    parser.add_argument("--config", type=Path, help="TOML config file (the environment wins over it)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create or upgrade the database schema")
    commands.add_parser("run", help="run the daemon until SIGTERM or SIGINT")
    commands.add_parser("watch", help="show the live table of callbacks until Ctrl-C")
    disposition = commands.add_parser(
        "disposition", help="the agent's disposition for a callback's call in wrap-up (applied when it ends)")
    disposition.add_argument("callback_id", help="the callback's id")
    disposition.add_argument("status", choices=sorted(d.value for d in DISPOSITIONS))
    when = disposition.add_mutually_exclusive_group()
    when.add_argument("--start-at", help="callback_requested: the new start, ISO 8601 with offset")
    when.add_argument("--start-in", help="callback_requested: the new start from now, e.g. 2h30m")
    disposition.add_argument("--agent", help="callback_requested: the agent to call back (its own callback)")
    token = commands.add_parser("token", help="admin API bearer tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="make a token and print it alone on stdout (shown once)")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--agent", help="the agent a token of the agent role speaks for")
    token_commands.add_parser("list", help="every token's id, role, agent and dates (tokens themselves are not kept)")
    revoke = token_commands.add_parser("revoke", help="revoke a token by its id (honoured within 5 s everywhere)")
    revoke.add_argument("token_id")
    return parser


async def _token(settings: Settings, args: argparse.Namespace) -> None:
    async with _service(settings) as admin:
        if args.token_command == "create":
            token = await admin.tokens.issue_token(Role(args.role), args.agent)
            print(token, flush=True)  # the only thing on stdout; the token is stored hashed and never logged
        elif args.token_command == "list":
            for t in await admin.tokens.tokens():
                state = f"revoked {t['revoked_at']:%Y-%m-%d %H:%M}" if t["revoked_at"] else "live"
                print(f"{t['id']}  {t['role']:<10} {t['agent_id'] or '-':<10} "
                      f"created {t['created_at']:%Y-%m-%d %H:%M}  {state}")
        else:
            await admin.tokens.revoke_token(args.token_id)


@contextlib.asynccontextmanager
async def _service(settings: Settings, *, pool: int = 1) -> AsyncIterator[Admin]:
    """The services over the database, for one command (the schema must be up to date)."""
    db = await Database.connect(str(settings.database_url), max_size=pool)
    try:
        await db.require_schema()
        yield Admin(db.store(), lambda: datetime.now(UTC), default_region=settings.default_region,
                    dial_contexts=settings.allowed_dial_contexts)
    finally:
        await db.close()


async def _migrate(settings: Settings) -> None:
    log = structlog.get_logger("cbdialer")
    if await Database.create_database_if_missing(str(settings.database_url)):
        log.info("database_created", database=(settings.database_url.path or "").lstrip("/"))
    db = await Database.connect(str(settings.database_url), max_size=1)
    try:
        applied = await db.migrate()
    finally:
        await db.close()
    if applied:
        log.info("schema_migrated", applied=applied)
    else:
        log.info("schema_up_to_date")


async def _run(settings: Settings) -> None:
    stop = asyncio.Event()
    install_signal_handlers(stop)
    await run_daemon(settings, stop)


async def _watch(settings: Settings) -> None:
    stop = asyncio.Event()
    install_signal_handlers(stop)
    db = await Database.connect(str(settings.database_url), max_size=2)
    try:
        await db.require_schema()
        admin = Admin(db.store(), lambda: datetime.now(UTC))
        await watch(functools.partial(admin.callbacks.recent, COMMAND_LINE), db.listen_for_changes, stop)
    finally:
        await db.close()


async def _disposition(settings: Settings, args: argparse.Namespace) -> None:
    try:
        callback_id = uuid.UUID(args.callback_id)
    except ValueError:
        raise InvalidValue("callback_id", f"{args.callback_id!r} is not a callback id") from None
    status = CompletionStatus(args.status)
    async with _service(settings) as admin:
        await admin.callbacks.disposition(COMMAND_LINE, callback_id, status, start_at=args.start_at,
                                          start_in=args.start_in, agent=args.agent)
    structlog.get_logger("cbdialer").info("disposition_set", callback_id=str(callback_id), status=status.value)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except (SettingsError, ValidationError) as exc:
        print(f"cbdialer: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, settings.log_level)
    try:
        if args.command == "migrate":
            asyncio.run(_migrate(settings))
        elif args.command == "run":
            asyncio.run(_run(settings))
        elif args.command == "watch":
            asyncio.run(_watch(settings))
        elif args.command == "disposition":
            asyncio.run(_disposition(settings, args))
        elif args.command == "token":
            asyncio.run(_token(settings, args))
    except (InvalidValue, NotFound, Conflict) as exc:
        print(f"cbdialer: {exc}", file=sys.stderr)
        return 2
    except (DatabaseUnavailable, MigrationError, DaemonError, AmiLoginError) as exc:
        print(f"cbdialer: {exc}", file=sys.stderr)
        return 1
    return 0
