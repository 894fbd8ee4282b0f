"""Server settings: from environment variables, or a TOML settings file, never from code.

A clinic keeps the secret key and the database URL (which may hold a database password) out of the
source and out of shell history: ``SIFORM_SERVER_SETTINGS=/etc/siform/server.toml`` names a file
with the keys below, and an environment variable ``SIFORM_<KEY>`` (upper case) overrides the file.

- ``database_url``: a SQLAlchemy URL, ``sqlite:///path.sqlite3`` or
  ``postgresql+psycopg://user:password@host/db``; default a SQLite file in the user data folder.
- ``secret_key``: signs CSRF tokens, at least 32 characters; none: the server refuses to start.
- ``dev``: development mode, a random secret for this run when none is set (default false).
- ``max_upload_bytes``: the largest ``session.json`` accepted (default 8 MiB).
- ``media_dir``: the folder for videos patients chose to share (``siform ... --share-video``);
  default ``media`` beside a SQLite database file, else ``media`` in the user data folder. Several
  workers or machines must all see the same folder.
- ``max_video_bytes``: the largest video accepted (default 500 MiB; larger is refused, nothing kept).
- ``token_days``: a paired device's token expires after this many days (180).
- ``invite_hours``: an invite code expires after this many hours (168, a week).
- ``session_hours``: a therapist's login lasts this long (12).
- ``cookie_secure``: ``auto`` (a Secure cookie when the request came over https, also behind a
  proxy that says so and that uvicorn trusts) or ``always`` (default auto).
- ``login_max_failures``: failed logins per account (4x that per address) within ``login_window_s``
  seconds (900) before the login answers 429 (default 5).
- ``db_pool_size``, ``db_max_overflow``: database connections each worker keeps open (5) and may
  open beyond that under load (10). With PostgreSQL, workers x (both added) must stay below the
  server's ``max_connections`` (see docs/server-scaling.md).
- ``sqlite_synchronous``: ``normal`` (default) or ``full``. With SQLite's write-ahead log, ``normal``
  syncs the log to disk at checkpoints instead of at every commit: an upload answered 201 survives
  a crash of the server process, but a power cut or OS crash may lose the last moments' uploads
  (SQLite's documented trade-off). ``full`` syncs every commit: 244 uploads/s against 330-374 with
  ``normal`` in the upload benchmark here (docs/server-scaling.md).
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from siform.errors import SiformError

ENV_PREFIX = "SIFORM_"
SETTINGS_ENV = "SIFORM_SERVER_SETTINGS"
MIN_SECRET_CHARS = 32


class SettingsError(SiformError):
    """The server's settings are missing or malformed; the message names the key."""


def default_database_url() -> str:
    """A SQLite file in the user's data folder: ``siform serve`` works with no setup at all."""
    from platformdirs import user_data_dir

    folder = Path(user_data_dir("siform"))
    return f"sqlite:///{folder / 'server.sqlite3'}"


def default_media_dir(database_url: str) -> str:
    """Videos beside a SQLite file (one folder to back up), else in the user data folder."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(database_url)
        database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    except Exception:  # a malformed URL is reported by the engine, with its own message
        database = None
    if database and database != ":memory:":
        return str(Path(database).resolve().parent / "media")
    from platformdirs import user_data_dir

    return str(Path(user_data_dir("siform")) / "media")


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    secret_key: str = ""
    dev: bool = False
    max_upload_bytes: int = 8 * 1024 * 1024
    token_days: int = 180
    invite_hours: int = 168
    session_hours: int = 12
    cookie_secure: str = "auto"
    login_max_failures: int = 5
    login_window_s: int = 900
    db_pool_size: int = 5
    db_max_overflow: int = 10
    sqlite_synchronous: str = "normal"
    media_dir: str = ""
    max_video_bytes: int = 500 * 1024 * 1024

    def checked(self) -> Settings:
        """These settings, completed (default database, a development secret) and validated.

        Without a secret key the server refuses to start, unless ``dev`` is set: then a random key
        lives as long as this process (logins end when it stops), and ``siform serve`` hands the
        same key to all its workers.
        """
        out = self
        if not out.database_url:
            out = replace(out, database_url=default_database_url())
        if not out.media_dir:
            out = replace(out, media_dir=default_media_dir(out.database_url))
        if not out.secret_key:
            if not out.dev:
                raise SettingsError(
                    "No secret key is set for the server.",
                    f"Set {ENV_PREFIX}SECRET_KEY (at least {MIN_SECRET_CHARS} random characters, e.g. from "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`) or secret_key in the "
                    f"file named by {SETTINGS_ENV}; for a trial on this machine only, use --dev.",
                )
            out = replace(out, secret_key=secrets.token_urlsafe(48))
        if len(out.secret_key) < MIN_SECRET_CHARS:
            raise SettingsError(
                f"The secret key is too short ({len(out.secret_key)} characters).",
                f"Use at least {MIN_SECRET_CHARS} random characters.",
            )
        if out.cookie_secure not in ("auto", "always"):
            raise SettingsError(f"cookie_secure must be 'auto' or 'always', not {out.cookie_secure!r}.")
        if out.sqlite_synchronous not in ("normal", "full"):
            raise SettingsError(
                f"sqlite_synchronous must be 'normal' or 'full', not {out.sqlite_synchronous!r}."
            )
        if out.db_max_overflow < 0:
            raise SettingsError(f"db_max_overflow must be 0 or more, not {out.db_max_overflow!r}.")
        for name in (
            "max_upload_bytes",
            "token_days",
            "invite_hours",
            "session_hours",
            "login_max_failures",
            "login_window_s",
            "db_pool_size",
            "max_video_bytes",
        ):
            if getattr(out, name) <= 0:
                raise SettingsError(f"{name} must be a positive whole number, not {getattr(out, name)!r}.")
        return out


def _coerce(name: str, value: Any, kind: type, origin: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
    elif kind is str and isinstance(value, str):
        return value.strip()
    raise SettingsError(f"{origin}: {name} must be a {kind.__name__}, not {value!r}.")


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from the file named by ``SIFORM_SERVER_SETTINGS``, then ``SIFORM_*`` variables,
    then ``overrides`` (the command line's options), completed and validated."""
    env = dict(os.environ if environ is None else environ)
    types = {f.name: {"bool": bool, "int": int, "str": str}[str(f.type)] for f in fields(Settings)}
    values: dict[str, Any] = {}
    path = env.get(SETTINGS_ENV)
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError(f"Cannot read the settings file {path}: {exc.strerror}.") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"The settings file {path} is not valid TOML: {exc}.") from exc
        for key, value in data.items():
            if key not in types:
                raise SettingsError(f"{path}: unknown key {key!r}.", f"Known keys: {', '.join(types)}.")
            values[key] = _coerce(key, value, types[key], path)
    for key, kind in types.items():
        name = ENV_PREFIX + key.upper()
        if name in env:
            values[key] = _coerce(key, env[name], kind, name)
    for key, value in overrides.items():
        if value is not None:
            values[key] = _coerce(key, value, types[key], f"--{key.replace('_', '-')}")
    return Settings(**values).checked()
