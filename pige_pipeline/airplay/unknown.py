"""Music that matches no catalogue track: find it, and group repeated airings of the same recording.

Music or speech is decided per second by `music_likeness` from the level profile that the
`fingerprints` rows carry (computed from the same decode). Silence and hum give constant
sub-fingerprints and are left out. Fingerprints written before the profile existed fall back to the
older, weaker test: fingerprint self-similarity (music repeats itself within 2-30 s, speech less so).

Every unknown segment is kept under `{data_root}/state/airplay/unknown/` (its sub-fingerprints and
its cluster). A new segment that the matcher finds in a kept one, on any station, joins its cluster.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from pige_pipeline.airplay.bits import popcount32
from pige_pipeline.airplay.fingerprint import ITEM_S, ITEM_SPAN_S
from pige_pipeline.airplay.index import build_index
from pige_pipeline.airplay.matcher import MatchParams, Play, match_piece, play_strength
from pige_pipeline.airplay.music_likeness import mask_runs, music_score, music_seconds

UNKNOWN_MUSIC_SCHEMA = pa.schema(
    [
        ("station", pa.string()),
        ("hour", pa.timestamp("us", tz="UTC")),
        ("segment_id", pa.string()),
        ("start", pa.timestamp("us", tz="UTC")),
        ("end", pa.timestamp("us", tz="UTC")),
        ("start_s", pa.float64()),
        ("end_s", pa.float64()),
        ("duration_s", pa.float64()),
        ("cluster_id", pa.string()),
        ("music_score", pa.float64()),
        ("self_similarity", pa.float64()),
        ("acoustid_recording_id", pa.string()),
        ("acoustid_title", pa.string()),
    ]
)

MIN_UNKNOWN_S = 30.0
# Fallback only (fingerprints without a level profile): median best self-match BER (32 bits) below
# which a stretch counts as music. It misses much music (docs/airplay.md), hence the level profile.
SELF_SIMILARITY_MAX = 0.20
# Share of items identical to the previous one above which a stretch is silence or a drone.
MAX_STILL_SHARE = 0.5
PLAY_MARGIN_S = 3.0
CLUSTER_PARAMS = MatchParams(min_play_s=10.0)


@dataclass
class Piece:
    """One contiguous piece of a station-hour: its sub-fingerprints and, if written, its level profile."""

    offset_s: float
    prints: np.ndarray
    profile: dict[str, np.ndarray] | None = None


@dataclass
class UnknownSegment:
    start_s: float
    end_s: float
    prints: np.ndarray
    self_similarity: float
    music_score: float = float("nan")

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def self_similarity(prints: np.ndarray, block: int = 16) -> float:
    """Median over items of the best BER of a 2-s block against the same audio 2-30 s away."""
    n = len(prints)
    best = np.ones(n)
    for lag in range(16, min(n, 242), 2):
        err = popcount32(prints[lag:] ^ prints[:-lag]).astype(np.float64) / 32
        csum = np.concatenate([[0.0], np.cumsum(err)])
        if len(err) < block:
            continue
        win = (csum[block:] - csum[:-block]) / block
        best[: len(win)] = np.minimum(best[: len(win)], win)
        best[lag : lag + len(win)] = np.minimum(best[lag : lag + len(win)], win)
    return float(np.median(best)) if n else 1.0


def unknown_segments(piece: Piece, plays: list[Play], min_s: float = MIN_UNKNOWN_S) -> list[UnknownSegment]:
    """Music-like stretches of one piece that no play explains (times in seconds into the hour)."""
    prints, offset_s = piece.prints, piece.offset_s
    n = len(prints)
    candidate = np.ones(n, dtype=bool)
    for play in plays:
        a = int(max(0, (play.start_s - offset_s - PLAY_MARGIN_S) / ITEM_S))
        b = int(min(n, np.ceil((play.end_s - offset_s + PLAY_MARGIN_S) / ITEM_S)))
        candidate[a:b] = False
    music = None
    if piece.profile is not None and len(piece.profile["level_sd_db"]):
        per_second = music_seconds(piece.profile)
        # an item is judged by the second at the middle of the audio it summarises
        second = np.minimum(((np.arange(n) * ITEM_S) + ITEM_SPAN_S / 2).astype(int), len(per_second) - 1)
        music = per_second[second]
        candidate &= music
    out = []
    for a, b in mask_runs(candidate):
        if (b - a) * ITEM_S < min_s:
            continue
        part = prints[a:b]
        still = float(np.mean(part[1:] == part[:-1])) if len(part) > 1 else 1.0
        if still > MAX_STILL_SHARE:
            continue
        sim = self_similarity(part)
        if music is None and sim >= SELF_SIMILARITY_MAX:
            continue
        start_s, end_s = a * ITEM_S, (b - 1) * ITEM_S + ITEM_SPAN_S
        score = float("nan")
        if music is not None:
            sec = slice(int(start_s), max(int(start_s) + 1, int(end_s)))
            score = music_score(piece.profile["level_sd_db"][sec], piece.profile["level_dips"][sec])
        out.append(UnknownSegment(offset_s + start_s, offset_s + end_s, part, sim, score))
    return out


class UnknownStore:
    """Kept unknown segments and their clusters, shared by every station."""

    def __init__(self, state_dir: Path):
        self.dir = state_dir / "airplay" / "unknown"
        self.table = self.dir / "segments.parquet"

    @contextmanager
    def locked(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield self
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def segments(self) -> pd.DataFrame:
        if not self.table.exists():
            return pd.DataFrame(
                columns=["segment_id", "cluster_id", "station", "start", "duration_s", "items"]
            )
        return pd.read_parquet(self.table)

    def _prints_path(self, segment_id: str) -> Path:
        return self.dir / "prints" / f"{segment_id}.npy"

    def assign(self, station: str, start: datetime, segment: UnknownSegment) -> tuple[str, str]:
        """(segment_id, cluster_id) for a new segment, matching it against every kept one."""
        segment_id = hashlib.sha1(f"{station}|{start.isoformat()}".encode()).hexdigest()[:16]
        kept = self.segments()
        kept = kept[kept["segment_id"] != segment_id]
        cluster_id = self._match(kept, segment.prints)
        if cluster_id is None:
            cluster_id = f"unk-{segment_id[:12]}"
        path = self._prints_path(segment_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, segment.prints.astype(np.uint32))
        row = {
            "segment_id": segment_id,
            "cluster_id": cluster_id,
            "station": station,
            "start": pd.Timestamp(start),
            "duration_s": segment.duration_s,
            "items": len(segment.prints),
        }
        table = (
            pd.concat([kept, pd.DataFrame([row])], ignore_index=True) if len(kept) else pd.DataFrame([row])
        )
        tmp = self.table.with_name(f".segments.{os.getpid()}.tmp")
        table.to_parquet(tmp, index=False)
        os.replace(tmp, self.table)
        return segment_id, cluster_id

    def _match(self, kept: pd.DataFrame, prints: np.ndarray) -> str | None:
        usable = []
        for _, row in kept.iterrows():
            path = self._prints_path(row["segment_id"])
            if path.exists():
                usable.append((row, np.load(path)))
        if not usable:
            return None
        tracks = pd.DataFrame(
            {
                "track_id": [r["cluster_id"] for r, _ in usable],
                "duration_s": [len(p) * ITEM_S + ITEM_SPAN_S for _, p in usable],
            }
        )
        lengths = np.array([[len(p)] for _, p in usable], dtype=np.int64)
        index = build_index(tracks, lengths, lambda _v: np.concatenate([p for _, p in usable]), speeds=(1.0,))
        plays = match_piece(index, prints, 0.0, CLUSTER_PARAMS)
        if not plays:
            return None
        best = max(plays, key=play_strength)
        return best.track_id


def unknown_rows(
    station: str,
    hour: datetime,
    pieces: list[Piece],
    plays: list[Play],
    store: UnknownStore | None,
    lookup=None,
) -> list[dict]:
    """`unknown_music` rows of one station-hour; clusters are assigned through `store` if given."""
    rows = []
    for piece in pieces:
        for seg in unknown_segments(piece, plays):
            start = hour + timedelta(seconds=seg.start_s)
            end_s = min(3600.0, seg.end_s)
            segment_id, cluster_id = (
                store.assign(station, start, seg)
                if store is not None
                else (hashlib.sha1(f"{station}|{start.isoformat()}".encode()).hexdigest()[:16], None)
            )
            found = lookup(seg.prints, seg.duration_s) if lookup else None
            rows.append(
                {
                    "segment_id": segment_id,
                    "start": start,
                    "end": hour + timedelta(seconds=end_s),
                    "start_s": round(seg.start_s, 3),
                    "end_s": round(end_s, 3),
                    "duration_s": round(end_s - seg.start_s, 3),
                    "cluster_id": cluster_id,
                    "music_score": None if np.isnan(seg.music_score) else round(seg.music_score, 3),
                    "self_similarity": round(seg.self_similarity, 4),
                    "acoustid_recording_id": found[0] if found else None,
                    "acoustid_title": found[1] if found else None,
                }
            )
    return rows
