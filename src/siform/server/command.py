"""``siform serve``: run the therapist server, or create a therapist account; and the patient's
``siform pair`` and ``siform upload`` (``siform.server.client``).

    siform serve --create-therapist EMAIL [--name NAME] [--password-stdin]   # the first account
    siform serve [--host H] [--port P] [--database-url URL] [--workers N] [--dev]
    siform pair https://SERVER CODE [--name NAME]
    siform upload [SESSION.json ...]
    siform upload SESSION.json --video FILE     # the patient shares that session's video too
    siform sync

Both apply the database migrations first (once, here, before any worker starts, so several workers
never race to migrate). The secret key and the database URL come from the environment or the
settings file (``siform.server.settings``); ``--database-url`` overrides them for this run. Nothing
heavy is imported until the command runs: FastAPI and uvicorn only when serving.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from siform.errors import SiformError


class ServerError(SiformError):
    """The server cannot start or the account cannot be made (missing extra, bad settings, ...)."""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "serve",
        help="run the therapist server (therapists review patients' uploaded sessions), or create an account",
        description="Run the therapist server. Settings come from SIFORM_* environment variables or the "
        "TOML file named by SIFORM_SERVER_SETTINGS (see siform.server.settings); a secret key is required "
        "(SIFORM_SECRET_KEY) unless --dev.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument(
        "--database-url",
        help="sqlite:///FILE or postgresql+psycopg://USER:PW@HOST/DB "
        "(default: SIFORM_DATABASE_URL, else a SQLite file in the user data folder)",
    )
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default: 1)")
    p.add_argument(
        "--dev",
        action="store_true",
        help="development only: without a secret key, use a random one for this run",
    )
    p.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        metavar="IPS",
        help="reverse proxies trusted for X-Forwarded-Proto/-For (default: 127.0.0.1)",
    )
    p.add_argument(
        "--no-access-log",
        action="store_true",
        help="do not log a line per request (the audit log records who saw or changed what; "
        "under heavy upload load the access log costs CPU)",
    )
    p.add_argument("--create-therapist", metavar="EMAIL", help="create a therapist account and exit")
    p.add_argument("--name", help="the therapist's name, with --create-therapist (default: from the e-mail)")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="with --create-therapist: read the password from standard input (for scripts)",
    )
    p.add_argument("--migrate-only", action="store_true", help="apply database migrations and exit")
    p.set_defaults(func=cmd_serve)

    # The patient's side: standard library only (siform.server.client), no server extra needed.
    p = sub.add_parser("pair", help="pair this device with your therapist's server (invite code)")
    p.add_argument("server", help="the server's address, https://HOST[:PORT]")
    p.add_argument("code", help="the invite code your therapist gave you (XXXX-XXXX-XXXX)")
    p.add_argument("--name", help="a name for this device (default: the computer's name)")
    p.add_argument("--allow-http", action="store_true", help="allow an unencrypted http:// server")
    p.set_defaults(func=_cmd_pair)

    p = sub.add_parser(
        "upload",
        help="send session.json files to your therapist (and any queued ones)",
        description="Send session.json files to your therapist's server (and any queued while offline). "
        "Only session.json leaves this machine, never a video or picture of you, unless you add --video.",
    )
    p.add_argument("sessions", nargs="*", help="session.json files (none: send the queue only)")
    p.add_argument(
        "--video",
        metavar="FILE",
        help="also share this video of the session (one session.json) with your therapist: it shows you. "
        "Sent after the session is stored; queued with it when offline",
    )
    p.set_defaults(func=_cmd_upload)

    p = sub.add_parser(
        "sync",
        help="fetch your therapist's prescription (exercises, dose, limits) and send queued sessions",
        description="Fetch the prescription your therapist set on the server and keep it on this device: "
        "'siform live' and 'siform analyze' then use its dose and limits. Also sends sessions queued "
        "while offline. Only session.json files are sent; a video only if you chose --share-video "
        "(or siform upload --video) for that session.",
    )
    p.add_argument("--specs", help="folder of exercise specs (default: the bundled exercise_specs/)")
    p.set_defaults(func=_cmd_sync)


def _cmd_pair(args: argparse.Namespace) -> int:
    from siform.server.client import cmd_pair

    return cmd_pair(args)


def _cmd_upload(args: argparse.Namespace) -> int:
    from siform.server.client import cmd_upload

    return cmd_upload(args)


def _cmd_sync(args: argparse.Namespace) -> int:
    from siform.server.client import cmd_sync

    return cmd_sync(args)


def _require_extra() -> None:
    try:
        import alembic  # noqa: F401
        import argon2  # noqa: F401
        import fastapi  # noqa: F401
        import sqlalchemy  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ServerError(
            f"The server's packages are not installed ({exc.name} is missing).",
            "Install them with: pip install 'siform[server]'",
        ) from exc


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password for the new account: ")
    if getpass.getpass("Same password again: ") != first:
        raise ServerError("The two passwords differ; nothing was created.")
    return first


def create_therapist(engine: object, email: str, name: str | None, password: str) -> None:
    """Add a therapist account (argon2 hash of the password), or say why not."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from siform.server.models import Therapist
    from siform.server.security import hash_password, password_problem

    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if not local or not at or "." not in domain or any(ch.isspace() for ch in email):
        raise ServerError(f"{email!r} is not an e-mail address.")
    problem = password_problem(password)
    if problem:
        raise ServerError(problem, "Nothing was created.")
    with Session(engine) as db:  # type: ignore[call-overload]
        if db.scalar(select(Therapist).where(Therapist.email == email)) is not None:
            raise ServerError(f"A therapist account for {email} exists already.")
        db.add(
            Therapist(email=email, name=(name or local).strip()[:200], password_hash=hash_password(password))
        )
        db.commit()


