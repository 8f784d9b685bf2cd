"""`pige demo`: the whole chain on embedded defaults, ending in the Dagster UI."""

from __future__ import annotations

import os
import shutil
from typing import Annotated

import typer

from pige_pipeline.cli.common import DataRootOption, resolve_settings
from pige_pipeline.settings import REPO_ROOT


def demo(
    ui: Annotated[bool, typer.Option("--ui/--no-ui", help="Start the Dagster UI at the end.")] = True,
    port: Annotated[int, typer.Option("--port", help="Port of the UI (bound to 127.0.0.1).")] = 3000,
    live: Annotated[
        bool,
        typer.Option("--live/--no-live", help="Stream the programme from a local Icecast and record it."),
    ] = True,
    data_root: DataRootOption = None,
) -> None:
    """Build the demo station's hour, import it, materialise it and open the Dagster UI.

    With --no-ui the exit status says whether every step worked (1 when a job or a report failed).
    """
    from pige_pipeline.demo.run import materialize_demo_hour, prepare_demo, start_ui, write_demo_reports

    settings = resolve_settings(data_root)
    home = os.environ.setdefault("DAGSTER_HOME", str(settings.data_root / "dagster_home"))
    os.makedirs(home, exist_ok=True)
    if not os.path.exists(os.path.join(home, "dagster.yaml")):
        shutil.copy(REPO_ROOT / "dagster.yaml", os.path.join(home, "dagster.yaml"))
    os.environ["PIGE_DATA_ROOT"] = str(settings.data_root)
    hour = prepare_demo(settings, typer.echo)
    failed = materialize_demo_hour(hour, typer.echo)
    failed += write_demo_reports(hour, typer.echo)
    typer.echo(f"demo: Parquet outputs under {settings.parquet_dir}, reports under {settings.reports_dir}")
    if failed:
        typer.echo("demo: failed: " + "; ".join(failed), err=True)
    if ui:
        from pige_pipeline.testing.procs import PortInUseError

        try:
            start_ui(settings, port, live=live)  # the UI shows the step logs of what failed
        except PortInUseError as exc:  # the demo's Icecast port is taken: say by whom, start nothing
            typer.echo(f"demo: {exc}", err=True)
            raise typer.Exit(1) from None
    elif failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
