"""`storage_health`: free space, growth, time to full and days of recording that fit, every 30 min."""

import dagster as dg

from pige_pipeline.lib.alerting import send_ops_alert
from pige_pipeline.lib.resources import NotifierResource, PigeResource, StorageHealthResource
from pige_pipeline.maintenance.storage import check_storage, history_path, human_bytes

STORAGE_CHECK = "enough_days_of_recording"


@dg.asset(
    group_name="ops",
    kinds={"filesystem"},
    description="Disk space of the data root: free space, growth rate, time to full, days of recording left.",
    check_specs=[
        dg.AssetCheckSpec(
            name=STORAGE_CHECK,
            asset="storage_health",
            description="Fails when fewer than PIGE_STORAGE_MIN_DAYS days of recording fit on the disk.",
        )
    ],
    tags={"pige/role": "ops"},
)
def storage_health(
    context: dg.AssetExecutionContext,
    pige: PigeResource,
    storage: StorageHealthResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    settings = pige.settings()
    thresholds = storage.thresholds()
    health = check_storage(settings.data_root)
    problems = health.problems(thresholds)
    days = health.days_of_recording_fit
    ttf = health.time_to_full
    alert = "none needed"
    if problems:
        alert = send_ops_alert(
            context.log,
            notifier,
            settings.data_root,
            # One alert a day while the condition lasts, not one every 30 minutes.
            key=f"ops/storage/low-space/{health.at:%Y-%m-%d}",
            subject=f"pige: disk space low on {settings.data_root}",
            body="\n".join(problems)
            + "\n\nFree space: delete or move old audio, lower retention_days in stations.yaml, or add disk.",
        )
    days_ok = days is None or days >= thresholds.min_days
    return dg.MaterializeResult(
        metadata={
            "free_bytes": health.free_bytes,
            "free": human_bytes(health.free_bytes),
            "free_percent": round(health.free_percent, 2),
            "total": human_bytes(health.total_bytes),
            "growth_bytes_per_day": (
                round(health.growth_bytes_per_day) if health.growth_bytes_per_day is not None else None
            ),
            "time_to_full_days": round(ttf.total_seconds() / 86400, 2) if ttf else None,
            "recording_bytes_per_day": round(health.recording_bytes_per_day),
            "days_of_recording_fit": round(days, 2) if days is not None else None,
            "samples": health.samples,
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
            "alert": alert,
            "history": dg.MetadataValue.path(str(history_path(settings.data_root))),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=STORAGE_CHECK,
                passed=days_ok,
                severity=dg.AssetCheckSeverity.ERROR,
                description=(
                    "nothing recorded in the last week"
                    if days is None
                    else f"{days:.1f} days of recording fit (threshold {thresholds.min_days:g})"
                ),
                metadata={"days_of_recording_fit": round(days, 2) if days is not None else None},
            )
        ],
    )