def cmd_serve(args: argparse.Namespace) -> int:
    _require_extra()
    from sqlalchemy.engine import make_url

    from siform.server.db import current_revision, make_engine, upgrade
    from siform.server.settings import load_settings

    admin = bool(args.create_therapist or args.migrate_only)
    # An admin command signs nothing, so it needs no secret: dev=True only fills in a throwaway one.
    settings = load_settings(database_url=args.database_url, dev=True if admin or args.dev else None)
    engine = make_engine(settings.database_url)
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    try:
        upgrade(engine)
    except Exception as exc:  # a database that cannot be reached or written
        raise ServerError(
            f"Cannot prepare the database {shown}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}",
            "Check the database URL and that the database server is running.",
        ) from exc
    print(f"Database {shown} is at schema {current_revision(engine)}.", file=sys.stderr)
    if args.migrate_only:
        return 0
    if args.create_therapist:
        create_therapist(engine, args.create_therapist, args.name, _read_password(args.password_stdin))
        print(f"Created the therapist account {args.create_therapist.strip().lower()}.")
        return 0
    engine.dispose()
    if args.workers < 1:
        raise ServerError("--workers must be at least 1.")
    import uvicorn

    # The workers build the app from the environment: the same URL and secret for all of them
    # (in --dev mode too, so a login made through one worker is valid in the others).
    os.environ["SIFORM_DATABASE_URL"] = settings.database_url
    os.environ["SIFORM_SECRET_KEY"] = settings.secret_key
    if args.dev:
        print(
            "Development mode (--dev): without a configured secret key a random one lasts this run; "
            "never use it for patients' data.",
            file=sys.stderr,
        )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            "Listening beyond this machine: put the server behind HTTPS (a reverse proxy), so logins and "
            "health data never cross the network in clear text.",
            file=sys.stderr,
        )
    uvicorn.run(
        "siform.server.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
        server_header=False,
        log_level="info",
        access_log=not args.no_access_log,
    )
    return 0
