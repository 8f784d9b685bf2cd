"""API tokens: created once, shown once, stored as a SHA-256 hash with a role and station scopes.

`{data_root}/state/api/tokens.sqlite` (WAL, one short connection per call, so `pige api token revoke`
takes effect on the next request of a running server). A token reads `pige_<id>_<secret>`: the id is
public (it names the token in `pige api token ls` and in logs), the secret is 32 random bytes. Only
the hash of the whole token is kept; a lost token is revoked and a new one created.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

from pige_pipeline.stations import STATION_ID_PATTERN

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
# What each role may read, on top of the roles below it.
ROLE_RANK = {"viewer": 0, "operator": 1, "admin": 2}
TOKEN_PATTERN = re.compile(r"^pige_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$")
NAME_PATTERN = re.compile(r"^[\w .@:-]{1,80}$")

_INFO = "token_id, name, role, stations, created_at, revoked_at, rights_holders"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    token_id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    stations TEXT NOT NULL,
    rights_holders TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""


class TokenError(ValueError):
    """A token request that cannot be honoured; the message says what to change."""


@dataclass(frozen=True)
class TokenInfo:
    """A stored token, without its secret."""

    token_id: str
    name: str
    role: Role
    stations: tuple[str, ...]  # empty for an admin: every station
    created_at: datetime
    revoked_at: datetime | None
    # Empty: every rights holder's statement lines (of its stations); else only these holders' lines.
    rights_holders: tuple[str, ...] = ()

    @property
    def all_stations(self) -> bool:
        return self.role == "admin"

    def may_read(self, station: str) -> bool:
        return self.all_stations or station in self.stations

    def at_least(self, role: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def tokens_path(data_root: Path) -> Path:
    return data_root / "state" / "api" / "tokens.sqlite"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_stations(text: str | None) -> tuple[str, ...]:
    """'a,b' -> ('a', 'b'), each checked against the station id rule."""
    stations = tuple(dict.fromkeys(s.strip() for s in (text or "").split(",") if s.strip()))
    bad = [s for s in stations if not STATION_ID_PATTERN.fullmatch(s)]
    if bad:
        raise TokenError(
            f"station id(s) {', '.join(repr(b[:64]) for b in bad)} are not station ids: "
            "use the ids of stations.yaml, comma-separated (e.g. --stations fm1,fm2)"
        )
    return stations


class TokenStore:
    """The token table. Every method opens its own short connection (safe across processes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Live tokens already looked up, valid while the file is unchanged (a create or a revoke
        # changes it, so a revoked token is refused from the next request on).
        self._verified: dict[str, TokenInfo] = {}
        self._verified_for: tuple[int, int, int] | None = None
        self._lock = threading.Lock()
        if path.exists():
            with self._connect():
                pass  # brings a file of an earlier version up to this schema before any token is checked

    @classmethod
    def for_data_root(cls, data_root: Path) -> TokenStore:
        return cls(tokens_path(data_root))

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=30000")
            db.executescript(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(tokens)")}
            if "rights_holders" not in columns:  # files made before rights holders' tokens
                db.execute("ALTER TABLE tokens ADD COLUMN rights_holders TEXT NOT NULL DEFAULT '[]'")
            yield db
        finally:
            db.close()

    def create(
        self, name: str, role: str, stations: tuple[str, ...], rights_holders: tuple[str, ...] = ()
    ) -> tuple[str, TokenInfo]:
        """A new token (returned once, in clear) and what is stored about it."""
        if role not in ROLES:
            raise TokenError(f"role {role!r} is not a role: use one of {', '.join(ROLES)}")
        if not NAME_PATTERN.fullmatch(name):
            raise TokenError(
                f"token name {name[:80]!r} is not usable: 1-80 letters, digits, spaces or . @ : _ -"
            )
        if role == "admin":
            stations = ()  # an admin reads every station, present and future
        elif not stations:
            raise TokenError(
                f"a {role} token needs --stations (the station ids it may read, comma-separated)"
            )
        rights_holders = tuple(dict.fromkeys(h.strip() for h in rights_holders if h.strip()))
        if rights_holders and role != "viewer":
            raise TokenError("--rights-holder makes a rights holder's token: give it the viewer role")
        if any(len(h) > 200 for h in rights_holders):
            raise TokenError("a rights holder name is longer than 200 characters: use the catalogue's name")
        token_id = secrets.token_hex(6)
        token = f"pige_{token_id}_{secrets.token_urlsafe(32)}"
        now = datetime.now(UTC)
        with self._connect() as db:
            db.execute(
                "INSERT INTO tokens (token_id, token_hash, name, role, stations, created_at, rights_holders) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    token_id,
                    _hash(token),
                    name,
                    role,
                    json.dumps(list(stations)),
                    now.isoformat(),
                    json.dumps(list(rights_holders)),
                ),
            )
        return token, TokenInfo(token_id, name, role, stations, now, None, rights_holders)  # type: ignore[arg-type]

    @staticmethod
    def _info(row: tuple) -> TokenInfo:
        return TokenInfo(
            token_id=row[0],
            name=row[1],
            role=row[2],
            stations=tuple(json.loads(row[3])),
            created_at=datetime.fromisoformat(row[4]),
            revoked_at=datetime.fromisoformat(row[5]) if row[5] else None,
            rights_holders=tuple(json.loads(row[6])),
        )

    def list(self) -> list[TokenInfo]:
        with self._connect() as db:
            rows = db.execute(f"SELECT {_INFO} FROM tokens ORDER BY created_at").fetchall()
        return [self._info(r) for r in rows]

    def revoke(self, token_id: str) -> TokenInfo:
        """Revoke by id (or by name when exactly one live token has it)."""
        with self._connect() as db:
            rows = db.execute(
                f"SELECT {_INFO} FROM tokens WHERE token_id = ? OR (name = ? AND revoked_at IS NULL)",
                (token_id, token_id),
            ).fetchall()
            if not rows:
                raise TokenError(f"no token has the id or name {token_id!r}: see `pige api token ls`")
            if len(rows) > 1:
                raise TokenError(f"several tokens are named {token_id!r}: revoke one by its id")
            now = datetime.now(UTC).isoformat()
            db.execute(
                "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE token_id = ?", (now, rows[0][0])
            )
            row = db.execute(
                f"SELECT {_INFO} FROM tokens WHERE token_id = ?",
                (rows[0][0],),
            ).fetchone()
        return self._info(row)

    def verified(self, token: str) -> TokenInfo | None:
        """The token if it was verified since the token file last changed, else None (ask `verify`).

        No database read: cheap enough for the event loop.
        """
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        with self._lock:
            if (stat.st_ino, stat.st_mtime_ns, stat.st_size) != self._verified_for:
                return None
            return self._verified.get(_hash(token))

    def verify(self, token: str) -> TokenInfo | None:
        """The live token this string is, or None (malformed, unknown or revoked)."""
        if not TOKEN_PATTERN.fullmatch(token):
            return None
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        digest = _hash(token)
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if version != self._verified_for:
                self._verified, self._verified_for = {}, version
            elif digest in self._verified:
                return self._verified[digest]
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30.0)
        try:
            row = db.execute(
                f"SELECT {_INFO} FROM tokens WHERE token_hash = ? AND revoked_at IS NULL", (digest,)
            ).fetchone()
        finally:
            db.close()
        if row is None:
            return None  # unknown tokens are not kept: a flood of them must not grow the cache
        info = self._info(row)
        with self._lock:
            if version == self._verified_for:
                self._verified[digest] = info
        return info
