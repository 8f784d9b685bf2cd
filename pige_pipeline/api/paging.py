"""Cursor paging: the last row's (start, id) as an opaque token, so pages stay stable while data grows.

Keyset paging reads the next page from where the previous one stopped (`start > s OR (start = s AND
id > i)`), so a rebuild swapped in between two pages neither repeats nor skips rows that did not
change, and a page costs the same at row 10 and row 10 million.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


class CursorError(ValueError):
    """A cursor this API did not hand out (or one for another listing)."""


@dataclass(frozen=True)
class Cursor:
    start_us: int
    item_id: str

    def encode(self, listing: str) -> str:
        raw = json.dumps([listing, self.start_us, self.item_id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, listing: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            kind, start_us, item_id = json.loads(raw)
            if kind != listing or not isinstance(start_us, int) or not isinstance(item_id, str):
                raise ValueError
            return cls(start_us, item_id)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise CursorError(
                f"cursor {text[:40]!r} was not handed out by this listing: pass the `next_cursor` of the "
                "previous page unchanged, or leave it out for the first page"
            ) from None

    @property
    def start(self) -> datetime:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=self.start_us)

    def after(self, start_column: str, id_column: str) -> tuple[str, list[object]]:
        """The SQL condition and parameters of the rows after this cursor.

        The leading `start >= ?` says the same as the keyset condition's first half, as a plain range
        that DuckDB pushes into the scan (the OR alone is evaluated row by row after reading).
        """
        return (
            f"{start_column} >= ? AND ({start_column} > ? OR ({start_column} = ? AND {id_column} > ?))",
            [self.start, self.start, self.start, self.item_id],
        )
