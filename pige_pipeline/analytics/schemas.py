"""Core columns of every station-hour asset (docs/architecture.md), as Arrow schemas.

Analytics builds an empty, typed view from these when an asset has not written anything yet, so
notebooks and reports can be written before the asset lands; the synthetic data generator writes
exactly these columns. Domains may add columns; analytics keeps whatever the files carry. They are
restated here rather than imported so that analytics loads without the audio and speech stacks;
tests/analytics/test_schemas.py holds them to the schemas the assets write.
"""

from __future__ import annotations

import pyarrow as pa

from pige_pipeline.store.hour_audio import AUDIO_CHUNKS_SCHEMA

TS = pa.timestamp("us", tz="UTC")
_KEY = [("station", pa.string()), ("hour", TS)]
_SPAN = [("start", TS), ("end", TS), ("start_s", pa.float64()), ("end_s", pa.float64())]
_CONTINUES = [("continues_from_previous_hour", pa.bool_()), ("continues_into_next_hour", pa.bool_())]

ASSET_SCHEMAS: dict[str, pa.Schema] = {
    "audio_chunks": AUDIO_CHUNKS_SCHEMA,
    "silences": pa.schema(
        _KEY
        + _SPAN
        + [
            ("duration_s", pa.float64()),
            ("level_db", pa.float64()),
            ("kind", pa.string()),
            ("threshold_db", pa.float64()),
        ]
        + _CONTINUES
    ),
    "dead_air_alerts": pa.schema(
        _KEY
        + [("alert_id", pa.string())]
        + _SPAN
        + [
            ("duration_s", pa.float64()),
            ("severity", pa.string()),
            ("classification", pa.string()),
            ("confidence", pa.float64()),
            ("explanation", pa.string()),
            ("classifier", pa.string()),
            ("context_start_s", pa.float64()),
            ("context_end_s", pa.float64()),
            ("context_transcript", pa.string()),
            ("notified_at", TS),
            ("notification_status", pa.string()),
        ]
    ),
    "fingerprints": pa.schema(
        _KEY
        + [
            ("part_offset_s", pa.float64()),
            ("sample_rate", pa.int32()),
            ("fingerprint", pa.list_(pa.uint32())),
        ]
    ),
    "airplay_events": pa.schema(
        _KEY
        + [
            ("play_id", pa.string()),
            ("track_id", pa.string()),
            ("title", pa.string()),
            ("artist", pa.string()),
            ("isrc", pa.string()),
        ]
        + _SPAN
        + [
            ("ref_offset_s", pa.float64()),
            ("duration_s", pa.float64()),
            ("score", pa.float64()),
            ("confidence", pa.float64()),
            ("icy_title", pa.string()),
        ]
        + _CONTINUES
    ),
    "unknown_music": pa.schema(
        _KEY
        + [("segment_id", pa.string())]
        + _SPAN
        + [("duration_s", pa.float64()), ("cluster_id", pa.string())]
    ),
    "speech_segments": pa.schema(_KEY + _SPAN + [("duration_s", pa.float64()), ("kind", pa.string())]),
    "transcripts": pa.schema(
        _KEY
        + [("segment_id", pa.string())]
        + _SPAN
        + [
            ("text", pa.string()),
            ("language", pa.string()),
            ("avg_logprob", pa.float64()),
            ("no_speech_prob", pa.float64()),
            ("dropped", pa.bool_()),
            ("drop_reason", pa.string()),
        ]
    ),
    "summaries": pa.schema(
        _KEY
        + [
            ("summary", pa.string()),
            ("keywords", pa.list_(pa.string())),
            ("topics", pa.list_(pa.string())),
            ("engine", pa.string()),
            ("model", pa.string()),
            ("status", pa.string()),
            ("error", pa.string()),
        ]
    ),
    "mentions": pa.schema(
        _KEY + [("term", pa.string()), ("start", TS), ("start_s", pa.float64()), ("text", pa.string())]
    ),
}

# Fingerprints are ~116 KB per station-hour: copying them into the compacted tree would double the
# largest asset for no analyst benefit, so their view reads the hourly tree directly.
NOT_COMPACTED = frozenset({"fingerprints"})

CATALOGUE_COLUMNS = ("track_id", "title", "artist", "isrc", "path", "label", "composer", "publisher")
RIGHTS_HOLDER_COLUMNS = ("publisher", "label", "composer")
