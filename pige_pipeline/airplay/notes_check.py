"""A middling play stands only if the track's notes are in the recording: resemblances, not airings.

Under FM-style processing (band limit, heavy compression, limiter) other music that resembles a
catalogue track (the same composer's variation on its theme) comes within the matcher's middling BER
(held-out draws: 0.215-0.225), where `matcher._resembles_only` decides on the fingerprints alone and
lets some through. Their notes are not the track's: the recording is about as prominent at the track's
spectral peaks as at the same peaks moved 5-13 bins or 1.5-3 s (`fine_presence.track_heard`). A real
airing, however degraded, shows them on at least one stretch.

Where the caller can decode audio (`StretchAudio`), each play whose BER reaches `CHECK_BER` is looked at
over up to `MAX_PIECES` consecutive `PIECE_S` pieces from its matched start, and kept at the first piece
where the notes are heard: at the alignment as matched, the talk-over test's placements and threshold
(`fine_presence.MIN_NOTES_DB`), or else placed at the best of +-`SEARCH.half_width_s` around it and
standing out by `MIN_PLAY_NOTES_DB` from the same peaks moved in frequency. The wide search is for a
play merged from runs that drift (a programme time-compressed with pitch kept, `MatchParams.merge_drift`):
it can be seconds off its alignment, which the first test then takes for a wrong placement. A play where
no piece could be decoded stays.

Chosen on tuning data (docs/benchmarks.md): the talk-over sets (seeds 5 and 6), held-out draws 3, 6, 7
and 10 (seeds 18, 21, 22 and 25) and the full current set (seed 7). The first test alone dropped draw
10's time-compressed true play (aligned 2.3 s off); the wide one alone, two true plays of the full set
(compressed MP3 64k, and a noisy fast station: 5.7-7.5 dB). Either test passes every true middling
play there; two of the three FM resemblances and a chance match at BER 0.258 pass neither (wide
search: at most 2.2 dB). Draw 6's play that passes the first is another mix of the same piece
("AmbientBattle" aired for the catalogue's "TechBattle"), not a resemblance.

Cost: the recording and the track are each decoded for the first piece, then, where the notes are not
heard there, once more over every piece left (a play of two pieces at once: `_Stretches`); the track
not at all where a piece lies in its first `HEAD_S`, whose peaks the catalogue index keeps. The ffmpeg
runs are most of it: ~0.13 s CPU for a play heard on its first piece, ~0.19 s for a play it drops
(docs/benchmarks.md, seventh pass).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

from pige_pipeline.airplay.fine_presence import (
    HEAD_S,
    MIN_NOTES_DB,
    RATE,
    Search,
    StretchAudio,
    head_peaks,
    peaks_heard,
    prominences,
)

if TYPE_CHECKING:
    from pige_pipeline.airplay.matcher import Play

CHECK_BER = 0.20
PIECE_S = 20.0
MAX_PIECES = 4
MIN_PIECE_S = 8.0  # a shorter last piece is not looked at
MIN_PLAY_NOTES_DB = 9.0
# +-3.5 s covers a 4 % drift over 80 s, in steps of 3 frames (70 ms), on every second frame: a third of
# the cost of every placement on every frame, and the same decisions on the tuning sets.
SEARCH = Search(half_width_s=3.5, step_frames=3, time_shifts_s=(), frame_step=2)
# The track is decoded from this far before a piece: the search, and the frames of the first placement.
LEAD_S = SEARCH.half_width_s + 0.5


def notes_in_play(play: Play, audio: StretchAudio) -> bool | None:
    """Whether a piece of the play holds the track's notes; None where no piece could be decoded."""
    pieces: list[tuple[float, float]] = []
    t = play.start_s
    while len(pieces) < MAX_PIECES and play.end_s - t >= MIN_PIECE_S:
        pieces.append((t, min(PIECE_S, play.end_s - t)))
        t += PIECE_S
    if not pieces:
        return None
    end_s = pieces[-1][0] + pieces[-1][1]
    # A play of two pieces is decoded whole at once: a second short ffmpeg run costs more than the
    # seconds it would save where the first piece decides (the short resemblances this drops are such).
    at_once = len(pieces) <= 2
    recording = _Stretches(audio.recording, end_s, at_once)
    track = _Stretches(
        lambda a, b: audio.track_audio(play.track, a, b - a), play.track_s(end_s) + LEAD_S, at_once
    )
    tested = False
    for start_s, span_s in pieces:
        samples = recording.get(start_s, start_s + span_s)
        if samples is None:  # a gap in the recording: the other pieces are still looked at
            continue
        offset_s = play.track_s(start_s)
        placed = _track_peaks(audio, play.track, track, offset_s, offset_s + span_s * play.speed)
        if placed is None:
            return None
        peaks, at_s = placed
        prom = prominences(samples)
        # At the alignment as matched (the talk-over test's placements), then searched wide.
        for search, min_db in ((None, MIN_NOTES_DB), (SEARCH, MIN_PLAY_NOTES_DB)):
            found = peaks_heard(prom, peaks, at_s, play.speed, search)
            if found is None:
                continue
            tested = True
            if found[0] - found[1] >= min_db:
                return True
    return False if tested else None


def _track_peaks(
    audio: StretchAudio, track_id: int, track: _Stretches, start_s: float, end_s: float
) -> tuple[np.ndarray, float] | None:
    """(peaks, the track's second `start_s` in the peaks' time) over `LEAD_S` either side of the track's
    [start_s, end_s]: the index's where that lies in the track's first `HEAD_S`, else decoded; None
    where the track cannot be read."""
    if end_s + LEAD_S <= HEAD_S:
        head = audio.track_peaks(track_id)
        if head is not None:
            return head, start_s
    first_s = max(0.0, start_s - LEAD_S)
    samples = track.get(first_s, end_s + LEAD_S)
    return None if samples is None else (head_peaks(samples), start_s - first_s)


class _Stretches:
    """One source's samples (the recording, or the track), decoded as the pieces ask: the first piece
    alone (nearly every airing is heard there: one short ffmpeg run), then every piece left in one run
    up to `last_s` (a dropped play pays two runs, not one per piece); all at once with `at_once`."""

    def __init__(
        self, decode: Callable[[float, float], np.ndarray | None], last_s: float, at_once: bool = False
    ) -> None:
        self._decode = decode
        self._last_s = last_s
        self._to_last = at_once  # the next run decodes up to last_s
        self._start_s = self._until_s = 0.0
        self._samples: np.ndarray | None = None

    def get(self, start_s: float, end_s: float) -> np.ndarray | None:
        """The samples over [start_s, end_s), None where they cannot be decoded."""
        if self._samples is None or not self._start_s <= start_s <= end_s <= self._until_s:
            until_s = max(end_s, self._last_s) if self._to_last else end_s
            self._to_last = True
            samples = self._decode(start_s, until_s)
            if samples is None and until_s > end_s:  # a gap further on: this piece alone
                until_s = end_s
                samples = self._decode(start_s, end_s)
            if samples is None:
                return None
            self._samples, self._start_s, self._until_s = samples, start_s, until_s
        a = round((start_s - self._start_s) * RATE)
        return self._samples[a : a + round((end_s - start_s) * RATE)]


def airings(plays: Iterable[Play], audio: StretchAudio | None) -> list[Play]:
    """`plays` without the middling ones whose notes are not in the recording (all of them without audio)."""
    plays = list(plays)
    if audio is None:
        return plays
    return [p for p in plays if p.ber < CHECK_BER or notes_in_play(p, audio) is not False]
