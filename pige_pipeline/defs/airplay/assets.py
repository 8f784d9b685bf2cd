"""`catalogue` (incremental by content hash), hourly `airplay_events` and `unknown_music`."""

import logging
from dataclasses import dataclass, replace
from typing import Any

import dagster as dg
import numpy as np

from pige_pipeline.airplay.catalogue import CatalogueFileError, load_catalogue
from pige_pipeline.airplay.events import AIRPLAY_EVENTS_SCHEMA, play_rows
from pige_pipeline.airplay.fine_presence import CatalogueAudio
from pige_pipeline.airplay.index import CatalogueIndex, load_index, update_index
from pige_pipeline.airplay.matcher import DEFAULT_PARAMS, Play, match_hour
from pige_pipeline.airplay.music_likeness import profile_from_row
from pige_pipeline.airplay.unknown import UNKNOWN_MUSIC_SCHEMA, Piece, UnknownStore, unknown_rows
from pige_pipeline.audio.decode import AudioDecodeError
from pige_pipeline.hours import HOUR
from pige_pipeline.lib.hourly import StationHour, station_hour_asset
from pige_pipeline.lib.resources import AcoustIDResource, PigeResource
from pige_pipeline.settings import PigeSettings
from pige_pipeline.stations import Station
from pige_pipeline.store.hour_audio import NoAudioError, decode_span, load_hour_audio
from pige_pipeline.store.parquet import read_asset_hour

log = logging.getLogger(__name__)


@dg.asset(
    name="catalogue",
    description="Fingerprint index of catalogue.csv at 7 speeds; redoes only changed files.",
    group_name="airplay",
    kinds={"numpy"},
)
def catalogue(context: dg.AssetExecutionContext, pige: PigeResource) -> dg.MaterializeResult:
    settings = pige.settings()
    try:
        loaded = load_catalogue(settings.catalogue_file)
    except CatalogueFileError as exc:
        raise dg.Failure(description=str(exc)) from None
    update = update_index(loaded, settings.state_dir / "catalogue", log=context.log.warning)
    for problem in update.problems:
        context.log.error(str(problem))
    index = update.index
    return dg.MaterializeResult(
        metadata={
            "tracks": index.n_tracks,
            "fingerprinted": len(update.fingerprinted),
            "reused": len(update.reused),
            "problems": dg.MetadataValue.json([str(p) for p in update.problems]),
            "reference_hours": round(index.reference_hours(), 3),
            "index_mb": round(index.nbytes() / 1e6, 3),
            "seconds": round(update.seconds, 2),
        }
    )


@dataclass
class _Shared:
    index: CatalogueIndex | None
    store: UnknownStore
    lookup: Any = None


def _setup(context: dg.OpExecutionContext, settings: PigeSettings, _stations: list[Station]) -> _Shared:
    index = load_index(settings.state_dir / "catalogue")
    if index is None:
        context.log.error("no catalogue index: materialize the `catalogue` asset first")
    # Only unknown_music asks for AcoustID (its station steps require the resource); plays never look up.
    acoustid: AcoustIDResource | None = getattr(context.resources, "acoustid", None)
    return _Shared(index, UnknownStore(settings.state_dir), acoustid.lookup() if acoustid else None)


def _fingerprints(sh: StationHour) -> list[dict]:
    frame = read_asset_hour(sh.settings.data_root, "fingerprints", sh.station.id, sh.hour)
    if frame is None:
        raise NoAudioError(f"station {sh.station.id!r}, hour {sh.hour:%Y-%m-%d %H:00Z}: no fingerprints")
    return frame.to_dict("records")


def _neighbour_fingerprints(sh: StationHour, step: int) -> list[dict] | None:
    """The previous (-1) or next (+1) hour's `fingerprints` rows, None if not written yet."""
    hour = sh.hour + step * HOUR
    try:
        frame = read_asset_hour(sh.settings.data_root, "fingerprints", sh.station.id, hour)
    except (OSError, ValueError) as exc:  # an unreadable neighbour only costs the margin
        log.warning("station %r: fingerprints of %s unreadable (%s); no margin", sh.station.id, hour, exc)
        return None
    return None if frame is None else frame.to_dict("records")


class _HourStretches(CatalogueAudio):
    """The station-hour's chunks, decoded for the stretches asked for; the tracks' peaks from the index."""

    def __init__(self, sh: StationHour, index: CatalogueIndex) -> None:
        super().__init__(index)
        self._sh = sh
        self._parts: list | None = None

    def recording(self, start_s: float, end_s: float) -> np.ndarray | None:
        sh = self._sh
        if self._parts is None:
            self._parts = load_hour_audio(sh.settings.data_root, sh.station.id, sh.hour).parts
        try:
            return decode_span(self._parts, start_s, end_s)
        except (AudioDecodeError, OSError) as exc:  # only this intro's refinement is lost
            log.warning("station %r: %.0f-%.0f s not decodable (%s)", sh.station.id, start_s, end_s, exc)
            return None


def _plays(sh: StationHour, shared: _Shared, rows: list[dict]) -> list[Play]:
    if shared.index is None:
        raise RuntimeError("the catalogue is not indexed; materialize the `catalogue` asset, then rerun")
    params = replace(DEFAULT_PARAMS, min_play_s=sh.station.airplay.min_play_seconds)
    # Margins of the neighbouring hours make a play across a boundary whole, whichever hour runs first.
    previous, following = _neighbour_fingerprints(sh, -1), _neighbour_fingerprints(sh, 1)
    audio = _HourStretches(sh, shared.index)
    return match_hour(shared.index, rows, previous, following, params, audio)


def _airplay(sh: StationHour, shared: _Shared) -> list[dict]:
    if not sh.station.airplay.enabled:
        return []
    rows = _fingerprints(sh)
    plays = _plays(sh, shared, rows)
    return play_rows(sh.station.id, sh.hour, plays, shared.index, sh.settings.data_root)


@dataclass
class _Span:
    start_s: float
    end_s: float


def _unknown(sh: StationHour, shared: _Shared) -> list[dict]:
    if not sh.station.airplay.enabled:
        return []
    rows = _fingerprints(sh)
    done = read_asset_hour(sh.settings.data_root, "airplay_events", sh.station.id, sh.hour)
    spans = (
        [_Span(float(a), float(b)) for a, b in zip(done["start_s"], done["end_s"], strict=True)]
        if done is not None
        else _plays(sh, shared, rows)
    )
    pieces = [
        Piece(float(r["part_offset_s"]), np.asarray(r["fingerprint"], dtype=np.uint32), profile_from_row(r))
        for r in rows
        if float(r.get("speed", 1.0)) == 1.0
    ]
    with shared.store.locked() as store:
        return unknown_rows(sh.station.id, sh.hour, pieces, spans, store, shared.lookup)


airplay_events = station_hour_asset(
    name="airplay_events",
    description="Catalogue plays per station: track, start, end, offset in the track, score and confidence.",
    schema=AIRPLAY_EVENTS_SCHEMA,
    compute=_airplay,
    deps=["fingerprints", "catalogue"],
    setup=_setup,
    group_name="airplay",
)

unknown_music = station_hour_asset(
    name="unknown_music",
    description="Music matching no catalogue track, grouped so repeated airings share a cluster_id.",
    schema=UNKNOWN_MUSIC_SCHEMA,
    compute=_unknown,
    deps=["fingerprints", "catalogue", "airplay_events"],
    setup=_setup,
    resources=["acoustid"],
    group_name="airplay",
)
