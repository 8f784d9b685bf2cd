"""`pige demo --no-ui` run once per test session, as the README runs it, into throwaway directories.

Several test packages use the demo data root (tests/demo, the notebooks in tests/reports); a
session fixture defined in two conftest files would run twice, so the run is kept here, once per
process, and both fixtures return it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pige_pipeline.hours import hour_from_partition_key
from pige_pipeline.settings import REPO_ROOT

DEMO_STATION = "demo-fm"
# pytest's own timeout is 600 s per test, fixture included: fail first, with the demo's output.
DEMO_TIMEOUT_S = 540
PIGE = Path(sys.executable).parent / "pige"  # the console script `.ci/setup` installs in .venv/bin


@dataclass(frozen=True)
class DemoRun:
    """What one `pige demo --no-ui` left behind, and what it said."""

    root: Path  # PIGE_DATA_ROOT
    dagster_home: Path  # DAGSTER_HOME
    hour: datetime  # the demo station-hour (UTC)
    partition_key: str
    stdout: str
    stderr: str
    seconds: float  # wall-clock time of the whole command

    @property
    def programme(self) -> dict[str, Any]:
        """The truth the demo wrote next to its programme: every block with its start and end."""
        return json.loads((self.root / "demo" / "programme.json").read_text(encoding="utf-8"))


def demo_environment(root: Path, dagster_home: Path) -> dict[str, str]:
    """The caller's environment without pige's settings, an LLM or a Dagster instance of its own.

    As on a fresh machine: no OLLAMA_HOST (summaries are made offline), no SMTP or webhook (alerts
    stay pending), no PIGE_STATIONS/PIGE_CATALOGUE pointing elsewhere; only the two directories.
    """
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PIGE_", "OLLAMA_")) and k != "DAGSTER_HOME"
    }
    env["PIGE_DATA_ROOT"] = str(root)
    env["DAGSTER_HOME"] = str(dagster_home)
    return env


def run_demo(base: Path) -> DemoRun:
    """Run `pige demo --no-ui` with its data root and Dagster home under `base`; fail with its output."""
    root, home = base / "data", base / "dagster_home"
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [str(PIGE), "demo", "--no-ui"],
            cwd=REPO_ROOT,  # where the README runs it; every path it writes comes from the environment
            env=demo_environment(root, home),
            capture_output=True,
            text=True,
            timeout=DEMO_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"pige demo --no-ui ran past {DEMO_TIMEOUT_S} s; its output:\n{_tail(exc.stdout)}")
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        pytest.fail(
            f"pige demo --no-ui exited {proc.returncode} after {seconds:.0f} s\n"
            f"stdout:\n{_tail(proc.stdout)}\nstderr:\n{_tail(proc.stderr)}"
        )
    found = re.search(r"^demo: processing hour (\S+) ", proc.stdout, re.MULTILINE)
    assert found, f"the demo did not say which hour it processed:\n{_tail(proc.stdout)}"
    key = found.group(1)
    return DemoRun(root, home, hour_from_partition_key(key), key, proc.stdout, proc.stderr, seconds)


_RUN: DemoRun | None = None


def demo_run_once(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The session's demo run, made on first use."""
    global _RUN
    if _RUN is None:
        _RUN = run_demo(tmp_path_factory.mktemp("demo"))
        print(f"\npige demo --no-ui took {_RUN.seconds:.0f} s")  # shown with -s; the docstring keeps it
    return _RUN


def _tail(text: str | bytes | None, chars: int = 6000) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return (text or "")[-chars:]
