"""Parquet outputs: the system of record. One file per asset, station and UTC hour.

Layout: {data_root}/parquet/{asset}/{station}/{YYYY}/{MM}/{DD}/{HH}.parquet

Every file carries `station` and `hour` columns, so the path is only an index, never the data: DuckDB
reads the tree with `hive_partitioning = false`. An hour that was processed and found nothing is an
empty file with the schema, which is different from an hour that was never processed (no file).
Files are written to a temporary name and renamed, so readers never see half a file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pige_pipeline.hours import HOUR, hour_start, utc


def asset_hour_path(data_root: Path, asset: str, station: str, hour: datetime) -> Path:
    h = hour_start(hour)
    return data_root / "parquet" / asset / station / f"{h:%Y}" / f"{h:%m}" / f"{h:%d}" / f"{h:%H}.parquet"


def manifest_path(data_root: Path, asset: str, hour: datetime) -> Path:
    h = hour_start(hour)
    return data_root / "parquet" / "_manifests" / asset / f"{h:%Y}" / f"{h:%m}" / f"{h:%d}" / f"{h:%H}.json"


def write_table(table: pa.Table | pd.DataFrame, path: Path, schema: pa.Schema | None = None) -> Path:
    """Write a Parquet file atomically (temporary name, then rename)."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, schema=schema, preserve_index=False)
    elif schema is not None:
        table = table.cast(schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
    return path


def write_asset_hour(
    data_root: Path,
    asset: str,
    station: str,
    hour: datetime,
    rows: pa.Table | pd.DataFrame | list[dict[str, Any]],
    schema: pa.Schema,
) -> Path:
    """Write one station-hour of an asset; `station` and `hour` columns are filled in if absent."""
    if isinstance(rows, list):
        rows = pd.DataFrame(rows, columns=[f.name for f in schema]) if not rows else pd.DataFrame(rows)
    if isinstance(rows, pd.DataFrame):
        rows = rows.copy()
        rows["station"] = station
        rows["hour"] = pd.Timestamp(hour_start(hour))
        rows = rows[[f.name for f in schema]]
        table = pa.Table.from_pandas(rows, schema=schema, preserve_index=False)
    else:
        table = rows.cast(schema)
    return write_table(table, asset_hour_path(data_root, asset, station, hour))


def read_asset_hour(data_root: Path, asset: str, station: str, hour: datetime) -> pd.DataFrame | None:
    """One station-hour of an asset, or None if that hour was never written."""
    path = asset_hour_path(data_root, asset, station, hour)
    if not path.exists():
        return None
    return pq.read_table(path).to_pandas()


def read_asset_range(
    data_root: Path,
    asset: str,
    start: datetime,
    end: datetime,
    stations: Iterable[str] | None = None,
) -> pd.DataFrame:
    """All rows of an asset for hours in [start, end), concatenated (empty frame if none)."""
    root = data_root / "parquet" / asset
    wanted = (
        list(stations)
        if stations is not None
        else sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
        if root.is_dir()
        else []
    )
    frames = []
    hour = hour_start(start)
    while hour < utc(end):
        for station in wanted:
            path = asset_hour_path(data_root, asset, station, hour)
            if path.exists():
                frames.append(pq.read_table(path).to_pandas())
        hour += HOUR
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_manifest(data_root: Path, asset: str, hour: datetime, manifest: dict[str, Any]) -> Path:
    """Record which stations an hourly run processed and which failed, and why."""
    path = manifest_path(data_root, asset, hour)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_manifest(data_root: Path, asset: str, hour: datetime) -> dict[str, Any] | None:
    path = manifest_path(data_root, asset, hour)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
