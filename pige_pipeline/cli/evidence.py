"""`pige evidence ID --out FILE`: the audio a play or a dead-air alert is based on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pige_pipeline.cli.common import DataRootOption, fail, resolve_settings


def evidence_command(
    item_id: Annotated[str, typer.Argument(help="A play_id or an alert_id, as in the reports' CSV files.")],
    out: Annotated[
        Path,
        typer.Option("--out", help="Clip to write; the recording's extension (.mp3) means no re-encoding."),
    ],
    context: Annotated[float, typer.Option("--context", help="Seconds of audio before and after.")] = 5.0,
    data_root: DataRootOption = None,
) -> None:
    """Write the audio clip of a play or a dead-air alert, with a few seconds of context."""
    from pige_pipeline.evidence import EvidenceError, cut_evidence, locate

    settings = resolve_settings(data_root)
    try:
        evidence = locate(settings.data_root, item_id)
        clip = cut_evidence(settings.data_root, evidence, out, context)
    except EvidenceError as exc:
        fail(str(exc), 1)
    files = ", ".join(str(s.path) for s in clip.spans)
    typer.echo(
        f"{evidence.kind.replace('_', ' ')} {evidence.item_id} of {evidence.station}: {evidence.label}, "
        f"{evidence.start:%Y-%m-%d %H:%M:%S}Z-{evidence.end:%H:%M:%S}Z ({evidence.duration_s:.1f} s)"
    )
    typer.echo(
        f"wrote {clip.path}: {clip.start:%H:%M:%S}Z-{clip.end:%H:%M:%S}Z, the line from "
        f"{clip.line_start_s:.1f} s to {clip.line_end_s:.1f} s, "
        f"{'stream copy' if clip.stream_copy else 're-encoded'} from {files}"
    )


def register(app: typer.Typer) -> None:
    app.command("evidence")(evidence_command)
