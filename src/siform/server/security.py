"""Secrets and their checks: passwords, device tokens, invite codes, login cookies, CSRF, rate limits.

- Passwords: argon2id (argon2-cffi's defaults). An unknown e-mail address still costs one verify,
  so response times do not tell which addresses have accounts.
- Device tokens, invite codes and login cookies are long random strings; only their sha256 is stored,
  so a copy of the database lets nobody upload as a patient or log in as a therapist.
- CSRF: every form carries an HMAC (secret key) of the login it belongs to; before login, of a random
  value in a short-lived cookie (the login form's own). A cross-site page can read neither.
- Rate limits count failures in the database (``attempts``), so all workers share one count.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from siform.server.models import Attempt, utcnow

TOKEN_PREFIX = "sfd_"  # noqa: S105 - a siform device token: recognisable in a leaked log or a secret scanner
INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
INVITE_GROUPS = 3
INVITE_GROUP_LEN = 4  # 12 symbols of 32: 60 bits, with pairing attempts rate limited
MIN_PASSWORD_CHARS = 10

_hasher = None


def _password_hasher():  # type: ignore[no-untyped-def]
    global _hasher  # one hasher per process; argon2-cffi is imported only by the server
    if _hasher is None:
        from argon2 import PasswordHasher

        _hasher = PasswordHasher()
    return _hasher


def hash_password(password: str) -> str:
    return str(_password_hasher().hash(password))


_DUMMY_HASH: str | None = None


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``; ``None`` (no such account) verifies a dummy
    hash first, so it takes as long as a wrong password."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    global _DUMMY_HASH
    if stored_hash is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
        stored_hash, password = _DUMMY_HASH, password + "\0never"
        result = False
    else:
        result = True
    try:
        _password_hasher().verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return result


def password_problem(password: str) -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"The password must have at least {MIN_PASSWORD_CHARS} characters."
    if password.strip() != password:
        return "The password must not start or end with spaces."
    return None


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_device_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


def new_invite_code() -> str:
    groups = [
        "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_GROUP_LEN))
        for _ in range(INVITE_GROUPS)
    ]
    return "-".join(groups)


def normalize_invite_code(text: str) -> str:
    """The code as printed, whatever case and separators the patient typed."""
    raw = "".join(ch for ch in text.upper() if ch.isalnum())
    return "-".join(raw[i : i + INVITE_GROUP_LEN] for i in range(0, len(raw), INVITE_GROUP_LEN))


def csrf_token(secret: str, purpose: str, binding: str) -> str:
    """The form token for one login (``purpose`` "web") or one login form ("login")."""
    mac = hmac.new(secret.encode("utf-8"), f"csrf|{purpose}|{binding}".encode(), hashlib.sha256)
    return mac.hexdigest()


def csrf_ok(secret: str, purpose: str, binding: str | None, given: str | None) -> bool:
    if not binding or not given:
        return False
    return hmac.compare_digest(csrf_token(secret, purpose, binding), given)


def failures_since(db: Session, key: str, window_s: int, now: datetime | None = None) -> int:
    since = (now or utcnow()) - timedelta(seconds=window_s)
    count = db.scalar(
        select(func.count()).select_from(Attempt).where(Attempt.key == key, Attempt.at >= since)
    )
    return int(count or 0)


def record_failure(db: Session, keys: list[str], window_s: int) -> None:
    """Count a failed attempt under each key, and forget those older than the window."""
    now = utcnow()
    db.execute(delete(Attempt).where(Attempt.at < now - timedelta(seconds=window_s)))
    for key in keys:
        db.add(Attempt(key=key, at=now))


def clear_failures(db: Session, key: str, window_s: int) -> None:
    """After a success: forget this key's failures, and everyone's older than the window."""
    db.execute(delete(Attempt).where(Attempt.key == key))
    db.execute(delete(Attempt).where(Attempt.at < utcnow() - timedelta(seconds=window_s)))
