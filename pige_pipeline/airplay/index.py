"""The persisted catalogue index: sub-fingerprints at several speeds, and a key -> position table.

Layout under `{data_root}/state/catalogue/`:
    tracks/{sha256}.npz      raw sub-fingerprints of one file at every speed (the incremental cache:
                             a file whose content hash is already there is never decoded again)
    index-{stamp}/           the merged index, plain .npy files memory-mapped on load
    CURRENT                  the name of the live index directory (replaced atomically)

The index holds, for each speed variant v and track t, the 16 most robust bits of every
sub-fingerprint (uint16, for verification) and, for every `POSTING_STRIDE`-th one, a posting under a
key made of its `key_bits` most robust bits. The query looks up every one of its own items, so a
stride of 2 still finds every alignment, at half the postings.

It also keeps each track's first `presence.HEAD_S` as a coarse band spectrum (`heads`, uint8,
n_tracks x HEAD_FRAMES x BANDS, ~6 kB a track), which `talkover` checks a recording against to tell
whether a matched track was already on air under a voice, and its spectral peaks over the first
`fine_presence.HEAD_S` (`note_peaks`, int16, n_tracks x NOTE_FRAMES x PEAKS_PER_FRAME, ~22 kB a track,
with `note_frames` the frames each track has), which the notes test looks for in the recording. An index
saved before (format 1, or 2 without the peaks) loads without them: the talk-over rule then does without
the head check, and the notes test decodes the track's first seconds, until the catalogue is indexed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from pige_pipeline.airplay.bits import pack_bits, verify_values
from pige_pipeline.airplay.catalogue import METADATA_COLUMNS, Catalogue, CatalogueProblem, check_audio_file
from pige_pipeline.airplay.fine_presence import HEAD_S as NOTES_HEAD_S
from pige_pipeline.airplay.fine_presence import PEAKS_PER_FRAME, frames_in, head_peaks
from pige_pipeline.airplay.fingerprint import CHROMAPRINT_RATE, raw_fingerprint
from pige_pipeline.airplay.presence import BANDS, HEAD_FRAMES, HEAD_S, WINDOW, head_spectrum
from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE, AudioDecodeError, decode_mono
from pige_pipeline.audio.probe import AudioProbeError

# Speed grid: radio plays up to ~3 % fast or slow. Measured: a 0.5 % residual speed error leaves
# BER 0.05-0.09 on 16 robust bits, 1 % leaves 0.10-0.17, so steps of 1 % keep every speed within
# 0.5 % of a variant.
SPEEDS: tuple[float, ...] = (0.97, 0.98, 0.99, 1.0, 1.01, 1.02, 1.03)
POSTING_STRIDE = 2
MIN_KEY_BITS, MAX_KEY_BITS = 14, 22
# 3: with `note_peaks`; 2: with `heads` only; 1: neither. Each still loads.
INDEX_FORMAT = 3
READABLE_FORMATS = (1, 2, 3)
NOTE_FRAMES = frames_in(NOTES_HEAD_S)  # of `note_peaks`, per track


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class TrackPrints:
    """One file's raw sub-fingerprints at every speed of `SPEEDS`."""

    sha256: str
    duration_s: float
    prints: list[np.ndarray]  # uint32 per speed, same order as `speeds`
    speeds: tuple[float, ...] = SPEEDS
    head: np.ndarray | None = None  # presence.head_spectrum of the first HEAD_S (None: cached before it)
    note_peaks: np.ndarray | None = None  # fine_presence.head_peaks (None: cached before them)


