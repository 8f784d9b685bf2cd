"""Back-fill the chunk store from an existing archive of hourly files (rotter or a custom pattern).

Files are probed with ffprobe first. Anything that is not readable audio is reported and left where
it is: the importer never moves or deletes a file it could not read.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pige_pipeline.audio.probe import AudioProbeError, probe_audio
from pige_pipeline.hours import utc
from pige_pipeline.store.chunks import AUDIO_EXTENSIONS, chunk_path

# rotter's archive layouts (rotter -L ...); `hierarchy` is its default. rotter names files in local
# time unless run with -u, so the importer converts from the station's timezone.
ROTTER_PATTERNS = {
    "hierarchy": "%Y/%m/%d/%H/archive.*",
    "combo": "%Y/%m/%d/%H/%Y-%m-%d-%H.*",
    "dailydir": "%Y-%m-%d/%Y-%m-%d-%H.*",
    "accurate": "%Y-%m-%d/%Y-%m-%d-%H-%M-%S-*.*",
    "flat": "%Y-%m-%d-%H.*",
}
_FIELDS = {"Y": r"(?P<Y>\d{4})", "m": r"(?P<m>\d{2})", "d": r"(?P<d>\d{2})", "H": r"(?P<H>\d{2})",
           "M": r"(?P<M>\d{2})", "S": r"(?P<S>\d{2})"}  # fmt: skip


class PatternError(ValueError):
    """A user-given file pattern cannot be used."""


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Turn `%Y/%m/%d/%H.mp3`-style patterns into a regex over relative POSIX paths.

    Supported: %Y %m %d %H %M %S, `*` (any characters within one path component), `%%`. A field may
    repeat (rotter's combo layout names the hour twice); every occurrence must agree.
    """
    out, seen, i = [], set(), 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "%":
            if i + 1 >= len(pattern):
                raise PatternError(f"pattern {pattern!r} ends with a lone '%'")
            code = pattern[i + 1]
            if code == "%":
                out.append("%")
            elif code in _FIELDS:
                out.append(f"(?P={code})" if code in seen else _FIELDS[code])
                seen.add(code)
            else:
                raise PatternError(f"pattern {pattern!r}: %{code} is not supported (use %Y %m %d %H %M %S)")
            i += 2
            continue
        out.append("[^/]*" if ch == "*" else re.escape(ch))
        i += 1
    missing = {"Y", "m", "d", "H"} - seen
    if missing:
        raise PatternError(f"pattern {pattern!r} must contain %Y, %m, %d and %H (missing: {sorted(missing)})")
    return re.compile("^" + "".join(out) + "$")


@dataclass
class ImportReport:
    imported: list[tuple[Path, Path]] = field(default_factory=list)
    skipped_unreadable: list[tuple[Path, str]] = field(default_factory=list)
    skipped_existing: list[tuple[Path, Path]] = field(default_factory=list)
    unmatched: list[Path] = field(default_factory=list)


def _candidates(source: Path, regexes: list[re.Pattern[str]]) -> Iterator[tuple[Path, dict[str, str] | None]]:
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        rel = path.relative_to(source).as_posix()
        match = next((m for r in regexes if (m := r.match(rel))), None)
        yield path, (match.groupdict() if match else None)


def import_archive(
    source: Path,
    data_root: Path,
    station: str,
    *,
    pattern: str | None = None,
    timezone: str = "UTC",
    link: bool = False,
    dry_run: bool = False,
    on_file: Callable[[Path], None] | None = None,
) -> ImportReport:
    """Copy (or hard-link) every readable hourly file of `source` into the store for `station`.

    `on_file(path)` is called as each candidate file is looked at (progress bars).
    """
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: not a directory; give the root of the archive to import")
    regexes = (
        [compile_pattern(pattern)] if pattern else [compile_pattern(p) for p in ROTTER_PATTERNS.values()]
    )
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise PatternError(
            f"unknown timezone {timezone!r}: use an IANA name such as 'Europe/Paris'"
        ) from None
    report = ImportReport()
    for path, fields in _candidates(source, regexes):
        if on_file:
            on_file(path)
        if fields is None:
            report.unmatched.append(path)
            continue
        try:
            local = datetime(
                int(fields["Y"]), int(fields["m"]), int(fields["d"]), int(fields["H"]),
                int(fields.get("M") or 0), int(fields.get("S") or 0), tzinfo=zone,
            )  # fmt: skip
        except ValueError as exc:  # '2026/13/45/99': one bad name must not stop the import
            report.skipped_unreadable.append(
                (path, f"{path}: its name gives an impossible date ({exc}); rename it or fix --pattern")
            )
            continue
        try:
            info = probe_audio(path)
        except AudioProbeError as exc:
            report.skipped_unreadable.append((path, str(exc)))
            continue
        ext = path.suffix.lower().lstrip(".")
        if ext not in AUDIO_EXTENSIONS:
            ext = {"mp3": "mp3", "aac": "aac", "vorbis": "ogg", "opus": "opus", "flac": "flac"}.get(
                info.codec, "mka"
            )
            if ext not in AUDIO_EXTENSIONS:
                report.skipped_unreadable.append((path, f"{path}: codec {info.codec} has no store extension"))
                continue
        dest = chunk_path(data_root, station, utc(local), ext)
        if dest.exists():
            report.skipped_existing.append((path, dest))
            continue
        if not dry_run:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.tmp")
            if link:
                try:
                    os.link(path, tmp)
                except OSError:
                    shutil.copy2(path, tmp)
            else:
                shutil.copy2(path, tmp)
            os.replace(tmp, dest)
        report.imported.append((path, dest))
    return report
