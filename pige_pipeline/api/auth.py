"""Who is asking: the bearer token's role and stations, checked on every request.

401: no token, a malformed, unknown or revoked one. 403: a role too low for the resource, or a
station outside the token's scope named in a filter. An item (a play, an alert) of a station outside
the scope is a 404, like an id that does not exist, so nothing tells that it does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from pige_pipeline.api.tokens import Role, TokenInfo, TokenStore

bearer = HTTPBearer(auto_error=False, description="An API token from `pige api token create`.")


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def check_token(request: Request, credentials: HTTPAuthorizationCredentials | None) -> TokenInfo:
    """The token of the request, or 401 (reads the token file: run it in a worker thread)."""
    if credentials is None:
        raise unauthorized("an API token is needed: send `Authorization: Bearer <token>`")
    store: TokenStore = request.app.state.tokens
    return _accepted(request, store.verify(credentials.credentials))


def _accepted(request: Request, info: TokenInfo | None) -> TokenInfo:
    if info is None:
        raise unauthorized("this API token is not valid (unknown, revoked or mistyped): ask for a new one")
    request.state.token_id = info.token_id  # for the access log: the token's public id, never the token
    return info


async def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> TokenInfo:
    """The token of the request, or 401.

    On the event loop: a token verified since the token file last changed is a dictionary look-up;
    only another one reads the file, in a worker thread. (Each hop to a worker thread and back cost
    tens of milliseconds under load: see docs/benchmarks.md, "Read API".)
    """
    if credentials is not None:
        store: TokenStore = request.app.state.tokens
        known = store.verified(credentials.credentials)
        if known is not None:
            return _accepted(request, known)
    return await run_in_threadpool(check_token, request, credentials)


def require(role: Role, rights_holder_tokens: bool = False) -> Callable[..., TokenInfo]:
    """A dependency giving the request's token when its role is at least `role`, else 403.

    A rights holder's token (one with `rights_holders`) reads its statement lines and nothing more:
    only resources declared with `rights_holder_tokens=True` accept it.
    """

    # async: a plain check, run on the event loop rather than in a worker thread of its own.
    async def dependency(token: Annotated[TokenInfo, Depends(authenticate)]) -> TokenInfo:
        if not token.at_least(role):
            raise HTTPException(
                status_code=403, detail=f"this resource needs the {role} role; this token is a {token.role}"
            )
        if token.rights_holders and not rights_holder_tokens:
            raise HTTPException(
                status_code=403, detail="this token reads its rights holders' statement lines only"
            )
        return token

    return dependency


Viewer = Annotated[TokenInfo, Depends(require("viewer"))]
Operator = Annotated[TokenInfo, Depends(require("operator"))]
Admin = Annotated[TokenInfo, Depends(require("admin"))]
# Stations and the rights-holder statement: also open to a rights holder's token.
RightsHolderReader = Annotated[TokenInfo, Depends(require("viewer", rights_holder_tokens=True))]


def stations_for(token: TokenInfo, station: str | None) -> list[str] | None:
    """The stations a listing reads: the one asked for (403 outside the scope), else the token's.

    None means every station (an admin token).
    """
    if station is not None:
        if not token.may_read(station):
            raise HTTPException(status_code=403, detail=f"this token may not read station {station!r}")
        return [station]
    return None if token.all_stations else list(token.stations)


def station_condition(column: str, stations: list[str] | None) -> tuple[str, list[object]]:
    """SQL condition limiting `column` to `stations` (None: no limit), with its parameters."""
    if stations is None:
        return "true", []
    if not stations:
        return "false", []
    if len(stations) == 1:
        return f"{column} = ?", list(stations)
    return f"{column} IN ({', '.join('?' for _ in stations)})", list(stations)
