"""The `pige` command line: each command loads only its modules, and the map of them stays complete."""

import subprocess
import sys

import typer

from pige_pipeline.cli import COMMAND_MODULES, build_app


def _top_level_names(app: typer.Typer) -> set[str]:
    names = {c.name for c in app.registered_commands}
    names |= {g.name for g in app.registered_groups}
    return names


def test_every_command_is_in_the_map_and_its_modules_register_it() -> None:
    full = _top_level_names(build_app())
    assert full == set(COMMAND_MODULES)
    for command, modules in COMMAND_MODULES.items():
        assert command in _top_level_names(build_app(modules)), (command, modules)


def test_pige_record_does_not_import_the_heavy_domains() -> None:
    code = (
        "import sys; sys.argv = ['pige', 'record', '--help']\n"
        "from pige_pipeline.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('pandas', 'matplotlib', 'scipy', 'faster_whisper', 'duckdb')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--segment-seconds" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_pige_record_runs_with_only_its_modules_loaded(tmp_path) -> None:  # type: ignore[no-untyped-def]
    stations = tmp_path / "stations.yaml"
    stations.write_text("stations:\n  - {id: x, name: X, stream_url: 'http://127.0.0.1:9/x.mp3'}\n")
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from pige_pipeline.cli import main; sys.argv[0] = 'pige'; main()",
         "record", "--data-root", str(tmp_path / "data"), "--stations", str(stations), "--duration", "2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "unexpected extra argument" not in out.stderr, out.stderr
    assert out.returncode == 0, out.stdout + out.stderr
    assert "station 'x'" in out.stderr + out.stdout
