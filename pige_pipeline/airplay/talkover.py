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
start when the stretch in between is not silent, does not score as plain clean speech, and
- another play ends where the stretch begins (within `ADJOIN_S`): the programme changed right there,
  which for a track joined mid-way would be a coincidence (the stretch's start follows from the
  diagonal, not from the audio), or
- the `SILENT_EDGE_S` right before it are silent (dead air, or a recording's silent lead-in), or
- it scores at least `MIN_CHANGE` times higher or lower than the `BEFORE_S` before it (at the start of
  a recording, the seconds there are, down to `MIN_BEFORE_S`).
A track joined mid-way after talk, or after other music, continues what came before (speech then
speech, music then music) and is not extended; another catalogue play overlapping the stretch by more
than `ADJOIN_S` stops the extension too. The end is treated the same way, up to the track's end,
against the seconds after it, after every start has been decided, and only a play that begins with
its own track counts as adjoining it (a start found late under a voice may fall anywhere). Chosen on
the talk-over tuning sets (`benchmarks/airplay_talkover.py`, tuning music, seeds 5 and 6: 39 intros)
and the mixes of tests/airplay.

Where the level rule sees no change (a voice that talks on over the intro, a bed too quiet to change
the level figures), the start is also extended when the track itself is heard under the stretch: the
recording's coarse band spectrum (`presence`, stored per piece by `fingerprint_rows`) correlates
along the play's alignment with the track's own first seconds (kept in the index) by at least
`MIN_CORR`, and by `MIN_MARGIN` more than at any of six wrong alignments of the same track 1.5-6.5 s
later. Measured on the tuning sets (seeds 5 and 6, the stretches the fingerprints left before 36
talked-over intros): 26 pass (correlation 0.15-0.55), 10 do not (0.05-0.39; most are extended by the
level rule); of the 16 stretches before plays joined mid-track (after talk, other music or the
previous track) none passes (at most 0.13, never more than 0.03 above a wrong alignment). Known
errors: a stretch that happens to begin where other audio changes (talk, then other music, then the
track joined mid-way) is extended by the level rule; an intro under the voice too faint or too noisy
to correlate (0.05 on the tuning sets' 2 %-fast station with noise) stays late when the level rule
does not extend it either.

Where neither stored figure decides, and the caller can decode audio (`StretchAudio`), the track's
notes are looked for between the voice's harmonics (`fine_presence.track_heard`): the recording's
spectral prominence at the track's peaks along the alignment beats every wrong placement by
`MIN_NOTES_DB`, over the stretch and over its first half. Chosen on the tuning sets above and held-out
draws 3 and 7 (docs/benchmarks.md): the late intros there score 0.82-4.71 on the weaker of the two,
the stretches before mid-track or crossfaded joins at most 0.59.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pige_pipeline.airplay.fine_presence import HEAD_S as NOTES_HEAD_S
from pige_pipeline.airplay.fine_presence import MIN_NOTES_DB, StretchAudio, track_heard
from pige_pipeline.airplay.music_likeness import DIP_WEIGHT, MIN_MUSIC_LEVEL_DBFS, profile_from_row
from pige_pipeline.airplay.presence import Spectrum, track_correlation

# Talk-overs on an intro or an outro; the issue saw 7-28 s.
MAX_TALK_OVER_S = 30.0
# Clean speech alone scores 24.7 (`music_likeness` score, median per second); a voice on a bed <= 17.
MAX_BED_SCORE = 20.0
# Score ratio between the stretch and what precedes it: measured 2.4-8 at a talk-over's start.
MIN_CHANGE = 1.6
# The audio before the stretch (after it, at the end) that it is compared with.
BEFORE_S = 8.0
# At the start (end) of a recording the audio before (after) may be shorter, down to this.
MIN_BEFORE_S = 3.0
# A silence right before (after) the stretch, over these seconds, is a change whatever follows it:
# sound begins (ends) there, e.g. after dead air or the silent lead-in of a recording.
SILENT_EDGE_S = 2.0
# Another play ending (beginning) this close to where the stretch begins (ends) is where the programme
# changed: the track's own edge falling there by chance is unlikely (its edge follows from the diagonal).
# A play's edge within `MatchParams.snap_s` (3 s) of its track's edge is snapped to it, so an edge may
# be that far off.
ADJOIN_S = 3.0
# Shorter stretches are left to the snap to the track's edge (`MatchParams.snap_s`).
MIN_STRETCH_S = 2.0
# The track heard under the voice (`presence.track_correlation` over the stretch): the correlation of
# the band spectra along the alignment reaches MIN_CORR and exceeds the best wrong alignment by MIN_MARGIN.
MIN_CORR = 0.15
MIN_MARGIN = 0.08
# The track's notes heard under the voice (`fine_presence.track_heard`, decoded audio): over the whole
# stretch and over its first half, the recording's mean prominence at the track's spectral peaks exceeds
# the best wrong placement of them by `fine_presence.MIN_NOTES_DB`. The first half keeps out a crossfade
# into a track joined mid-way, whose fade-in fills only the stretch's last seconds.
# The track's peaks are kept over its first NOTES_HEAD_S: the longest stretch at the fastest speed (5 %),
# and the search.
assert NOTES_HEAD_S >= MAX_TALK_OVER_S * 1.05 + 1.0, "fine_presence.HEAD_S is shorter than a talk-over"


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


def _figures(
    profiles: list[LevelProfile], start_s: float, end_s: float, clip: int = 0
) -> tuple[float, float, float] | None:
    """(median score, median level swing, share of silent seconds) over [start_s, end_s).

    `clip` -1 (+1): the window may lose its start (end) where the profile begins (ends) there, down
    to `MIN_BEFORE_S` whole seconds: the audio next to a stretch at the start (end) of a recording.
    """
    for profile in profiles:
        span = profile.seconds(start_s, end_s)
        if span is None and clip:
            lo, hi = profile.offset_s, profile.offset_s + len(profile.level_db)
            inside = (max(start_s, lo), end_s) if clip < 0 else (start_s, min(end_s, hi))
            if inside[1] - inside[0] >= MIN_BEFORE_S and lo <= inside[0] and inside[1] <= hi:
                span = profile.seconds(*inside)
            if span is not None and span.stop - span.start < MIN_BEFORE_S:
                span = None
        if span is None:
            continue
        sd = profile.level_sd_db[span].astype(np.float64)
        score = sd + DIP_WEIGHT * profile.level_dips[span].astype(np.float64)
        silent = float(np.mean(profile.level_db[span] <= MIN_MUSIC_LEVEL_DBFS))
        return float(np.median(score)), float(np.median(sd)), silent
    return None


def _bed_begins(
    profiles: list[LevelProfile],
    stretch: tuple[float, float],
    outside: tuple[float, float],
    clip: int,
    adjoining: bool = False,
) -> bool:
    """Whether `stretch` is sound that is not plain speech and differs from the audio `outside` it.

    A silence right outside (dead air, or the silent lead-in of a recording) is a change too.
    `adjoining`: another play ends (begins) where the stretch begins (ends), which is a change in
    itself: the outside audio is not compared. A stretch that scores as plain speech is refused even
    then: talk lengths and mid-track join offsets both fall within 5-30 s, so a join as far into its
    track as the talk before it lasted (within `ADJOIN_S`) is not rare. Accepting it for intros too
    quiet to show under a voice (three on held-out draw 3) extended such a join over 10 s of clean
    speech in tests/scale's hour, and was reverted (2026-12-02).
    """
    there = _figures(profiles, *stretch)
    if there is None:
        return False
    score, _swing, silent = there
    if score >= MAX_BED_SCORE or silent > 0.1:
        return False
    if adjoining:
        return True
    edge = (outside[1] - SILENT_EDGE_S, outside[1]) if clip < 0 else (outside[0], outside[0] + SILENT_EDGE_S)
    quiet = _figures(profiles, *edge)
    if quiet is not None and quiet[2] >= 1.0:
        return True
    other = _figures(profiles, *outside, clip=clip)
    if other is None:
        return False
    change = max(score, 0.1) / max(other[0], 0.1)
    return change >= MIN_CHANGE or change <= 1 / MIN_CHANGE


def _track_heard(play, start_s: float, spectra: Sequence[Spectrum] | None, heads: np.ndarray | None) -> bool:
    """Whether the band spectrum over [start_s, play.start_s) follows the play's track from its start."""
    if not spectra or heads is None:
        return False
    found = track_correlation(list(spectra), heads[play.track], start_s, play.start_s, start_s, play.speed)
    return found is not None and found[0] >= MIN_CORR and found[0] - found[1] >= MIN_MARGIN


def _notes_heard(play, start_s: float, audio: StretchAudio | None) -> bool:
    """Whether the track's notes are heard under [start_s, play.start_s), and under its first half."""
    if audio is None:
        return False
    recording = audio.recording(start_s, play.start_s)
    peaks = audio.track_peaks(play.track) if recording is not None else None
    if recording is None or peaks is None:
        return False
    stretch_s = play.start_s - start_s
    found = track_heard(recording, peaks, (stretch_s, stretch_s / 2), 0.0, play.speed)
    return all(f is not None and f[0] - f[1] >= MIN_NOTES_DB for f in found)


def extend_over_talk(
    plays: list,
    profiles: list[LevelProfile],
    track_durations: Sequence[float],
    spectra: Sequence[Spectrum] | None = None,
    heads: np.ndarray | None = None,
    audio: StretchAudio | None = None,
) -> list:
    """`plays` (matcher `Play`s), each extended to its track's start or end over a voice on a bed.

    A start is also extended when the track's own first seconds are heard under the stretch
    (`spectra`: the recording's band spectra, `heads`: the index's head spectrum of every track), or,
    where those stored figures decide nothing, its notes in the decoded audio (`audio`).

    Starts first, for every play, then ends: a start found late under a voice must not pass for the
    edge that the previous play's end adjoins (the same track aired twice in a row did).
    """
    for play in plays:
        others = [p for p in plays if p is not play]
        lead = play.ref_offset_s / play.speed
        if MIN_STRETCH_S <= lead <= MAX_TALK_OVER_S:
            start = play.start_s - lead
            blocked = [p for p in others if p.end_s > start + ADJOIN_S and p.start_s < play.start_s]
            adjoining = any(abs(p.end_s - start) <= ADJOIN_S for p in others)
            before = (start - BEFORE_S, start)
            if not blocked and (
                _bed_begins(profiles, (start, play.start_s), before, -1, adjoining)
                or _track_heard(play, start, spectra, heads)
                or _notes_heard(play, start, audio)
            ):
                play.start_s, play.ref_offset_s = start, 0.0
    for play in plays:
        others = [p for p in plays if p is not play]
        track_s = float(track_durations[play.track])
        left = (track_s - play.ref_offset_s) / play.speed - play.duration_s
        if MIN_STRETCH_S <= left <= MAX_TALK_OVER_S:
            end = play.end_s + left
            blocked = [p for p in others if p.start_s < end - ADJOIN_S and p.end_s > play.end_s]
            # Only a play that begins with its track is a start to adjoin: a later one may be late.
            adjoining = any(
                abs(p.start_s - end) <= ADJOIN_S and p.ref_offset_s / p.speed < MIN_STRETCH_S for p in others
            )
            after = (end, end + BEFORE_S)
            if not blocked and _bed_begins(profiles, (play.end_s, end), after, 1, adjoining):
                play.end_s = end
    return plays
