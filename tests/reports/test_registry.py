"""One registry declares the reports: `pige report` and the report assets are both built from it."""

from __future__ import annotations

from pige_pipeline.cli.report import report_app
from pige_pipeline.definitions import defs
from pige_pipeline.reports.registry import REPORTS, report


def test_every_report_has_its_command_and_its_assets_and_nothing_else() -> None:
    commands = {command.name: command for command in report_app.registered_commands}
    assert set(commands) == {spec.command for spec in REPORTS}
    # The command's help is the registry's description, as is the start of each asset's.
    for spec in REPORTS:
        assert commands[spec.command].help == spec.description
    graph = defs.resolve_asset_graph()
    in_reports = {
        key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).group_name == "reports"
    }
    assert in_reports == {name for spec in REPORTS for name in spec.assets}
    for spec in REPORTS:
        for name, grain in spec.assets.items():
            node = graph.get(next(k for k in graph.get_all_asset_keys() if k.to_user_string() == name))
            assert node.description.startswith(spec.description), name
            assert (node.partitions_def is None) == (grain == "none"), name
    assert report("airplay").reconciles and not report("coverage").clips
