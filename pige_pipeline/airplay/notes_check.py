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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pige_pipeline.airplay.fine_presence import (
    MIN_NOTES_DB,
    RATE,
    Search,
    StretchAudio,
    head_peaks,
    track_heard,
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
    tested = False
    track: _TrackStretch | None = None
    for i, (start_s, span_s) in enumerate(pieces):
        offset_s = play.ref_offset_s + (start_s - play.start_s) * play.speed
        if track is None or not track.holds(offset_s + span_s * play.speed + LEAD_S):
            # The first piece alone (most airings are heard there), then all the others at once.
            end_s = start_s + span_s if i == 0 else pieces[-1][0] + pieces[-1][1]
            track = _TrackStretch.decode(audio, play, offset_s, end_s)
            if track is None:
                return None
        recording = audio.recording(start_s, start_s + span_s)
        if recording is None:
            continue
        a = int(max(0.0, offset_s - LEAD_S - track.start_s) * RATE)
        peaks = head_peaks(track.samples[a:])
        at_s = offset_s - track.start_s - a / RATE
        # At the alignment as matched (the talk-over test's placements), then searched wide.
        for search, min_db in ((None, MIN_NOTES_DB), (SEARCH, MIN_PLAY_NOTES_DB)):
            found = track_heard(recording, peaks, (span_s,), at_s, play.speed, search)[0]
            if found is None:
                continue
            tested = True
            if found[0] - found[1] >= min_db:
                return True
    return False if tested else None


@dataclass
class _TrackStretch:
    """The catalogue track decoded from its second `start_s`."""

    start_s: float
    samples: np.ndarray

    def holds(self, track_s: float) -> bool:
        return track_s <= self.start_s + len(self.samples) / RATE

    @classmethod
    def decode(cls, audio: StretchAudio, play: Play, offset_s: float, end_s: float) -> _TrackStretch | None:
        """The track from `LEAD_S` before `offset_s` to `LEAD_S` after the recording's second `end_s`."""
        start_s = max(0.0, offset_s - LEAD_S)
        last_s = play.ref_offset_s + (end_s - play.start_s) * play.speed + LEAD_S
        samples = audio.track_audio(play.track, start_s, last_s - start_s)
        return None if samples is None else cls(start_s, samples)


def airings(plays: Iterable[Play], audio: StretchAudio | None) -> list[Play]:
    """`plays` without the middling ones whose notes are not in the recording (all of them without audio)."""
    plays = list(plays)
    if audio is None:
        return plays
    return [p for p in plays if p.ber < CHECK_BER or notes_in_play(p, audio) is not False]
