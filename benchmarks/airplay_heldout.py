"""Airplay on a held-out set: music never used for tuning, stream codecs, processing and speed changes.

    .venv/bin/python -m benchmarks.airplay_heldout [--minutes 10] [--out DIR] [--json FILE] [--repeat 3]
    .venv/bin/python -m benchmarks.airplay_heldout --related --seed N --out DIR

`--related` lists, for a set already built, the catalogue tracks found inside each out-of-catalogue
file played alone (clean, its own speed): other mixes or variations of a catalogue piece, which the
matcher may report as that piece (docs/airplay.md, step 10), each confirmed or not as a shared recording
by a measure that does not use Chromaprint (`testing/shared_recording.py`). It scores nothing; the
listing is kept in `DIR/related.json`.

Installs `supertux-data`, `freedroidrpg-data` and `wesnoth-1.16-music` with apt-get when their music
is missing (CI does not run this). Played music: SuperTux, FreedroidRPG and Wesnoth tracks, never used
to choose any threshold; 8 of them are kept out of the catalogue as other music. The catalogue also
holds every distinct track of the tuning set (singularity, drascula, asc) as distractors: >= 150
tracks. One station per condition, each `--minutes` long, drawn by the tuning set's programme builder
(`airplay_evalset.programme` with `HELD_OUT_PROGRAMME`): full, partial and mid-track plays, talk, other
music, silences, talk-over on ~35 % of the intros (French or English prompts, 8-25 s, music ducked
6-10 dB) and crossfades of 4-8 s:

    aac48       AAC-LC 48 kb/s
    opus32      Opus 32 kb/s
    fm_aac      FM-style processing (band-limit 50 Hz-15 kHz, heavy compression, limiter), AAC 64 kb/s
    tempo_3     the whole programme 3 % faster, pitch kept (atempo), MP3 128 kb/s
    speed_1.5   1.5 % fast (pitch and tempo), MP3 128 kb/s
    speed_2.5   2.5 % fast, MP3 128 kb/s
    speed_-3    3 % slow, MP3 128 kb/s
    crossfade   every play crossfaded 4-8 s into the next, MP3 128 kb/s

The matcher's thresholds are `DEFAULT_PARAMS` as committed before this set was first scored; nothing
here tunes them. Scoring is `airplay_eval`'s (BAF-style events and seconds), plus the start error of
plays with talk-over on their intro, and the cost of the hour-boundary margins. Speed is each
station's (decode to 11025 Hz + fingerprints + matching with the decoded-audio checks) / ffmpeg's
plain decode of the same file, CPU seconds, the median of `--repeat` runs (the plays scored are the
first run's: every run finds the same). The scores are given
twice: strict (any play of a catalogue track over other music is false), and with plays excused where
the other music on air holds that catalogue recording (a shared recording, as listed by `--related`):
there the truth, not the matcher, is wrong. Sets built before the truth recorded where its other
music comes from (`other_music`) need `--rebuild` for the second figure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.airplay_eval import _child_cpu, _self_cpu, overlap, prf, score_station, summarise
from pige_pipeline.airplay.catalogue import load_catalogue
from pige_pipeline.airplay.fine_presence import SamplesAudio
from pige_pipeline.airplay.fingerprint import FINGERPRINTS_SCHEMA, fingerprint_rows
from pige_pipeline.airplay.index import update_index
from pige_pipeline.airplay.matcher import DEFAULT_PARAMS, best_window_ber, match_fingerprint_rows, match_hour
from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE, decode_mono
from pige_pipeline.testing.airplay_evalset import HELD_OUT_PROGRAMME, RATE, programme
from pige_pipeline.testing.shared_recording import recording_correlation, shares_recording
from pige_pipeline.testing.sources import (
    asc_tracks,
    drascula_tracks,
    english_prompts,
    french_prompts,
    singularity_tracks,
)

HELD_OUT_MUSIC = {
    "supertux-data": Path("/usr/share/games/supertux2/music"),
    "freedroidrpg-data": Path("/usr/share/freedroidrpg/data/sound/music"),
    "wesnoth-1.16-music": Path("/usr/share/games/wesnoth/1.16/data/core/music"),
}
OUT_OF_CATALOGUE = 8
FM_CHAIN = (
    "highpass=f=50,lowpass=f=15000,"
    "acompressor=threshold=-30dB:ratio=10:attack=2:release=50:makeup=12,alimiter=limit=0.7"
)
# name: (ffmpeg filter before encoding, encoder arguments, suffix, time factor of the programme)
CONDITIONS: dict[str, tuple[str | None, list[str], str, float]] = {
    "aac48": (None, ["-c:a", "aac", "-b:a", "48k", "-ar", "44100", "-ac", "2"], ".m4a", 1.0),
    "opus32": (None, ["-c:a", "libopus", "-b:a", "32k", "-ar", "48000", "-ac", "2"], ".opus", 1.0),
    "fm_aac": (FM_CHAIN, ["-c:a", "aac", "-b:a", "64k", "-ar", "44100", "-ac", "2"], ".m4a", 1.0),
    "tempo_3": ("atempo=1.03", ["-b:a", "128k", "-ar", "44100", "-ac", "2"], ".mp3", 1.03),
    "speed_1.5": (
        f"asetrate={RATE * 1.015:.0f},aresample={RATE}",
        ["-b:a", "128k", "-ar", "44100"],
        ".mp3",
        1.015,
    ),
    "speed_2.5": (
        f"asetrate={RATE * 1.025:.0f},aresample={RATE}",
        ["-b:a", "128k", "-ar", "44100"],
        ".mp3",
        1.025,
    ),
    "speed_-3": (
        f"asetrate={RATE * 0.97:.0f},aresample={RATE}",
        ["-b:a", "128k", "-ar", "44100"],
        ".mp3",
        0.97,
    ),
    "crossfade": (None, ["-b:a", "128k", "-ar", "44100", "-ac", "2"], ".mp3", 1.0),
}


def ensure_music() -> None:
    """Install the held-out music packages when their files are missing (needs root and apt)."""
    missing = [pkg for pkg, root in HELD_OUT_MUSIC.items() if not root.exists()]
    if not missing:
        return
    print(f"installing {', '.join(missing)} (held-out music) with apt-get", flush=True)
    proc = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing], check=False)
    if proc.returncode != 0:
        sys.exit(f"could not install {', '.join(missing)}: run `apt-get install {' '.join(missing)}` as root")


def _distinct(paths: list[Path], seen: set[str]) -> list[Path]:
    out = []
    for path in paths:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            out.append(path)
    return out


def _draw(seed: int) -> tuple[np.random.Generator, set[str], list[Path], list[Path]]:
    """(the set's random generator, digests seen, files kept out of the catalogue, files played)."""
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    held = _distinct([p for root in HELD_OUT_MUSIC.values() for p in _music(root)], seen)
    order = rng.permutation(len(held))
    return rng, seen, [held[i] for i in order[:OUT_OF_CATALOGUE]], [held[i] for i in order[OUT_OF_CATALOGUE:]]


def related_music(out: Path, seed: int) -> list[dict]:
    """Each catalogue track found inside each out-of-catalogue file of the set under `out`, played alone.

    `shared`: the two files share a recording, confirmed without Chromaprint
    (`shared_recording.recording_correlation`); the rest only resemble each other. Kept in
    `related.json` beside the set, which the scoring reads.
    """
    cached = out / "related.json"
    if cached.exists():
        return json.loads(cached.read_text())
    truth = json.loads((out / "truth.json").read_text())
    index = update_index(load_catalogue(Path(truth["catalogue"])), out / "state", persist=False).index
    paths = pd.read_csv(truth["catalogue"]).set_index("track_id")["path"]
    found = []
    for path in _draw(seed)[2]:
        samples = decode_mono(path, ANALYSIS_SAMPLE_RATE)
        rows = fingerprint_rows([(0.0, samples)], ANALYSIS_SAMPLE_RATE)
        for p in match_fingerprint_rows(index, rows):
            track = decode_mono(Path(paths[p.track_id]), ANALYSIS_SAMPLE_RATE)
            corr, margin = recording_correlation(samples, track, p.start_s, p.end_s, p.ref_offset_s, p.speed)
            found.append(
                dict(
                    file=str(path),
                    track_id=p.track_id,
                    catalogue_path=str(paths[p.track_id]),
                    start_s=round(p.start_s, 1),
                    end_s=round(p.end_s, 1),
                    speed=p.speed,
                    ber=round(p.ber, 3),
                    best_window_ber=round(best_window_ber(p, DEFAULT_PARAMS.window_s), 3),
                    recording_corr=round(corr, 3),
                    margin=round(margin, 3),
                    shared=shares_recording(corr, margin),
                )
            )
            print(
                f"{path.name} {p.start_s:.0f}-{p.end_s:.0f} s -> {p.track_id} "
                f"({Path(found[-1]['catalogue_path']).name}) speed {p.speed} BER {p.ber:.3f} "
                f"best 10-s window {found[-1]['best_window_ber']:.3f}; spectrogram correlation {corr:.2f} "
                f"({margin:.2f} above wrong alignments): "
                f"{'shared recording' if found[-1]['shared'] else 'resemblance'}",
                flush=True,
            )
    cached.write_text(json.dumps(found, indent=1))
    return found


def shared_spans(station: dict, related: list[dict]) -> list[tuple[str, float, float]]:
    """(track_id, start_s, end_s) where the station airs other music holding that catalogue recording."""
    spans = []
    for aired in station.get("other_music", []):
        for r in related:
            if not r["shared"] or r["file"] != aired["file"]:
                continue
            # The file's seconds [r.start_s, r.end_s) hold the track; aired from file_offset_s at speed.
            a = aired["start_s"] + (r["start_s"] - aired["file_offset_s"]) / aired["speed"]
            b = aired["start_s"] + (r["end_s"] - aired["file_offset_s"]) / aired["speed"]
            a, b = max(a, aired["start_s"]), min(b, aired["end_s"])
            if b > a:
                spans.append((r["track_id"], a, b))
    return spans


def _music(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in (".ogg", ".mp3", ".flac", ".wav"))


def build(out: Path, minutes: float, seed: int) -> dict:
    """Write catalogue.csv, one audio file per condition and truth.json under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    rng, seen, ooc, played = _draw(seed)
    tuning = _distinct(singularity_tracks() + drascula_tracks() + asc_tracks(), seen)
    catalogue = played + tuning
    rows = [
        {"track_id": f"{HELD_OUT_PROGRAMME.id_prefix}{i:03d}", "title": p.stem, "artist": p.parent.name,
         "isrc": "", "path": str(p)}
        for i, p in enumerate(catalogue)
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(out / "catalogue.csv", index=False)
    cache: dict[str, np.ndarray] = {}

    def load(path: Path) -> np.ndarray:
        if str(path) not in cache:
            cache[str(path)] = decode_mono(path, RATE).astype(np.float32) / 32768
        return cache[str(path)]

    prompts = french_prompts() + english_prompts()
    stations = []
    for name, (chain, codec, suffix, factor) in CONDITIONS.items():
        spec = replace(HELD_OUT_PROGRAMME, crossfade_all=name == "crossfade")
        mix, station = programme(rng, minutes * 60, played, ooc, prompts, load, spec)
        station.name, station.degradation = name, name
        path = out / f"{name}{suffix}"
        _encode(mix, path, chain, codec)
        station.play_faster(factor)
        station.path = str(path)
        stations.append(station)
    truth = {
        "catalogue": str(out / "catalogue.csv"),
        "catalogue_tracks": len(catalogue),
        "stations": [asdict(s) for s in stations],
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return truth


def _encode(mix: np.ndarray, path: Path, chain: str | None, codec: list[str]) -> None:
    pcm = (np.clip(mix, -1, 1) * 32767).astype("<i2")
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "s16le",
        "-ar",
        str(RATE),
        "-ac",
        "1",
        "-i",
        "-",
    ]
    cmd += (["-af", chain] if chain else []) + codec + [str(path)]
    subprocess.run(cmd, input=pcm.tobytes(), check=True)


def talk_over_start_errors(plays: list, truth: dict) -> list[float]:
    """Signed start error of each detected play whose truth has a voice over its intro."""
    errors = []
    for t in truth["plays"]:
        if "talk_over" not in t["kind"]:
            continue
        best = [
            p
            for p in plays
            if p.track_id == t["track_id"]
            and overlap(p.start_s, p.end_s, t["start_s"], t["end_s"])
            >= 0.5 * min(p.duration_s, t["end_s"] - t["start_s"])
        ]
        if best:
            errors.append(min((p.start_s - t["start_s"] for p in best), key=abs))
    return errors


def margin_cost(rows: list[dict], index) -> dict:
    """What matching with the neighbours' 45-s margins costs: neighbour reads and extra matching."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fingerprints.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=FINGERPRINTS_SCHEMA), path)
        w0 = time.perf_counter()
        for _ in range(10):
            pq.read_table(path).to_pandas().to_dict("records")
        read_s = (time.perf_counter() - w0) / 10
    c0 = _self_cpu()
    match_fingerprint_rows(index, rows)
    alone = _self_cpu() - c0
    c0 = _self_cpu()
    match_hour(index, rows, rows, rows)
    joined = _self_cpu() - c0
    return {"neighbour_read_s": read_s, "match_alone_cpu_s": alone, "match_with_margins_cpu_s": joined}


def detection_cost(path: Path, index) -> tuple[dict, list, list[dict]]:
    """CPU seconds of ffmpeg's plain decode of `path` and of pige's detection (decode to 11025 Hz,
    fingerprints, matching with the decoded-audio checks); the plays and fingerprint rows."""
    c0 = _child_cpu()
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "null", "-"], check=True
    )
    ff_cpu = _child_cpu() - c0
    c0, s0 = _child_cpu(), _self_cpu()
    samples = decode_mono(path, ANALYSIS_SAMPLE_RATE)
    dec_cpu = _child_cpu() - c0
    f0 = _self_cpu()
    rows = fingerprint_rows([(0.0, samples)], ANALYSIS_SAMPLE_RATE)
    m0, mc0 = _self_cpu(), _child_cpu()
    plays = match_fingerprint_rows(index, rows, audio=SamplesAudio([(0.0, samples)], index))
    m1 = _self_cpu()
    # The catalogue stretches decoded for the notes tests (talkover, notes_check) are ffmpeg children.
    match_children = _child_cpu() - mc0
    cost = {
        "ffmpeg_decode_cpu_s": ff_cpu,
        "decode_11k_cpu_s": dec_cpu,
        "fingerprint_cpu_s": m0 - f0,
        "match_cpu_s": m1 - m0 + match_children,
        "ratio_cpu": (dec_cpu + m1 - s0 + match_children) / ff_cpu,
    }
    return cost, plays, rows


