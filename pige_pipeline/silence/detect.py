"""Find dead air in mono PCM: the absence of programme, not a fixed level.

Level alone is not enough (docs/benchmarks.md, `## Dead air`): a hum or a receiver's hiss at -35 dBFS
is above any sane silence threshold, and a pianissimo passage dips below it. The detector works on
50 ms frames and looks at windows of a couple of seconds:

- a window whose in-band level and spectral shape stay the same ("steady") and that stays under
  `noise_ceiling_db` may be dead air: a hiss, a hum, a carrier;
- a window entirely below `threshold_db` is dead air unless it sounds like programme: its spectrum
  keeps changing *and* is tonal (music and speech have harmonic peaks; noise is flat);
- frames at digital zero are dead air on their own.

A frame is dead when some dead window covers it, so boundaries stay at frame precision instead of
being blurred by half a window. Each stretch found is then judged as a whole:

- on a fine spectrum (0.7 Hz): one whose power sits in spectral peaks is tonal, and tonal sound is
  programme (a pad, a drone, a held chord) unless those peaks are mains harmonics (50 or 60 Hz and
  multiples): a hum, which is dead air;
- steady noise is dead air when it is under `steady_ceiling_db` or within `floor_margin_db` of the
  station's own floor (a low percentile of the piece's frame levels: the hiss of an off-air receiver
  is the floor of its station); louder steady noise is a sound (rain, applause), not its absence.

Every stretch carries the measures that decided it (`Silence.why`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE, decode_mono
from pige_pipeline.silence.sliding import moving_max, moving_mean, moving_min

FRAME_S = 0.05
FULL_SCALE = 32768.0
# Floor for log levels: below int16 quantisation noise, so true digital zero sorts below everything.
LEVEL_FLOOR_DB = -120.0
KINDS = ("digital_silence", "noise_floor", "hum")


@dataclass(frozen=True)
class DetectorTuning:
    """Thresholds of the rules, chosen on the tuning set of benchmarks/silence_accuracy, not the eval set."""

    window_s: float = 2.0
    # Cheap pre-filter on raw frame levels: a window varying more than this is not looked at further.
    candidate_level_std_db: float = 3.0
    # A steady window: its in-band level (100 Hz up, 250 ms means) varies less than this (dB, std) ...
    steady_level_std_db: float = 0.6
    # ... and its band spectrum moves less than this from its window mean (total variation, 0..1).
    steady_spectral_change: float = 0.12
    # Steady sound below this is dead air wherever the station's floor is ...
    steady_ceiling_db: float = -30.0
    # ... and steady sound within this of the floor is dead air up to `noise_ceiling_db`.
    floor_margin_db: float = 6.0
    noise_ceiling_db: float = -20.0
    # The floor: this percentile of the frame levels above digital zero.
    floor_percentile: float = 2.0
    # Below the threshold, programme is tonal: mean spectral flatness under this (noise is near 1).
    programme_max_flatness: float = 0.25
    # ... and changing: spectral change at least this.
    programme_min_spectral_change: float = 0.10
    # Frames quieter than this are digital silence, dead on their own.
    digital_db: float = -80.0
    # A stretch with at least this share of its power in spectral peaks is tonal ...
    tonal_share: float = 0.5
    # ... and a tonal stretch is hum when at least this share of the peak power is on mains harmonics.
    mains_share: float = 0.7


DEFAULT_TUNING = DetectorTuning()


@dataclass(frozen=True)
class Silence:
    """One stretch of dead air: seconds from the start of the samples (plus `offset_s`), and why."""

    start_s: float
    end_s: float
    level_db: float
    kind: str
    # Level trend over the seconds before the onset (dB/s): strongly negative after a fade-out.
    fade_db_per_s: float | None = None
    # The measures that decided it: the piece's floor, steadiness, tonality, mains frequency of a hum.
    floor_db: float | None = None
    level_sd_db: float | None = None
    spectral_change: float | None = None
    tonal_share: float | None = None
    mains_hz: float | None = None
    why: str = ""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


# What a stretch is and why, with the settings that decided it: the same columns, in this order, in the
# hourly `silences` rows (silence.rows) and in the CSV of `pige silence detect`.
DECISION_COLUMNS = (
    "level_db",
    "kind",
    "threshold_db",
    "min_seconds",
    "fade_db_per_s",
    "floor_db",
    "level_sd_db",
    "spectral_change",
    "tonal_share",
    "mains_hz",
    "why",
)


def decision_columns(silence: Silence, threshold_db: float, min_seconds: float) -> dict[str, Any]:
    """The `DECISION_COLUMNS` of one stretch found with these settings."""
    return {
        "level_db": silence.level_db,
        "kind": silence.kind,
        "threshold_db": threshold_db,
        "min_seconds": min_seconds,
        "fade_db_per_s": silence.fade_db_per_s,
        "floor_db": silence.floor_db,
        "level_sd_db": silence.level_sd_db,
        "spectral_change": silence.spectral_change,
        "tonal_share": silence.tonal_share,
        "mains_hz": silence.mains_hz,
        "why": silence.why,
    }


@dataclass
class FrameFeatures:
    """Per-frame measurements; spectral ones are only computed where the level could be dead air."""

    level_db: np.ndarray  # (n,)
    band_power: np.ndarray  # (n, bands): power per band from 100 Hz up; NaN where not computed
    flatness: np.ndarray  # (n,): spectral flatness of the frame, NaN where not computed
    analysed: np.ndarray  # (n,) bool: quiet enough (below the ceiling) to be dead air
    frame_len: int


# Which quiet frames need a spectrum, given (level_db, quiet): a verdict may depend on them.
SpectrumFilter = Callable[[np.ndarray, np.ndarray], np.ndarray]
# Frames averaged before the steadiness measures: one 50 ms frame of noise has only ~30 spectral
# bins per band, so its band powers jitter by decibels; 250 ms means jitter five times less.
SMOOTH_FRAMES = 5
# Steadiness ignores what lies under this: a pink hiss keeps most of its jitter in its lowest bins.
BAND_LOW_HZ = 100.0


def _band_edges(n_bins: int, sample_rate: int, n_fft: int, bands: int = 10) -> np.ndarray:
    """Log-spaced band edges (bin indices) from 100 Hz to Nyquist; empty bands are merged away."""
    hz = np.geomspace(BAND_LOW_HZ, sample_rate / 2, bands + 1)
    edges = np.unique(np.clip(np.round(hz * n_fft / sample_rate).astype(int), 1, n_bins))
    return edges


def fft_length(n: int) -> int:
    """The smallest length >= n with no prime factor above 5: a 50 ms frame at 11025 Hz is 551 = 19 x 29
    samples, whose FFT costs 2-4x that of 576 = 2^6 x 3^2, and the frames' FFTs were most of the
    detector's time (docs/benchmarks.md, Dead air). Zero-padding only interpolates the spectrum: band
    powers scale by one constant factor, which the steadiness measures (std, shares) do not see."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


