"""GET /evidence/{id}: the recorded audio of a play or a dead-air alert, with HTTP Range (operators)."""

from __future__ import annotations

import mimetypes
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from pige_pipeline.api.auth import Operator
from pige_pipeline.api.clips import ClipCache
from pige_pipeline.api.models import ERRORS, NOT_FOUND, Problem
from pige_pipeline.api.query import analytics
from pige_pipeline.api.routers.common import ID_PATTERN

# The station of a play (or of a piece of one) or of a dead-air alert, as `evidence.locate` finds them.
_STATION_OF = """
    SELECT station FROM plays WHERE play_id = ?
    UNION ALL SELECT station FROM play_segments WHERE segment_play_id = ?
    UNION ALL SELECT station FROM dead_air_events
        WHERE alert_id = ? OR list_contains(string_split(alert_ids, ','), ?)
    LIMIT 1
"""
router = APIRouter(tags=["evidence"], responses=ERRORS)
AUDIO = {
    t: {"schema": {"type": "string", "format": "binary"}} for t in ("audio/mpeg", "audio/ogg", "audio/aac")
}


def _station_of(request: Request, item_id: str) -> str | None:
    with analytics(request) as db:
        row = db.execute(_STATION_OF, [item_id, item_id, item_id, item_id]).fetchone()
    return row[0] if row else None


@router.get(
    "/evidence/{item_id}",
    response_class=FileResponse,
    responses={
        200: {"content": AUDIO, "description": "The clip, with 5 s of context either side."},
        206: {"content": AUDIO, "description": "The byte range asked for with `Range`."},
        **NOT_FOUND,
        410: {"model": Problem, "description": "The audio is gone (retention) or was never recorded."},
    },
)
async def evidence(
    request: Request,
    token: Operator,
    item_id: Annotated[str, Path(pattern=ID_PATTERN, description="A play_id or an alert_id.")],
) -> FileResponse:
    """The clip of a play or an alert; 404 outside the token's stations."""
    data_root: FilePath = request.app.state.data_root
    missing = HTTPException(
        status_code=404, detail=f"no play or alert {item_id!r} among this token's stations"
    )
    # The scope is checked before the evidence is looked at, so that "no audio" (410) is never said of
    # an item of another station.
    station = await run_in_threadpool(_station_of, request, item_id)
    if station is None or not token.may_read(station):
        raise missing
    # The audio stack loads only when a clip is asked for.
    from pige_pipeline.evidence import EvidenceError, EvidenceNotFound, EvidenceUnavailable, locate

    try:
        found = await run_in_threadpool(locate, data_root, item_id)
    except EvidenceNotFound:
        raise missing from None
    except EvidenceUnavailable as exc:
        raise HTTPException(status_code=410, detail=str(exc)) from None
    except EvidenceError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None
    if not token.may_read(found.station):
        raise missing
    suffix = FilePath(str(found.spans[0].path)).suffix or ".mp3" if found.spans else ".mp3"
    cache: ClipCache = request.app.state.clips
    spans_key = ";".join(f"{s.path}:{s.start_s}:{s.end_s}" for s in found.spans)
    try:
        path = await run_in_threadpool(cache.clip, item_id, spans_key, suffix)
    except EvidenceUnavailable as exc:
        raise HTTPException(status_code=410, detail=str(exc)) from None
    except EvidenceError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None
    media_type = mimetypes.guess_type(f"clip{suffix}")[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, filename=f"{item_id}{suffix}")
