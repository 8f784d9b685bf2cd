"""AcoustID lookups of unknown music through the real pyacoustid, against a loopback AcoustID server.

The lookup is a hint for the catalogue team: a failure of any kind (a refused key, a slow or absent
server) is said in the log and counted, and the unknown-music row is written all the same.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import numpy as np
import pytest

from pige_pipeline.airplay import fingerprint_rows
from pige_pipeline.airplay.acoustid_lookup import ENV_KEY, ENV_URL, AcoustIdLookup, lookup_from_env
from pige_pipeline.airplay.fingerprint import raw_fingerprint
from pige_pipeline.airplay.music_likeness import profile_from_row
from pige_pipeline.airplay.unknown import Piece, unknown_rows
from pige_pipeline.audio.decode import decode_mono
from pige_pipeline.testing.icecast import free_port
from pige_pipeline.testing.sources import asc_tracks, singularity_tracks
from tests.airplay.conftest import RATE
from tests.support.acoustid_server import AcoustIdServer, acoustid_server

KEY = "pige-test-key"
HOUR = datetime(2026, 11, 20, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def known_music() -> np.ndarray:
    """60 s of a real track (asc-music's Machine Wars, GPL-2+) that the AcoustID server knows."""
    track = next(p for p in asc_tracks() if p.stem == "machine_wars")
    return decode_mono(track, RATE)[30 * RATE : 90 * RATE]


@pytest.fixture(scope="module")
def other_music() -> np.ndarray:
    """30 s of a track the server does not know (singularity-music, CC BY-SA 3.0)."""
    return decode_mono(singularity_tracks()[2], RATE)[20 * RATE : 50 * RATE]


@pytest.fixture
def server(known_music: np.ndarray) -> AcoustIdServer:
    with acoustid_server(api_key=KEY) as srv:
        # The server holds the whole recording; queries are excerpts of it, as a station airs them.
        srv.add_recording(raw_fingerprint(known_music), "9b4f1c0e-mbid", "Machine Wars", ["ASC", "Guest"])
        yield srv


def _excerpt_prints(samples: np.ndarray, start_s: float, seconds: float) -> np.ndarray:
    return raw_fingerprint(samples[int(start_s * RATE) : int((start_s + seconds) * RATE)])


def test_a_known_excerpt_is_named_with_its_recording(
    server: AcoustIdServer, known_music: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_KEY, KEY)
    monkeypatch.setenv(ENV_URL, server.base_url.rstrip("/"))  # the trailing slash is optional
    lookup = lookup_from_env()
    assert lookup is not None and lookup.base_url == server.base_url
    assert lookup(_excerpt_prints(known_music, 12.0, 25.0), 25.0) == (
        "9b4f1c0e-mbid",
        "ASC, Guest - Machine Wars",
    )
    sent = server.requests[-1]
    assert (sent["client"], sent["duration"], sent["meta"]) == (KEY, "25", "recordings")
    assert lookup.failures == 0


def test_unknown_music_is_no_match_and_no_failure(
    server: AcoustIdServer, other_music: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    lookup = AcoustIdLookup(KEY, base_url=server.base_url)
    with caplog.at_level(logging.WARNING):
        assert lookup(raw_fingerprint(other_music), 30.0) is None
    assert len(server.requests) == 1 and lookup.failures == 0 and not caplog.records


def test_a_refused_key_is_said_and_counted(
    server: AcoustIdServer, known_music: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    lookup = AcoustIdLookup("revoked-key", base_url=server.base_url)
    with caplog.at_level(logging.WARNING):
        assert lookup(_excerpt_prints(known_music, 12.0, 25.0), 25.0) is None
    assert lookup.failures == 1
    assert "invalid API key" in caplog.text and server.base_url in caplog.text


def test_a_slow_or_absent_server_loses_no_unknown_music_row(
    server: AcoustIdServer, known_music: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    piece_row = fingerprint_rows([(0.0, known_music)], RATE)[0]
    piece = Piece(0.0, piece_row["fingerprint"], profile_from_row(piece_row))
    # Found: the unknown-music row carries AcoustID's recording.
    found = unknown_rows("radio-a", HOUR, [piece], [], None, AcoustIdLookup(KEY, base_url=server.base_url))
    assert [(r["acoustid_recording_id"], r["acoustid_title"]) for r in found] == [
        ("9b4f1c0e-mbid", "ASC, Guest - Machine Wars")
    ]
    # A server slower than the time-out, then one where nothing listens: the same row, without the hint.
    server.stall_s = 3.0
    slow = AcoustIdLookup(KEY, timeout_s=0.5, base_url=server.base_url)
    gone = AcoustIdLookup(KEY, timeout_s=0.5, base_url=f"http://127.0.0.1:{free_port()}/v2/")
    for lookup, why in ((slow, "timed out"), (gone, "Connection refused")):
        caplog.clear()
        started = time.monotonic()
        with caplog.at_level(logging.WARNING):
            rows = unknown_rows("radio-a", HOUR, [piece], [], None, lookup)
        assert time.monotonic() - started < 2.5, "the time-out was not applied"
        assert [r["segment_id"] for r in rows] == [r["segment_id"] for r in found]
        assert rows[0]["acoustid_recording_id"] is None and rows[0]["acoustid_title"] is None
        assert lookup.failures == 1 and why in caplog.text and "kept without it" in caplog.text


@pytest.mark.parametrize(
    "bad", ["api.acoustid.org/v2", "ftp://mirror.example/v2/", "http:///v2/", "https://a/?k=1"]
)
def test_a_bad_url_setting_is_named_when_lookups_are_on(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_URL, bad)
    monkeypatch.delenv(ENV_KEY, raising=False)
    assert lookup_from_env() is None  # lookups off: the setting is not used
    monkeypatch.setenv(ENV_KEY, KEY)
    with pytest.raises(ValueError, match=rf"{ENV_URL}=.*https://api.acoustid.org/v2/"):
        lookup_from_env()


def test_the_default_server_is_acoustids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_KEY, KEY)
    monkeypatch.delenv(ENV_URL, raising=False)
    lookup = lookup_from_env()
    assert lookup is not None and lookup.base_url == "https://api.acoustid.org/v2/"