@functools.lru_cache(maxsize=8)
def _hann(n: int, dtype: str) -> np.ndarray:
    window = np.hanning(n).astype(dtype)
    window.setflags(write=False)
    return window


def frame_features(
    samples: np.ndarray, sample_rate: int, ceiling_db: float, spectrum_filter: SpectrumFilter | None = None
) -> FrameFeatures:
    """Frame levels for all frames; spectra for frames quieter than `ceiling_db` that the filter keeps."""
    frame_len = max(1, round(sample_rate * FRAME_S))
    n = len(samples) // frame_len
    frames = samples[: n * frame_len].reshape(n, frame_len)
    power = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / (frame_len * FULL_SCALE**2)
    level_db = np.maximum(10.0 * np.log10(np.maximum(power, 1e-30)), LEVEL_FLOOR_DB)
    analysed = level_db < ceiling_db
    wanted = analysed if spectrum_filter is None else analysed & spectrum_filter(level_db, analysed)
    n_fft = fft_length(frame_len)
    n_bins = n_fft // 2 + 1
    edges = _band_edges(n_bins, sample_rate, n_fft)
    band_power = np.full((n, len(edges) - 1), np.nan, dtype=np.float32)
    flatness = np.full(n, np.nan, dtype=np.float32)
    idx = np.flatnonzero(wanted)
    window = _hann(frame_len, "float32")
    # Chunks bound the memory of the FFT input for long quiet stretches.
    for lo in range(0, len(idx), 8192):
        rows = idx[lo : lo + 8192]
        spec = np.abs(np.fft.rfft(frames[rows] * window, n_fft, axis=1)) ** 2
        spec = spec[:, edges[0] : edges[-1]] + 1e-3  # ~quantisation noise; keeps logs finite
        band_power[rows] = np.add.reduceat(spec, edges[:-1] - edges[0], axis=1)
        flatness[rows] = np.exp(np.log(spec).mean(axis=1)) / spec.mean(axis=1)
    return FrameFeatures(level_db, band_power, flatness, analysed, frame_len)


def _window_frames(min_seconds: float, tuning: DetectorTuning) -> int:
    return max(5, round(min(tuning.window_s, min_seconds) / FRAME_S))


