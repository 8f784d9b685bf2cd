"""The catalogue's own audio at a given offset: is a track silent there by itself?

A silence inside a play (the same track on both sides) is either the track's own pause, which the
reference has too, or programme lost on the air. Only the reference can tell: this decodes the few
seconds of the catalogue file that the silence covers and measures how much of them is dead air.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE, AudioDecodeError, decode_mono
from pige_pipeline.silence.detect import FRAME_S, FULL_SCALE, LEVEL_FLOOR_DB, detect_silences

# The play's alignment is known to ~0.25 s; the silence's edges to a frame. Shrink the span by this on
# each side so a pause that starts a little earlier in the reference still covers what is compared.
ALIGNMENT_S = 0.5


@dataclass(frozen=True)
class ReferenceCheck:
    """What the reference holds over the span a silence covers."""

    track_id: str
    ref_start_s: float
    ref_end_s: float
    silent_share: float  # 0..1 of the span that is dead air (or below the station's threshold) there too
    level_db: float  # the reference's median frame level over the span


class ReferenceAudio:
    """Catalogue files by track id (from the catalogue index's `tracks`); decodes only what is asked."""

    def __init__(self, files: Mapping[str, Path | str]) -> None:
        self.files = {str(k): Path(v) for k, v in files.items()}
        self._cache: dict[tuple[str, float, float, float], ReferenceCheck | None] = {}

    def check(
        self, track_id: str, ref_start_s: float, seconds: float, threshold_db: float
    ) -> ReferenceCheck | None:
        """How silent the track is over [ref_start_s, ref_start_s + seconds); None if it cannot be read."""
        key = (track_id, round(ref_start_s, 2), round(seconds, 2), threshold_db)
        if key not in self._cache:
            self._cache[key] = self._check(track_id, ref_start_s, seconds, threshold_db)
        return self._cache[key]

    def _check(
        self, track_id: str, ref_start_s: float, seconds: float, threshold_db: float
    ) -> ReferenceCheck | None:
        path = self.files.get(track_id)
        inner = seconds - 2 * ALIGNMENT_S
        if path is None or inner <= FRAME_S:
            return None
        start = max(0.0, ref_start_s + ALIGNMENT_S)
        try:
            samples = decode_mono(path, ANALYSIS_SAMPLE_RATE, start_s=start, duration_s=inner)
        except (AudioDecodeError, OSError):
            return None
        rate = ANALYSIS_SAMPLE_RATE
        if len(samples) < rate * FRAME_S:
            # Past the end of the file: the track is over there, which is silence of its own.
            return ReferenceCheck(track_id, start, start + inner, 1.0, LEVEL_FLOOR_DB)
        frame = round(rate * FRAME_S)
        n = len(samples) // frame
        frames = samples[: n * frame].reshape(n, frame).astype(np.float64)
        level = 10 * np.log10(np.maximum(np.mean(frames**2, axis=1) / FULL_SCALE**2, 1e-12))
        quiet = level < threshold_db
        for s in detect_silences(samples, rate, threshold_db, min(1.0, inner / 2), keep_edge_runs=True):
            quiet[round(s.start_s / FRAME_S) : round(s.end_s / FRAME_S)] = True
        # Missing samples at the end (the file ended inside the span) count as silent.
        covered = float(quiet.sum()) + max(0.0, inner / FRAME_S - n)
        share = min(1.0, covered / max(inner / FRAME_S, 1.0))
        return ReferenceCheck(
            track_id, start, start + inner, round(share, 3), round(float(np.median(level)), 1)
        )


def reference_from_index_tracks(tracks: object) -> ReferenceAudio:
    """From the catalogue index's `tracks` table (columns track_id, file)."""
    import pandas as pd

    frame = tracks if isinstance(tracks, pd.DataFrame) else pd.DataFrame(tracks)
    if frame.empty or "file" not in frame.columns:
        return ReferenceAudio({})
    return ReferenceAudio(dict(zip(frame["track_id"].astype(str), frame["file"].astype(str), strict=True)))
