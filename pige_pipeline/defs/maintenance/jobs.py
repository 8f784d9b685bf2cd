"""`retention` and `housekeeping` jobs: delete expired audio, old failed runs and stale files."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from pige_pipeline.defs.maintenance.housekeeping import DEFAULT_FAILED_RUN_DAYS, delete_runs, old_failed_runs
from pige_pipeline.lib.alerting import send_ops_alert
from pige_pipeline.lib.resources import NotifierResource, PigeResource
from pige_pipeline.maintenance.holds import LegalHoldError
from pige_pipeline.maintenance.housekeeping import find_stale_files, remove_stale_files
from pige_pipeline.maintenance.retention import apply_retention, plan_retention
from pige_pipeline.maintenance.storage import human_bytes
from pige_pipeline.stations import StationsFileError

OPS_TAGS = {"pige/role": "ops"}


class RetentionConfig(dg.Config):
    """Set `dry_run` to list what would be deleted without deleting it."""

    dry_run: bool = False


@dg.op(description="Delete audio older than each station's retention_days, except held or alerted hours.")
def apply_audio_retention(
    context: dg.OpExecutionContext, config: RetentionConfig, pige: PigeResource, notifier: NotifierResource
) -> dg.Output[int]:
    settings = pige.settings()
    try:
        registry = pige.stations()
        plan = plan_retention(settings.data_root, registry)
    except (LegalHoldError, StationsFileError) as exc:
        status = send_ops_alert(
            context.log,
            notifier,
            settings.data_root,
            key=f"ops/retention/paused/{datetime.now(UTC):%Y-%m-%d}",
            subject="pige: retention paused, nothing deleted",
            body=f"{exc}\n\nFix the file named above, then run `pige retention run` (or wait for tomorrow).",
        )
        raise dg.Failure(
            description=f"retention paused, nothing deleted: {exc}", metadata={"alert": status}
        ) from None
    for problem in plan.problems:
        context.log.warning(problem)
    deleted = failed = 0
    freed = 0
    if config.dry_run:
        for chunk in plan.delete:
            context.log.info(f"would delete {chunk.path} ({human_bytes(chunk.size_bytes)})")
    else:
        result = apply_retention(settings.data_root, plan, run_id=context.run_id)
        deleted, failed, freed = len(result.deleted), len(result.failed), result.bytes_freed
        for path, why in result.failed.items():
            context.log.error(f"could not delete {path}: {why}")
    per_station = plan.by_station()
    table = "\n".join(
        ["| station | files | bytes | kept (hold/alert) |", "|---|---|---|---|"]
        + [
            f"| {station} | {v['files']} | {human_bytes(v['bytes'])} | {v['kept']} |"
            for station, v in per_station.items()
        ]
    )
    return dg.Output(
        deleted,
        metadata={
            "dry_run": config.dry_run,
            "files_expired": len(plan.delete),
            "bytes_expired": plan.bytes_to_free,
            "files_deleted": deleted,
            "bytes_freed": freed,
            "files_failed": failed,
            "files_kept": len(plan.kept),
            "stations_not_in_registry": dg.MetadataValue.json(plan.unknown_stations),
            "per_station": dg.MetadataValue.md(table if per_station else "nothing expired"),
        },
    )


@dg.job(name="retention", tags=OPS_TAGS, description="Delete expired audio, keeping held and alerted hours.")
def retention_job() -> None:
    apply_audio_retention()


class HousekeepingConfig(dg.Config):
    """How old failed runs and temporary files must be before they are removed."""

    failed_run_days: int = DEFAULT_FAILED_RUN_DAYS
    stale_file_hours: float = 24.0
    dry_run: bool = False


@dg.op(description="Delete failed runs older than N days and files left by interrupted writes.")
def clean_up(
    context: dg.OpExecutionContext, config: HousekeepingConfig, pige: PigeResource
) -> dg.Output[int]:
    settings = pige.settings()
    run_ids = old_failed_runs(context.instance, timedelta(days=config.failed_run_days))
    stale = find_stale_files(settings.data_root, timedelta(hours=config.stale_file_hours))
    if config.dry_run:
        removed_runs, removed_files, failed = [], [], {}
    else:
        # The run doing the cleaning is never in the list: it is not failed.
        removed_runs = delete_runs(context.instance, run_ids)
        result = remove_stale_files(stale)
        removed_files, failed = result.removed, result.failed
    for stale_file in stale:
        context.log.info(f"stale: {stale_file.path} ({stale_file.why})")
    for path, why in failed.items():
        context.log.error(f"could not remove {path}: {why}")
    return dg.Output(
        len(removed_runs) + len(removed_files),
        metadata={
            "dry_run": config.dry_run,
            "failed_runs_found": len(run_ids),
            "failed_runs_deleted": len(removed_runs),
            "stale_files_found": len(stale),
            "stale_files_removed": len(removed_files),
            "bytes_freed": sum(f.size_bytes for f in removed_files),
        },
    )


@dg.job(name="housekeeping", tags=OPS_TAGS, description="Delete old failed runs and stale temporary files.")
def housekeeping_job() -> None:
    clean_up()


storage_health_job = dg.define_asset_job(
    name="storage_health_job",
    selection=dg.AssetSelection.assets("storage_health"),
    tags=OPS_TAGS,
    description="Measure the data root's disk and forecast when it is full.",
)
