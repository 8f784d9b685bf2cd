"""The fault-injection soak at CI size: 4 stations, 2 minutes, every fault but a completely full disk.

The full run (10 stations, 15 minutes, the disk filled completely too) is `python -m benchmarks.soak`;
its figures are in docs/benchmarks.md. Here the harness runs as it does there, in a subprocess, and
the test reads its JSON report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SEGMENT_S = 10
# The target (docs/benchmarks.md, Reliability): no fault costs any station more than its injected outage
# plus 2 s. Until 2026-12-02 runs on this 2-core machine missed it by up to 0.14 s (a station back from
# an outage waited for its next backoff step, up to 5 s, and chunk names rounded starts to the second);
# since a station in an outage asks its stream every 0.25 s and reconnects when it answers, and chunk
# names carry milliseconds, four CI-size runs measured at most +1.92 s (0.5 s checks) and +1.44 s (0.25 s).
# The target is measured by the benchmark (docs/reliability.md); this test guards against a regression
# (a station that waits out its backoff loses up to 5 s more) with 0.5 s for the scheduling noise of a
# shared 2-core machine: on 2026-12-02 one CI-size run of three here missed +2 s, one measured +1.84 s
# (Icecast restarted), as timings belong in benchmarks rather than in timed tests.
EXCESS_TARGET_S = 2.0
EXCESS_ALLOWED_S = EXCESS_TARGET_S + 0.5


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("soak") / "soak.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--minutes", "2", "--stations", "4", "--seed", "11",
         "--process-every", "45", "--no-disk-full", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=540, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8"))


pytestmark = pytest.mark.slow


def _fault(report: dict, name: str) -> dict:
    [fault] = [f for f in report["faults"] if f["fault"] == name]
    return fault


def test_every_fault_was_injected(report: dict) -> None:
    names = {f["fault"] for f in report["faults"]}
    assert names == {
        "source_killed", "icecast_restarted", "ffmpeg_killed", "recorder_killed",
        "processing_killed", "smtp_down", "disk_at_reserve",
    }  # fmt: skip


def test_no_fault_costs_more_than_its_outage_plus_its_allowed_excess(report: dict) -> None:
    over = [
        f"{f['fault']}: {f['max_lost_s']} s lost for a {f['outage_s']} s outage ({f['stations']})"
        for f in report["faults"]
        if f["max_lost_s"] > f["outage_s"] + EXCESS_ALLOWED_S
    ]
    assert not over, "over outage + the allowed excess: " + "; ".join(over)


def test_faults_without_an_outage_lose_nothing_and_every_gap_is_logged(report: dict) -> None:
    # A killed recorder's ffmpegs record on and are adopted by the next one: nothing is lost at all.
    assert _fault(report, "recorder_killed")["max_lost_s"] <= 1.0, _fault(report, "recorder_killed")
    for fault in report["faults"]:
        assert fault["all_gaps_logged"], fault
    for name in ("processing_killed", "smtp_down", "disk_at_reserve"):
        assert _fault(report, name)["max_lost_s"] == 0, _fault(report, name)
    assert report["unexplained_holes"] == {}


def test_the_disk_reserve_is_signalled_before_recording_suffers(report: dict) -> None:
    assert "below" in _fault(report, "disk_at_reserve")["detail"]


def test_no_corrupt_chunk_and_every_alert_mailed_exactly_once(report: dict) -> None:
    assert report["corrupt_chunks"] == []
    alerts = report["alerts"]
    assert alerts["suspect"] >= 1  # station s00 airs 10 s of dead air inside its track
    assert alerts["emails"] == alerts["suspect"]
    assert alerts["duplicates"] == 0 and alerts["missing"] == [] and alerts["spurious"] == []


def test_hours_are_processed_exactly_once(report: dict) -> None:
    assert any(run["killed"] for run in report["processing_runs"])
    assert report["every_station_hour_processed"]
    assert report["reprocessing_changed"] == []
    assert report["temporary_files_left"] == []
    assert report["plays"] > 0 and report["duplicate_play_ids"] == 0
