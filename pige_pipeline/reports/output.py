"""Where reports go and how they are written: CSV + Parquet per table, plus one HTML page."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

FORMATS = ("csv", "parquet", "html")


@dataclass
class ReportOutput:
    """The files a report wrote, and a small table for previews (Dagster metadata, the CLI)."""

    report: str
    period: str
    directory: Path
    files: list[Path] = field(default_factory=list)
    preview: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def html(self) -> Path | None:
        return next((f for f in self.files if f.suffix == ".html"), None)

    def preview_markdown(self, rows: int = 10) -> str:
        if self.preview.empty:
            return "_no rows for this period_"
        shown = self.preview.head(rows).copy()
        for column in shown.columns:
            if pd.api.types.is_datetime64_any_dtype(shown[column]):
                shown[column] = shown[column].dt.strftime("%Y-%m-%d %H:%M:%S")
        return shown.to_markdown(index=False, floatfmt=".1f")


def report_dir(data_root: Path, report: str, period: str, station: str | None = None) -> Path:
    base = data_root / "reports" / report / period
    return base / "stations" / station if station else base


def _atomic_write_bytes(path: Path, write) -> Path:  # type: ignore[no-untyped-def]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)
    return path


def write_tables(directory: Path, tables: dict[str, pd.DataFrame], formats: Sequence[str]) -> list[Path]:
    """Write each table as CSV and/or Parquet (atomically: a reader never sees half a file)."""
    written: list[Path] = []
    for name, frame in tables.items():
        if "csv" in formats:
            written.append(
                _atomic_write_bytes(directory / f"{name}.csv", lambda p, f=frame: f.to_csv(p, index=False))
            )
        if "parquet" in formats:
            written.append(
                _atomic_write_bytes(
                    directory / f"{name}.parquet", lambda p, f=frame: f.to_parquet(p, index=False)
                )
            )
    return written


def write_html(directory: Path, html: str, name: str = "index.html") -> Path:
    return _atomic_write_bytes(directory / name, lambda p: p.write_text(html, encoding="utf-8"))


def write_report(
    report: str,
    period: str,
    directory: Path,
    tables: dict[str, pd.DataFrame],
    formats: Sequence[str],
    page: Callable[[], str],
    preview: pd.DataFrame,
    notes: Sequence[str] = (),
) -> ReportOutput:
    """What every report writes: its tables as CSV/Parquet, `page()` as index.html if asked for."""
    files = write_tables(directory, tables, formats)
    if "html" in formats:
        files.append(write_html(directory, page()))
    return ReportOutput(
        report=report,
        period=period,
        directory=directory,
        files=files,
        preview=preview.head(20),
        notes=list(notes),
        rows={name: len(frame) for name, frame in tables.items()},
    )


def check_formats(formats: Sequence[str]) -> list[str]:
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown report format(s) {', '.join(unknown)}: use {', '.join(FORMATS)}")
    return list(formats)