def fingerprint_track(path: Path, speeds: Sequence[float] = SPEEDS) -> TrackPrints:
    """Decode once at 11025 Hz and print every speed variant from the same samples."""
    samples = decode_mono(path, ANALYSIS_SAMPLE_RATE)
    # raw_fingerprint at speed 1.0 is what fingerprint_rows computes for the broadcast; calling it
    # directly skips the level profile, which only the broadcast's unknown_music needs.
    prints = [raw_fingerprint(samples, CHROMAPRINT_RATE, s) for s in speeds]
    duration = len(samples) / ANALYSIS_SAMPLE_RATE
    return TrackPrints(
        file_sha256(path), duration, prints, tuple(speeds), head_spectrum(samples), head_peaks(samples)
    )


def complete_heads(tp: TrackPrints, path: Path) -> None:
    """Add what prints cached by an older pige lack (head spectrum, note peaks), decoding only the
    file's first seconds."""
    duration = max(HEAD_S + 2 * WINDOW / ANALYSIS_SAMPLE_RATE, NOTES_HEAD_S)
    samples = decode_mono(path, ANALYSIS_SAMPLE_RATE, duration_s=duration)
    if tp.head is None:
        tp.head = head_spectrum(samples)
    if tp.note_peaks is None:
        tp.note_peaks = head_peaks(samples)


def save_track_prints(path: Path, tp: TrackPrints) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(
        tmp,
        speeds=np.array(tp.speeds),
        lengths=np.array([len(p) for p in tp.prints], dtype=np.int64),
        values=np.concatenate(tp.prints).astype(np.uint32) if tp.prints else np.zeros(0, np.uint32),
        duration_s=np.array(tp.duration_s),
        **({"head": tp.head} if tp.head is not None else {}),
        **({"note_peaks": tp.note_peaks} if tp.note_peaks is not None else {}),
    )
    os.replace(tmp, path)


def load_track_prints(path: Path, sha256: str) -> TrackPrints | None:
    try:
        with np.load(path) as data:
            speeds = tuple(float(s) for s in data["speeds"])
            bounds = np.concatenate([[0], np.cumsum(data["lengths"])])
            values = data["values"]
            prints = [values[bounds[i] : bounds[i + 1]].copy() for i in range(len(speeds))]
            head = data["head"].copy() if "head" in data.files else None
            peaks = data["note_peaks"].copy() if "note_peaks" in data.files else None
            return TrackPrints(sha256, float(data["duration_s"]), prints, speeds, head, peaks)
    except (OSError, KeyError, ValueError):
        return None


@dataclass
class CatalogueIndex:
    """Everything the matcher needs, for `n` tracks x `len(speeds)` variants (variant-major)."""

    tracks: pd.DataFrame  # track_id, metadata columns, file, sha256, duration_s
    speeds: np.ndarray
    seg_start: np.ndarray  # int64, len n_tracks * n_speeds + 1; segment g = v * n_tracks + t
    values: np.ndarray  # uint16 robust bits of every item
    key_bits: int
    offsets: list[np.ndarray] = field(default_factory=list)  # per speed: 2**key_bits + 1
    postings: list[np.ndarray] = field(default_factory=list)  # per speed: global positions (uint32/64)
    # (n_tracks, HEAD_FRAMES, BANDS) uint8 first seconds of each track; None in a format-1 index
    heads: np.ndarray | None = None
    # (n_tracks, NOTE_FRAMES, PEAKS_PER_FRAME) int16 fine_presence.head_peaks, -1 beyond a track's
    # `note_frames`; None in an index saved before them
    note_peaks: np.ndarray | None = None
    note_frames: np.ndarray | None = None

    @property
    def n_tracks(self) -> int:
        return len(self.tracks)

    @cached_property
    def track_ids(self) -> list[str]:
        """`tracks.track_id` as plain strings: the matcher names every play it verifies, and a
        DataFrame column lookup per play cost more than the play's verification."""
        return [str(t) for t in self.tracks["track_id"]]

    def segment(self, g: int) -> np.ndarray:
        return self.values[self.seg_start[g] : self.seg_start[g + 1]]

    def head_peaks_of(self, track: int) -> np.ndarray | None:
        """Track `track`'s `fine_presence.head_peaks`, None where this index has none."""
        if self.note_peaks is None or self.note_frames is None:
            return None
        return np.asarray(self.note_peaks[track, : int(self.note_frames[track])])

    def nbytes(self) -> int:
        arrays = [self.seg_start, self.values, *self.offsets, *self.postings]
        arrays += [a for a in (self.heads, self.note_peaks, self.note_frames) if a is not None]
        return int(sum(a.nbytes for a in arrays))

    def reference_hours(self) -> float:
        return float(self.tracks["duration_s"].sum()) / 3600 if len(self.tracks) else 0.0


