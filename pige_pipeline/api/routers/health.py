"""GET /health: up, and which analytics build it reads (no token: for load balancers and probes)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response

from pige_pipeline.analytics.build import AnalyticsNotBuiltError
from pige_pipeline.api.models import Health
from pige_pipeline.api.query import analytics

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(request: Request, response: Response) -> dict:
    """'ok' with the analytics build time; 503 'no_analytics' before the first build."""
    try:
        with analytics(request) as db:
            info = dict(
                db.execute("SELECT key, value FROM build_info WHERE key IN ('built_at', 'mode')").fetchall()
            )
    except AnalyticsNotBuiltError:
        response.status_code = 503
        return {"status": "no_analytics", "analytics_built_at": None, "analytics_mode": None}
    return {
        "status": "ok",
        "analytics_built_at": json.loads(info["built_at"]) if "built_at" in info else None,
        "analytics_mode": json.loads(info["mode"]) if "mode" in info else None,
    }
