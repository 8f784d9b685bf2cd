"""The deployment files of docs/deploy: systemd units that verify, bind loopback and restart themselves."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ops.support import REPO

UNITS = sorted((REPO / "docs" / "deploy" / "systemd").glob("*.service"))


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(path)
    return parser


def test_units_verify_with_systemd(tmp_path: Path) -> None:
    if not shutil.which("systemd-analyze"):
        pytest.fail("systemd-analyze is missing (package systemd)")
    for unit in UNITS:
        # Point the units at this checkout instead of /opt/pige so that ExecStart exists.
        (tmp_path / unit.name).write_text(unit.read_text().replace("/opt/pige", str(REPO)))
    result = subprocess.run(["systemd-analyze", "verify", *sorted(map(str, tmp_path.glob("*.service")))],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_units_restart_and_bind_loopback() -> None:
    names = {u.name for u in UNITS}
    assert {"pige-code-server.service", "pige-webserver.service", "pige-webserver-readonly.service",
            "pige-daemon.service", "pige-recorder.service"} <= names  # fmt: skip
    for unit in UNITS:
        service = _unit(unit)["Service"]
        assert service["Restart"] == "always", unit.name
        assert service["User"] == "pige", unit.name
        assert service["EnvironmentFile"] == "/etc/pige/pige.env", unit.name
        exec_start = service["ExecStart"]
        if "webserver" in unit.name or "code-server" in exec_start:
            assert "-h 127.0.0.1" in exec_start, unit.name
    readonly = _unit(REPO / "docs" / "deploy" / "systemd" / "pige-webserver-readonly.service")
    assert readonly["Service"]["ExecStart"].endswith("--read-only")
    full = _unit(REPO / "docs" / "deploy" / "systemd" / "pige-webserver.service")
    assert "--read-only" not in full["Service"]["ExecStart"]