def key_bits_for(postings_per_speed: int) -> int:
    """Enough key bits that a bucket holds a few postings, within [MIN_KEY_BITS, MAX_KEY_BITS]."""
    wanted = int(np.ceil(np.log2(max(postings_per_speed, 2)))) + 1
    return int(np.clip(wanted, MIN_KEY_BITS, MAX_KEY_BITS))


def build_index(
    tracks: pd.DataFrame,
    lengths: np.ndarray,
    variant_values: Callable[[int], np.ndarray],
    speeds: Sequence[float] = SPEEDS,
    heads: np.ndarray | None = None,
    note_peaks: tuple[np.ndarray, np.ndarray] | None = None,
) -> CatalogueIndex:
    """Merge per-track prints into one index.

    `lengths[t, v]` is the item count of track t at speed v; `variant_values(v)` returns the uint32
    items of every track at speed v, concatenated in track order (one speed at a time keeps memory
    at one variant's worth of temporaries, which matters for the 100k-track scale test). `heads` and
    `note_peaks` (the peaks, and the frames each track has) are kept as they are.
    """
    n_tracks, n_speeds = lengths.shape
    seg_len = lengths.T.reshape(-1).astype(np.int64)
    seg_start = np.concatenate([[0], np.cumsum(seg_len)]).astype(np.int64)
    total = int(seg_start[-1])
    pos_dtype = np.uint32 if total < 2**32 else np.uint64
    postings_per_speed = int(np.ceil(lengths / POSTING_STRIDE).sum(axis=0).max()) if n_tracks else 0
    key_bits = key_bits_for(postings_per_speed)
    values16 = np.zeros(total, dtype=np.uint16)
    offsets, postings = [], []
    for v in range(n_speeds):
        items = np.asarray(variant_values(v), dtype=np.uint32)
        block0 = int(seg_start[v * n_tracks])
        if len(items) != int(seg_start[(v + 1) * n_tracks]) - block0:
            raise ValueError(f"speed {speeds[v]}: {len(items)} items, lengths say otherwise")
        values16[block0 : block0 + len(items)] = verify_values(items)
        local = _strided_positions(lengths[:, v])
        keys = pack_bits(items[local], key_bits)
        # Held notes give runs of one key: one posting per run is enough to find the alignment.
        fresh = np.concatenate([[True], keys[1:] != keys[:-1]])
        local, keys = local[fresh], keys[fresh]
        del items
        order = np.argsort(keys, kind="stable")
        counts = np.bincount(keys, minlength=1 << key_bits)
        offsets.append(np.concatenate([[0], np.cumsum(counts)]).astype(pos_dtype))
        postings.append((local[order] + block0).astype(pos_dtype))
    return CatalogueIndex(
        tracks=tracks.reset_index(drop=True),
        speeds=np.asarray(speeds, dtype=np.float64),
        seg_start=seg_start,
        values=values16,
        key_bits=key_bits,
        offsets=offsets,
        postings=postings,
        heads=heads,
        note_peaks=None if note_peaks is None else note_peaks[0],
        note_frames=None if note_peaks is None else note_peaks[1],
    )


