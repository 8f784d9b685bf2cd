"""Recorder heartbeats: who is recording what, so supervisors and housekeeping can tell a dead recorder.

Each recorder process writes `{data_root}/recorder/state/{recorder_id}.json` every few seconds:

    {"recorder_id", "run_id", "pid", "host", "started_at", "heartbeat_at", "stopped",
     "segment_seconds", "groups": [group, ...] or null (every station),
     "stations": {id: {"status", "since", "last_segment", "last_segment_end", "error",
                       "group", "moving_to"}}}

`moving_to` names the group a station moved to while this recorder still records it, until another
recorder records it (a handover between recorder groups).

A stop request for a recorder is the file `{data_root}/recorder/control/stop-{recorder_id}`: the
supervisor writes it to end the old run of a rotation once the new one records, and the recorder
finishes its current segments and exits cleanly.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pige_pipeline.hours import utc

# A recorder whose heartbeat is older than this is taken for dead.
STALE_AFTER_S = 30.0


def state_dir(data_root: Path) -> Path:
    return data_root / "recorder" / "state"


def state_path(data_root: Path, recorder_id: str) -> Path:
    return state_dir(data_root) / f"{recorder_id}.json"


def stop_request_path(data_root: Path, recorder_id: str) -> Path:
    return data_root / "recorder" / "control" / f"stop-{recorder_id}"


def request_stop(data_root: Path, recorder_id: str, reason: str = "") -> Path:
    """Ask a recorder to finish its segments and exit (it checks every heartbeat)."""
    path = stop_request_path(data_root, recorder_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"at": datetime.now(UTC).isoformat(), "reason": reason}), encoding="utf-8")
    return path


def write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class RecorderState:
    """One recorder's last heartbeat."""

    recorder_id: str
    pid: int
    host: str
    started_at: datetime
    heartbeat_at: datetime
    stopped: bool = False
    run_id: str | None = None
    segment_seconds: int = 3600
    groups: list[str] | None = None  # the recorder groups it records; None = every station
    stations: dict[str, dict] = field(default_factory=dict)

    def age_s(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - self.heartbeat_at).total_seconds()

    def alive(self, now: datetime | None = None, stale_after_s: float = STALE_AFTER_S) -> bool:
        """Fresh heartbeat, not stopped, and (on this host) its process still exists."""
        if self.stopped or self.age_s(now) > stale_after_s:
            return False
        if self.host == socket.gethostname():
            return pid_alive(self.pid)
        return True

    def recording(self, station: str) -> bool:
        return (self.stations.get(station) or {}).get("status") == "recording"

    def to_dict(self) -> dict:
        return {
            "recorder_id": self.recorder_id,
            "run_id": self.run_id,
            "pid": self.pid,
            "host": self.host,
            "started_at": utc(self.started_at).isoformat(),
            "heartbeat_at": utc(self.heartbeat_at).isoformat(),
            "stopped": self.stopped,
            "segment_seconds": self.segment_seconds,
            "groups": self.groups,
            "stations": self.stations,
        }

    @classmethod
    def from_dict(cls, data: dict) -> RecorderState:
        return cls(
            recorder_id=data["recorder_id"],
            run_id=data.get("run_id"),
            pid=int(data.get("pid", 0)),
            host=data.get("host", ""),
            started_at=utc(datetime.fromisoformat(data["started_at"])),
            heartbeat_at=utc(datetime.fromisoformat(data["heartbeat_at"])),
            stopped=bool(data.get("stopped", False)),
            segment_seconds=int(data.get("segment_seconds", 3600)),
            groups=data.get("groups"),
            stations=dict(data.get("stations") or {}),
        )


def write_state(data_root: Path, state: RecorderState) -> None:
    write_json_atomic(state_path(data_root, state.recorder_id), state.to_dict())


def read_states(data_root: Path) -> list[RecorderState]:
    """Every recorder heartbeat on disk (unreadable files are skipped: they are being replaced)."""
    found = []
    directory = state_dir(data_root)
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.json")):
        try:
            found.append(RecorderState.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def read_state(data_root: Path, recorder_id: str) -> RecorderState | None:
    try:
        return RecorderState.from_dict(json.loads(state_path(data_root, recorder_id).read_text("utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie is not: it holds no open file any more)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    with contextlib.suppress(OSError):
        # "pid (comm) state ...": the command name may hold spaces and parentheses.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def read_json(path: Path) -> dict:
    """The JSON object in `path`, or {} when it is missing or half-written."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
