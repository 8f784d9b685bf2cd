"""A middling play stands only if the track's notes are in the recording: resemblances, not airings.

Under FM-style processing (band limit, heavy compression, limiter) other music that resembles a
catalogue track (the same composer's variation on its theme) comes within the matcher's middling BER
(held-out draws: 0.215, 0.219 and 0.225), where `matcher._resembles_only` decides on the fingerprints
alone and lets some through. Their notes are not the track's: at the track's spectral peaks, along the
alignment, the recording is no more prominent than at the peaks moved in frequency or time
(`fine_presence.track_heard`). A real airing is, on at least one stretch, however degraded.

Where the caller can decode audio (`StretchAudio`), each play whose BER reaches `CHECK_BER` is looked at
over up to `MAX_PIECES` consecutive `PIECE_S` pieces from its matched start, and kept at the first piece
where the notes are heard (`fine_presence.MIN_NOTES_DB`). A play where no piece could be decoded stays.

Chosen on the tuning sets (talk-over sets seeds 5 and 6, held-out draws 3 and 7), docs/benchmarks.md:
true plays at BER 0.19-0.26 score 2.7-14.5 dB on their best piece, the FM resemblance -0.12, a false
play at BER 0.258 -0.81.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pige_pipeline.airplay.fine_presence import MIN_NOTES_DB, RATE, StretchAudio, head_peaks, track_heard

if TYPE_CHECKING:
    from pige_pipeline.airplay.matcher import Play

CHECK_BER = 0.20
PIECE_S = 20.0
MAX_PIECES = 4
MIN_PIECE_S = 8.0  # a shorter last piece is not looked at
# The track is decoded from this far before a piece: the wrong placements 3 s early, and the search.
LEAD_S = 4.0


def notes_in_play(play: Play, audio: StretchAudio) -> bool | None:
    """Whether a piece of the play holds the track's notes; None where no piece could be decoded."""
    pieces: list[tuple[float, float]] = []
    t = play.start_s
    while len(pieces) < MAX_PIECES and play.end_s - t >= MIN_PIECE_S:
        pieces.append((t, min(PIECE_S, play.end_s - t)))
        t += PIECE_S
    if not pieces:
        return None
    first = max(0.0, play.ref_offset_s - LEAD_S)
    last = play.ref_offset_s + (pieces[-1][0] + pieces[-1][1] - play.start_s) * play.speed + LEAD_S
    track = audio.track_audio(play.track, first, last - first)
    if track is None:
        return None
    tested = False
    for start_s, span_s in pieces:
        recording = audio.recording(start_s, start_s + span_s)
        if recording is None:
            continue
        offset_s = play.ref_offset_s + (start_s - play.start_s) * play.speed
        a = int(max(0.0, offset_s - LEAD_S - first) * RATE)
        found = track_heard(
            recording, head_peaks(track[a:]), (span_s,), offset_s - first - a / RATE, play.speed
        )[0]
        if found is None:
            continue
        tested = True
        if found[0] - found[1] >= MIN_NOTES_DB:
            return True
    return False if tested else None


def airings(plays: Iterable[Play], audio: StretchAudio | None) -> list[Play]:
    """`plays` without the middling ones whose notes are not in the recording (all of them without audio)."""
    plays = list(plays)
    if audio is None:
        return plays
    return [p for p in plays if p.ber < CHECK_BER or notes_in_play(p, audio) is not False]