def run(out: Path, minutes: float, seed: int, rebuild: bool, repeat: int = 3) -> dict:
    ensure_music()
    truth_path = out / "truth.json"
    if rebuild or not truth_path.exists():
        t0 = time.monotonic()
        build(out, minutes, seed)
        print(f"built the held-out set in {time.monotonic() - t0:.0f} s under {out}", flush=True)
    truth = json.loads(truth_path.read_text())
    t0 = time.monotonic()
    update = update_index(load_catalogue(Path(truth["catalogue"])), out / "state", persist=False)
    index = update.index
    print(
        f"catalogue: {index.n_tracks} tracks, {index.reference_hours():.2f} h, indexed in "
        f"{time.monotonic() - t0:.0f} s; problems: {[str(p) for p in update.problems]}",
        flush=True,
    )
    related = related_music(out, seed)
    results, excused, speed, talk, margins = {}, {}, {}, {}, {}
    for st in truth["stations"]:
        runs = [detection_cost(Path(st["path"]), index) for _ in range(repeat)]
        plays, rows = runs[0][1], runs[0][2]
        costs = [cost for cost, _, _ in runs]
        # Each figure the median of the repeats; the ratio the median of each repeat's own ratio.
        speed[st["name"]] = {k: statistics.median(c[k] for c in costs) for k in costs[0]} | {
            "audio_s": st["duration_s"],
            "repeats": repeat,
        }
        results[st["name"]] = score_station(plays, st)
        excused[st["name"]] = score_station(plays, st, shared_spans(st, related))
        talk[st["name"]] = talk_over_start_errors(plays, st)
        if st["name"] == "aac48":
            margins = margin_cost(rows, index)
        print(f"{st['name']}: done", flush=True)
    report = {
        "catalogue_tracks": index.n_tracks,
        "overall": summarise(results),
        "stations": {
            n: summarise({n: r}) | {"missed": r["missed_kinds"], "false": r["fp_detail"]}
            for n, r in results.items()
        },
        # The same plays, where the truth's other music holds a catalogue recording excused (`related`).
        "overall_shared_excused": summarise(excused),
        "stations_shared_excused": {
            n: summarise({n: r}) | {"false": r["fp_detail"]} for n, r in excused.items()
        },
        "related": related,
        "speed": speed,
        "talk_over_start_errors": talk,
        "margin_cost": margins,
    }
    return report


