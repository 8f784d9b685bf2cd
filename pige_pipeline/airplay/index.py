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
whether a matched track was already on air under a voice. An index saved before (format 1) loads
without it, and the talk-over rule then does without that check until the catalogue is indexed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pige_pipeline.airplay.bits import pack_bits, verify_values
from pige_pipeline.airplay.catalogue import METADATA_COLUMNS, Catalogue, CatalogueProblem, check_audio_file
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
# 2: with `heads`. Format 1 (without) still loads.
INDEX_FORMAT = 2
READABLE_FORMATS = (1, 2)


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


def fingerprint_track(path: Path, speeds: Sequence[float] = SPEEDS) -> TrackPrints:
    """Decode once at 11025 Hz and print every speed variant from the same samples."""
    samples = decode_mono(path, ANALYSIS_SAMPLE_RATE)
    # raw_fingerprint at speed 1.0 is what fingerprint_rows computes for the broadcast; calling it
    # directly skips the level profile, which only the broadcast's unknown_music needs.
    prints = [raw_fingerprint(samples, CHROMAPRINT_RATE, s) for s in speeds]
    duration = len(samples) / ANALYSIS_SAMPLE_RATE
    return TrackPrints(file_sha256(path), duration, prints, tuple(speeds), head_spectrum(samples))


def track_head(path: Path) -> np.ndarray:
    """The head spectrum of a file, decoding only its first seconds (for prints cached without one)."""
    duration = HEAD_S + 2 * WINDOW / ANALYSIS_SAMPLE_RATE
    return head_spectrum(decode_mono(path, ANALYSIS_SAMPLE_RATE, duration_s=duration))


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
            return TrackPrints(sha256, float(data["duration_s"]), prints, speeds, head)
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

    @property
    def n_tracks(self) -> int:
        return len(self.tracks)

    def segment(self, g: int) -> np.ndarray:
        return self.values[self.seg_start[g] : self.seg_start[g + 1]]

    def nbytes(self) -> int:
        arrays = [self.seg_start, self.values, *self.offsets, *self.postings]
        if self.heads is not None:
            arrays.append(self.heads)
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
) -> CatalogueIndex:
    """Merge per-track prints into one index.

    `lengths[t, v]` is the item count of track t at speed v; `variant_values(v)` returns the uint32
    items of every track at speed v, concatenated in track order (one speed at a time keeps memory
    at one variant's worth of temporaries, which matters for the 100k-track scale test).
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
    return build_index(
        tracks,
        lengths,
        lambda v: np.concatenate([tp.prints[v] for tp in prints]) if prints else np.zeros(0, np.uint32),
        speeds,
        heads,
    )


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
    (target / "meta.json").write_text(
        json.dumps(
            {
                "format": INDEX_FORMAT if index.heads is not None else 1,
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

    A format-1 index (saved before `heads`) loads with `heads` None; another format gives None (the
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
    return CatalogueIndex(
        tracks=pd.read_parquet(path / "tracks.parquet"),
        speeds=speeds,
        seg_start=np.load(path / "seg_start.npy"),
        values=np.load(path / "values.npy", mmap_mode="r"),
        key_bits=int(meta["key_bits"]),
        offsets=[np.load(path / f"offsets_{v}.npy", mmap_mode="r") for v in range(len(speeds))],
        postings=[np.load(path / f"postings_{v}.npy", mmap_mode="r") for v in range(len(speeds))],
        heads=np.load(path / "heads.npy", mmap_mode="r") if (path / "heads.npy").exists() else None,
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
                if tp.head is None:
                    # Cached before the index kept heads: decode only the track's first seconds.
                    tp.head = track_head(entry.file)
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
