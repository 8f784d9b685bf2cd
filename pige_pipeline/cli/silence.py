"""`pige silence detect`: dead air in audio files, as CSV with the decision columns of the `silences` rows."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer

from pige_pipeline.audio.decode import AudioDecodeError
from pige_pipeline.cli.common import fail
from pige_pipeline.silence import detect_silences_in_file
from pige_pipeline.silence.detect import DECISION_COLUMNS, decision_columns

silence_app = typer.Typer(help="Dead air: silence, noise floor and hum.", no_args_is_help=True)

# Where and how long, then what it is and why: the `silences` rows' own columns (silence.detect).
CSV_COLUMNS = ["station", "start_s", "end_s", "duration_s", *DECISION_COLUMNS]


def _cell(value: object) -> object:
    return "" if value is None else value


@silence_app.command("detect")
def detect(
    audio: Annotated[list[Path], typer.Argument(help="Audio files (any format ffmpeg reads).")],
    csv_out: Annotated[
        Path,
        typer.Option(
            "--csv",
            help="CSV to write: station, start_s, end_s, duration_s, then the `silences` rows' decision "
            "columns: " + ", ".join(DECISION_COLUMNS) + ".",
        ),
    ],
    threshold_db: Annotated[
        float, typer.Option("--threshold-db", help="Level (dBFS) below which audio counts as silent.", max=0)
    ] = -50.0,
    min_seconds: Annotated[
        float, typer.Option("--min-seconds", help="Shortest silence reported (seconds).", min=0.05)
    ] = 2.0,
    with_kind: Annotated[
        bool, typer.Option("--kind", hidden=True, help="Accepted for old scripts: `kind` is always written.")
    ] = False,
) -> None:
    """Find dead air in each file; the station column is the file's stem. Unreadable files are skipped."""
    if csv_out.parent and not csv_out.parent.exists():
        fail(f"{csv_out.parent}: directory does not exist; create it or choose another --csv path")
    failed: list[str] = []
    total = 0
    with csv_out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for path in audio:
            if not path.is_file():
                failed.append(f"{path}: no such file")
                typer.echo(f"error: {path}: no such file; skipped", err=True)
                continue
            try:
                silences = detect_silences_in_file(path, threshold_db=threshold_db, min_seconds=min_seconds)
            except AudioDecodeError as exc:
                failed.append(str(exc))
                typer.echo(f"error: {exc}; skipped", err=True)
                continue
            for s in silences:
                where = [path.stem, f"{s.start_s:.3f}", f"{s.end_s:.3f}", f"{s.duration_s:.3f}"]
                decision = decision_columns(s, threshold_db, min_seconds)
                writer.writerow(where + [_cell(decision[c]) for c in DECISION_COLUMNS])
            total += len(silences)
            typer.echo(f"{path.stem}: {len(silences)} silence(s)")
    typer.echo(f"{total} silence(s) in {len(audio) - len(failed)} file(s) written to {csv_out}")
    if failed:
        typer.echo(f"{len(failed)} file(s) could not be read: " + "; ".join(failed), err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(silence_app, name="silence")
