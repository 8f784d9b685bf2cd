"""Storage health: growth from the sampled history, time to full, days of recording that fit."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from pige_pipeline.cli import app
from pige_pipeline.defs.maintenance.assets import STORAGE_CHECK, storage_health
from pige_pipeline.lib.resources import (
    NotifierResource,
    PigeResource,
    StorageHealthResource,
    pige_resources,
)
from pige_pipeline.maintenance.storage import (
    StorageSample,
    StorageThresholds,
    check_storage,
    growth_rate,
    read_history,
    record_sample,
    recording_rate,
)
from tests.ops.support import free_port

GB = 1024**3


def test_growth_rate_is_the_slope_of_used_space() -> None:
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    # 2 GB more every day, sampled every 30 min over a day, with +-50 MB of noise.
    samples = [
        StorageSample(now - timedelta(minutes=30 * i), 100 * GB,
                      int(50 * GB - i * GB / 24 + (i % 3 - 1) * 5e7), int(50 * GB + i * GB / 24))
        for i in range(48)
    ]  # fmt: skip
    rate = growth_rate(samples, now)
    assert rate == pytest.approx(2 * GB, rel=0.02)
    # Too little history gives no rate rather than a wild one.
    assert growth_rate(samples[:1], now) is None
    assert growth_rate([samples[0], samples[0]], now) is None


def test_history_is_kept_and_pruned(data_root: Path) -> None:
    now = datetime.now(UTC)
    record_sample(data_root, StorageSample(now - timedelta(days=40), 1, 1, 0))
    record_sample(data_root, StorageSample(now - timedelta(hours=1), 10, 5, 5))
    kept = record_sample(data_root, StorageSample(now, 10, 6, 4))
    assert [s.used_bytes for s in kept] == [5, 6]
    (data_root / "state" / "storage" / "history.jsonl").open("a").write("garbage line\n")
    assert [s.used_bytes for s in read_history(data_root)] == [5, 6]


def test_days_of_recording_fit_uses_the_real_disk_and_the_chunk_store(
    data_root: Path, put_chunk: Callable[..., Path]
) -> None:
    now = datetime.now(UTC)
    chunks = [put_chunk("radio-a", now - timedelta(hours=h), seconds=30) for h in (2, 3, 4)]
    recorded = sum(p.stat().st_size for p in chunks)
    rate = recording_rate(data_root, now)
    # Three chunks over the 4 hours since the first one.
    assert rate == pytest.approx(recorded / (4 / 24), rel=0.01)
    health = check_storage(data_root, now)
    free = shutil.disk_usage(data_root).free
    assert health.free_bytes == pytest.approx(free, rel=0.01)
    assert health.days_of_recording_fit == pytest.approx(health.free_bytes / rate, rel=1e-6)
    assert health.problems(StorageThresholds(min_days=0, min_free_percent=0)) == []
    low = health.problems(StorageThresholds(min_days=health.days_of_recording_fit * 2, min_free_percent=0))
    assert len(low) == 1 and "days of recording fit" in low[0]


def test_time_to_full_from_history(data_root: Path) -> None:
    now = datetime.now(UTC)
    usage = shutil.disk_usage(data_root)
    # Pretend the disk grew by a tenth of its free space per hour over the last 3 hours.
    step = usage.free // 10
    for hours in (3, 2, 1):
        sample = StorageSample(
            now - timedelta(hours=hours), usage.total, usage.used - hours * step, usage.free + hours * step
        )
        record_sample(data_root, sample)
    health = check_storage(data_root, now)
    assert health.growth_bytes_per_day == pytest.approx(step * 24, rel=0.05)
    assert health.time_to_full.total_seconds() / 3600 == pytest.approx(10, rel=0.1)
    problems = health.problems(StorageThresholds(min_days=1, min_free_percent=0))
    assert any("fills up in" in p for p in problems)


def test_thresholds_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIGE_STORAGE_MIN_DAYS", "3.5")
    assert StorageThresholds.from_env().min_days == 3.5
    monkeypatch.setenv("PIGE_STORAGE_MIN_DAYS", "two weeks")
    with pytest.raises(ValueError, match="PIGE_STORAGE_MIN_DAYS='two weeks' is not a number"):
        StorageThresholds.from_env()


@pytest.mark.parametrize("min_days, passed", [("0.0001", True), ("1000000000", False)])
def test_storage_health_asset_check_and_alert(
    data_root: Path,
    put_chunk: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    min_days: str,
    passed: bool,
) -> None:
    put_chunk("radio-a", datetime.now(UTC) - timedelta(hours=2), seconds=30)
    # The threshold comes from the test's own resource; the environment says something else.
    monkeypatch.setenv("PIGE_STORAGE_MIN_DAYS", "7")
    resources = {
        "pige": PigeResource(data_root=str(data_root)),
        "storage": StorageHealthResource(min_days=min_days),
        "notifier": NotifierResource(),
    }
    result = dg.materialize([storage_health], resources=resources)
    assert result.success
    check = result.get_asset_check_evaluations()[0]
    assert check.check_name == STORAGE_CHECK and check.passed is passed
    metadata = result.asset_materializations_for_node("storage_health")[0].metadata
    assert metadata["days_of_recording_fit"].value > 0
    assert metadata["free_bytes"].value > 0
    alert = metadata["alert"].value
    # With the threshold not met, an alert goes out (or, without a notifier, is logged and says so).
    assert (alert == "none needed") is passed
    assert len(read_history(data_root)) == 1


def test_storage_health_command(data_root: Path, put_chunk: Callable[..., Path], monkeypatch) -> None:  # noqa: ANN001
    put_chunk("radio-a", datetime.now(UTC) - timedelta(hours=2), seconds=30)
    monkeypatch.setenv("PIGE_STORAGE_MIN_DAYS", "1000000000")
    result = CliRunner().invoke(app, ["storage", "health", "--data-root", str(data_root)])
    assert result.exit_code == 1
    assert "days of recording:" in result.output and "warning: only" in result.output
    monkeypatch.setenv("PIGE_STORAGE_MIN_DAYS", "0.0001")
    result = CliRunner().invoke(app, ["storage", "health", "--data-root", str(data_root)])
    assert result.exit_code == 0, result.output
    assert len(read_history(data_root)) == 2


def test_low_space_alert_is_mailed_through_the_notifier(
    data_root: Path, put_chunk: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received: list = []

    class Inbox(Message):
        def handle_message(self, message) -> None:  # noqa: ANN001
            received.append(message)

    port = free_port()
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monkeypatch.setenv("PIGE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("PIGE_SMTP_PORT", str(port))
        monkeypatch.setenv("PIGE_SMTP_SECURITY", "none")
        monkeypatch.setenv("PIGE_ALERT_FROM", "pige@example.org")
        monkeypatch.setenv("PIGE_ALERT_TO", "engineer@example.org")
        monkeypatch.setenv("PIGE_STORAGE_MIN_DAYS", "1000000000")
        put_chunk("radio-a", datetime.now(UTC) - timedelta(hours=2), seconds=30)
        resources = pige_resources(PigeResource(data_root=str(data_root)))
        first = dg.materialize([storage_health], resources=resources)
        second = dg.materialize([storage_health], resources=resources)
    finally:
        controller.stop()
    alerts = [
        r.asset_materializations_for_node("storage_health")[0].metadata["alert"].value
        for r in (first, second)
    ]
    assert alerts[0] == "sent"
    # The same condition the same day is one mail, not one every 30 minutes.
    assert len(received) == 1
    assert "disk space low" in received[0]["Subject"]
    assert "days of recording fit" in received[0].get_payload()