def _level_window_stats(lvl: np.ndarray, quiet: np.ndarray, win: int) -> dict[str, np.ndarray]:
    """Centred-window statistics of the levels alone (windows touching a loud frame are not quiet)."""
    mean = moving_mean(lvl, win)
    sq = moving_mean(lvl * lvl, win)
    return {
        "raw_level_std": np.sqrt(np.maximum(sq - mean * mean, 0.0)),
        "all_analysed": moving_min(quiet, win),
        "loudest": moving_max(lvl, win),
        "mean_level": mean,
    }


def _could_be_dead(st: dict[str, np.ndarray], threshold_db: float, tuning: DetectorTuning) -> np.ndarray:
    """Windows that the levels alone do not rule out; only there can spectra change the verdict."""
    steady_level = st["raw_level_std"] < tuning.candidate_level_std_db
    return st["all_analysed"] & (steady_level | (st["loudest"] < threshold_db))


def station_floor_db(level_db: np.ndarray, tuning: DetectorTuning = DEFAULT_TUNING) -> float:
    """The quietest sound the piece carries (digital zero aside): its hiss, hum or room tone."""
    sounding = level_db[level_db >= tuning.digital_db]
    if not sounding.size:
        return LEVEL_FLOOR_DB
    return float(np.percentile(sounding, tuning.floor_percentile))


class SpectraNeeded:
    """A `SpectrumFilter`: spectra only around windows that could be dead air (music costs no FFT).

    A window's spectral change compares each frame with the mean of the window centred on *that* frame,
    so a candidate window reads spectra up to a whole window either side of its centre. The level
    statistics it computes are kept for the verdict, which needs the same ones.
    """

    def __init__(self, win: int, threshold_db: float, tuning: DetectorTuning) -> None:
        self.win, self.threshold_db, self.tuning = win, threshold_db, tuning
        self._level_db: np.ndarray | None = None
        self._stats: dict[str, np.ndarray] | None = None

    def __call__(self, level_db: np.ndarray, quiet: np.ndarray) -> np.ndarray:
        if len(level_db) < self.win:
            return np.zeros(len(level_db), dtype=bool)
        self._level_db, self._stats = level_db, _level_window_stats(level_db, quiet, self.win)
        candidate = _could_be_dead(self._stats, self.threshold_db, self.tuning)
        return moving_max(candidate, 2 * self.win + SMOOTH_FRAMES + 3, cval=False)

    def level_stats(self, feat: FrameFeatures) -> dict[str, np.ndarray] | None:
        """The level statistics computed for these very frames, if they were."""
        return dict(self._stats) if self._stats is not None and self._level_db is feat.level_db else None


def _window_stats(
    feat: FrameFeatures, win: int, digital_db: float, level_stats: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """Centred-window statistics per frame (windows touching an unanalysed frame count as loud)."""
    lvl = feat.level_db
    st = level_stats if level_stats is not None else _level_window_stats(lvl, feat.analysed, win)
    power = moving_mean(np.nan_to_num(feat.band_power, nan=0.0), SMOOTH_FRAMES)
    total = np.maximum(power.sum(axis=1), 1e-12)
    inband_db = 10.0 * np.log10(total)
    mean = moving_mean(inband_db, win)
    st["level_std"] = np.sqrt(np.maximum(moving_mean(inband_db * inband_db, win) - mean * mean, 0.0))
    share = power / total[:, None]
    dev = 0.5 * np.abs(share - moving_mean(share, win)).sum(axis=1)
    st["spectral_change"] = moving_mean(dev, win)
    # Frames without a spectrum read as perfectly steady silence: only windows fully measured count.
    st["measured"] = moving_min(~np.isnan(feat.band_power[:, 0]), win)
    # Mean flatness of the window's frames that carry sound: pauses at digital zero would read as "flat".
    sounding = ~np.isnan(feat.flatness) & (lvl >= digital_db)
    flat_sum = moving_mean(np.where(sounding, feat.flatness, 0.0), win)
    flat_n = moving_mean(sounding, win)
    st["flatness"] = np.where(flat_n > 1e-9, flat_sum / np.maximum(flat_n, 1e-9), 1.0)
    return st


def dead_frames(
    feat: FrameFeatures,
    sample_rate: int,
    threshold_db: float,
    min_seconds: float,
    tuning: DetectorTuning,
    level_stats: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray] | None]:
    """Boolean per frame: dead air (before the minimum-duration rule), and the window statistics."""
    win = _window_frames(min_seconds, tuning)
    if len(feat.level_db) < win:
        return feat.level_db < tuning.digital_db, None
    st = _window_stats(feat, win, tuning.digital_db, level_stats)
    steady = (
        st["measured"]
        & (st["raw_level_std"] < tuning.candidate_level_std_db)
        & (st["level_std"] < tuning.steady_level_std_db)
        & (st["spectral_change"] < tuning.steady_spectral_change)
    )
    programme = (st["flatness"] < tuning.programme_max_flatness) & (
        st["spectral_change"] >= tuning.programme_min_spectral_change
    )
    dead_window = st["all_analysed"] & (
        (steady & (st["loudest"] < tuning.noise_ceiling_db)) | ((st["loudest"] < threshold_db) & ~programme)
    )
    # A frame is dead if any dead window covers it: dilate window centres by half a window.
    covered = moving_max(dead_window, win, cval=False)
    return covered | (feat.level_db < tuning.digital_db), st


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    diff = np.diff(padded)
    return list(zip(np.flatnonzero(diff == 1), np.flatnonzero(diff == -1), strict=True))


