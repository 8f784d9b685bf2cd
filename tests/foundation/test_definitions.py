"""The code location loads, every domain's definitions are merged, and `process_hour` resolves."""

import subprocess
import sys
from pathlib import Path

import dagster as dg

import pige_pipeline


def test_definitions_load_and_job_selects_hourly_assets() -> None:
    from pige_pipeline.definitions import defs

    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert "audio_chunks" in keys
    job = defs.resolve_job_def("process_hour")
    selected = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert "audio_chunks" in selected
    assert defs.resolve_sensor_def("new_chunks_sensor").job_name == "process_hour"
    assert isinstance(job.partitions_def, dg.HourlyPartitionsDefinition)


def _domain_modules() -> list[str]:
    root = Path(pige_pipeline.__file__).parent
    names = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        if len(parts) > 1 and parts[1] in {"defs", "lib", "definitions", "cli"}:
            continue
        names.append(".".join(parts))
    return names


def test_domain_modules_do_not_import_dagster() -> None:
    # Domain logic stays free of Dagster (DEVELOPERS.md); only defs/, its builders (lib/) and cli/ use it.
    code = (
        "import importlib, sys\n"
        f"for name in {_domain_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "    if 'dagster' in sys.modules:\n"
        "        print('imported by', name)\n"
        "        break\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", out.stdout + out.stderr


def test_the_runtime_never_imports_the_testing_package() -> None:
    # Test servers and generators live in pige_pipeline/testing/; only the demo may use them.
    root = Path(pige_pipeline.__file__).parent
    runtime = []
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if len(parts) > 1 and parts[1] in {"testing", "demo"} or parts[-2:] == ["cli", "demo"]:
            continue
        runtime.append(".".join(parts))
    code = (
        "import importlib, sys\n"
        f"for name in {runtime!r}:\n"
        "    importlib.import_module(name)\n"
        "    if 'pige_pipeline.testing' in sys.modules:\n"
        "        print('imported by', name)\n"
        "        break\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert len(runtime) > 100
    assert out.stdout.strip() == "", out.stdout + out.stderr
