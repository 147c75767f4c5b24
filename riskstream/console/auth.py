"""Console users, roles, passwords, sessions and CSRF tokens.

* Passwords are argon2id hashes (argon2-cffi); a user is locked after
  :data:`MAX_FAILED` failed logins in a row, until an admin unlocks them
  (``riskstream console add-user NAME --unlock``).
* A session is a cookie signed with the console secret (itsdangerous) that
  carries the user name, a random session id and the time it was made; it
  expires after ``session_minutes``.  The CSRF token of a form is an HMAC of
  the session id, so it is valid only for the session it was issued to.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from . import audit
from .models import User

ROLES = ("reviewer", "lead", "analyst", "admin")
MAX_FAILED = 5
MIN_PASSWORD = 10

#: what each role may do
RIGHTS: dict[str, frozenset[str]] = {
    "reviewer": frozenset({"view", "claim", "note", "verdict", "reveal"}),
    "lead": frozenset({"view", "claim", "assign", "note", "verdict", "verdict-escalated", "reveal", "dashboard"}),
    "analyst": frozenset({"view", "dashboard"}),
    "admin": frozenset({"view", "claim", "assign", "note", "verdict", "verdict-escalated", "reveal", "dashboard",
                        "users"}),
}

_hasher = PasswordHasher()


class AuthError(ValueError):
    """A user cannot be added or a login is refused; the message is safe to show."""


def add_user(session: Session, username: str, password: str, role: str, *, actor: str = "cli") -> User:
    """Create a user, or replace the password and role of an existing one (and unlock it)."""
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
    if not username or len(username) > 80 or not username.replace("-", "").replace(".", "").replace("_", "").isalnum():
        raise AuthError("a user name is 1-80 letters, digits, '-', '_' or '.'")
    if len(password) < MIN_PASSWORD:
        raise AuthError(f"a password needs at least {MIN_PASSWORD} characters")
    user = session.get(User, username)
    if user is None:
        user = User(username=username, created_at=datetime.now(timezone.utc))
        session.add(user)
    user.role, user.password_hash, user.failed_logins, user.locked = role, _hasher.hash(password), 0, 0
    audit.append(session, actor, "user", username, {"role": role})
    return user


def unlock(session: Session, username: str, *, actor: str = "cli") -> None:
    user = session.get(User, username)
    if user is None:
        raise AuthError(f"no user {username!r}")
    user.failed_logins, user.locked = 0, 0
    audit.append(session, actor, "user", username, {"unlocked": True})


def check_login(session: Session, username: str, password: str) -> User:
    """The user when the password is right; counts failures and locks at :data:`MAX_FAILED`; audits both."""
    user = session.get(User, username)
    if user is None:
        _hasher.hash(password)  # the same work as a real check: no timing hint that the name is unknown
        audit.append(session, username[:80] or "-", "login-failed", username[:200], {"reason": "unknown user"})
        raise AuthError("wrong user name or password")
    if user.locked:
        audit.append(session, username, "login-failed", username, {"reason": "locked"})
        raise AuthError("this account is locked after too many failed logins; ask an admin to unlock it")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        audit.append(session, username, "login-failed", username, {"failures": user.failed_logins})
        if user.failed_logins >= MAX_FAILED:
            user.locked = 1
            audit.append(session, username, "locked", username, {"failures": user.failed_logins})
            raise AuthError("this account is now locked after too many failed logins; ask an admin to unlock it")
        raise AuthError("wrong user name or password")
    user.failed_logins = 0
    audit.append(session, username, "login", username, {"role": user.role})
    return user


@dataclass(slots=True, frozen=True)
class SessionData:
    username: str
    sid: str


class Sessions:
    """Signed, expiring session cookies and their CSRF tokens."""

    COOKIE = "riskstream_session"

    def __init__(self, secret: str, minutes: float = 480):
        if len(secret) < 16:
            raise AuthError("the console secret needs at least 16 characters")
        self.secret = secret.encode()
        self.max_age = int(minutes * 60)
        self._serializer = URLSafeTimedSerializer(secret, salt="riskstream-console-session")

    def issue(self, username: str) -> str:
        return self._serializer.dumps({"u": username, "sid": secrets.token_urlsafe(18)})

    def read(self, cookie: str | None) -> SessionData | None:
        """The session of a cookie, or ``None`` when it is missing, forged or expired."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.max_age)
        except (SignatureExpired, BadSignature):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), str) or not isinstance(data.get("sid"), str):
            return None
        return SessionData(data["u"], data["sid"])

    def csrf_token(self, session: SessionData) -> str:
        return hmac.new(self.secret, f"csrf:{session.sid}".encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, session: SessionData, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session), str(token))


def allowed(role: str, right: str) -> bool:
    return right in RIGHTS.get(role, frozenset())


__all__ = ["AuthError", "MAX_FAILED", "RIGHTS", "ROLES", "SessionData", "Sessions", "add_user", "allowed",
           "check_login", "unlock"]