def print_report(report: dict) -> None:
    o = report["overall"]
    print(
        f"\ncatalogue {report['catalogue_tracks']} tracks | overall: event P {o['event_p']:.3f} "
        f"R {o['event_r']:.3f} F1 {o['event_f1']:.3f} | second F1 {o['second_f1']:.3f} | median start error "
        f"{o['median_start_err_s']:.2f} s, end {o['median_end_err_s']:.2f} s | plays in speech/ooc "
        f"{o['plays_in_speech_or_ooc']} (tp {o['tp']} fp {o['fp']} fn {o['fn']})"
    )
    print(
        "\n| condition | plays | event P | event R | event F1 | second F1 | median start err "
        "| detection / decode |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, s in report["stations"].items():
        sp = report["speed"][name]
        print(
            f"| {name} | {s['tp'] + s['fn']} | {s['event_p']:.3f} | {s['event_r']:.3f} | "
            f"{s['event_f1']:.3f} | {s['second_f1']:.3f} | {s['median_start_err_s']:.2f} s | "
            f"{sp['ratio_cpu']:.2f}x |"
        )
    for name, s in report["stations"].items():
        if s["missed"] or s["false"]:
            print(f"  {name}: missed {s['missed']}; false {s['false']}")
    shared = [r for r in report["related"] if r["shared"]]
    x = report["overall_shared_excused"]
    print(
        f"\nother music holding a catalogue recording (shared, confirmed by the spectrogram): "
        f"{[(Path(r['file']).name, Path(r['catalogue_path']).name) for r in shared]}\n"
        f"with plays of it there excused ({x['excused']} plays): event P {x['event_p']:.3f} "
        f"R {x['event_r']:.3f} F1 {x['event_f1']:.3f} | second F1 {x['second_f1']:.3f}"
    )
    print("| condition | event F1 | second F1 | false plays left |")
    print("|---|---|---|---|")
    for name, s in report["stations_shared_excused"].items():
        print(f"| {name} | {s['event_f1']:.3f} | {s['second_f1']:.3f} | {s['false']} |")
    errors = np.abs([e for v in report["talk_over_start_errors"].values() for e in v])
    if len(errors):
        print(
            f"\ntalk-over intros: {len(errors)} detected; start error median {np.median(errors):.2f} s, "
            f"p95 {np.percentile(errors, 95):.2f} s, max {errors.max():.2f} s; within 3 s: "
            f"{np.mean(errors <= 3):.0%}"
        )
    ratios = [s["ratio_cpu"] for s in report["speed"].values()]
    # The whole set: every station's detection CPU over every station's plain decode CPU (medians).
    detection = sum(s["ratio_cpu"] * s["ffmpeg_decode_cpu_s"] for s in report["speed"].values())
    whole = detection / sum(s["ffmpeg_decode_cpu_s"] for s in report["speed"].values())
    print(
        f"(decode + fingerprint + match) / plain decode CPU, each station the median of "
        f"{next(iter(report['speed'].values()))['repeats']} runs: median {np.median(ratios):.2f}x, "
        f"max {max(ratios):.2f}x, {sum(r > 2 for r in ratios)} of {len(ratios)} stations above 2x; "
        f"whole set {whole:.2f}x"
    )
    m = report["margin_cost"]
    if m:
        print(
            f"hour-boundary margins: reading one neighbour's fingerprints "
            f"{m['neighbour_read_s'] * 1000:.0f} ms; matching {m['match_alone_cpu_s']:.3f} s alone vs "
            f"{m['match_with_margins_cpu_s']:.3f} s with margins"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes per condition (default 10)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--rebuild", action="store_true", help="regenerate the audio")
    parser.add_argument("--out", type=Path, default=Path("/tmp/pige-airplay-heldout"))
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON")
    parser.add_argument("--related", action="store_true", help="only list catalogue music inside other music")
    parser.add_argument("--repeat", type=int, default=3, help="speed: median of this many runs per station")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg is needed: apt-get install ffmpeg")
    if args.related:
        related = related_music(args.out, args.seed)
        if args.json:
            args.json.write_text(json.dumps(related, indent=1))
        return
    report = run(args.out, args.minutes, args.seed, args.rebuild, args.repeat)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()

__all__ = ["build", "main", "prf", "run"]
