"""Audio players for report lines: the clip of each play and dead-air alert, next to the page.

Clips are cut when the page is written (`clips=True`, the default) into `{report}/clips/`, as a stream
copy of the chunks where the browser plays their codec. A clip whose line did not change is kept from
the last run (its name carries a digest of the line's span and source), so a re-written page only cuts
new lines. With `clips=False` the cell gives the command that cuts it on demand (`pige evidence`).
A line whose audio is missing or expired shows why, instead of a player that cannot play.
"""

from __future__ import annotations

import hashlib
from html import escape
from pathlib import Path

import pandas as pd

from pige_pipeline.evidence import EvidenceError, cut_evidence, evidence_from_row

CLIP_COLUMN = "listen"
CONTEXT_S = 5.0
# Containers browsers play as they are; anything else (MPEG-TS) is re-encoded to MP3.
_PLAYABLE = {".mp3", ".aac", ".m4a", ".ogg", ".oga", ".opus", ".flac", ".wav"}


def _clip_name(evidence_key: str, item_id: str, suffix: str) -> str:
    digest = hashlib.sha256(evidence_key.encode()).hexdigest()[:10]
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in item_id)[:80]
    return f"{safe}-{digest}{suffix}"


def _command(item_id: str) -> str:
    return f"<code>pige evidence {escape(item_id)} --out {escape(item_id)}.mp3</code>"


def clip_column(
    data_root: Path,
    directory: Path,
    frame: pd.DataFrame,
    kind: str,
    id_column: str,
    label: pd.Series | None = None,
    cut: bool = True,
    max_clips: int = 400,
) -> pd.Series:
    """HTML cells (an <audio> player, a message, or a command) for the first `max_clips` rows of `frame`.

    `frame` carries station, start, end, `id_column` and the source columns of the analytics table.
    """
    cells: list[str] = []
    clips = directory / "clips"
    for position, row in enumerate(frame.head(max_clips).itertuples(index=False)):
        item_id = str(getattr(row, id_column))
        if not cut:
            cells.append(_command(item_id))
            continue
        try:
            evidence = evidence_from_row(
                kind,
                item_id,
                row.station,
                row.start.to_pydatetime(),
                row.end.to_pydatetime(),
                None if label is None else str(label.iloc[position]),
                getattr(row, "source_files", None),
                getattr(row, "source_start_s", None),
                getattr(row, "source_end_s", None),
            )
            suffix = evidence.spans[0].path.suffix.lower()
            suffix = suffix if suffix in _PLAYABLE else ".mp3"
            key = f"{evidence.start.isoformat()}|{evidence.end.isoformat()}|{evidence.spans}|{CONTEXT_S}"
            out = clips / _clip_name(key, item_id, suffix)
            if not out.exists():
                for stale in clips.glob(f"{out.name.rsplit('-', 1)[0]}-{'?' * 10}.*"):
                    stale.unlink(missing_ok=True)  # the line changed since (re-processed hour)
                cut_evidence(data_root, evidence, out, CONTEXT_S)
            cells.append(
                f'<audio controls preload="none" src="clips/{escape(out.name)}" '
                f'title="{escape(item_id)}, with {CONTEXT_S:.0f} s before and after"></audio>'
            )
        except EvidenceError as exc:
            cells.append(f'<span class="missing">no clip: {escape(str(exc))}</span>')
    cells += [""] * (len(frame) - len(cells))
    return pd.Series(cells, index=frame.index, dtype="object")