def _strided_positions(lengths: np.ndarray) -> np.ndarray:
    """Positions 0, STRIDE, 2*STRIDE... inside each track, as offsets into the concatenation."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    counts = (lengths + POSTING_STRIDE - 1) // POSTING_STRIDE
    total = int(counts.sum())
    track_of = np.repeat(np.arange(len(lengths)), counts)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    within = np.arange(total, dtype=np.int64) - np.repeat(first, counts)
    return starts[track_of] + within * POSTING_STRIDE


def index_from_prints(tracks: pd.DataFrame, prints: list[TrackPrints]) -> CatalogueIndex:
    """Build the index from cached per-track prints (same order as `tracks`)."""
    speeds = prints[0].speeds if prints else SPEEDS
    lengths = np.array([[len(p) for p in tp.prints] for tp in prints], dtype=np.int64).reshape(
        -1, len(speeds)
    )
    heads = None
    if all(tp.head is not None for tp in prints):
        heads = (
            np.stack([tp.head for tp in prints]) if prints else np.zeros((0, HEAD_FRAMES, BANDS), np.uint8)
        )
    note_peaks = None
    if all(tp.note_peaks is not None for tp in prints):
        note_peaks = _stack_note_peaks([tp.note_peaks for tp in prints if tp.note_peaks is not None])
    return build_index(
        tracks,
        lengths,
        lambda v: np.concatenate([tp.prints[v] for tp in prints]) if prints else np.zeros(0, np.uint32),
        speeds,
        heads,
        note_peaks,
    )


def _stack_note_peaks(per_track: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Tracks' peaks in one (n, NOTE_FRAMES, PEAKS_PER_FRAME) array, -1 past each track's frames."""
    stacked = np.full((len(per_track), NOTE_FRAMES, PEAKS_PER_FRAME), -1, dtype=np.int16)
    frames = np.zeros(len(per_track), dtype=np.int32)
    for t, peaks in enumerate(per_track):
        n = min(len(peaks), NOTE_FRAMES)
        stacked[t, :n] = peaks[:n]
        frames[t] = n
    return stacked, frames


# Persistence -----------------------------------------------------------------------------------


def save_index(index: CatalogueIndex, state_dir: Path) -> Path:
    """Write the index into a new directory and point CURRENT at it atomically; old ones are removed."""
    state_dir.mkdir(parents=True, exist_ok=True)
    target = state_dir / f"index-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    target.mkdir()
    np.save(target / "speeds.npy", index.speeds)
    np.save(target / "seg_start.npy", index.seg_start)
    np.save(target / "values.npy", index.values)
    for v, (off, post) in enumerate(zip(index.offsets, index.postings, strict=True)):
        np.save(target / f"offsets_{v}.npy", off)
        np.save(target / f"postings_{v}.npy", post)
    index.tracks.to_parquet(target / "tracks.parquet", index=False)
    if index.heads is not None:
        np.save(target / "heads.npy", index.heads)
    with_peaks = index.note_peaks is not None and index.note_frames is not None
    if with_peaks:
        np.save(target / "note_peaks.npy", index.note_peaks)
        np.save(target / "note_frames.npy", index.note_frames)
    (target / "meta.json").write_text(
        json.dumps(
            {
                "format": (INDEX_FORMAT if with_peaks else 2) if index.heads is not None else 1,
                "key_bits": index.key_bits,
                "stride": POSTING_STRIDE,
            }
        ),
        encoding="utf-8",
    )
    tmp = state_dir / f".CURRENT.{os.getpid()}.tmp"
    tmp.write_text(target.name, encoding="utf-8")
    os.replace(tmp, state_dir / "CURRENT")
    for old in state_dir.glob("index-*"):
        if old.is_dir() and old.name != target.name:
            shutil.rmtree(old, ignore_errors=True)
    return target


