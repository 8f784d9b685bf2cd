"""`audio_chunks`: what was recorded for each station in the hour."""

from __future__ import annotations

from pige_pipeline.lib.hourly import StationHour, StationOutput, station_hour_asset
from pige_pipeline.store.hour_audio import AUDIO_CHUNKS_SCHEMA, audio_chunk_row, load_hour_audio


def _audio_chunk(sh: StationHour, _shared: object) -> StationOutput:
    row = audio_chunk_row(load_hour_audio(sh.settings.data_root, sh.station.id, sh.hour))
    problem = None
    if row["status"] != "ok":
        detail = row["error"] or f"coverage {row['coverage']:.1%}"
        problem = f"{row['status']}: {detail}"
    return StationOutput([row], problem)


audio_chunks = station_hour_asset(
    name="audio_chunks",
    description="Per station, the hour's recorded audio: files, duration, codec, bitrate and coverage.",
    schema=AUDIO_CHUNKS_SCHEMA,
    compute=_audio_chunk,
    group_name="recording",
    check_description="Fails the hour when a station's audio is missing, short or unreadable, naming it.",
)
