"""Scale-out test material: a real multi-station hour, a real Redis, real `pige worker` processes.

Every station airs real music (singularity-music, in the catalogue) around real French speech
(asterisk prompts), so one hour exercises the audio queue (decode, silences, fingerprints, airplay) and
the speech queue (Whisper) with real work.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
import yaml

from pige_pipeline.airplay.catalogue import load_catalogue
from pige_pipeline.airplay.index import update_index
from pige_pipeline.store.chunks import chunk_path
from pige_pipeline.testing.mix import Piece, concat_mp3
from pige_pipeline.testing.sources import french_prompts, singularity_tracks

HOUR = datetime(2026, 11, 20, 10, tzinfo=UTC)
KEY = "2026-11-20-10:00"
PIGE = str(Path(sys.executable).parent / "pige")
# Audit columns that say when a row was written, and cluster ids that number unknown music in the order
# stations happen to be processed (parallel steps finish in any order).
UNSTABLE_COLUMNS = ["created_at", "cluster_id"]


def long_prompts(min_s: float = 8.0) -> list[Path]:
    """French prompts of at least `min_s` (the asterisk silence/ files are digital zero: never speech)."""
    found = []
    for path in french_prompts():
        if "silence" in path.parts:
            continue
        with wave.open(str(path)) as wav:
            if wav.getnframes() / wav.getframerate() >= min_s:
                found.append(path)
    return found


def build_hour(
    root: Path, stations: int = 4, speech_prompts: int | Sequence[int] = 2, broken: str | None = None
) -> Path:
    """A data root with `stations` stations (music, speech, music), an indexed catalogue, one hour.

    `speech_prompts`: French prompts per station, the same for all or one count per station.
    """
    tracks = singularity_tracks()
    prompts = long_prompts()
    ids = [f"st-{i}" for i in range(stations)]
    counts = [speech_prompts] * stations if isinstance(speech_prompts, int) else list(speech_prompts)
    for i, sid in enumerate(ids):
        first = sum(counts[:i])
        speech = [Piece(p, 0.0, 30.0) for p in prompts[first : first + counts[i]]]
        concat_mp3(
            chunk_path(root, sid, HOUR.replace(minute=5), "mp3"),
            [Piece(tracks[i], 20.0, 45.0), *speech, Piece(tracks[i + 5], 10.0, 40.0)],
        )
    entries = [
        {"id": sid, "name": sid.upper(), "stream_url": f"http://127.0.0.1:9/{sid}", "language": "fr"}
        for sid in [*ids, *([broken] if broken else [])]
    ]
    if broken:
        bad = chunk_path(root, broken, HOUR.replace(minute=5), "mp3")
        bad.parent.mkdir(parents=True, exist_ok=True)
        bad.write_bytes(b"ID3 this is not audio: a truncated upload\n" * 50)
    (root / "stations.yaml").write_text(yaml.safe_dump({"stations": entries}), encoding="utf-8")
    csv = root / "catalogue" / "catalogue.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    lines = ["track_id,title,artist,isrc,path"]
    lines += [f"T{i},Track {i},Singularity,,{t}" for i, t in enumerate(tracks[: stations + 5])]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    update_index(load_catalogue(csv), root / "state" / "catalogue")
    return root


def copy_root(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest, symlinks=True)
    return dest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throwaway redis-server on a loopback port; yields its URL."""
    import redis

    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.kill()
        proc.wait()


