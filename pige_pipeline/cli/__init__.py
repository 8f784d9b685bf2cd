"""The `pige` command line: the same functions as the Dagster assets, without the UI.

Every module in this package that defines `register(app)` adds its commands; one module per domain.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

app = typer.Typer(
    name="pige",
    help="pige: broadcast monitoring for radio (recording, dead air, airplay, transcripts).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register_domains() -> None:
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        register = getattr(importlib.import_module(f"{__name__}.{module.name}"), "register", None)
        if callable(register):
            register(app)


_register_domains()


def main() -> None:
    app()
