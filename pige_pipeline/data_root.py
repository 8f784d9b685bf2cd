"""Which data root a process sees: an id written once into the root, compared by every worker.

With several machines the data root is a shared volume (NFS or similar) mounted on each of them. A
worker whose mount is missing or points elsewhere would otherwise write a station's Parquet into its own
empty directory, where nobody reads it, and report success. The run records the id of the root it
sees; a worker that sees another id, or none, refuses the step at once.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

MARKER_NAME = ".pige-data-root"


class DataRootMismatchError(RuntimeError):
    """This process does not see the data root the run uses; the message says what to mount."""


def marker_path(data_root: Path) -> Path:
    return data_root / MARKER_NAME


def read_data_root_id(data_root: Path) -> str | None:
    """The id written in `data_root`, or None where the root has none (or cannot be read)."""
    try:
        return marker_path(data_root).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def ensure_data_root_id(data_root: Path) -> str:
    """The root's id, written on first use. Only the side that owns the data (a run, the CLI) calls this."""
    found = read_data_root_id(data_root)
    if found:
        return found
    data_root.mkdir(parents=True, exist_ok=True)
    new_id = uuid.uuid4().hex
    tmp = data_root / f"{MARKER_NAME}.{os.getpid()}.tmp"
    tmp.write_text(new_id + "\n", encoding="utf-8")
    try:
        # link() fails if another process wrote the marker first: its id wins, ours is dropped.
        os.link(tmp, marker_path(data_root))
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return read_data_root_id(data_root) or new_id


def check_data_root(data_root: Path, expected_id: str | None, *, where: str = "this worker") -> None:
    """Raise unless `data_root` carries `expected_id` (None: it must carry some id)."""
    found = read_data_root_id(data_root)
    host = os.uname().nodename
    if found is None:
        raise DataRootMismatchError(
            f"{where} ({host}, pid {os.getpid()}) sees no pige data root at {data_root} (no {MARKER_NAME} "
            "file): mount the shared data root there, or set PIGE_DATA_ROOT to where it is mounted. "
            "Nothing was written."
        )
    if expected_id is not None and found != expected_id:
        raise DataRootMismatchError(
            f"{where} ({host}, pid {os.getpid()}) sees a different data root at {data_root} (id {found}, "
            f"the run's is {expected_id}): every machine must mount the same shared volume at "
            "PIGE_DATA_ROOT. Nothing was written."
        )
