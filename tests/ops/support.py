"""Helpers of the production tests: PostgreSQL cluster, demo data root and service processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
VENV_BIN = REPO / ".venv" / "bin"
# The stream URL of the demo stations carries a password: the security tests look for it in outputs.
STREAM_PASSWORD = "Zq8-hunter2-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PgCluster:
    host: str
    port: int
    user: str
    password: str
    base: Path

    def env(self, db: str) -> dict[str, str]:
        return {
            "PIGE_PG_HOST": self.host,
            "PIGE_PG_PORT": str(self.port),
            "PIGE_PG_USER": self.user,
            "PIGE_PG_PASSWORD": self.password,
            "PIGE_PG_DB": db,
        }

    def create_database(self, name: str) -> None:
        import psycopg2

        conn = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname="postgres"
        )
        conn.autocommit = True
        try:
            conn.cursor().execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()


def as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def make_clip(track: Path, seconds: float, dest: Path) -> Path:
    """`seconds` of real music, looped from the track's first two minutes (loops are stream copies)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    clip = dest.with_name(f"clip-{dest.stem}.mp3")
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(track), "-t", str(min(seconds, 120)),
         "-ac", "1", "-ar", "22050", "-c:a", "libmp3lame", "-b:a", "32k", str(clip)],
        check=True,
    )  # fmt: skip
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-stream_loop", "-1", "-i", str(clip),
         "-t", str(seconds), "-c", "copy", str(dest)],
        check=True,
    )  # fmt: skip
    clip.unlink()
    return dest


@dataclass
class DemoRoot:
    path: Path
    hour: datetime
    stations: list[str] = field(default_factory=lambda: ["radio-a", "radio-b"])

    @property
    def partition_key(self) -> str:
        return self.hour.strftime("%Y-%m-%d-%H:%M")


class Service:
    """A long-running process in its own session, so that it and its children stop together."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self) -> None:
        self.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._log.close()


def wait_port(port: int, service: Service, timeout: float = 180) -> None:
    """Wait until something listens on 127.0.0.1:`port` (the code server binds once it has loaded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise RuntimeError(f"{service.name} exited:\n{service.log()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"{service.name} did not listen on {port} in {timeout} s:\n{service.log()[-3000:]}")


def wait_http(url: str, service: Service, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            code = service.proc.returncode
            raise RuntimeError(f"{service.name} exited with {code}:\n{service.log()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"{service.name} did not answer {url} in {timeout} s:\n{service.log()[-3000:]}")


@dataclass
class Stack:
    dagster_home: Path
    env: dict[str, str]
    demo: DemoRoot
    ui_url: str
    read_only_url: str
    services: dict[str, Service]
