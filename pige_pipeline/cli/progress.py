"""Progress bars for long `pige` commands: a rich bar with an ETA on a terminal, nothing in pipes and CI."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

# CI runners and `pige ... | tee log` must get plain lines only: a bar there is a screenful of carriage
# returns in the log. PIGE_PROGRESS=0 turns bars off on a terminal too, =1 forces them (for recordings).
PROGRESS_ENV = "PIGE_PROGRESS"


class Progress(Protocol):
    def advance(self, amount: float = 1.0, label: str | None = None) -> None: ...

    def set_total(self, total: float) -> None: ...


class SilentProgress:
    """What `progress_bar` yields where bars are off: every call does nothing."""

    def advance(self, amount: float = 1.0, label: str | None = None) -> None:
        pass

    def set_total(self, total: float) -> None:
        pass


def progress_enabled() -> bool:
    """Whether a bar is drawn: stderr is a terminal, not under CI, and PIGE_PROGRESS does not say 0."""
    forced = os.environ.get(PROGRESS_ENV, "").strip()
    if forced in {"0", "1"}:
        return forced == "1"
    return sys.stderr.isatty() and not os.environ.get("CI")


@contextmanager
def progress_bar(description: str, total: float | None, unit: str = "") -> Iterator[Progress]:
    """A bar on stderr for `total` units of work (None: unknown yet); a no-op where bars are off."""
    if not progress_enabled():
        yield SilentProgress()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import (
        Progress as RichProgress,
    )

    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[label]}"),
    ]
    console = Console(stderr=True, force_terminal=True if os.environ.get(PROGRESS_ENV) == "1" else None)
    with RichProgress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total, label="")

        class _Bar:
            def advance(self, amount: float = 1.0, label: str | None = None) -> None:
                bar.update(task, advance=amount, **({"label": label} if label is not None else {}))

            def set_total(self, total: float) -> None:
                bar.update(task, total=total)

        yield _Bar()
