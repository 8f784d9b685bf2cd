"""Extend a play over a presenter's voice at its start or end: the track is on air under the voice.

A voice over music ducked by 6-10 dB dominates the chroma that Chromaprint summarises: measured along
the true alignment, the bit error rate under such a talk-over is 0.42-0.50, chance (0.45-0.50). So
the fingerprints alone start the play where the voice stops, late by the talk-over (7-28 s seen).

The level profile that `fingerprint_rows` stores per second (`music_likeness`) tells what the
fingerprints cannot. Per second, speech alone swings far in level and drops far below its loud frames
between syllables; a voice over a bed does so much less, because the bed fills the pauses; the track
alone, less again. Measured on real tracks with real French speech over their first 8-25 s (the mix
of tests/airplay/test_talk_over.py), median per-second score (`level_sd_db` + 30 x `level_dips`):

                                             clean MP3 128k     FM-processed, AAC 48k
    speech alone                             24.7               13.2-14.3
    voice over the track ducked 6-10 dB      4.6-9.3            1.4-2.0
    the track alone                          1.9-2.4            0.8-0.9

Absolute figures depend on the station's processing and on the music (a percussive track alone
scored 9.6, as much as a voice over it), so the test is a change, not a level: when the track starts
under a voice, the audio changes character there (speech gains a bed, or music gains a voice). A play
whose matched part begins less than `MAX_TALK_OVER_S` into its track is extended back to the track's
start when the stretch in between is not silent, does not score as plain clean speech, and scores at
least `MIN_CHANGE` times higher or lower than the `BEFORE_S` before it. A track joined mid-way after
talk, or after other music, continues what came before (speech then speech, music then music) and is
not extended; another catalogue play in the stretch stops the extension too. The end is treated the
same way, up to the track's end, against the seconds after it. Known error: a stretch that happens to
begin where other audio changes (talk, then other music, then the track joined mid-way) is extended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pige_pipeline.airplay.music_likeness import DIP_WEIGHT, MIN_MUSIC_LEVEL_DBFS, profile_from_row

# Talk-overs on an intro or an outro; the issue saw 7-28 s.
MAX_TALK_OVER_S = 30.0
# Clean speech alone scores 24.7 (`music_likeness` score, median per second); a voice on a bed <= 17.
MAX_BED_SCORE = 20.0
# Score ratio between the stretch and what precedes it: measured 2.4-8 at a talk-over's start.
MIN_CHANGE = 1.6
# The audio before the stretch (after it, at the end) that it is compared with.
BEFORE_S = 8.0
# Shorter stretches are left to the snap to the track's edge (`MatchParams.snap_s`).
MIN_STRETCH_S = 2.0


@dataclass
class LevelProfile:
    """Per-second level figures of one piece, second k covering [offset_s + k, offset_s + k + 1)."""

    offset_s: float
    level_db: np.ndarray
    level_sd_db: np.ndarray
    level_dips: np.ndarray

    def seconds(self, start_s: float, end_s: float) -> slice | None:
        """The whole seconds inside [start_s, end_s), or None when the profile does not hold them all."""
        first = int(np.ceil(start_s - self.offset_s - 1e-6))
        last = int(np.floor(end_s - self.offset_s + 1e-6))
        if first < 0 or last > len(self.level_db) or last - first < 1:
            return None
        return slice(first, last)


def profiles_from_rows(rows: Sequence[Mapping] | None, shift_s: float = 0.0) -> list[LevelProfile]:
    """The level profiles of `fingerprints` rows (speed 1.0), moved by `shift_s` (a neighbouring hour)."""
    out = []
    for row in rows or []:
        if float(row.get("speed", 1.0)) != 1.0:
            continue
        profile = profile_from_row(row)
        if profile is not None:
            out.append(
                LevelProfile(
                    float(row["part_offset_s"]) + shift_s,
                    profile["level_db"],
                    profile["level_sd_db"],
                    profile["level_dips"],
                )
            )
    return out


def _figures(profiles: list[LevelProfile], start_s: float, end_s: float) -> tuple[float, float, float] | None:
    """(median score, median level swing, share of silent seconds) over [start_s, end_s)."""
    for profile in profiles:
        span = profile.seconds(start_s, end_s)
        if span is None:
            continue
        sd = profile.level_sd_db[span].astype(np.float64)
        score = sd + DIP_WEIGHT * profile.level_dips[span].astype(np.float64)
        silent = float(np.mean(profile.level_db[span] <= MIN_MUSIC_LEVEL_DBFS))
        return float(np.median(score)), float(np.median(sd)), silent
    return None


def _bed_begins(
    profiles: list[LevelProfile], stretch: tuple[float, float], outside: tuple[float, float]
) -> bool:
    """Whether `stretch` is sound that is not plain speech and differs from the audio `outside` it."""
    there = _figures(profiles, *stretch)
    other = _figures(profiles, *outside)
    if there is None or other is None:
        return False
    score, _swing, silent = there
    change = max(score, 0.1) / max(other[0], 0.1)
    return score < MAX_BED_SCORE and silent <= 0.1 and (change >= MIN_CHANGE or change <= 1 / MIN_CHANGE)


def extend_over_talk(plays: list, profiles: list[LevelProfile], track_durations: Sequence[float]) -> list:
    """`plays` (matcher `Play`s), each extended to its track's start or end over a voice on a bed."""
    for play in plays:
        others = [p for p in plays if p is not play]
        lead = play.ref_offset_s / play.speed
        if MIN_STRETCH_S <= lead <= MAX_TALK_OVER_S:
            start = play.start_s - lead
            blocked = [p.end_s for p in others if p.end_s > start and p.start_s < play.start_s]
            before = (start - BEFORE_S, start)
            if not blocked and _bed_begins(profiles, (start, play.start_s), before):
                play.start_s, play.ref_offset_s = start, 0.0
        track_s = float(track_durations[play.track])
        left = (track_s - play.ref_offset_s) / play.speed - play.duration_s
        if MIN_STRETCH_S <= left <= MAX_TALK_OVER_S:
            end = play.end_s + left
            blocked = [p.start_s for p in others if p.start_s < end and p.end_s > play.end_s]
            after = (end, end + BEFORE_S)
            if not blocked and _bed_begins(profiles, (play.end_s, end), after):
                play.end_s = end
    return plays
