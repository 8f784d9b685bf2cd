"""A throwaway Icecast 2 on 127.0.0.1 with ffmpeg sources: for the demo, tests and benchmarks.

    with IcecastServer() as ice:
        ice.add_source("/radio1.mp3", Path("music.mp3"))
        url = ice.url("/radio1.mp3")
        ice.kill_source("/radio1.mp3")   # the mount disappears, as when a studio encoder dies
        ice.restart_source("/radio1.mp3")
        ice.restart()                    # the server goes away and comes back on the same port

Icecast refuses to run as root, so as root it is started as Debian's unprivileged `icecast2` user
and the work directory is handed to that user. `burst-size` is 0 so that a listener gets audio from
"now", not a few seconds of backlog: the recorder's timing tests depend on it.

Icecast and its ffmpeg sources get SIGTERM when the process (the thread, see `testing.procs`) that
started them dies, even by SIGKILL: none is left behind holding a port. Icecast is not started as root
with `<changeowner>` because changing its uid would clear that setting. A port that is already taken
fails the start at once with `PortInUseError`, naming the process that holds it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from xml.sax.saxutils import escape

from pige_pipeline.testing.procs import check_port_free, die_with_parent

ICECAST_BIN = "/usr/bin/icecast2"
ICECAST_SHARE = Path("/usr/share/icecast2")
UNPRIVILEGED_USER = "icecast2"
# Codecs Icecast can relay as-is with the content type listeners expect.
_COPY_FORMATS = {"mp3": ("mp3", "audio/mpeg"), "ogg": ("ogg", "application/ogg")}


_log = logging.getLogger(__name__)


class IcecastError(RuntimeError):
    """Icecast or one of its sources did not start; the message says which and why."""


class _CrashedAtStart(IcecastError):
    """icecast2 was killed by a signal before it answered (see `IcecastServer.start`)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Source:
    """One ffmpeg pushing a file (looped) to a mount."""

    mount: str
    file: Path
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class IcecastServer:
    """Icecast 2 on 127.0.0.1 on a free port, plus looping ffmpeg sources; a context manager."""

    def __init__(
        self,
        port: int | None = None,
        *,
        max_sources: int = 200,
        max_clients: int = 1000,
        source_timeout_s: int = 10,
        port_hint: str = "",
    ) -> None:
        # Its own directory under the system temp dir: as root, Icecast runs as `icecast2`, which
        # cannot enter a private test directory such as pytest's tmp_path.
        self.workdir = Path(tempfile.mkdtemp(prefix="pige-icecast-"))
        self.port = port or free_port()
        self.source_password = secrets.token_hex(8)
        self.admin_password = secrets.token_hex(8)
        self.max_sources = max_sources
        self.max_clients = max_clients
        self.source_timeout_s = source_timeout_s
        # What to do when the port is taken, for the `PortInUseError` that `start` raises.
        self.port_hint = port_hint
        self.sources: dict[str, Source] = {}
        self._process: subprocess.Popen[bytes] | None = None

    # -- server ---------------------------------------------------------------------------------------

    def __enter__(self) -> IcecastServer:
        try:
            self.start()
        except BaseException:
            self.close()  # `with` calls no __exit__ when __enter__ raises
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The icecast2 process id while it is started."""
        return self._process.pid if self._process is not None else None

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the server (the sources are not restarted: see `restart`).

        Debian's icecast2 2.4 now and then dies of SIGSEGV while it starts on a loaded machine (seen on
        2 cores with an empty error log); a server killed by a signal before it answered is started
        again, twice at most, so that a suite does not fail on the server rather than on pige.
        """
        for attempt in range(3):
            try:
                self._start_once(timeout_s)
                return
            except _CrashedAtStart:
                if attempt == 2:
                    raise
                _log.warning("icecast2 crashed while starting on port %d; starting it again", self.port)

    def _start_once(self, timeout_s: float) -> None:
        if self.running:
            return
        if not Path(ICECAST_BIN).exists():
            raise IcecastError(f"{ICECAST_BIN} not found: install Debian's icecast2 package")
        # Otherwise Icecast exits on the bind while whatever holds the port answers the status check
        # below, and the sources are refused by a server that does not know their password.
        check_port_free(self.port, what="Icecast", hint=self.port_hint)
        config = self._write_config()
        run_as = self._unprivileged_user() if os.geteuid() == 0 else {}
        log = open(self.workdir / "icecast.stdout", "ab")  # noqa: SIM115 - kept open for the child
        try:
            self._process = subprocess.Popen(
                [ICECAST_BIN, "-c", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent(),  # runs after the uid change, which would clear it
                **run_as,
            )
        finally:
            log.close()
        try:
            self._wait_answer(timeout_s)
        except BaseException:
            self.stop()  # a server that did not answer in time is not left running
            raise

    def _wait_answer(self, timeout_s: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                error = _CrashedAtStart if self._process.returncode < 0 else IcecastError
                raise error(
                    f"icecast2 exited with status {self._process.returncode} on port {self.port}: "
                    + self._tail(self.workdir / "log" / "error.log")
                    + " "
                    + self._tail(self.workdir / "icecast.stdout")
                )
            with contextlib.suppress(OSError, ValueError):
                self.status()
                return
            time.sleep(0.05)
        raise IcecastError(f"icecast2 did not answer on 127.0.0.1:{self.port} within {timeout_s} s")

    def stop(self) -> None:
        """Stop the server; its sources lose their connection and exit."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process = None

    def restart(self, down_s: float = 0.0, restart_sources: bool = True) -> None:
        """Stop the server, wait `down_s`, start it on the same port, and (by default) its sources."""
        self.stop()
        for src in self.sources.values():
            self._stop_process(src)
        time.sleep(down_s)
        self.start()
        if restart_sources:
            for mount in list(self.sources):
                self.restart_source(mount)

    def close(self) -> None:
        """Stop every source and the server; remove the work directory."""
        for src in self.sources.values():
            self._stop_process(src)
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def url(self, mount: str) -> str:
        """The listener URL of a mount."""
        return f"http://127.0.0.1:{self.port}{_mount(mount)}"

    def status(self) -> dict:
        """Icecast's `/status-json.xsl`, parsed."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status-json.xsl", timeout=2) as resp:
            # Icecast 2.4 writes invalid JSON ("title": -) for some unset fields; keep it parseable.
            text = resp.read().decode("utf-8", errors="replace").replace(":-,", ":null,")
            try:
                return json.loads(text)
            except ValueError:
                raise ValueError(f"icecast status is not JSON: {text[:300]!r}") from None

    def live_mounts(self) -> set[str]:
        """Mounts that have a connected source right now."""
        stats = self.status().get("icestats", {})
        sources = stats.get("source") or []
        if isinstance(sources, dict):
            sources = [sources]
        return {urllib.parse.urlsplit(s.get("listenurl", "")).path for s in sources}

    # -- sources --------------------------------------------------------------------------------------

    def add_source(
        self,
        mount: str,
        file: Path,
        *,
        loop: bool = True,
        codec: str = "copy",
        bitrate: str = "128k",
        name: str | None = None,
        wait_s: float = 10.0,
        extra_input_args: list[str] | None = None,
    ) -> Source:
        """Push `file` to `mount` in real time with ffmpeg (stream copy for MP3/Ogg, else MP3 encode).

        `codec="copy"` copies MP3 and Ogg files as they are (almost no CPU); anything else, or
        `codec="libmp3lame"`, is encoded to MP3 at `bitrate`. Returns once the mount is live.
        """
        mount = _mount(mount)
        file = Path(file)
        if not file.is_file():
            raise IcecastError(f"source file {file} for mount {mount} does not exist")
        suffix = file.suffix.lower().lstrip(".")
        args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-re"]
        if loop:
            args += ["-stream_loop", "-1"]
        args += list(extra_input_args or [])
        args += ["-i", str(file), "-vn", "-map", "0:a:0"]
        if codec == "copy" and suffix in _COPY_FORMATS:
            fmt, content_type = _COPY_FORMATS[suffix]
            args += ["-c:a", "copy"]
        else:
            fmt, content_type = "mp3", "audio/mpeg"
            args += ["-c:a", "libmp3lame" if codec == "copy" else codec, "-b:a", bitrate]
        args += ["-ice_name", name or mount.strip("/"), "-content_type", content_type, "-f", fmt]
        args.append(f"icecast://source:{self.source_password}@127.0.0.1:{self.port}{mount}")
        src = Source(mount=mount, file=file, args=args, log_path=self.workdir / f"source{_slug(mount)}.log")
        self.sources[mount] = src
        self._start_process(src)
        if wait_s:
            self.wait_mount(mount, wait_s)
        return src

    def kill_source(self, mount: str) -> None:
        """Kill the source of `mount` (SIGKILL): the mount disappears and listeners are dropped."""
        src = self._source(mount)
        if src.running:
            assert src.process is not None
            src.process.kill()
            src.process.wait(5)

    def restart_source(self, mount: str, wait_s: float = 10.0) -> None:
        """Start the source of `mount` again (after `kill_source` or a server restart)."""
        src = self._source(mount)
        self._stop_process(src)
        self._start_process(src)
        if wait_s:
            self.wait_mount(mount, wait_s)

    def wait_mount(self, mount: str, timeout_s: float = 10.0) -> None:
        """Block until `mount` has a live source; raise `IcecastError` naming it otherwise."""
        mount = _mount(mount)
        deadline = time.monotonic() + timeout_s
        retries = 3  # a source can be refused while a just-restarted server is still settling
        while time.monotonic() < deadline:
            if self._process is not None and (self._process.poll() or 0) < 0:
                # The server itself crashed (see `start`): bring it and its sources back on the port.
                _log.warning(
                    "icecast2 on port %d died of signal %d; restarting it",
                    self.port,
                    -self._process.returncode,
                )
                self.start()
                for other in list(self.sources):
                    self.restart_source(other, wait_s=0)
                continue
            src = self.sources.get(mount)
            if src is not None and src.process is not None and src.process.poll() is not None:
                if retries > 0:
                    retries -= 1
                    time.sleep(0.5)
                    self._start_process(src)
                    continue
                raise IcecastError(
                    f"source for {mount} exited with status {src.process.returncode}: "
                    + (self._tail(src.log_path) if src.log_path else "")
                )
            with contextlib.suppress(OSError, ValueError):
                if mount in self.live_mounts():
                    return
            time.sleep(0.1)
        raise IcecastError(f"mount {mount} did not come up within {timeout_s} s")

    def set_title(self, mount: str, title: str) -> None:
        """Set the ICY `StreamTitle` of a mount through the admin interface (MP3 mounts)."""
        query = urllib.parse.urlencode({"mount": _mount(mount), "mode": "updinfo", "song": title})
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/admin/metadata?{query}")
        token = f"admin:{self.admin_password}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(token).decode())
        with urllib.request.urlopen(request, timeout=5) as resp:
            resp.read()

    # -- internals ------------------------------------------------------------------------------------

    def _source(self, mount: str) -> Source:
        try:
            return self.sources[_mount(mount)]
        except KeyError:
            raise IcecastError(f"no source was added for mount {_mount(mount)}") from None

    def _start_process(self, src: Source) -> None:
        assert src.log_path is not None
        with open(src.log_path, "ab") as log:
            src.process = subprocess.Popen(
                src.args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                preexec_fn=die_with_parent(),
            )

    @staticmethod
    def _stop_process(src: Source) -> None:
        if src.process is None:
            return
        if src.process.poll() is None:
            src.process.send_signal(signal.SIGTERM)
            try:
                src.process.wait(3)
            except subprocess.TimeoutExpired:
                src.process.kill()
                src.process.wait(3)

    @staticmethod
    def _unprivileged_user() -> dict:
        """Popen's arguments that start Icecast as `icecast2`, with that user's group only."""
        try:
            user = pwd.getpwnam(UNPRIVILEGED_USER)
        except KeyError:
            raise IcecastError(
                f"running as root but user {UNPRIVILEGED_USER!r} does not exist: install Debian's "
                "icecast2 package or run as an unprivileged user"
            ) from None
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [user.pw_gid]}

    def _write_config(self) -> Path:
        log_dir = self.workdir / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = self._unprivileged_user()
            for path in (self.workdir, log_dir, *log_dir.iterdir()):
                os.chown(path, user["user"], user["group"])
        config = f"""<icecast>
  <location>pige test</location>
  <admin>pige@localhost</admin>
  <limits>
    <clients>{self.max_clients}</clients>
    <sources>{self.max_sources}</sources>
    <queue-size>524288</queue-size>
    <client-timeout>30</client-timeout>
    <header-timeout>15</header-timeout>
    <source-timeout>{self.source_timeout_s}</source-timeout>
    <burst-on-connect>0</burst-on-connect>
    <burst-size>0</burst-size>
  </limits>
  <authentication>
    <source-password>{self.source_password}</source-password>
    <relay-password>{secrets.token_hex(8)}</relay-password>
    <admin-user>admin</admin-user>
    <admin-password>{self.admin_password}</admin-password>
  </authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket><port>{self.port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <fileserve>1</fileserve>
  <paths>
    <basedir>{escape(str(self.workdir))}</basedir>
    <logdir>{escape(str(log_dir))}</logdir>
    <webroot>{escape(str(ICECAST_SHARE / "web"))}</webroot>
    <adminroot>{escape(str(ICECAST_SHARE / "admin"))}</adminroot>
    <pidfile>{escape(str(self.workdir / "icecast.pid"))}</pidfile>
  </paths>
  <logging>
    <accesslog>access.log</accesslog>
    <errorlog>error.log</errorlog>
    <loglevel>2</loglevel>
    <logsize>10000</logsize>
  </logging>
</icecast>
"""
        path = self.workdir / "icecast.xml"
        path.write_text(config, encoding="utf-8")
        os.chmod(path, 0o644)
        os.chmod(self.workdir, 0o755)
        return path

    @staticmethod
    def _tail(path: Path | None, lines: int = 5) -> str:
        if path is None or not path.exists():
            return "(no log)"
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])


def _mount(mount: str) -> str:
    return mount if mount.startswith("/") else "/" + mount


def _slug(mount: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in mount)
