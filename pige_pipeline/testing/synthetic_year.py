"""Synthetic station-hour data with exactly the documented core columns, for tests and benchmarks.

Events are generated whole (a play, a silence, a stretch of talk) on a continuous time line per
station, then cut at UTC hour boundaries the way the hourly assets write them, so the whole events are
the ground truth a report must reproduce. Generation is vectorised: a year of 50 stations at 15 plays
per station-hour (6.5 million plays) takes seconds.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from pige_pipeline.analytics.compaction import compacted_day_path, processed_day_path
from pige_pipeline.analytics.schemas import ASSET_SCHEMAS
from pige_pipeline.hours import hour_start
from pige_pipeline.settings import PigeSettings
from pige_pipeline.store.gaps import CAUSES, Gap, append_gap
from pige_pipeline.store.parquet import write_asset_hour

HOUR_US = 3_600_000_000
SECOND_US = 1_000_000

_SENTENCES = {
    "fr": [
        "Bonjour et bienvenue sur l'antenne, il est l'heure du point météo.",
        "Le concert de ce soir affiche complet au théâtre municipal.",
        "Les résultats de l'élection municipale seront connus demain.",
        "Circulation difficile sur la rocade ce matin, prudence.",
        "Restez avec nous, la suite du programme arrive tout de suite.",
        "Un grand merci à nos auditeurs pour leurs messages.",
    ],
    "en": [
        "Good morning, here is the weather for the whole region.",
        "Tonight's concert at the city hall is sold out.",
        "Election results will be announced tomorrow morning.",
        "Heavy traffic on the ring road this morning, take care.",
        "Stay with us, more music is coming right up.",
        "Thanks to all our listeners for their messages.",
    ],
}
WATCH_TERMS = ("météo", "concert", "élection", "weather", "concert", "election")
_PUBLISHERS = [
    "Éditions Garonne",
    "North Sea Music",
    "Plein Sud Publishing",
    "Atlas Songs",
    "Mistral Éditions",
]
_LABELS = ["Label Rouge", "Blue Coast Records", "Disques Pyrène", "Harbour Sound"]


@dataclass(frozen=True)
class ForcedPlay:
    """A play placed exactly (for example across midnight); random plays it overlaps are removed."""

    station: str
    track_id: str
    start: datetime
    duration_s: float


@dataclass
class SyntheticData:
    """Hour-cut tables per asset, plus the whole events they were cut from."""

    stations: list[str]
    start: datetime
    hours: int
    tables: dict[str, pd.DataFrame]
    plays: pd.DataFrame  # whole plays: station, track_id, start, end, duration_s
    silences: pd.DataFrame  # whole silences: station, start, end, duration_s
    gaps: list[Gap]
    catalogue: pd.DataFrame
    station_hours: pd.DataFrame  # station, hour, status of every generated station-hour
    watch_terms: tuple[str, ...] = field(default=WATCH_TERMS)


def _ts(us: np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(us, dtype=np.int64), unit="us", utc=True)


def _us(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * SECOND_US)


def _split_hours(start_us: np.ndarray, end_us: np.ndarray) -> dict[str, np.ndarray]:
    """Cut [start, end) spans at UTC hour boundaries; `idx` maps each piece to its span."""
    h0 = start_us // HOUR_US
    h1 = np.maximum(end_us - 1, start_us) // HOUR_US
    n = (h1 - h0 + 1).astype(np.int64)
    idx = np.repeat(np.arange(len(start_us)), n)
    k = np.arange(len(idx)) - np.repeat(np.cumsum(n) - n, n)
    hour = (h0[idx] + k) * HOUR_US
    seg_start = np.maximum(start_us[idx], hour)
    seg_end = np.minimum(end_us[idx], hour + HOUR_US)
    return {
        "idx": idx,
        "hour": hour,
        "start": seg_start,
        "end": seg_end,
        "start_s": (seg_start - hour) / SECOND_US,
        "end_s": (seg_end - hour) / SECOND_US,
        "duration_s": (seg_end - seg_start) / SECOND_US,
        "continues_from_previous_hour": seg_start > start_us[idx],
        "continues_into_next_hour": seg_end < end_us[idx],
    }


def _frame(pieces: dict[str, np.ndarray], extra: dict[str, object]) -> pd.DataFrame:
    data: dict[str, object] = {}
    for name in ("hour", "start", "end"):
        data[name] = _ts(pieces[name])
    for name in (
        "start_s",
        "end_s",
        "duration_s",
        "continues_from_previous_hour",
        "continues_into_next_hour",
    ):
        data[name] = pieces[name]
    data.update(extra)
    return pd.DataFrame(data)


def make_catalogue(size: int, rng: np.random.Generator) -> pd.DataFrame:
    ids = [f"T{i:05d}" for i in range(size)]
    artists = [f"Artist {i % max(size // 4, 1):03d}" for i in range(size)]
    return pd.DataFrame(
        {
            "track_id": ids,
            "title": [f"Song {i:05d}" for i in range(size)],
            "artist": artists,
            "isrc": [f"FRZ03{26:02d}{i:05d}" for i in range(size)],
            "path": [f"music/{i:05d}.mp3" for i in range(size)],
            "label": [_LABELS[i % len(_LABELS)] for i in range(size)],
            "composer": [f"Composer {i % 37:02d}" for i in range(size)],
            "publisher": [_PUBLISHERS[int(x)] for x in rng.integers(0, len(_PUBLISHERS), size)],
        }
    )


def _station_plays(
    rng: np.random.Generator, t0: int, t1: int, plays_per_hour: float, catalogue_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cycle = 3600.0 / plays_per_hour
    n = int((t1 - t0) / HOUR_US * plays_per_hour * 1.3) + 10
    duration = rng.uniform(0.55, 0.95, n) * cycle
    talk = np.clip(cycle - duration + rng.uniform(-0.05, 0.05, n) * cycle, 1.0, None)
    offsets = np.concatenate([[rng.uniform(0, cycle)], np.cumsum(duration + talk)[:-1]])
    start = t0 + (offsets * SECOND_US).astype(np.int64)
    end = start + (duration * SECOND_US).astype(np.int64)
    keep = end <= t1
    # A few hits take most of the airplay, as on real stations.
    track = (catalogue_size * rng.random(n) ** 2.5).astype(np.int64)
    return start[keep], end[keep], track[keep]


def generate(
    stations: Sequence[str],
    start: datetime,
    hours: int,
    *,
    seed: int = 0,
    plays_per_hour: float = 15.0,
    silences_per_hour: float = 0.3,
    catalogue_size: int = 300,
    forced_plays: Sequence[ForcedPlay] = (),
    with_speech: bool = True,
    with_fingerprints: bool = True,
) -> SyntheticData:
    """Generate `hours` hours from `start` for `stations`; deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    t0 = _us(hour_start(start))
    t1 = t0 + hours * HOUR_US
    catalogue = make_catalogue(catalogue_size, rng)
    tables: dict[str, pd.DataFrame] = {}
    # Recording: most hours whole, some short (with a logged gap), a few missing.
    grid_station = np.repeat(np.array(list(stations), dtype=object), hours)
    grid_hour = np.tile(t0 + np.arange(hours, dtype=np.int64) * HOUR_US, len(stations))
    roll = rng.random(len(grid_hour))
    status_arr = np.where(roll < 0.005, "missing", np.where(roll < 0.025, "short", "ok"))
    for fp in forced_plays:
        # A forced play is there to be reported: its hours are always recorded.
        first_hour = (_us(fp.start) - t0) // HOUR_US
        for h in range(first_hour, first_hour + int(fp.duration_s // 3600) + 2):
            if 0 <= h < hours and fp.station in stations:
                status_arr[list(stations).index(fp.station) * hours + h] = "ok"
    gap_s = np.where(
        status_arr == "missing", 3600.0, np.where(status_arr == "short", rng.uniform(10, 900, len(roll)), 0.0)
    )
    gap_s = np.round(gap_s, 1)
    duration = 3600.0 - gap_s
    causes = rng.choice(list(CAUSES[:4]), len(roll))
    gap_start = grid_hour + ((3600.0 - gap_s) * rng.random(len(roll)) * SECOND_US).astype(np.int64)
    gaps = [
        Gap(
            station=str(grid_station[i]),
            start=_ts([gap_start[i]])[0].to_pydatetime(),
            end=_ts([gap_start[i] + int(gap_s[i] * SECOND_US)])[0].to_pydatetime(),
            cause=str(causes[i] if status_arr[i] == "short" else "recorder_down"),
        )
        for i in np.flatnonzero(gap_s > 0)
    ]
    tables["audio_chunks"] = pd.DataFrame(
        {
            "station": grid_station,
            "hour": _ts(grid_hour),
            "status": status_arr,
            "files": np.where(status_arr == "missing", 0, np.where(status_arr == "short", 2, 1)).astype(
                np.int32
            ),
            "path": [
                ""
                if st == "missing"
                else f"chunks/{s}/{pd.Timestamp(h, unit='us'):%Y/%m/%d/%Y%m%dT%H0000Z}.mp3"
                for s, h, st in zip(grid_station, grid_hour, status_arr, strict=True)
            ],
            "duration_s": duration,
            "codec": "mp3",
            "bitrate": np.int64(128_000),
            "sample_rate": np.int32(44_100),
            "channels": np.int32(2),
            "size_bytes": (duration * 16_000).astype(np.int64),
            "coverage": duration / 3600.0,
            "gap_s": gap_s,
            "gap_causes": np.where(gap_s > 0, np.where(status_arr == "short", causes, "recorder_down"), ""),
            "error": np.where(status_arr == "missing", "no audio for this hour", ""),
        }
    )
    station_hours = pd.DataFrame({"station": grid_station, "hour": _ts(grid_hour), "status": status_arr})

    station_no = {station: i for i, station in enumerate(stations)}
    missing_grid = (status_arr == "missing").reshape(len(stations), hours)

    def in_missing_hour(span_station: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
        # No audio, no events: spans touching an hour that was never recorded are dropped.
        row = np.array([station_no[x] for x in span_station], dtype=np.int64)
        first = np.clip((s - t0) // HOUR_US, 0, hours - 1)
        last = np.clip((np.maximum(e - 1, s) - t0) // HOUR_US, 0, hours - 1)
        return missing_grid[row, first] | missing_grid[row, last] if len(row) else np.zeros(0, bool)

    forced = list(forced_plays)
    play_parts: list[pd.DataFrame] = []
    for station in stations:
        s, e, t = _station_plays(rng, t0, t1, plays_per_hour, catalogue_size)
        track_ids = catalogue["track_id"].to_numpy()[t]
        for fp in (f for f in forced if f.station == station):
            fs = _us(fp.start)
            fe = fs + int(fp.duration_s * SECOND_US)
            clear = (e + 5 * SECOND_US <= fs) | (s >= fe + 5 * SECOND_US)
            s, e, track_ids = (
                np.append(s[clear], fs),
                np.append(e[clear], fe),
                np.append(track_ids[clear], fp.track_id),
            )
        order = np.argsort(s, kind="stable")
        play_parts.append(
            pd.DataFrame({"station": station, "s": s[order], "e": e[order], "track_id": track_ids[order]})
        )
    whole = pd.concat(play_parts, ignore_index=True)
    whole = whole[~in_missing_hour(whole["station"].to_numpy(), whole["s"].to_numpy(), whole["e"].to_numpy())]
    whole = whole.reset_index(drop=True)
    whole["play_id"] = [f"{st}-{v}" for st, v in zip(whole["station"], whole["s"], strict=True)]

    cat = catalogue.set_index("track_id")
    pieces = _split_hours(whole["s"].to_numpy(), whole["e"].to_numpy())
    idx = pieces["idx"]
    tid = whole["track_id"].to_numpy()[idx]
    first = ~pieces["continues_from_previous_hour"]
    tables["airplay_events"] = _frame(
        pieces,
        {
            "station": whole["station"].to_numpy()[idx],
            # Each hour's asset names its own piece; the ids of a play's pieces differ.
            "play_id": np.char.add(whole["play_id"].to_numpy()[idx].astype(str), np.where(first, "", "-c")),
            "track_id": tid,
            "title": cat.loc[tid, "title"].to_numpy(),
            "artist": cat.loc[tid, "artist"].to_numpy(),
            "isrc": cat.loc[tid, "isrc"].to_numpy(),
            "ref_offset_s": (pieces["start"] - whole["s"].to_numpy()[idx]) / SECOND_US,
            "score": rng.uniform(0.6, 1.0, len(idx)),
            "confidence": rng.uniform(0.8, 1.0, len(idx)),
            "icy_title": None,
        },
    )

    # Silences and the dead-air alerts they raise.
    sil_station, sil_s, sil_e = [], [], []
    for station in stations:
        n = rng.poisson(silences_per_hour * hours)
        s = np.sort(rng.integers(t0, t1 - 400 * SECOND_US, n))
        d = np.minimum(2.0 + rng.exponential(12.0, n), 300.0)
        e = s + (d * SECOND_US).astype(np.int64)
        keep = np.concatenate([[True], s[1:] > e[:-1] + 2 * SECOND_US]) if n else np.array([], bool)
        sil_station += [station] * int(keep.sum())
        sil_s.append(s[keep])
        sil_e.append(e[keep])
    silences = pd.DataFrame(
        {
            "station": np.array(sil_station, dtype=object),
            "s": np.concatenate(sil_s) if sil_s else np.array([], np.int64),
            "e": np.concatenate(sil_e) if sil_e else np.array([], np.int64),
        }
    )
    silences = silences[
        ~in_missing_hour(silences["station"].to_numpy(), silences["s"].to_numpy(), silences["e"].to_numpy())
    ].reset_index(drop=True)
    silences["duration_s"] = (silences["e"] - silences["s"]) / SECOND_US
    level = rng.uniform(-75, -55, len(silences))
    kind = rng.choice(["digital_silence", "noise_floor", "hum"], len(silences), p=[0.6, 0.3, 0.1])
    sp = _split_hours(silences["s"].to_numpy(), silences["e"].to_numpy())
    tables["silences"] = _frame(
        sp,
        {
            "station": silences["station"].to_numpy()[sp["idx"]],
            "level_db": level[sp["idx"]],
            "kind": kind[sp["idx"]],
            "threshold_db": -50.0,
        },
    )
    alerts = silences[silences["duration_s"] >= 5.0].reset_index(drop=True)
    dur = alerts["duration_s"].to_numpy()
    severity = np.where(dur >= 60, "critical", np.where(dur >= 15, "warning", "info"))
    classification = np.where((dur < 15) & (rng.random(len(alerts)) < 0.7), "natural", "suspect")
    status = np.where(
        severity == "info", "not_needed", np.where(rng.random(len(alerts)) < 0.05, "failed", "sent")
    )
    notified = np.where(status == "sent", alerts["s"].to_numpy() + 30 * SECOND_US, -1)
    ap = _split_hours(alerts["s"].to_numpy(), alerts["e"].to_numpy())
    ai = ap["idx"]
    alert_frame = _frame(
        ap,
        {
            "station": alerts["station"].to_numpy()[ai],
            "alert_id": [
                f"{st}-{v}"
                for st, v in zip(alerts["station"].to_numpy()[ai], alerts["s"].to_numpy()[ai], strict=True)
            ],
            "severity": severity[ai],
            "classification": classification[ai],
            "confidence": rng.uniform(0.5, 1.0, len(ai)),
            "explanation": np.where(
                classification[ai] == "natural", "pause between programmes", "no fade, no voice"
            ),
            "classifier": "rules",
            "context_start_s": np.maximum(ap["start_s"] - 5.0, 0.0),
            "context_end_s": np.minimum(ap["end_s"] + 5.0, 3600.0),
            "context_transcript": "",
            "notified_at": pd.to_datetime(np.where(notified[ai] >= 0, notified[ai], 0), unit="us", utc=True),
            "notification_status": status[ai],
        },
    )
    alert_frame.loc[notified[ai] < 0, "notified_at"] = pd.NaT
    alert_frame = alert_frame.drop(columns=["continues_from_previous_hour", "continues_into_next_hour"])
    tables["dead_air_alerts"] = alert_frame

    if with_speech:
        _speech_tables(tables, whole, stations, rng, t0, t1, hours)
    if with_fingerprints:
        processed = station_hours[station_hours["status"] != "missing"]
        tables["fingerprints"] = pd.DataFrame(
            {
                "station": processed["station"].to_numpy(),
                "hour": processed["hour"].to_numpy(),
                "part_offset_s": 0.0,
                "sample_rate": np.int32(11025),
                "fingerprint": [
                    rng.integers(0, 2**32, 16, dtype=np.uint32).tolist() for _ in range(len(processed))
                ],
            }
        )
    plays = pd.DataFrame(
        {
            "station": whole["station"],
            "track_id": whole["track_id"],
            "start": _ts(whole["s"]),
            "end": _ts(whole["e"]),
            "duration_s": (whole["e"] - whole["s"]) / SECOND_US,
        }
    )
    whole_silences = pd.DataFrame(
        {
            "station": silences["station"],
            "start": _ts(silences["s"]),
            "end": _ts(silences["e"]),
            "duration_s": silences["duration_s"],
        }
    )
    return SyntheticData(
        stations=list(stations),
        start=hour_start(start),
        hours=hours,
        tables=tables,
        plays=plays,
        silences=whole_silences,
        gaps=gaps,
        catalogue=catalogue,
        station_hours=station_hours,
    )


def _speech_tables(
    tables: dict[str, pd.DataFrame],
    whole: pd.DataFrame,
    stations: Sequence[str],
    rng: np.random.Generator,
    t0: int,
    t1: int,
    hours: int,
) -> None:
    """Talk between plays becomes speech segments, transcripts, mentions and hourly summaries."""
    talk_station, talk_s, talk_e = [], [], []
    for station, group in whole.groupby("station", sort=False):
        s, e = group["s"].to_numpy(), group["e"].to_numpy()
        ts, te = e[:-1], s[1:]
        keep = te - ts > 3 * SECOND_US
        talk_station += [station] * int(keep.sum())
        talk_s.append(ts[keep])
        talk_e.append(te[keep])
    ts = np.concatenate(talk_s) if talk_s else np.array([], np.int64)
    te = np.concatenate(talk_e) if talk_e else np.array([], np.int64)
    talk_station_arr = np.array(talk_station, dtype=object)
    music = _split_hours(whole["s"].to_numpy(), whole["e"].to_numpy())
    speech = _split_hours(ts, te)
    speech_df = _frame(speech, {"station": talk_station_arr[speech["idx"]], "kind": "speech"})
    music_df = _frame(music, {"station": whole["station"].to_numpy()[music["idx"]], "kind": "music"})
    tables["speech_segments"] = (
        pd.concat([speech_df, music_df], ignore_index=True)
        .drop(columns=["continues_from_previous_hour", "continues_into_next_hour"])
        .sort_values(["station", "start"], ignore_index=True)
    )
    language_of = {s: ("fr" if i % 2 == 0 else "en") for i, s in enumerate(stations)}
    language = np.array([language_of[s] for s in speech_df["station"]], dtype=object)
    choice = rng.integers(0, len(_SENTENCES["fr"]), len(speech_df))
    text = np.array([_SENTENCES[lang][c] for lang, c in zip(language, choice, strict=True)], dtype=object)
    dropped = rng.random(len(speech_df)) < 0.03
    transcripts = speech_df.drop(
        columns=["kind", "duration_s", "continues_from_previous_hour", "continues_into_next_hour"]
    ).assign(
        segment_id=[
            f"{s}-{int(v.value // 1000)}"
            for s, v in zip(speech_df["station"], speech_df["start"], strict=True)
        ],
        text=np.where(dropped, "", text),
        language=language,
        avg_logprob=rng.uniform(-0.9, -0.1, len(speech_df)),
        no_speech_prob=np.where(dropped, 0.9, rng.uniform(0.0, 0.3, len(speech_df))),
        dropped=dropped,
        drop_reason=np.where(dropped, "no_speech", ""),
    )
    tables["transcripts"] = transcripts
    mention_rows = []
    for row in transcripts[~transcripts["dropped"]].itertuples(index=False):
        lowered = row.text.lower()
        for term in dict.fromkeys(WATCH_TERMS):
            if term in lowered:
                mention_rows.append(
                    {"station": row.station, "hour": row.hour, "term": term, "start": row.start,
                     "start_s": row.start_s, "text": row.text}
                )  # fmt: skip
    tables["mentions"] = pd.DataFrame(
        mention_rows, columns=["station", "hour", "term", "start", "start_s", "text"]
    )
    summary_rows = []
    for (station, hour), group in transcripts.groupby(["station", "hour"], sort=True):
        texts = [t for t in group["text"] if t]
        failed = rng.random() < 0.02
        words = sorted({w.strip(".,'").lower() for t in texts[:5] for w in t.split() if len(w) > 6})
        summary_rows.append(
            {
                "station": station,
                "hour": hour,
                "summary": "" if failed else " ".join(texts[:2]),
                "keywords": [] if failed else words[:5],
                "topics": [] if failed else (["news"] if any("lect" in t for t in texts) else ["music"]),
                "engine": "offline",
                "model": "yake",
                "status": "failed" if failed else "ok",
                "error": "summariser timed out" if failed else "",
            }
        )
    tables["summaries"] = pd.DataFrame(summary_rows)
    n_unknown = rng.poisson(0.2 * hours * len(stations))
    us_station = rng.choice(np.array(list(stations), dtype=object), n_unknown)
    us_s = rng.integers(t0, t1 - 300 * SECOND_US, n_unknown)
    us_e = us_s + rng.integers(30, 240, n_unknown) * SECOND_US
    up = _split_hours(us_s, us_e)
    tables["unknown_music"] = _frame(
        up,
        {
            "station": us_station[up["idx"]],
            "segment_id": [f"u-{v}" for v in us_s[up["idx"]]],
            "cluster_id": [f"c{v % 20:02d}" for v in rng.integers(0, 20, n_unknown)[up["idx"]]],
        },
    ).drop(columns=["continues_from_previous_hour", "continues_into_next_hour"])


def _arrow(asset: str, frame: pd.DataFrame) -> pa.Table:
    schema = ASSET_SCHEMAS[asset]
    return pa.Table.from_pandas(frame[[f.name for f in schema]], schema=schema, preserve_index=False)


def write_support_files(data_root: Path, data: SyntheticData) -> None:
    """stations.yaml, the catalogue CSV and the recorder gap log."""
    data_root.mkdir(parents=True, exist_ok=True)
    stations = [
        {"id": s, "name": s.replace("-", " ").title(), "stream_url": f"http://127.0.0.1:8000/{s}.mp3",
         "timezone": "Europe/Paris", "language": "fr" if i % 2 == 0 else "en",
         "speech": {"watch_terms": list(dict.fromkeys(WATCH_TERMS))}}
        for i, s in enumerate(data.stations)
    ]  # fmt: skip
    (data_root / "stations.yaml").write_text(yaml.safe_dump({"stations": stations}, sort_keys=False), "utf-8")
    catalogue = data_root / "catalogue" / "catalogue.csv"
    catalogue.parent.mkdir(parents=True, exist_ok=True)
    data.catalogue.to_csv(catalogue, index=False)
    for gap in data.gaps:
        append_gap(data_root, gap)


def write_hourly(data_root: Path, data: SyntheticData) -> int:
    """Write the hourly layout exactly as the assets do: one file per asset, station and hour.

    Every station-hour that was recorded gets a file for every asset (empty if no rows), because an
    empty file means "processed, nothing found". Returns the number of files written.
    """
    write_support_files(data_root, data)
    written = 0
    recorded = data.station_hours[data.station_hours["status"] != "missing"]
    for asset, frame in data.tables.items():
        table = _arrow(asset, frame)
        keys = pd.DataFrame({"station": frame["station"].to_numpy(), "hour": frame["hour"].to_numpy()})
        groups = keys.groupby(["station", "hour"], sort=False).indices
        targets = data.station_hours if asset == "audio_chunks" else recorded
        schema = ASSET_SCHEMAS[asset]
        for station, hour in zip(targets["station"], targets["hour"], strict=True):
            rows = groups.get((station, hour))
            part = table.take(pa.array(rows)) if rows is not None else schema.empty_table()
            write_asset_hour(data_root, asset, station, hour.to_pydatetime(), part, schema)
            written += 1
    return written


def write_compacted(data_root: Path, data: SyntheticData) -> int:
    """Write straight into the compacted layout (one file per asset and day), for year-long benchmarks.

    Use `rebuild(compact=False)` afterwards: there is no hourly tree for compaction to follow.
    Returns the number of files written.
    """
    write_support_files(data_root, data)
    written = 0
    recorded = data.station_hours[data.station_hours["status"] != "missing"]
    for asset, unsorted in data.tables.items():
        # Sorted once by hour, each day is a zero-copy slice of the table.
        frame = unsorted.sort_values("hour", kind="stable", ignore_index=True)
        table = _arrow(asset, frame)
        targets = (data.station_hours if asset == "audio_chunks" else recorded).sort_values(
            "hour", kind="stable"
        )
        counts = frame.groupby(["station", "hour"]).size().rename("rows").reset_index()
        index_all = targets[["station", "hour"]].merge(counts, on=["station", "hour"], how="left")
        index_all["rows"] = index_all["rows"].fillna(0).astype("int64")
        day_of_row = frame["hour"].dt.floor("D").to_numpy()
        day_of_target = index_all["hour"].dt.floor("D").to_numpy()
        for day in np.unique(day_of_target):
            the_day: date = pd.Timestamp(day).date()
            lo, hi = np.searchsorted(day_of_row, day, "left"), np.searchsorted(day_of_row, day, "right")
            path = compacted_day_path(data_root, asset, the_day)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table.slice(lo, hi - lo), path, compression="zstd")
            tlo, thi = (
                np.searchsorted(day_of_target, day, "left"),
                np.searchsorted(day_of_target, day, "right"),
            )
            hours = index_all.iloc[tlo:thi]
            index = pa.table(
                {
                    "station": pa.array(hours["station"].to_numpy(), pa.string()),
                    "hour": pa.array(hours["hour"], pa.timestamp("us", tz="UTC")),
                    "rows": pa.array(hours["rows"].to_numpy(), pa.int64()),
                    "path": pa.array([""] * len(hours), pa.string()),
                    "asset": pa.array([asset] * len(hours), pa.string()),
                }
            )
            processed = processed_day_path(data_root, asset, the_day)
            processed.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(index, processed)
            written += 1
    return written


def hourly_file_count(data_root: Path, asset: str) -> int:
    count = 0
    for _dir, _subdirs, files in os.walk(data_root / "parquet" / asset):
        count += sum(1 for f in files if f.endswith(".parquet"))
    return count


def month_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, 1, tzinfo=UTC)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


__all__ = [
    "ForcedPlay",
    "SyntheticData",
    "generate",
    "hourly_file_count",
    "make_catalogue",
    "month_bounds",
    "write_compacted",
    "write_hourly",
]


# A plain midnight and a month end, each crossed by a play, a silence-free stretch of two days.
DEMO_START = datetime(2026, 1, 30, 20, tzinfo=UTC)
DEMO_FORCED = (
    ForcedPlay("radio-a", "T00001", datetime(2026, 1, 30, 23, 58, tzinfo=UTC), 300.0),
    ForcedPlay("radio-b", "T00002", datetime(2026, 1, 31, 23, 57, 30, tzinfo=UTC), 400.0),
)


def build_synthetic_root(
    data_root: Path,
    stations: Sequence[str] = ("radio-a", "radio-b"),
    start: datetime = DEMO_START,
    hours: int = 56,
    seed: int = 7,
) -> SyntheticData:
    """A small data root with every hourly asset, the gap log, stations and catalogue, in hourly layout."""
    data = generate(
        stations, start, hours, seed=seed, forced_plays=[f for f in DEMO_FORCED if f.station in stations]
    )
    write_hourly(data_root, data)
    return data


def settings_for(data_root: Path) -> PigeSettings:
    """Settings for a data root laid out the default way (stations.yaml, catalogue/catalogue.csv)."""
    return PigeSettings(data_root, data_root / "stations.yaml", data_root / "catalogue" / "catalogue.csv")
