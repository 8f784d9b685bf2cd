"""GET /evidence/{id} on a live server: the clip is the played track, and Range requests get 206."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from pige_pipeline.airplay.bits import popcount32
from pige_pipeline.airplay.fingerprint import CHROMAPRINT_RATE, raw_fingerprint
from pige_pipeline.analytics.build import db_path
from pige_pipeline.audio.decode import decode_mono
from tests.api.support import DEMO, ApiServer, Tokens

WINDOW = 80  # sub-fingerprints, about 10 s


def best_ber(query: np.ndarray, reference: np.ndarray) -> float:
    """Lowest bit error rate of a 10 s window of `query` against every offset of `reference`."""
    middle = len(query) // 2 - WINDOW // 2
    window = query[middle : middle + WINDOW]
    assert len(window) == WINDOW and len(reference) > WINDOW
    errors = [
        popcount32(window ^ reference[offset : offset + WINDOW]).sum() / (32 * WINDOW)
        for offset in range(len(reference) - WINDOW)
    ]
    return float(min(errors))


@pytest.fixture(scope="module")
def longest_play(server: ApiServer) -> tuple[str, Path, Path]:
    """The demo station's longest play: id, its catalogue file, and another catalogue file."""
    con = duckdb.connect(str(db_path(server.root)), read_only=True)
    try:
        play_id, track = con.execute(
            f"SELECT play_id, track_id FROM plays WHERE station = '{DEMO}' ORDER BY seconds DESC LIMIT 1"
        ).fetchone()
        paths = dict(con.execute("SELECT track_id, path FROM catalogue").fetchall())
    finally:
        con.close()
    other = next(p for t, p in sorted(paths.items()) if t != track)
    return play_id, Path(paths[track]), Path(other)


def test_the_clip_of_a_play_fingerprints_as_the_played_track(
    server: ApiServer, tokens: Tokens, longest_play: tuple[str, Path, Path], tmp_path: Path
) -> None:
    play_id, track, other = longest_play
    with server.client(tokens.operator_demo) as operator:
        response = operator.get(f"/evidence/{play_id}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("audio/")
    assert response.headers["accept-ranges"] == "bytes"
    filename = response.headers["content-disposition"].split("filename=")[-1].strip('"')
    clip = tmp_path / f"clip{Path(filename).suffix}"
    clip.write_bytes(response.content)
    query = raw_fingerprint(decode_mono(clip, CHROMAPRINT_RATE))
    played = best_ber(query, raw_fingerprint(decode_mono(track, CHROMAPRINT_RATE)))
    unrelated = best_ber(query, raw_fingerprint(decode_mono(other, CHROMAPRINT_RATE)))
    assert played < 0.15 < 0.3 < unrelated, (played, unrelated)


def test_a_range_request_gets_206_and_exactly_those_bytes(
    server: ApiServer, tokens: Tokens, longest_play: tuple[str, Path, Path]
) -> None:
    play_id = longest_play[0]
    with server.client(tokens.operator_demo) as operator:
        whole = operator.get(f"/evidence/{play_id}").content
        part = operator.get(f"/evidence/{play_id}", headers={"Range": "bytes=1000-4999"})
        tail = operator.get(f"/evidence/{play_id}", headers={"Range": "bytes=-500"})
        beyond = operator.get(f"/evidence/{play_id}", headers={"Range": f"bytes={len(whole) + 10}-"})
    assert part.status_code == 206 and part.content == whole[1000:5000]
    assert part.headers["content-range"] == f"bytes 1000-4999/{len(whole)}"
    assert tail.status_code == 206 and tail.content == whole[-500:]
    assert beyond.status_code == 416


def test_evidence_ids_that_are_paths_or_sql_are_refused(server: ApiServer, tokens: Tokens) -> None:
    with server.client(tokens.operator_demo) as operator:
        for attempt in ("..%2F..%2Fstations.yaml", "%2E%2E", "x' OR '1'='1", "a;DROP TABLE plays"):
            response = operator.get(f"/evidence/{attempt}")
            assert response.status_code in (404, 422), (attempt, response.status_code)
            assert not response.headers["content-type"].startswith("audio/")
