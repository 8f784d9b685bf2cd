"""Statistics: recordings per status, hours recorded, storage used per station, processing backlog.

The backlog of an hourly asset is the station-hours that were recorded (`audio_chunks` says so) but
that the asset has not written yet, plus chunk hours in the store that `audio_chunks` has not seen.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import matplotlib.pyplot as plt
import pandas as pd

from pige_pipeline.reports.html import Section, figure_png, render_page, table_html
from pige_pipeline.reports.output import ReportOutput, report_dir, write_report
from pige_pipeline.store.chunks import parse_chunk_name

REPORT = "stats"


def _du(path: Path) -> tuple[int, int]:
    """(bytes, files) under `path`."""
    total = files = 0
    for directory, _subdirs, names in os.walk(path):
        for name in names:
            try:
                total += os.stat(os.path.join(directory, name)).st_size
                files += 1
            except OSError:
                continue
    return total, files


def _chunk_hours(data_root: Path) -> pd.DataFrame:
    rows = []
    root = data_root / "chunks"
    for directory, _subdirs, names in os.walk(root):
        station = Path(directory).relative_to(root).parts[0] if Path(directory) != root else None
        for name in names:
            began = parse_chunk_name(Path(name))
            if station and began is not None:
                rows.append((station, began.replace(minute=0, second=0, microsecond=0)))
    frame = pd.DataFrame(rows, columns=["station", "hour"]).drop_duplicates()
    frame["hour"] = pd.to_datetime(frame["hour"], utc=True)
    return frame


def stats_tables(con: duckdb.DuckDBPyConnection, data_root: Path) -> dict[str, pd.DataFrame]:
    by_status = con.execute(
        "SELECT station, status, count(*) AS recordings FROM audio_chunks "
        "GROUP BY ALL ORDER BY station, status"
    ).fetchdf()
    per_station = con.execute(
        """
        SELECT s.station, count(a.hour) AS hours_seen,
               round(coalesce(sum(a.duration_s), 0) / 3600, 2) AS hours_recorded,
               coalesce(sum(a.size_bytes), 0) AS recorded_bytes,
               min(a.hour) AS first_hour, max(a.hour) AS last_hour
        FROM stations s LEFT JOIN audio_chunks a ON a.station = s.station
        GROUP BY s.station ORDER BY s.station
        """
    ).fetchdf()
    disk = []
    for station in per_station["station"]:
        size, files = _du(data_root / "chunks" / station)
        disk.append({"station": station, "audio_bytes_on_disk": size, "audio_files": files})
    per_station = per_station.merge(
        pd.DataFrame(disk, columns=["station", "audio_bytes_on_disk", "audio_files"]),
        on="station",
        how="left",
    )
    assets = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT asset FROM processed_hours WHERE asset <> 'audio_chunks' ORDER BY asset"
        ).fetchall()
    ]
    backlog_rows = []
    for asset in assets:
        backlog_rows.append(
            con.execute(
                """
                SELECT ? AS asset, a.station, count(*) AS hours_behind,
                       min(a.hour) AS oldest, max(a.hour) AS newest
                FROM audio_chunks a
                WHERE a.status <> 'missing' AND NOT EXISTS (
                    SELECT 1 FROM processed_hours p
                    WHERE p.asset = ? AND p.station = a.station AND p.hour = a.hour)
                GROUP BY a.station
                """,
                [asset, asset],
            ).fetchdf()
        )
    chunk_hours = _chunk_hours(data_root)
    if not chunk_hours.empty:
        seen = con.execute("SELECT station, hour FROM audio_chunks").fetchdf()
        unseen = chunk_hours.merge(seen, on=["station", "hour"], how="left", indicator=True)
        unseen = unseen[unseen["_merge"] == "left_only"]
        if not unseen.empty:
            backlog_rows.append(
                unseen.groupby("station")["hour"]
                .agg(hours_behind="count", oldest="min", newest="max")
                .reset_index()
                .assign(asset="audio_chunks")
            )
    backlog = (
        pd.concat([b for b in backlog_rows if not b.empty], ignore_index=True)
        if any(not b.empty for b in backlog_rows)
        else pd.DataFrame(columns=["asset", "station", "hours_behind", "oldest", "newest"])
    )[["asset", "station", "hours_behind", "oldest", "newest"]]
    storage = []
    for name in ("chunks", "parquet", "parquet_compacted", "analytics", "reports"):
        size, files = _du(data_root / name)
        storage.append({"area": name, "bytes": size, "files": files})
    return {
        "recordings_by_status": by_status,
        "per_station": per_station,
        "backlog": backlog,
        "storage": pd.DataFrame(storage),
    }


def write_stats(
    data_root: Path,
    con: duckdb.DuckDBPyConnection,
    formats: tuple[str, ...] = ("csv", "parquet", "html"),
    when: datetime | None = None,
) -> ReportOutput:
    tables = stats_tables(con, data_root)
    label = f"{(when or datetime.now(UTC)):%Y-%m-%d}"
    directory = report_dir(data_root, REPORT, "latest")

    def page() -> str:
        per = tables["per_station"]
        sections: list[Section] = []
        if not per.empty:
            fig, axes = plt.subplots(1, 2, figsize=(12, 0.3 * len(per) + 1.5))
            axes[0].barh(per["station"], per["hours_recorded"], color="#3b6fb6")
            axes[0].set_xlabel("hours recorded")
            axes[1].barh(per["station"], per["audio_bytes_on_disk"] / 1e9, color="#8e44ad")
            axes[1].set_xlabel("audio on disk (GB)")
            sections.append(Section("Recording and storage per station", images=[figure_png(fig)]))
        sections += [
            Section("Recordings per status", table=table_html(tables["recordings_by_status"])),
            Section("Per station", table=table_html(per)),
            Section("Processing backlog", table=table_html(tables["backlog"])),
            Section("Storage", table=table_html(tables["storage"])),
        ]
        kpis = {
            "stations": len(per),
            "hours recorded": f"{per['hours_recorded'].sum():.0f}",
            "station-hours behind": int(tables["backlog"]["hours_behind"].sum()),
            "audio on disk (GB)": f"{per['audio_bytes_on_disk'].sum() / 1e9:.2f}",
        }
        return render_page("pige statistics", label, sections, kpis=kpis)

    return write_report(REPORT, label, directory, tables, formats, page, tables["per_station"])