# Fine spectrum of a whole stretch: 16384 points at 11025 Hz are 0.67 Hz apart, enough to tell a
# 98 Hz drone from a 100 Hz mains harmonic. At most this many segments are averaged.
FINE_FFT = 16384
FINE_SEGMENTS = 6
MAINS_HZ = (50.0, 60.0)


@dataclass(frozen=True)
class Tonality:
    """How a stretch's power sits in its fine spectrum."""

    tonal_share: float  # share of the power in spectral peaks (10x their neighbourhood's geometric mean)
    mains_hz: float | None  # 50 or 60 when most of the peak power is on its harmonics
    mains_share: float  # share of the peak power on the better mains frequency's harmonics


def tonality(samples: np.ndarray, sample_rate: int) -> Tonality:
    """Peaks of the averaged fine spectrum, and how much of them are mains harmonics."""
    n = len(samples)
    seg = min(FINE_FFT, n)
    if seg < sample_rate // 4:
        return Tonality(0.0, None, 0.0)
    starts = np.linspace(0, n - seg, num=max(1, min(FINE_SEGMENTS, 2 * n // seg))).astype(int)
    chunks = np.stack([samples[st : st + seg] for st in starts]).astype(np.float64)
    chunks -= chunks.mean(axis=1, keepdims=True)
    chunks *= _hann(seg, "float64")
    spec = (np.abs(np.fft.rfft(chunks, FINE_FFT, axis=1)) ** 2).sum(axis=0)
    freqs = np.fft.rfftfreq(FINE_FFT, 1.0 / sample_rate)
    keep = freqs >= 20.0
    spec, freqs = spec[keep], freqs[keep]
    total = float(spec.sum())
    if total <= 0:
        return Tonality(0.0, None, 0.0)
    # The neighbourhood's level (+-17 Hz): a geometric mean, which a few peak bins barely move, in
    # O(n) (a running median cost 10 ms per stretch). Noise bins' geometric mean is ~0.56 of their mean.
    log_spec = np.log(np.maximum(spec, total * 1e-15))
    local = np.exp(moving_mean(log_spec, 51))
    peaks = spec > 10.0 * local
    peak_power = float(spec[peaks].sum())
    tonal = peak_power / total
    best_hz, best = None, 0.0
    if peak_power > 0:
        for mains in MAINS_HZ:
            harmonic = np.maximum(np.round(freqs / mains), 1.0)
            on = peaks & (np.abs(freqs - harmonic * mains) <= 1.0 + 0.005 * freqs)
            share = float(spec[on].sum()) / peak_power
            if share > best:
                best_hz, best = mains, share
    return Tonality(round(tonal, 3), best_hz, round(best, 3))


def _kind(level_db: float, tone: Tonality, tuning: DetectorTuning) -> str:
    if level_db < tuning.digital_db:
        return "digital_silence"
    if tone.tonal_share >= tuning.tonal_share and tone.mains_share >= tuning.mains_share:
        return "hum"
    return "noise_floor"


def _why(kind: str, level: float, floor: float, sd: float, change: float, tone: Tonality) -> str:
    """The measures that decided a stretch, in words an engineer can check."""
    if kind == "digital_silence":
        return f"digital silence: median frame level {level:.0f} dBFS"
    steady = f"steady (level sd {sd:.2f} dB, spectral change {change:.2f})"
    if kind == "hum":
        return (
            f"mains hum: {tone.mains_share:.0%} of the tonal power on {tone.mains_hz:.0f} Hz harmonics "
            f"(tonal share {tone.tonal_share:.2f}), {steady}, at {level:.0f} dBFS"
        )
    return (
        f"no programme: noise with no tonal peaks (tonal share {tone.tonal_share:.2f}), {steady}, at "
        f"{level:.0f} dBFS, {level - floor:+.0f} dB from the station floor ({floor:.0f} dBFS)"
    )


def _lead_in_slope(level_db: np.ndarray, lo: int, frame_s: float, seconds: float = 3.0) -> float | None:
    """Least-squares slope of the frame levels before `lo`, clamped at -80 dB so zeros do not dominate."""
    n = min(lo, round(seconds / frame_s))
    if n < 5:
        return None
    y = np.maximum(level_db[lo - n : lo], -80.0)
    t = np.arange(n) * frame_s
    return round(float(np.polyfit(t, y, 1)[0]), 2)


def _median(values: np.ndarray | None, lo: int, hi: int) -> float:
    if values is None or hi <= lo:
        return float("nan")
    return float(np.median(values[lo:hi]))


def detect_silences(
    samples: np.ndarray,
    sample_rate: int,
    threshold_db: float,
    min_seconds: float,
    offset_s: float = 0.0,
    tuning: DetectorTuning = DEFAULT_TUNING,
    keep_edge_runs: bool = False,
    floor_db: float | None = None,
) -> list[Silence]:
    """Dead-air stretches of at least `min_seconds` in int16 (or float in int16 scale) mono samples.

    With `keep_edge_runs`, stretches touching either end of the samples are kept whatever their length:
    they may be the visible part of a longer silence that continues in the neighbouring chunk.
    `floor_db` is the station's floor when the caller knows it better than these samples alone.
    """
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {samples.shape}")
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate}")
    ceiling = max(threshold_db, tuning.steady_ceiling_db, tuning.noise_ceiling_db)
    win = _window_frames(min_seconds, tuning)
    needed = SpectraNeeded(win, threshold_db, tuning)
    if samples.dtype not in (np.int16, np.float32, np.float64):
        samples = samples.astype(np.float32)
    # int16 goes in as it is: a float copy of an hour would cost more than the analysis itself.
    feat = frame_features(samples, sample_rate, ceiling, needed)
    if not len(feat.level_db):
        return []
    floor = station_floor_db(feat.level_db, tuning) if floor_db is None else floor_db
    mask, st = dead_frames(feat, sample_rate, threshold_db, min_seconds, tuning, needed.level_stats(feat))
    frame_s = feat.frame_len / sample_rate
    found = []
    for lo, hi in _runs(mask):
        at_edge = keep_edge_runs and (lo == 0 or hi == len(mask))
        if (hi - lo) * frame_s + 1e-9 < min_seconds and not at_edge:
            continue
        # The median frame level: a boundary frame carrying the last of the music must not set it.
        level = float(np.median(feat.level_db[lo:hi]))
        tone = (
            Tonality(0.0, None, 0.0)
            if level < tuning.digital_db
            else tonality(samples[lo * feat.frame_len : hi * feat.frame_len], sample_rate)
        )
        kind = _kind(level, tone, tuning)
        if kind != "hum" and tone.tonal_share >= tuning.tonal_share:
            continue  # steady and tonal but not mains: a pad, a drone, a held chord is programme
        if (
            kind == "noise_floor"
            and level >= tuning.steady_ceiling_db
            and level > floor + tuning.floor_margin_db
        ):
            continue  # steady noise well above the station's floor: a sound (rain, applause), not its absence
        sd = _median(st["level_std"] if st else None, lo, hi)
        change = _median(st["spectral_change"] if st else None, lo, hi)
        found.append(
            Silence(
                start_s=offset_s + lo * frame_s,
                end_s=offset_s + (len(samples) / sample_rate if hi == len(mask) else hi * frame_s),
                level_db=round(level, 2),
                kind=kind,
                fade_db_per_s=_lead_in_slope(feat.level_db, lo, frame_s),
                floor_db=round(floor, 1),
                level_sd_db=None if np.isnan(sd) else round(sd, 2),
                spectral_change=None if np.isnan(change) else round(change, 3),
                tonal_share=tone.tonal_share,
                mains_hz=tone.mains_hz if kind == "hum" else None,
                why=_why(kind, level, floor, sd, change, tone),
            )
        )
    return found


def detect_silences_in_file(
    path: Path | str,
    threshold_db: float = -50.0,
    min_seconds: float = 2.0,
    sample_rate: int = ANALYSIS_SAMPLE_RATE,
    tuning: DetectorTuning = DEFAULT_TUNING,
) -> list[Silence]:
    """Decode a file once (ffmpeg, mono) and detect its silences."""
    samples = decode_mono(path, sample_rate)
    return detect_silences(samples, sample_rate, threshold_db, min_seconds, tuning=tuning)
