"""Children that die with the process that started them, and who holds a TCP port.

    subprocess.Popen(args, preexec_fn=die_with_parent())  # SIGTERM when the parent dies, even by SIGKILL
    check_port_free(8765, hint="stop it")                 # PortInUseError naming the port and its holder

`die_with_parent` sets Linux's PR_SET_PDEATHSIG in the child. The kernel sends the signal when the
*thread* that started the child ends, so start such children from a thread that lives as long as they
should (the main thread). It is cleared when the child changes its uid (Icecast's `<changeowner>`),
so a child that must run as another user is started as that user (`Popen(user=...)`) instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1


class PortInUseError(RuntimeError):
    """A port a server must listen on is taken; the message names the port, its holder and what to do."""

    def __init__(self, message: str, port: int, holders: list[tuple[int, str]]) -> None:
        super().__init__(message)
        self.port = port
        self.holders = holders


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` that has the child get `sig` when its parent dies; None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not in the forked child
    parent = os.getpid()

    def set_pdeathsig() -> None:
        if prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died before prctl: nobody will signal this child
            os.kill(os.getpid(), sig)

    return set_pdeathsig


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on host:port now (SO_REUSEADDR, as servers bind: TIME_WAIT is fine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def port_holders(port: int) -> list[tuple[int, str]]:
    """(pid, command line) of the processes listening on TCP `port`, as far as this user can see."""
    inodes = _listening_inodes(port)
    holders: list[tuple[int, str]] = []
    if inodes:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                for fd in (proc / "fd").iterdir():
                    with contextlib.suppress(OSError):
                        found = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd))
                        if found and found.group(1) in inodes:
                            holders.append((int(proc.name), _cmdline(int(proc.name))))
                            break
    if not holders:
        holders = _holders_from_ss(port)
    return sorted(set(holders))


def check_port_free(port: int, host: str = "127.0.0.1", *, what: str = "the server", hint: str = "") -> None:
    """Raise `PortInUseError` naming the port, the process that holds it (when found) and `hint`."""
    if port_is_free(port, host):
        return
    holders = port_holders(port)
    if holders:
        held = "; it is held by " + ", ".join(f"pid {pid} ({cmd})" for pid, cmd in holders)
        if any("pige-icecast-" in cmd for _, cmd in holders):
            held += " (a pige Icecast, perhaps left behind by an earlier demo or test run)"
    else:
        held = "; the process holding it could not be found (try `ss -ltnp` as root)"
    todo = hint or "stop that process or use another port"
    message = f"port {port} on {host} is already in use, so {what} cannot listen on it{held}: {todo}"
    raise PortInUseError(message, port, holders)


def pid_gone(pid: int) -> bool:
    """Whether `pid` no longer runs (a zombie nobody has reaped yet counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in {"Z", "X"}


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    inodes.add(fields[9])  # state 0A: LISTEN
    inodes.discard("0")
    return inodes


def _holders_from_ss(port: int) -> list[tuple[int, str]]:
    ss = shutil.which("ss")
    if ss is None:
        return []
    try:
        out = subprocess.run([ss, "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return []
    pids = {int(pid) for pid in re.findall(r"pid=(\d+)", out.stdout)}
    return [(pid, _cmdline(pid)) for pid in pids]


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip() or "?"
