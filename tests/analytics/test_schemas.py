"""Analytics' core columns are the columns the domain assets really write, with the same types."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pige_pipeline.airplay.events import AIRPLAY_EVENTS_SCHEMA
from pige_pipeline.airplay.fingerprint import FINGERPRINTS_SCHEMA
from pige_pipeline.airplay.unknown import UNKNOWN_MUSIC_SCHEMA
from pige_pipeline.analytics.schemas import ASSET_SCHEMAS
from pige_pipeline.silence.alerts import DEAD_AIR_ALERTS_SCHEMA
from pige_pipeline.silence.rows import SILENCES_SCHEMA
from pige_pipeline.speech.schemas import (
    MENTIONS_SCHEMA,
    SPEECH_SEGMENTS_SCHEMA,
    SUMMARIES_SCHEMA,
    TRANSCRIPTS_SCHEMA,
)
from pige_pipeline.store.hour_audio import AUDIO_CHUNKS_SCHEMA

WRITTEN = {
    "audio_chunks": AUDIO_CHUNKS_SCHEMA,
    "silences": SILENCES_SCHEMA,
    "dead_air_alerts": DEAD_AIR_ALERTS_SCHEMA,
    "fingerprints": FINGERPRINTS_SCHEMA,
    "airplay_events": AIRPLAY_EVENTS_SCHEMA,
    "unknown_music": UNKNOWN_MUSIC_SCHEMA,
    "speech_segments": SPEECH_SEGMENTS_SCHEMA,
    "transcripts": TRANSCRIPTS_SCHEMA,
    "summaries": SUMMARIES_SCHEMA,
    "mentions": MENTIONS_SCHEMA,
}


def test_every_analytics_asset_has_its_domain_schema() -> None:
    assert set(ASSET_SCHEMAS) == set(WRITTEN)


@pytest.mark.parametrize("asset", sorted(WRITTEN))
def test_core_columns_match_what_the_asset_writes(asset: str) -> None:
    written: pa.Schema = WRITTEN[asset]
    for field in ASSET_SCHEMAS[asset]:
        assert field.name in written.names, f"{asset}.{field.name} is not written by the asset"
        assert written.field(field.name).type == field.type, (asset, field.name)
