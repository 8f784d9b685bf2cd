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
search: at most 2.2 dB), draw 6's FM resemblance passes the first.

Cost: one decode of the recording over all the pieces, and at most one of the track (none where the
pieces lie in the track's first `HEAD_S`, whose peaks the catalogue index keeps); about 0.2 s CPU for a
play it drops, mostly that track decode (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Iterable
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
    # One decode of the recording over every piece (in the hourly asset, one ffmpeg run from the chunk).
    first_s = pieces[0][0]
    whole = audio.recording(first_s, pieces[-1][0] + pieces[-1][1])
    track = _TrackPeaks(audio, play, pieces)
    tested = False
    for start_s, span_s in pieces:
        if whole is not None:
            a = round((start_s - first_s) * RATE)
            recording = whole[a : a + int(span_s * RATE)]
        else:  # a gap somewhere: each piece recorded whole is still looked at
            recording = audio.recording(start_s, start_s + span_s)
            if recording is None:
                continue
        offset_s = play.ref_offset_s + (start_s - play.start_s) * play.speed
        placed = track.around(offset_s, span_s * play.speed)
        if placed is None:
            return None
        peaks, at_s = placed
        prom = prominences(recording)
        # At the alignment as matched (the talk-over test's placements), then searched wide.
        for search, min_db in ((None, MIN_NOTES_DB), (SEARCH, MIN_PLAY_NOTES_DB)):
            found = peaks_heard(prom, peaks, at_s, play.speed, search)
            if found is None:
                continue
            tested = True
            if found[0] - found[1] >= min_db:
                return True
    return False if tested else None


class _TrackPeaks:
    """The track's peaks around each piece of a play: from the index over the track's first `HEAD_S`,
    else from one decode of the track over every piece left (one ffmpeg run per play at most)."""

    def __init__(self, audio: StretchAudio, play: Play, pieces: list[tuple[float, float]]) -> None:
        self._audio = audio
        self._track = play.track
        end_s = pieces[-1][0] + pieces[-1][1]
        self._last_s = play.ref_offset_s + (end_s - play.start_s) * play.speed + LEAD_S
        self._start_s = 0.0
        self._samples: np.ndarray | None = None

    def around(self, offset_s: float, span_s: float) -> tuple[np.ndarray, float] | None:
        """(peaks, the track's second `offset_s` in the peaks' time) covering `LEAD_S` either side of
        [offset_s, offset_s + span_s]; None where the track cannot be read."""
        if offset_s + span_s + LEAD_S <= HEAD_S:
            head = self._audio.track_peaks(self._track)
            if head is not None:
                return head, offset_s
        if self._samples is None:
            self._start_s = max(0.0, offset_s - LEAD_S)
            self._samples = self._audio.track_audio(self._track, self._start_s, self._last_s - self._start_s)
            if self._samples is None:
                return None
        # The peaks from LEAD_S before the piece (a piece is shorter than the `HEAD_S` they cover).
        a = int(max(0.0, offset_s - LEAD_S - self._start_s) * RATE)
        return head_peaks(self._samples[a:]), offset_s - self._start_s - a / RATE


def airings(plays: Iterable[Play], audio: StretchAudio | None) -> list[Play]:
    """`plays` without the middling ones whose notes are not in the recording (all of them without audio)."""
    plays = list(plays)
    if audio is None:
        return plays
    return [p for p in plays if p.ber < CHECK_BER or notes_in_play(p, audio) is not False]
