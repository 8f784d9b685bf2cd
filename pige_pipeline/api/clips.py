"""Evidence clips for the API, cut once per item and analytics build and kept in a private cache folder.

A player asks for the same clip several times (HTTP Range requests as it seeks), so each clip is cut
once; the key includes the item's chunk spans, so a rebuild that moves them cuts it again. The oldest
clips go when the cache holds more than `MAX_CLIPS`.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

MAX_CLIPS = 200


class ClipCache:
    """Cut clips under `directory` (created if missing)."""

    def __init__(self, directory: Path, data_root: Path) -> None:
        self.directory = directory
        self.data_root = data_root
        self._lock = threading.Lock()

    def clip(self, item_id: str, spans_key: str, suffix: str) -> Path:
        """The clip of `item_id` (cut now unless cached); raises the evidence package's errors."""
        from pige_pipeline.evidence import cut_clip  # the audio stack loads only when a clip is asked for

        digest = hashlib.sha256(f"{item_id}\0{spans_key}".encode()).hexdigest()[:32]
        path = self.directory / f"{digest}{suffix}"
        if path.exists():
            return path
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{digest}.{os.getpid()}.{threading.get_ident()}{suffix}"
        try:
            cut_clip(self.data_root, item_id, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        self._trim()
        return path

    def _trim(self) -> None:
        with self._lock:
            clips = sorted(
                (p for p in self.directory.iterdir() if not p.name.startswith(".")),
                key=lambda p: p.stat().st_mtime,
            )
            for old in clips[:-MAX_CLIPS]:
                old.unlink(missing_ok=True)
