"""`pige api`: the read API over HTTP (uvicorn), and `pige api token create|ls|revoke`."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from pige_pipeline.cli.common import DataRootOption, fail, resolve_settings

api_app = typer.Typer(
    help="The read API over HTTP: plays, statements, dead air, coverage, transcripts, evidence, metrics.",
    invoke_without_command=True,
)
token_app = typer.Typer(help="API tokens: create (shown once), list, revoke.", no_args_is_help=True)
api_app.add_typer(token_app, name="token")


@api_app.callback()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (behind nginx: 127.0.0.1).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8600,
    root_path: Annotated[
        str, typer.Option("--root-path", help="Path prefix a reverse proxy serves the API under, e.g. /api.")
    ] = "",
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Worker processes (each reads on its own).")
    ] = 1,
    data_root: DataRootOption = None,
) -> None:
    """Serve the read API (OpenAPI document at /openapi.json, browsable at /docs)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    settings = resolve_settings(data_root)
    # Workers build the app from the environment, so the data root travels there.
    os.environ["PIGE_DATA_ROOT"] = str(settings.data_root)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    typer.echo(f"pige api: serving {settings.data_root} on http://{host}:{port}{root_path}/ (docs at /docs)")
    uvicorn.run(
        "pige_pipeline.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        root_path=root_path,
        workers=workers,
        # pige's own access line names the route template and the token's public id; uvicorn's would
        # print every URL with its query.
        access_log=False,
        proxy_headers=False,
    )


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", help="Who or what the token is for (shown by `ls`).")],
    role: Annotated[str, typer.Option("--role", help="viewer, operator or admin.")] = "viewer",
    stations: Annotated[
        str | None,
        typer.Option("--stations", help="Station ids it may read, comma-separated (an admin reads all)."),
    ] = None,
    rights_holders: Annotated[
        list[str] | None,
        typer.Option(
            "--rights-holder",
            help="Only this rights holder's statement lines (repeat for several; names as in the catalogue).",
        ),
    ] = None,
    data_root: DataRootOption = None,
) -> None:
    """Create a token and print it once: only its hash is kept."""
    from pige_pipeline.api.tokens import TokenError, TokenStore, parse_stations

    settings = resolve_settings(data_root)
    try:
        token, info = TokenStore.for_data_root(settings.data_root).create(
            name, role, parse_stations(stations), tuple(rights_holders or ())
        )
    except TokenError as exc:
        fail(str(exc))
    scope = "every station" if info.all_stations else ", ".join(info.stations)
    if info.rights_holders:
        scope += "; statement lines of " + ", ".join(info.rights_holders)
    typer.echo(f"created token {info.token_id} ({info.role}, {scope}) for {info.name!r}.", err=True)
    typer.echo("It is shown only now: store it where it is needed.", err=True)
    typer.echo(token)


@token_app.command("ls")
def token_ls(data_root: DataRootOption = None) -> None:
    """List tokens (id, name, role, stations, created, revoked); never the tokens themselves."""
    from pige_pipeline.api.tokens import TokenStore

    settings = resolve_settings(data_root)
    tokens = TokenStore.for_data_root(settings.data_root).list()
    if not tokens:
        typer.echo("no API tokens yet: `pige api token create --name NAME --role viewer --stations a,b`")
        return
    for info in tokens:
        scope = "*" if info.all_stations else ",".join(info.stations)
        if info.rights_holders:
            scope += " [" + "; ".join(info.rights_holders) + "]"
        revoked = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}Z" if info.revoked_at else "active"
        created = f"{info.created_at:%Y-%m-%d %H:%M}Z"
        typer.echo(f"{info.token_id}  {info.role:<8}  {scope:<30}  {created}  {revoked}  {info.name}")


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (from `ls`) or its name.")],
    data_root: DataRootOption = None,
) -> None:
    """Revoke a token: the next request with it gets 401."""
    from pige_pipeline.api.tokens import TokenError, TokenStore

    settings = resolve_settings(data_root)
    try:
        info = TokenStore.for_data_root(settings.data_root).revoke(token_id)
    except TokenError as exc:
        fail(str(exc))
    typer.echo(f"revoked token {info.token_id} ({info.name!r})")


def register(app: typer.Typer) -> None:
    app.add_typer(api_app, name="api")
