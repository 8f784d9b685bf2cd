"""The catalogue CSV: track_id,title,artist,isrc,path[,label,composer,publisher], validated row by row.

A bad row (missing field, duplicate track_id, missing, non-audio or video file) becomes a
`CatalogueProblem` naming the CSV line and the track_id; every other row is still indexed.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pige_pipeline.audio.probe import AudioProbeError, probe_audio

REQUIRED_COLUMNS = ("track_id", "title", "artist", "isrc", "path")
OPTIONAL_COLUMNS = ("label", "composer", "publisher")
METADATA_COLUMNS = ("title", "artist", "isrc", "label", "composer", "publisher")


class CatalogueFileError(ValueError):
    """The CSV as a whole cannot be used (missing, unreadable, wrong header)."""


class CatalogueRow(BaseModel):
    """One catalogue track, as written in the CSV."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    track_id: str = Field(min_length=1, max_length=200)
    title: str = ""
    artist: str = ""
    isrc: str = ""
    path: str = Field(min_length=1)
    label: str = ""
    composer: str = ""
    publisher: str = ""

    @field_validator("track_id")
    @classmethod
    def _printable_id(cls, value: str) -> str:
        if any(ch in value for ch in "\r\n\t"):
            raise ValueError("track_id must not contain tabs or line breaks")
        return value


@dataclass(frozen=True)
class CatalogueEntry:
    """A valid row with its file resolved against the CSV's directory."""

    line: int
    row: CatalogueRow
    file: Path

    @property
    def track_id(self) -> str:
        return self.row.track_id


@dataclass(frozen=True)
class CatalogueProblem:
    """Why one row was not indexed."""

    csv: Path
    line: int
    track_id: str | None
    message: str

    def __str__(self) -> str:
        who = f"track_id {self.track_id!r}" if self.track_id else "no track_id"
        return f"{self.csv}: line {self.line} ({who}): {self.message}"


@dataclass
class Catalogue:
    csv: Path
    entries: list[CatalogueEntry] = field(default_factory=list)
    problems: list[CatalogueProblem] = field(default_factory=list)


def load_catalogue(csv_path: Path) -> Catalogue:
    """Read and validate the CSV; files are checked to exist here and to be audio at indexing time."""
    csv_path = Path(csv_path)
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CatalogueFileError(
            f"{csv_path}: catalogue CSV not found; set PIGE_CATALOGUE or create it"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueFileError(f"{csv_path}: cannot be read as UTF-8 text ({exc})") from None
    # newline="" lets the csv module own line breaks: a quoted break (or a form feed, which
    # str.splitlines() would split on) stays inside its cell.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CatalogueFileError(
            f"{csv_path}: header lacks column(s) {', '.join(missing)}; expected "
            f"{','.join(REQUIRED_COLUMNS)}[,{','.join(OPTIONAL_COLUMNS)}]"
        )
    catalogue = Catalogue(csv=csv_path)
    seen: dict[str, int] = {}
    base = csv_path.parent
    next_line = 2
    for raw in reader:
        number, next_line = next_line, reader.line_num + 1  # the physical line the record starts on
        values = {(k or "").strip(): (v or "") for k, v in raw.items() if k is not None}
        extra = [v for v in raw.get(None) or [] if v.strip()]
        track_id = values.get("track_id", "").strip() or None
        if extra:
            catalogue.problems.append(
                CatalogueProblem(
                    csv_path,
                    number,
                    track_id,
                    f"{len(raw[None])} more value(s) than the header has columns ({extra[0]!r}...); "
                    "quote values that contain commas",
                )
            )
            continue
        if not any(v.strip() for v in values.values()):
            continue
        try:
            row = CatalogueRow.model_validate(values)
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            catalogue.problems.append(CatalogueProblem(csv_path, number, track_id, f"invalid row ({detail})"))
            continue
        if row.track_id in seen:
            catalogue.problems.append(
                CatalogueProblem(
                    csv_path,
                    number,
                    row.track_id,
                    f"duplicate track_id (first on line {seen[row.track_id]}); give each track its own id",
                )
            )
            continue
        seen[row.track_id] = number
        try:
            file = Path(row.path).expanduser()
            file = file if file.is_absolute() else (base / file)
            found = file.resolve() if file.is_file() else None
        except (OSError, RuntimeError, ValueError) as exc:
            # "~nobody/x.mp3" (unknown user), a name too long for the file system, a symlink loop.
            catalogue.problems.append(
                CatalogueProblem(
                    csv_path,
                    number,
                    row.track_id,
                    f"unusable path {row.path!r} ({exc}); give a plain file path",
                )
            )
            continue
        if found is None:
            catalogue.problems.append(
                CatalogueProblem(
                    csv_path,
                    number,
                    row.track_id,
                    f"file not found: {file} (paths are relative to the CSV)",
                )
            )
            continue
        catalogue.entries.append(CatalogueEntry(number, row, found))
    return catalogue


def check_audio_file(path: Path) -> float:
    """Duration of an audio-only file, or `AudioProbeError` saying why it cannot be a catalogue track."""
    info = probe_audio(path)
    if _has_video(path):
        raise AudioProbeError(
            f"{path}: is a video file; export its audio track (e.g. to FLAC) for the catalogue"
        )
    return info.duration_s


def _has_video(path: Path) -> bool:
    cmd = ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "--", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    streams = json.loads(proc.stdout or "{}").get("streams") or []
    for stream in streams:
        # Cover art in MP3/FLAC is a "video" stream with the attached_pic disposition: still audio.
        if stream.get("codec_type") == "video" and not (stream.get("disposition") or {}).get("attached_pic"):
            return True
    return False
