"""The `pige` command line: the same functions as the Dagster assets, without the UI.

Every module in this package that defines `register(app)` adds its commands; one module per domain.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Iterable

import typer

# Which modules register each top-level command, so that a command imports only what it needs:
# `pige record` must be back within seconds after a crash, and the report, airplay and speech modules
# pull in pandas, matplotlib, scipy and faster-whisper (about 4 s of CPU). Anything else (--help, an
# unknown word) loads every module. tests/foundation/test_cli.py keeps this map complete.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "record": ("recorder",),
    "stations": ("stations", "recorder"),
    "import": ("chunks",),
    "chunks": ("chunks",),
    "demo": ("demo",),
    "silence": ("silence",),
    "airplay": ("airplay",),
    "catalogue": ("airplay",),
    "speech": ("speech",),
    "search": ("speech",),
    "report": ("report",),
    "analytics": ("report",),
    "retention": ("maintenance",),
    "hold": ("maintenance",),
    "storage": ("maintenance",),
    "housekeeping": ("maintenance",),
    "process": ("scale",),
    "worker": ("scale",),
    "evidence": ("evidence",),
    "api": ("api",),
}


def all_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "common")


def build_app(modules: Iterable[str] | None = None) -> typer.Typer:
    """A `pige` app with the commands of `modules` (default: every domain)."""
    new_app = typer.Typer(
        name="pige",
        help="pige: broadcast monitoring for radio (recording, dead air, airplay, transcripts).",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    # A callback keeps `pige` a command group even when only one command is loaded; without it Typer
    # would turn that command into the root and refuse its own name (`pige record` -> "extra argument").
    new_app.callback()(lambda: None)
    for name in modules if modules is not None else all_modules():
        register = getattr(importlib.import_module(f"{__name__}.{name}"), "register", None)
        if callable(register):
            register(new_app)
    return new_app


def _modules_for(argv: list[str]) -> tuple[str, ...] | None:
    command = next((a for a in argv if not a.startswith("-")), None)
    return COMMAND_MODULES.get(command) if command else None


_full_app: typer.Typer | None = None


def __getattr__(name: str) -> typer.Typer:
    # `from pige_pipeline.cli import app` (tests, the demo) gets the full command line, built on first
    # use, while the `pige` script itself only imports the modules its command needs.
    global _full_app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _full_app is None:
        _full_app = build_app()
    return _full_app


def main() -> None:
    build_app(_modules_for(sys.argv[1:]))()
