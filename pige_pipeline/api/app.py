"""The FastAPI application: routers, token store, analytics reader, metrics and the access log."""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pige_pipeline.analytics.build import AnalyticsNotBuiltError
from pige_pipeline.api.analytics_db import AnalyticsReader
from pige_pipeline.api.auth import bearer, check_token
from pige_pipeline.api.clips import ClipCache
from pige_pipeline.api.metrics import make_registry
from pige_pipeline.api.models import Problem
from pige_pipeline.api.routers import (
    coverage,
    dead_air,
    evidence,
    health,
    plays,
    statements,
    stations,
    transcripts,
)
from pige_pipeline.api.tokens import TokenStore
from pige_pipeline.settings import PigeSettings

access_log = logging.getLogger("pige.api.access")
# Headers a reverse proxy adds: a request carrying one came from outside, even if nginx is on loopback.
DEFAULT_CACHE_MB = 256
FORWARDED_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
DESCRIPTION = """Read-only access to pige's analytics: plays, monthly statements, dead air, recording
coverage, transcripts and the evidence audio. Send `Authorization: Bearer <token>` (tokens come from
`pige api token create`). Times are ISO 8601 with the offset of the station's own time zone."""


def _from_loopback(request: Request) -> bool:
    if any(h in request.headers for h in FORWARDED_HEADERS) or request.client is None:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


class _Measure:
    """The latency histogram and the access log of every request, as plain ASGI middleware.

    (Starlette's `@app.middleware("http")` would wrap each request in extra tasks and streams: a
    measurable share of a small request's CPU.) The log names the route template, not the URL (ids
    and filters stay out of it), and the token's public id, never the token.
    """

    def __init__(self, app: ASGIApp, latency: Histogram) -> None:
        self.app = app
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - started
            template = getattr(scope.get("route"), "path", "(no route)")
            self.latency.labels(template, scope["method"], str(status)).observe(seconds)
            access_log.info(
                "%s %s %s %.1f ms token=%s",
                scope["method"],
                template,
                status,
                seconds * 1000,
                scope.get("state", {}).get("token_id", "-"),
            )


def _cache_bytes() -> int:
    """PIGE_API_CACHE_MB: megabytes of responses kept per analytics build (pages, statements); 0: off."""
    text = os.environ.get("PIGE_API_CACHE_MB", "").strip() or str(DEFAULT_CACHE_MB)
    try:
        return max(int(float(text) * 2**20), 0)
    except ValueError:
        raise ValueError(f"PIGE_API_CACHE_MB={text!r}: give a number of megabytes (0: off)") from None


def create_app(
    settings: PigeSettings | None = None, *, threads: int | None = None, clip_dir: Path | None = None
) -> FastAPI:
    """The API over `settings`' data root (PIGE_DATA_ROOT by default)."""
    settings = settings or PigeSettings.from_env()
    registry, latency = make_registry(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_clip_dir = clip_dir is None
        directory = clip_dir or Path(tempfile.mkdtemp(prefix="pige-api-clips-"))
        app.state.clips = ClipCache(directory, settings.data_root)
        try:
            yield
        finally:
            if own_clip_dir:
                shutil.rmtree(directory, ignore_errors=True)

    app = FastAPI(
        title="pige read API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.data_root = settings.data_root
    app.state.tokens = TokenStore.for_data_root(settings.data_root)
    app.state.reader = AnalyticsReader(settings.data_root, threads=threads, cache_bytes=_cache_bytes())

    @app.exception_handler(AnalyticsNotBuiltError)
    async def _not_built(request: Request, exc: AnalyticsNotBuiltError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    app.add_middleware(_Measure, latency=latency)

    for module in (health, stations, plays, statements, dead_air, coverage, transcripts, evidence):
        app.include_router(module.router)

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={
            200: {
                "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                "description": "Prometheus text.",
            },
            401: {"model": Problem, "description": "Not from loopback and no token."},
            403: {"model": Problem, "description": "Not from loopback and not an admin token."},
        },
    )
    def metrics(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
    ) -> Response:
        """Prometheus metrics: for admin tokens, or for a scraper on loopback without a proxy in between."""
        if not _from_loopback(request):
            token = check_token(request, credentials)
            if not token.at_least("admin"):
                raise HTTPException(status_code=403, detail="metrics need an admin token")
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
