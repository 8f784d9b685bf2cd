"""The API tests' data root (the demo's processed hour, plus a second station made from it) and server.

The demo hour is real pipeline output: `pige demo --no-ui` recorded, fingerprinted, matched and
transcribed it. A second station, `demo-am` (America/Montreal), is the same hour relabelled: its
Parquet rows and chunk file are copies with the station id (and the ids derived from it) rewritten,
so scopes can be told apart on real rows without processing a second hour.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from pige_pipeline.analytics import rebuild
from pige_pipeline.api.tokens import TokenStore
from pige_pipeline.settings import REPO_ROOT
from pige_pipeline.testing.synthetic_year import settings_for

DEMO = "demo-fm"
OTHER = "demo-am"
OTHER_ZONE = "America/Montreal"
PIGE = Path(sys.executable).parent / "pige"
HASHED_IDS = ("play_id", "alert_id")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _relabel(table: pa.Table, old: str, new: str) -> pa.Table:
    """Every string column with `old` replaced by `new` (station, paths), and new hashed ids."""
    columns = []
    for name in table.column_names:
        column = table[name]
        if name in HASHED_IDS:
            # Play and alert ids are hashes of the station and time: the copy's must differ too.
            column = pa.array(
                [
                    None if v is None else hashlib.sha1(f"{new}|{v}".encode()).hexdigest()[:16]
                    for v in column.to_pylist()
                ],
                column.type,
            )
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = pc.replace_substring(column, old, new)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=table.schema)


def clone_station(root: Path, old: str, new: str) -> None:
    """Copy `old`'s chunks and hourly Parquet to station `new`, relabelled."""
    shutil.copytree(root / "chunks" / old, root / "chunks" / new)
    for path in sorted((root / "parquet").glob(f"*/{old}/**/*.parquet")):
        parts = list(path.relative_to(root / "parquet").parts)
        parts[1] = new
        target = (root / "parquet").joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(_relabel(pq.read_table(path), old, new), target)


def build_api_root(demo_root: Path, root: Path) -> Path:
    """A copy of the demo's data root with a second station, and its analytics built."""
    root.mkdir(parents=True)
    for name in ("chunks", "parquet", "catalogue", "recorder", "state/notify", "stations.yaml"):
        source = demo_root / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("*.tmp"))
        elif source.exists():
            shutil.copy2(source, root / name)
    if (demo_root / ".pige-data-root").exists():
        shutil.copy2(demo_root / ".pige-data-root", root / ".pige-data-root")
    clone_station(root, DEMO, OTHER)
    registry = yaml.safe_load((root / "stations.yaml").read_text(encoding="utf-8"))
    other = dict(next(s for s in registry["stations"] if s["id"] == DEMO))
    other.update(
        id=OTHER, name="Demo AM", timezone=OTHER_ZONE, stream_url=f"http://127.0.0.1:8765/{OTHER}.mp3"
    )
    registry["stations"].append(other)
    (root / "stations.yaml").write_text(yaml.safe_dump(registry, sort_keys=False), encoding="utf-8")
    rebuild(settings_for(root), full=True)
    return root


@dataclass
class Tokens:
    admin: str
    operator_demo: str  # operator of demo-fm
    viewer_demo: str  # viewer of demo-fm
    viewer_other: str  # viewer of demo-am


def make_tokens(root: Path) -> Tokens:
    store = TokenStore.for_data_root(root)
    return Tokens(
        admin=store.create("test admin", "admin", ())[0],
        operator_demo=store.create("test operator", "operator", (DEMO,))[0],
        viewer_demo=store.create("test viewer fm", "viewer", (DEMO,))[0],
        viewer_other=store.create("test viewer am", "viewer", (OTHER,))[0],
    )


@dataclass
class ApiServer:
    """`pige api` running on loopback, and where its log goes."""

    url: str
    root: Path
    log: Path
    process: subprocess.Popen

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(root: Path, log: Path, *args: str) -> ApiServer:
    """Start `pige api` (with `args`) as a user would, and wait until /health answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIGE_")}
    env["PIGE_DATA_ROOT"] = str(root)
    handle = open(log, "wb")  # noqa: SIM115 - the server writes to it for its whole life
    process = subprocess.Popen(
        [str(PIGE), "api", "--host", "127.0.0.1", "--port", str(port), *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    handle.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pige api exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code in (200, 503):
                return ApiServer(url, root, log, process)
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"pige api did not answer within 60 s:\n{log.read_text()[-4000:]}")