def load_index(state_dir: Path) -> CatalogueIndex | None:
    """The live index (memory-mapped), or None if the catalogue was never indexed.

    An index saved before `heads` or `note_peaks` loads with them None; another format gives None (the
    catalogue must be indexed again).
    """
    current = state_dir / "CURRENT"
    if not current.exists():
        return None
    path = state_dir / current.read_text(encoding="utf-8").strip()
    meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    if meta.get("format") not in READABLE_FORMATS:
        return None
    speeds = np.load(path / "speeds.npy")
    with_peaks = (path / "note_peaks.npy").exists() and (path / "note_frames.npy").exists()
    return CatalogueIndex(
        tracks=pd.read_parquet(path / "tracks.parquet"),
        speeds=speeds,
        seg_start=np.load(path / "seg_start.npy"),
        values=np.load(path / "values.npy", mmap_mode="r"),
        key_bits=int(meta["key_bits"]),
        offsets=[np.load(path / f"offsets_{v}.npy", mmap_mode="r") for v in range(len(speeds))],
        postings=[np.load(path / f"postings_{v}.npy", mmap_mode="r") for v in range(len(speeds))],
        heads=np.load(path / "heads.npy", mmap_mode="r") if (path / "heads.npy").exists() else None,
        note_peaks=np.load(path / "note_peaks.npy", mmap_mode="r") if with_peaks else None,
        note_frames=np.load(path / "note_frames.npy") if with_peaks else None,
    )


# Incremental update from the catalogue CSV --------------------------------------------------------


@dataclass
class IndexUpdate:
    index: CatalogueIndex
    problems: list[CatalogueProblem]
    fingerprinted: list[str]  # track_ids decoded this time
    reused: list[str]  # track_ids whose content hash was already printed
    seconds: float = 0.0


def update_index(
    catalogue: Catalogue,
    state_dir: Path,
    log: Callable[[str], None] | None = None,
    persist: bool = True,
    on_track: Callable[[str], None] | None = None,
) -> IndexUpdate:
    """Fingerprint new or changed files (by content hash), then rebuild and persist the merged index.

    `on_track(track_id)` is called before each catalogue entry is looked at (progress bars).
    """
    started = time.monotonic()
    cache = state_dir / "tracks"
    problems = list(catalogue.problems)
    rows, prints, fresh, reused = [], [], [], []
    for entry in catalogue.entries:
        if on_track:
            on_track(entry.track_id)
        try:
            sha = file_sha256(entry.file)
            tp = load_track_prints(cache / f"{sha}.npz", sha)
            if tp is None or tp.speeds != SPEEDS:
                check_audio_file(entry.file)
                tp = fingerprint_track(entry.file)
                save_track_prints(cache / f"{sha}.npz", tp)
                fresh.append(entry.track_id)
            else:
                if tp.head is None or tp.note_peaks is None:
                    # Cached before the index kept these: decode only the track's first seconds.
                    complete_heads(tp, entry.file)
                    save_track_prints(cache / f"{sha}.npz", tp)
                reused.append(entry.track_id)
        except (AudioProbeError, AudioDecodeError, OSError, ValueError) as exc:
            problems.append(CatalogueProblem(catalogue.csv, entry.line, entry.track_id, str(exc)))
            if log:
                log(str(problems[-1]))
            continue
        if len(tp.prints[SPEEDS.index(1.0)]) == 0:
            problems.append(
                CatalogueProblem(
                    catalogue.csv, entry.line, entry.track_id, "too short to fingerprint (< 3 s)"
                )
            )
            continue
        meta = {c: getattr(entry.row, c) for c in METADATA_COLUMNS}
        rows.append(
            {
                "track_id": entry.track_id,
                **meta,
                "file": str(entry.file),
                "sha256": sha,
                "duration_s": tp.duration_s,
            }
        )
        prints.append(tp)
    columns = ["track_id", *METADATA_COLUMNS, "file", "sha256", "duration_s"]
    index = index_from_prints(pd.DataFrame(rows, columns=columns), prints)
    if persist:
        save_index(index, state_dir)
    return IndexUpdate(index, problems, fresh, reused, time.monotonic() - started)
