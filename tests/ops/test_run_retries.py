"""dagster.yaml's `run_retries`, through the production stack: a run worker stopped by its host is run again.

The run worker is sent SIGTERM, as systemd, Docker and Kubernetes do when they stop a process or
drain a host. Dagster records that as an unexpected termination (not a step failure), and the daemon's
retry must then launch the run again and complete the hour. A worker killed outright (SIGKILL, out of
memory) is a different case under the default run launcher: see docs/operations.md, "Run retries".
"""

from __future__ import annotations

import os
import re
import signal
import time

import dagster as dg
from dagster._core.events import RunFailureReason
from dagster._core.storage.tags import PARENT_RUN_ID_TAG, RETRY_NUMBER_TAG, RUN_FAILURE_REASON_TAG
from dagster_graphql import DagsterGraphQLClient

from tests.ops.support import Stack


def _run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the process executing `run_id`, from the run's "Started process for run (pid: N)"."""
    for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records:
        if found := re.search(r"Started process for run \(pid: (\d+)\)", record.event_log_entry.message):
            return int(found.group(1))
    return None


def _wait_for(what: str, probe, stack: Stack, timeout_s: float):  # noqa: ANN001, ANN202 - a test helper
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    raise TimeoutError(f"{what} within {timeout_s} s; daemon log:\n{stack.services['daemon'].log()[-4000:]}")


def test_a_run_worker_stopped_by_its_host_is_retried_and_completes_the_hour(
    stack: Stack, materialized_run: str
) -> None:
    client = DagsterGraphQLClient(stack.ui_url.removeprefix("http://"), use_https=False)
    run_id = client.submit_job_execution(
        "process_hour", repository_location_name="pige", tags={"dagster/partition": stack.demo.partition_key}
    )
    with dg.DagsterInstance.from_config(str(stack.dagster_home)) as instance:
        pid = _wait_for("the run worker started", lambda: _run_worker_pid(instance, run_id), stack, 180)
        # Into the run's steps, so the stop lands in the middle of the work.
        _wait_for(
            "a step started",
            lambda: (
                instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_START, limit=1).records
            ),
            stack,
            180,
        )
        os.kill(pid, signal.SIGTERM)

        failed = _wait_for(
            "the stopped run marked failed",
            lambda: (r := instance.get_run_by_id(run_id)) and r.status == dg.DagsterRunStatus.FAILURE and r,
            stack,
            120,
        )
        assert failed.tags.get(RUN_FAILURE_REASON_TAG) == RunFailureReason.UNEXPECTED_TERMINATION.value

        def retry() -> dg.DagsterRun | None:
            runs = instance.get_runs(dg.RunsFilter(tags={PARENT_RUN_ID_TAG: run_id}))
            return runs[0] if runs else None

        child = _wait_for("the daemon's retry of the stopped run", retry, stack, 120)
        assert child.tags[RETRY_NUMBER_TAG] == "1"
        assert child.tags["dagster/partition"] == stack.demo.partition_key
        done = _wait_for(
            "the retry finished",
            lambda: (r := instance.get_run_by_id(child.run_id)) and r.is_finished and r,
            stack,
            300,
        )
        assert done.status == dg.DagsterRunStatus.SUCCESS, done.status
