"""`pige report ...` and `pige analytics rebuild` from the command line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pige_pipeline.cli import app
from pige_pipeline.testing.synthetic_year import SyntheticData

runner = CliRunner()


def test_report_commands(synthetic_copy: tuple[Path, SyntheticData]) -> None:
    root, _data = synthetic_copy
    base = ["--data-root", str(root)]
    result = runner.invoke(app, ["analytics", "rebuild", *base])
    assert result.exit_code == 0, result.output
    assert "table plays" in result.output and "rebuilt in" in result.output
    result = runner.invoke(
        app, ["report", "airplay", "--month", "2026-01", "--station", "radio-a", "--format", "csv", *base]
    )
    assert result.exit_code == 0, result.output
    assert "reconciled with airplay_events" in result.output
    out = root / "reports" / "airplay" / "monthly" / "2026-01" / "stations" / "radio-a"
    assert sorted(p.name for p in out.iterdir()) == [
        "statement_by_rights_holder.csv",
        "statement_by_station.csv",
        "statement_plays.csv",
    ]
    for command in (
        ["report", "daily", "--date", "2026-01-31"],
        ["report", "dead-air", "--month", "2026-01", "--format", "html"],
        ["report", "coverage", "--date", "2026-02-01", "--format", "parquet"],
        ["report", "stats", "--rebuild"],
    ):
        result = runner.invoke(app, [*command, *base])
        assert result.exit_code == 0, (command, result.output)
        assert "wrote " in result.output


def test_report_errors_name_the_problem(synthetic: tuple[Path, SyntheticData], tmp_path: Path) -> None:
    root, _data = synthetic
    base = ["--data-root", str(root)]
    result = runner.invoke(app, ["report", "airplay", "--month", "2026-13", *base])
    assert result.exit_code == 2 and "use YYYY-MM" in result.output
    result = runner.invoke(app, ["report", "airplay", "--month", "2026-01", "--date", "2026-01-02", *base])
    assert result.exit_code == 2 and "exactly one of" in result.output
    result = runner.invoke(app, ["report", "daily", "--date", "2026-01-31", "--station", "nope", *base])
    assert result.exit_code == 2 and "no station 'nope'" in result.output and "radio-a" in result.output
    result = runner.invoke(app, ["report", "airplay", "--month", "2026-01", "--format", "pdf", *base])
    assert result.exit_code == 2 and "unknown --format pdf" in result.output
