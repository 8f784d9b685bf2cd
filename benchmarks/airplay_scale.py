"""Airplay at catalogue scale: 100,000 synthetic tracks (random sub-fingerprints) and the real eval ones.

    .venv/bin/python -m benchmarks.airplay_scale [--tracks 100000] [--query /tmp/pige-airplay-eval-quick]

Reports index size per hour of reference audio, build and load time, peak memory, and matching speed
(x real time, one core) of a real broadcast against the whole index, checking that its plays are
still found among the synthetic tracks. Run `benchmarks.airplay_eval --quick` first for the query.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pige_pipeline.airplay.catalogue import load_catalogue
from pige_pipeline.airplay.fingerprint import ITEM_S, fingerprint_rows
from pige_pipeline.airplay.index import SPEEDS, build_index, load_index, save_index, update_index
from pige_pipeline.airplay.matcher import match_fingerprint_rows
from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE, decode_mono

MEAN_TRACK_S = 210.0  # 3.5 minutes


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=fmt)
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--query", type=Path, default=Path("/tmp/pige-airplay-eval-quick"))
    parser.add_argument("--work", type=Path, default=None, help="index directory (default: temporary)")
    args = parser.parse_args()
    truth = json.loads((args.query / "truth.json").read_text())
    real = update_index(load_catalogue(Path(truth["catalogue"])), args.query / "state", persist=False).index
    rng = np.random.default_rng(1)
    n_syn = args.tracks
    base_len = np.clip(rng.normal(MEAN_TRACK_S, 60, n_syn), 60, 600) / ITEM_S
    syn_lengths = np.stack([np.round(base_len / s).astype(np.int64) for s in SPEEDS], axis=1)
    real_lengths = np.diff(real.seg_start).reshape(len(SPEEDS), real.n_tracks).T
    lengths = np.concatenate([real_lengths, syn_lengths])
    tracks = pd.concat(
        [
            real.tracks[["track_id", "duration_s"]],
            pd.DataFrame(
                {"track_id": [f"SYN{i:06d}" for i in range(n_syn)], "duration_s": base_len * ITEM_S}
            ),
        ],
        ignore_index=True,
    )

    def variant(v: int) -> np.ndarray:
        # Real tracks keep their verification bits only; rebuild full values from the cached prints.
        start, stop = real.seg_start[v * real.n_tracks], real.seg_start[(v + 1) * real.n_tracks]
        real_items = _real_items(args.query, real, v, int(stop - start))
        syn = np.random.default_rng(100 + v).integers(0, 2**32, int(syn_lengths[:, v].sum()), dtype=np.uint32)
        return np.concatenate([real_items, syn])

    t0 = time.monotonic()
    index = build_index(tracks, lengths, variant)
    build_s = time.monotonic() - t0
    ref_hours = float(tracks["duration_s"].sum()) / 3600
    work = args.work or Path(tempfile.mkdtemp(prefix="pige-airplay-scale-"))
    t0 = time.monotonic()
    path = save_index(index, work)
    save_s = time.monotonic() - t0
    disk = sum(f.stat().st_size for f in path.iterdir())
    del index
    t0 = time.monotonic()
    loaded = load_index(work)
    load_s = time.monotonic() - t0
    st = truth["stations"][0]
    samples = decode_mono(st["path"], ANALYSIS_SAMPLE_RATE)
    rows = fingerprint_rows([(0.0, samples)], ANALYSIS_SAMPLE_RATE)
    match_fingerprint_rows(loaded, rows)  # first pass pages the memory-mapped index in
    c0 = time.process_time()
    plays = match_fingerprint_rows(loaded, rows)
    match_cpu = time.process_time() - c0
    audio_s = len(samples) / ANALYSIS_SAMPLE_RATE
    found = sorted((p.track_id, round(p.start_s)) for p in plays)
    expected = sorted((p["track_id"], round(p["start_s"])) for p in st["plays"])
    print(f"tracks: {len(tracks)} ({n_syn} synthetic + {real.n_tracks} real), reference {ref_hours:.0f} h")
    print(f"index on disk: {disk / 1e6:.0f} MB = {disk / 1e6 / ref_hours:.3f} MB per hour of reference")
    print(f"build {build_s:.0f} s, save {save_s:.0f} s, load {load_s:.2f} s (memory-mapped)")
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    print(
        f"match {audio_s:.0f} s of broadcast in {match_cpu:.2f} s CPU = "
        f"{audio_s / match_cpu:.0f}x real time; "
        f"plays found {len(plays)}, synthetic false plays "
        f"{sum(p.track_id.startswith('SYN') for p in plays)}"
    )
    print(f"found {found}\nexpected {expected}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


def _real_items(query_dir: Path, real, v: int, expected: int) -> np.ndarray:
    from pige_pipeline.airplay.index import load_track_prints

    items = []
    for sha in real.tracks["sha256"]:
        tp = load_track_prints(query_dir / "state" / "tracks" / f"{sha}.npz", sha)
        items.append(tp.prints[v])
    out = np.concatenate(items).astype(np.uint32)
    if len(out) != expected:
        raise RuntimeError("cached prints do not match the index; rerun benchmarks.airplay_eval --quick")
    return out


if __name__ == "__main__":
    main()
