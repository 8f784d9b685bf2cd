"""`pige report ...` and `pige analytics rebuild`: the reports without opening the UI."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Annotated

import duckdb
import typer

from pige_pipeline.analytics import AnalyticsNotBuiltError, connect, db_path, rebuild
from pige_pipeline.cli.common import DataRootOption, fail, resolve_settings
from pige_pipeline.reports import airplay
from pige_pipeline.reports.output import ReportOutput
from pige_pipeline.reports.periods import Period, PeriodError
from pige_pipeline.reports.registry import report
from pige_pipeline.settings import PigeSettings

report_app = typer.Typer(help="Reports: airplay statements, daily logs, dead air, coverage, statistics.")
analytics_app = typer.Typer(help="The analytics DuckDB database.", no_args_is_help=True)

StationOpt = Annotated[str | None, typer.Option("--station", help="Only this station.")]
FormatOpt = Annotated[
    list[str] | None,
    typer.Option("--format", help="csv, parquet or html; repeat for several (default: all three)."),
]
RebuildOpt = Annotated[
    bool, typer.Option("--rebuild", help="Rebuild the analytics database first (picks up the newest hours).")
]
DateOpt = Annotated[str | None, typer.Option("--date", help="A day, YYYY-MM-DD (each station's own day).")]
MonthOpt = Annotated[str | None, typer.Option("--month", help="A month, YYYY-MM (each station's own month).")]
UtcOpt = Annotated[
    bool,
    typer.Option("--utc", help="UTC days and months for every station, instead of each station's timezone."),
]
ClipsOpt = Annotated[
    bool,
    typer.Option(
        "--clips/--no-clips",
        help="Cut each line's audio clip for the HTML page (--no-clips: the page gives `pige evidence` "
        "commands instead).",
    ),
]


def _formats(values: list[str] | None) -> tuple[str, ...]:
    chosen = tuple(v.strip().lower() for v in values) if values else ("csv", "parquet", "html")
    unknown = [v for v in chosen if v not in ("csv", "parquet", "html")]
    if unknown:
        fail(f"unknown --format {', '.join(unknown)}: use csv, parquet or html")
    return chosen


def _period(date: str | None, month: str | None) -> Period:
    if bool(date) == bool(month):
        fail("give exactly one of --date YYYY-MM-DD or --month YYYY-MM")
    try:
        return Period.day(date) if date else Period.month(month or "")
    except PeriodError as exc:
        fail(str(exc))
        raise


def _open(settings: PigeSettings, force_rebuild: bool) -> duckdb.DuckDBPyConnection:
    if force_rebuild or not db_path(settings.data_root).exists():
        typer.echo(f"building {db_path(settings.data_root)} ...", err=True)
        rebuild(settings)
    try:
        return connect(settings.data_root)
    except AnalyticsNotBuiltError as exc:
        fail(str(exc))
        raise


def _check_station(con: duckdb.DuckDBPyConnection, station: str | None) -> None:
    if station and not con.execute("SELECT 1 FROM stations WHERE station = ?", [station]).fetchone():
        known = ", ".join(r[0] for r in con.execute("SELECT station FROM stations ORDER BY 1").fetchall())
        fail(f"no station {station!r} in the analytics database (known: {known or 'none'})")


def _show(output: ReportOutput) -> None:
    for note in output.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(output.preview_markdown(rows=15))
    for path in output.files:
        typer.echo(f"wrote {path}")


def _run(
    data_root: Path | None,
    station: str | None,
    force_rebuild: bool,
    work: Callable[[Path, duckdb.DuckDBPyConnection], ReportOutput],
) -> None:
    settings = resolve_settings(data_root)
    with closing(_open(settings, force_rebuild)) as con:
        _check_station(con, station)
        _show(work(settings.data_root, con))


@report_app.command("airplay", help=report("airplay").description)
def airplay_command(
    month: MonthOpt = None,
    date: DateOpt = None,
    station: StationOpt = None,
    fmt: FormatOpt = None,
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Verify the statement against airplay_events.")
    ] = True,
    force_rebuild: RebuildOpt = False,
    utc: UtcOpt = False,
    clips: ClipsOpt = True,
    data_root: DataRootOption = None,
) -> None:
    period = _period(date, month)
    formats = _formats(fmt)

    def work(root: Path, con: duckdb.DuckDBPyConnection) -> ReportOutput:
        output = report("airplay").run(root, con, period, station, formats, utc, clips)
        if check:
            mismatches = airplay.reconcile(con, period, station, utc)
            if not mismatches.empty:
                typer.echo(mismatches.to_string(index=False), err=True)
                fail(f"the statement does not reconcile with airplay_events on {len(mismatches)} rows", 1)
            typer.echo("reconciled with airplay_events: plays and seconds per station and track are equal")
        return output

    _run(data_root, station, force_rebuild, work)


@report_app.command("daily", help=report("daily").description)
def daily_command(
    date: Annotated[str, typer.Option("--date", help="A day, YYYY-MM-DD (each station's own day).")],
    station: StationOpt = None,
    fmt: FormatOpt = None,
    force_rebuild: RebuildOpt = False,
    utc: UtcOpt = False,
    clips: ClipsOpt = True,
    data_root: DataRootOption = None,
) -> None:
    period = _period(date, None)
    formats = _formats(fmt)
    _run(
        data_root,
        station,
        force_rebuild,
        lambda root, con: report("daily").run(root, con, period, station, formats, utc, clips),
    )


@report_app.command("dead-air", help=report("dead-air").description)
def dead_air_command(
    date: DateOpt = None,
    month: MonthOpt = None,
    station: StationOpt = None,
    fmt: FormatOpt = None,
    force_rebuild: RebuildOpt = False,
    utc: UtcOpt = False,
    clips: ClipsOpt = True,
    data_root: DataRootOption = None,
) -> None:
    period = _period(date, month)
    formats = _formats(fmt)
    _run(
        data_root,
        station,
        force_rebuild,
        lambda root, con: report("dead-air").run(root, con, period, station, formats, utc, clips),
    )


@report_app.command("coverage", help=report("coverage").description)
def coverage_command(
    date: DateOpt = None,
    month: MonthOpt = None,
    station: StationOpt = None,
    fmt: FormatOpt = None,
    force_rebuild: RebuildOpt = False,
    utc: UtcOpt = False,
    data_root: DataRootOption = None,
) -> None:
    period = _period(date, month)
    formats = _formats(fmt)
    _run(
        data_root,
        station,
        force_rebuild,
        lambda root, con: report("coverage").run(root, con, period, station, formats, utc),
    )


@report_app.command("stats", help=report("stats").description)
def stats_command(
    fmt: FormatOpt = None,
    force_rebuild: RebuildOpt = False,
    data_root: DataRootOption = None,
) -> None:
    formats = _formats(fmt)
    _run(data_root, None, force_rebuild, lambda root, con: report("stats").run(root, con, formats=formats))


@analytics_app.command("rebuild")
def rebuild_command(
    no_compact: Annotated[
        bool, typer.Option("--no-compact", help="Use the compacted Parquet as it is (skip compaction).")
    ] = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Recompact every day and build the database from nothing, instead of redoing only "
            "what changed since the last build.",
        ),
    ] = False,
    memory_limit: Annotated[
        str | None,
        typer.Option(
            "--memory-limit",
            help="DuckDB's memory limit, such as 8GB (default: 80% of memory); it spills to disk beyond.",
        ),
    ] = None,
    data_root: DataRootOption = None,
) -> None:
    """Compact the hourly Parquet, rebuild analytics.duckdb under a temporary name and swap it in."""
    settings = resolve_settings(data_root)
    result = rebuild(settings, compact=not no_compact, full=full, memory_limit=memory_limit)
    for name, rows in result.tables.items():
        typer.echo(f"table {name:<16} {rows:>10} rows")
    for name, kind in result.views.items():
        typer.echo(f"view  {name:<16} {kind}")
    for c in result.compaction:
        if c.days_rewritten or c.days_removed:
            typer.echo(
                f"compacted {c.asset}: {c.days_rewritten} day(s) rewritten from {c.files_read} files, "
                f"{c.days_removed} removed, {c.seconds:.1f} s"
            )
    for r in result.refreshes.values():
        if r.full:
            typer.echo(f"stitched {r.table}: all {r.days} days" + (f" ({r.reason})" if r.reason else ""))
        elif r.days_restitched or r.tracks:
            typer.echo(
                f"stitched {r.table}: {r.days_restitched} of {r.days} days ({r.changed_days} changed), "
                f"{len(r.extended)} key(s) a little further, {r.tracks} track(s) for catalogue changes"
            )
    for problem in result.problems[:50]:
        typer.echo(f"skipped: {problem['problem']}", err=True)
    if len(result.problems) > 50:
        typer.echo(f"... and {len(result.problems) - 50} more (table `problems`)", err=True)
    how = f"full: {result.reason}" if result.mode == "full" else "incremental"
    typer.echo(
        f"{result.path} rebuilt in {result.seconds:.1f} s "
        f"({how}; compaction {result.compaction_seconds:.1f} s)"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
    app.add_typer(analytics_app, name="analytics")
