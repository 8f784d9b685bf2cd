"""`pige speech transcribe`, `pige speech resummarise` and `pige search`: what was said on air."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from pige_pipeline.audio.probe import AudioProbeError, probe_audio
from pige_pipeline.cli.common import (
    DataRootOption,
    StationsOption,
    fail,
    load_stations_or_exit,
    resolve_settings,
)
from pige_pipeline.cli.progress import progress_bar
from pige_pipeline.hours import utc
from pige_pipeline.llm import LLMError, OllamaSettings

speech_app = typer.Typer(help="Transcripts, summaries and search of what was said.", no_args_is_help=True)


@speech_app.command("transcribe")
def transcribe(
    audio: Annotated[list[Path], typer.Argument(help="Audio files (anything ffmpeg reads).")],
    language: Annotated[
        str | None, typer.Option("--language", help="ISO 639-1 code, e.g. fr; default: detect.")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the segments to this JSON file.")
    ] = None,
    show_dropped: Annotated[bool, typer.Option("--show-dropped", help="Print dropped segments too.")] = False,
) -> None:
    """Transcribe files: voice activity first, then Whisper on the speech only (model from PIGE_WHISPER_*)."""
    from pige_pipeline.speech.transcribe import Transcriber, TranscriptionError

    usable: list[Path] = []
    seconds: dict[Path, float] = {}
    for path in audio:
        try:
            seconds[path] = probe_audio(path).duration_s or 0.0
            usable.append(path)
        except AudioProbeError as exc:
            typer.echo(f"skipped: {exc}", err=True)
    if not usable:
        fail("no readable audio among the files given")
    try:
        transcriber = Transcriber()
    except (TranscriptionError, ValueError) as exc:
        fail(str(exc))
        return
    report = []
    with progress_bar("transcribing", sum(seconds.values()), "s of audio") as bar:
        results = []
        for path in usable:
            bar.advance(0, label=path.name)
            results.append((path, transcriber.transcribe_file(path, language)))
            bar.advance(seconds[path])
    for path, result in results:
        typer.echo(
            f"# {path} ({result.language}, {result.audio_s:.1f} s of speech in {result.seconds:.1f} s, "
            f"model {transcriber.model_label})"
        )
        for seg in result.segments:
            if seg.dropped and not show_dropped:
                continue
            mark = f" [dropped: {seg.drop_reason}]" if seg.dropped else ""
            typer.echo(f"[{seg.start_s:8.2f} -> {seg.end_s:8.2f}] {seg.text}{mark}")
        report.append(
            {
                "file": str(path),
                "language": result.language,
                "language_probability": round(result.language_probability, 3),
                "speech_s": round(result.audio_s, 3),
                "seconds": round(result.seconds, 3),
                "model": transcriber.model_label,
                "segments": [
                    {
                        "start_s": round(s.start_s, 3),
                        "end_s": round(s.end_s, 3),
                        "text": s.text,
                        "avg_logprob": round(s.avg_logprob, 4),
                        "no_speech_prob": round(s.no_speech_prob, 4),
                        "dropped": s.dropped,
                        "drop_reason": s.drop_reason,
                    }
                    for s in result.segments
                ],
            }
        )
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
        typer.echo(f"wrote {json_out}")
    if len(usable) < len(audio):
        raise typer.Exit(1)


@speech_app.command("resummarise")
def resummarise(
    since: Annotated[
        datetime | None, typer.Option("--from", help="Start (UTC); default: 7 days ago.")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option("--to", help="End (UTC, exclusive); default: now.")
    ] = None,
    station: Annotated[str | None, typer.Option("--station", help="Only this station.")] = None,
    stations: StationsOption = None,
    data_root: DataRootOption = None,
) -> None:
    """Redo with Ollama (OLLAMA_HOST) the hours that were summarised offline or whose LLM attempt failed."""
    from pige_pipeline.speech.redo import redo_summaries

    settings = resolve_settings(data_root, stations)
    registry = load_stations_or_exit(settings.stations_file)
    llm = OllamaSettings.from_env()
    if not llm.enabled:
        fail("OLLAMA_HOST is not set: set it to the Ollama server (e.g. http://127.0.0.1:11434) first")
    end = utc(until) if until else datetime.now(UTC)
    start = utc(since) if since else end - timedelta(days=7)
    try:
        done = redo_summaries(settings, registry, start, end, llm, station)
    except LLMError as exc:
        fail(str(exc))
        return
    for item in done:
        typer.echo(f"{item.station:<20} {item.hour:%Y-%m-%dT%H:00Z}  {item.status}  {item.detail}")
    replaced = sum(1 for d in done if d.status == "replaced")
    typer.echo(f"{replaced} of {len(done)} offline or failed hours now summarised by {llm.model}")
    if replaced < len(done):
        raise typer.Exit(1)


def search(
    query: Annotated[str, typer.Argument(help="Word or phrase (case and accents ignored).")],
    station: Annotated[str | None, typer.Option("--station", help="Only this station.")] = None,
    since: Annotated[
        datetime | None, typer.Option("--from", help="Start (UTC), e.g. 2026-11-22T10:00.")
    ] = None,
    until: Annotated[datetime | None, typer.Option("--to", help="End (UTC, exclusive).")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many results.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    data_root: DataRootOption = None,
) -> None:
    """Find what was said: transcript segments containing QUERY, with station, UTC time and a snippet."""
    from pige_pipeline.speech.search import search_transcripts

    settings = resolve_settings(data_root)
    try:
        hits = search_transcripts(settings.data_root, query, station, since, until, limit)
    except ValueError as exc:
        fail(str(exc))
        return
    for hit in hits:
        if as_json:
            typer.echo(
                json.dumps(
                    {"station": hit.station, "start": hit.start.isoformat(), "end": hit.end.isoformat(),
                     "start_s": hit.start_s,
                     "text": hit.text, "snippet": hit.snippet},
                    ensure_ascii=False,
                )
            )  # fmt: skip
        else:
            typer.echo(f"{hit.station:<16} {hit.start:%Y-%m-%dT%H:%M:%SZ}  {hit.snippet}")
    if not as_json:
        typer.echo(f"{len(hits)} result(s)" + (" (limit reached)" if len(hits) == limit else ""))


def register(app: typer.Typer) -> None:
    app.add_typer(speech_app, name="speech")
    app.command("search")(search)
