"""Fixtures for the production tests: a throwaway PostgreSQL cluster, a demo data root, and the
Dagster daemon plus two webservers (full and read-only) running against PostgreSQL."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from pige_pipeline.hours import hour_start
from pige_pipeline.store.importer import import_archive
from pige_pipeline.testing.sources import drascula_tracks, singularity_tracks
from tests.ops.support import (
    PG_BIN,
    REPO,
    STREAM_PASSWORD,
    VENV_BIN,
    DemoRoot,
    PgCluster,
    Service,
    Stack,
    as_postgres,
    free_port,
    make_clip,
    wait_http,
    wait_port,
)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A real PostgreSQL 15 cluster in a temporary folder on a free port, password authentication."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"{PG_BIN}/initdb is missing: install the postgresql package (.ci/setup does)")
    # Not pytest's tmp_path: it is private to root, and the server may run as `postgres`.
    base = Path(tempfile.mkdtemp(prefix="pige-pg-", dir="/tmp"))
    os.chmod(base, 0o755)
    password = "pg-" + os.urandom(6).hex()
    pwfile = base / "pwfile"
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(base, owner.pw_uid, owner.pw_gid)
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    data = base / "data"
    port = free_port()
    subprocess.run(
        as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "pige", "--pwfile", str(pwfile),
                      "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync"]),
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"), "-w",
                      "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start"]),
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield PgCluster("127.0.0.1", port, "pige", password, base)
    finally:
        subprocess.run(
            as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> DemoRoot:
    """Two stations, each with an hour of real music (two minutes looped) imported as a chunk."""
    root = tmp_path_factory.mktemp("demo") / "data"
    root.mkdir()
    hour = hour_start(datetime.now(UTC)) - timedelta(hours=3)
    demo = DemoRoot(root, hour)
    entries = []
    for station, track in zip(demo.stations, [singularity_tracks()[1], drascula_tracks()[0]], strict=True):
        entries.append({
            "id": station,
            "name": station.title(),
            "stream_url": f"http://monitor:{STREAM_PASSWORD}@127.0.0.1:8000/{station}.mp3",
            "retention_days": 30,
            "airplay": {"enabled": False},
            "speech": {"enabled": False},
        })  # fmt: skip
        archive = tmp_path_factory.mktemp(f"archive-{station}")
        make_clip(track, 3600, archive / f"{hour:%Y-%m-%d-%H}.mp3")
        report = import_archive(archive, root, station, pattern="%Y-%m-%d-%H.mp3", timezone="UTC")
        assert len(report.imported) == 1, report
    (root / "stations.yaml").write_text(yaml.safe_dump({"stations": entries}, sort_keys=False))
    return demo


@pytest.fixture(scope="session")
def stack(
    pg_cluster: PgCluster, demo_root: DemoRoot, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The production set-up of docs/operations.md: PostgreSQL instance, daemon, full and read-only UI."""
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO / "dagster.postgres.yaml", home / "dagster.yaml")
    pg_cluster.create_database("dagster_stack")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PIGE_", "DAGSTER_"))},
        **pg_cluster.env("dagster_stack"),
        "DAGSTER_HOME": str(home),
        "PIGE_DATA_ROOT": str(demo_root.path),
    }
    logs = tmp_path_factory.mktemp("service-logs")
    ui_port, ro_port, code_port = free_port(), free_port(), free_port()
    # docs/deploy/workspace.yaml, on a free port: one code server for the daemon and both webservers.
    workspace = home / "workspace.yaml"
    workspace.write_text(
        (REPO / "docs" / "deploy" / "workspace.yaml").read_text().replace("4266", str(code_port))
    )
    webserver = str(VENV_BIN / "dagster-webserver")
    services: dict[str, Service] = {}
    # This process reads the same instance back, so it needs the same PIGE_PG_* variables.
    patch = pytest.MonkeyPatch()
    for key, value in pg_cluster.env("dagster_stack").items():
        patch.setenv(key, value)
    try:
        services["code_server"] = Service(
            "code_server",
            [str(VENV_BIN / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(code_port),
             "-m", "pige_pipeline.definitions", "--location-name", "pige"],
            env, logs,
        )  # fmt: skip
        wait_port(code_port, services["code_server"])
        ws = str(workspace)
        services["daemon"] = Service("daemon", [str(VENV_BIN / "dagster-daemon"), "run", "-w", ws], env, logs)
        services["webserver"] = Service(
            "webserver", [webserver, "-h", "127.0.0.1", "-p", str(ui_port), "-w", ws], env, logs
        )
        services["read_only"] = Service(
            "read_only",
            [webserver, "-h", "127.0.0.1", "-p", str(ro_port), "-w", ws, "--read-only"],
            env,
            logs,
        )
        ui_url, ro_url = f"http://127.0.0.1:{ui_port}", f"http://127.0.0.1:{ro_port}"
        wait_http(f"{ui_url}/server_info", services["webserver"])
        wait_http(f"{ro_url}/server_info", services["read_only"])
        yield Stack(home, env, demo_root, ui_url, ro_url, services)
    finally:
        # All at once: each takes a few seconds to shut down.
        for service in services.values():
            service.terminate()
        for service in services.values():
            service.stop()
        patch.undo()


@pytest.fixture(scope="session")
def materialized_run(stack: Stack) -> str:
    """Wait until the daemon's sensor tick has launched the run that materialises the demo hour."""
    import dagster as dg

    deadline = time.monotonic() + 300
    with dg.DagsterInstance.from_config(str(stack.dagster_home)) as instance:
        while time.monotonic() < deadline:
            records = instance.fetch_materializations(dg.AssetKey("audio_chunks"), limit=5).records
            for record in records:
                if record.partition_key == stack.demo.partition_key:
                    return record.run_id
            for name, service in stack.services.items():
                if service.proc.poll() is not None:
                    raise RuntimeError(f"{name} died:\n{service.log()[-3000:]}")
            time.sleep(2)
    raise TimeoutError(
        f"no audio_chunks materialisation in 300 s; daemon log:\n{stack.services['daemon'].log()[-4000:]}"
    )
