"""`pige airplay detect/unknown` and `pige catalogue check/index`: the airplay domain without Dagster."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from pige_pipeline.airplay.catalogue import CatalogueFileError, load_catalogue
from pige_pipeline.airplay.fine_presence import SamplesAudio
from pige_pipeline.airplay.fingerprint import fingerprint_rows
from pige_pipeline.airplay.index import update_index
from pige_pipeline.airplay.matcher import DEFAULT_PARAMS, Play, match_fingerprint_rows
from pige_pipeline.airplay.music_likeness import profile_from_row
from pige_pipeline.airplay.unknown import Piece, unknown_segments
from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE, AudioDecodeError, decode_mono
from pige_pipeline.cli.common import DataRootOption, fail, resolve_settings
from pige_pipeline.cli.progress import Progress, progress_bar

airplay_app = typer.Typer(help="Find catalogue plays in recorded audio.", no_args_is_help=True)
catalogue_app = typer.Typer(help="The catalogue of tracks that airplay recognises.", no_args_is_help=True)

CatalogueOption = Annotated[
    Path | None,
    typer.Option(
        "--catalogue", help="catalogue.csv (default: PIGE_CATALOGUE or DATA_ROOT/catalogue/catalogue.csv)."
    ),
]


def _detect_each(
    audio: list[Path], catalogue: Path | None, min_play_s: float, data_root: Path | None
) -> tuple[list[tuple[Path, list[dict], list[Play]]], int]:
    """(file, fingerprint rows, plays) for each readable AUDIO file, and how many could not be read."""
    settings = resolve_settings(data_root)
    csv_path = catalogue or settings.catalogue_file
    try:
        loaded = load_catalogue(csv_path)
    except CatalogueFileError as exc:
        fail(str(exc))
    # Per-file prints are cached by content hash under the data root; the merged index stays in memory
    # so that a one-off CSV never replaces the pipeline's own index.
    update = update_index(loaded, settings.state_dir / "catalogue", persist=False)
    for problem in update.problems:
        typer.echo(f"skipped: {problem}", err=True)
    if update.index.n_tracks == 0:
        fail(f"{csv_path}: no usable track to match against")
    params = replace(DEFAULT_PARAMS, min_play_s=min_play_s)
    failed = 0
    done = []
    with progress_bar("matching", len(audio), "files") as bar:
        for path in audio:
            bar.advance(0, label=path.name)
            try:
                samples = decode_mono(path, ANALYSIS_SAMPLE_RATE)
            except (AudioDecodeError, OSError) as exc:
                typer.echo(f"error: {exc}; skipped", err=True)
                failed += 1
                bar.advance()
                continue
            rows = fingerprint_rows([(0.0, samples)], ANALYSIS_SAMPLE_RATE)
            audio = SamplesAudio([(0.0, samples)], update.index)
            done.append((path, rows, match_fingerprint_rows(update.index, rows, params, audio)))
            bar.advance()
    return done, failed


def _track_progress(bar: Progress) -> Callable[[str], None]:
    """`update_index`'s on_track callback: names the track being looked at, counts the one before."""
    seen = False

    def on_track(track_id: str) -> None:
        nonlocal seen
        bar.advance(1 if seen else 0, label=track_id)
        seen = True

    return on_track


def _write_csv(header: list[str], found: list[list[str]], out: Path | None, what: str) -> None:
    if out:
        with open(out, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([header, *found])
        typer.echo(f"{len(found)} {what} written to {out}")
    else:
        csv.writer(sys.stdout).writerows([header, *found])


AudioArgument = Annotated[list[Path], typer.Argument(help="Audio files; each file's stem is its station.")]
CsvOption = Annotated[Path | None, typer.Option("--csv", help="Write rows here (default: standard output).")]
MinPlayOption = Annotated[float, typer.Option("--min-play", help="Shortest play reported, seconds.")]


@airplay_app.command("detect")
def detect(
    audio: AudioArgument,
    catalogue: CatalogueOption = None,
    out: CsvOption = None,
    min_play_s: MinPlayOption = 10.0,
    data_root: DataRootOption = None,
) -> None:
    """Rows station,track_id,start_s,end_s,score for every catalogue play in each AUDIO file."""
    done, failed = _detect_each(audio, catalogue, min_play_s, data_root)
    found = [
        [path.stem, play.track_id, f"{play.start_s:.2f}", f"{play.end_s:.2f}", f"{play.score:.3f}"]
        for path, _rows, plays in done
        for play in plays
    ]
    _write_csv(["station", "track_id", "start_s", "end_s", "score"], found, out, "plays")
    if failed:
        raise typer.Exit(1)


@airplay_app.command("unknown")
def unknown(
    audio: AudioArgument,
    catalogue: CatalogueOption = None,
    out: CsvOption = None,
    min_play_s: MinPlayOption = 10.0,
    data_root: DataRootOption = None,
) -> None:
    """Rows station,start_s,end_s,music_score for music in each AUDIO file that no catalogue play explains."""
    done, failed = _detect_each(audio, catalogue, min_play_s, data_root)
    found = []
    for path, rows, plays in done:
        row = rows[0]
        for seg in unknown_segments(Piece(0.0, row["fingerprint"], profile_from_row(row)), plays):
            found.append([path.stem, f"{seg.start_s:.2f}", f"{seg.end_s:.2f}", f"{seg.music_score:.2f}"])
    _write_csv(["station", "start_s", "end_s", "music_score"], found, out, "unknown music segments")
    if failed:
        raise typer.Exit(1)


@catalogue_app.command("check")
def check(catalogue: CatalogueOption = None, data_root: DataRootOption = None) -> None:
    """Validate catalogue.csv: every bad row is listed with its line and track_id."""
    settings = resolve_settings(data_root)
    csv_path = catalogue or settings.catalogue_file
    try:
        loaded = load_catalogue(csv_path)
    except CatalogueFileError as exc:
        fail(str(exc))
        return
    for problem in loaded.problems:
        typer.echo(str(problem), err=True)
    typer.echo(f"{len(loaded.entries)} rows ok, {len(loaded.problems)} with problems")
    if loaded.problems:
        raise typer.Exit(1)


@catalogue_app.command("index")
def index(catalogue: CatalogueOption = None, data_root: DataRootOption = None) -> None:
    """Fingerprint new or changed tracks and write the index under DATA_ROOT/state/catalogue/."""
    settings = resolve_settings(data_root)
    csv_path = catalogue or settings.catalogue_file
    try:
        loaded = load_catalogue(csv_path)
    except CatalogueFileError as exc:
        fail(str(exc))
        return
    with progress_bar("fingerprinting catalogue", len(loaded.entries), "tracks") as bar:
        update = update_index(loaded, settings.state_dir / "catalogue", on_track=_track_progress(bar))
        bar.advance(1 if loaded.entries else 0)  # the last track
    for problem in update.problems:
        typer.echo(str(problem), err=True)
    typer.echo(
        f"{update.index.n_tracks} tracks indexed ({len(update.fingerprinted)} fingerprinted, "
        f"{len(update.reused)} unchanged), {len(update.problems)} problems, "
        f"{update.index.nbytes() / 1e6:.2f} MB, {update.seconds:.1f} s"
    )
    if update.problems:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(airplay_app, name="airplay")
    app.add_typer(catalogue_app, name="catalogue")