def pige_env(
    root: Path, home: Path, executor: str, broker: str | None = None, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIGE_", "OLLAMA_"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            "DAGSTER_HOME": str(home),
            "PIGE_DATA_ROOT": str(root),
            "PIGE_EXECUTOR": executor,
            # Whisper's own threads: two steps at once on a 2-core runner must not fight over cores.
            "PIGE_WHISPER_CPU_THREADS": "1",
            **({"PIGE_CELERY_BROKER": broker} if broker else {}),
            **extra,
        }
    )
    return env


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen
    log: Path

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once, as a lost machine would."""
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


@contextmanager
def workers(env: dict[str, str], specs: list[tuple[str, str]], logs: Path) -> Iterator[dict[str, Worker]]:
    """Start `pige worker --queues Q --name N` for each (name, queues); wait until each is ready."""
    started: dict[str, Worker] = {}
    try:
        for name, queues in specs:
            log = logs / f"{name}.log"
            proc = subprocess.Popen(
                [PIGE, "worker", "--queues", queues, "--concurrency", "1", "--name", name],
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            started[name] = Worker(name, proc, log)
        deadline = time.monotonic() + 120
        for worker in started.values():
            while f"{worker.name}@".encode() not in worker.log.read_bytes() or b" ready." not in (
                worker.log.read_bytes()
            ):
                assert worker.proc.poll() is None, worker.log.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, f"worker {worker.name} not ready in 120 s"
                time.sleep(0.2)
        yield started
    finally:
        for worker in started.values():
            worker.kill()


def process(env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    """`pige process --from KEY` with a hard time-out (a Celery run with no worker ignores SIGTERM)."""
    proc = subprocess.Popen(
        [PIGE, "process", "--from", KEY], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError("pige process timed out:\n" + out.decode(errors="replace")[-5000:]) from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(errors="replace"), "")


def snapshot(root: Path) -> dict[str, pd.DataFrame]:
    """Every hourly Parquet file, rows sorted by content, without the columns that are not findings."""
    out = {}
    for path in sorted((root / "parquet").glob("*/*/*/*/*/*.parquet")):
        frame = pq.read_table(path).to_pandas().drop(columns=UNSTABLE_COLUMNS, errors="ignore")
        # Paths name the data root, which differs between the runs compared.
        for column in frame.columns:
            if pd.api.types.is_string_dtype(frame[column]) or frame[column].dtype == object:
                frame[column] = frame[column].map(
                    lambda v: v.replace(str(root), "<root>") if isinstance(v, str) else v
                )
        if len(frame):
            order = frame.map(repr).apply(tuple, axis=1).argsort()
            frame = frame.iloc[order].reset_index(drop=True)
        out[str(path.relative_to(root))] = frame
    return out


def differences(expected: dict[str, pd.DataFrame], got: dict[str, pd.DataFrame]) -> list[str]:
    found = [f"missing: {k}" for k in sorted(expected.keys() - got.keys())]
    found += [f"unexpected: {k}" for k in sorted(got.keys() - expected.keys())]
    for name in sorted(expected.keys() & got.keys()):
        try:
            pd.testing.assert_frame_equal(expected[name], got[name], obj=name, check_exact=False, rtol=1e-6)
        except AssertionError as exc:
            found.append(str(exc).splitlines()[0] + " " + " ".join(str(exc).splitlines()[1:4]))
    return found


def latest_run(home: Path) -> tuple[dg.DagsterInstance, str]:
    instance = dg.DagsterInstance.from_config(str(home))
    [run] = instance.get_runs(limit=1)
    return instance, run.run_id


def step_outputs(instance: dg.DagsterInstance, run_id: str) -> dict[str, dict]:
    """Metadata of each station step's output, by step key (the last attempt wins)."""
    found = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_OUTPUT):
        event = record.dagster_event
        if event and "_stations[" in (event.step_key or ""):
            metadata = event.event_specific_data.metadata
            found[event.step_key] = {k: v.value for k, v in metadata.items()}
    return found


def finished_steps(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    """Step keys that have succeeded or failed so far in the run."""
    ended = (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE)
    return {
        record.dagster_event.step_key
        for kind in ended
        for record in instance.all_logs(run_id, of_type=kind)
        if record.dagster_event
    }


def celery_executions(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(step key, Celery worker name) of every step a worker started, in order, retries included."""
    found = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        metadata = event.engine_event_data.metadata if event and event.engine_event_data else {}
        if "Celery worker" in metadata:
            found.append((event.step_key, str(metadata["Celery worker"].value).split("@")[0]))
    return found
