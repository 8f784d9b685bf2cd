"""Parquet schemas of the speech assets (core columns from docs/architecture.md, then speech's own)."""

from __future__ import annotations

import pyarrow as pa

_KEY = [("station", pa.string()), ("hour", pa.timestamp("us", tz="UTC"))]
_TS = pa.timestamp("us", tz="UTC")

SPEECH_SEGMENTS_SCHEMA = pa.schema(
    [*_KEY, ("start", _TS), ("end", _TS), ("start_s", pa.float64()), ("end_s", pa.float64()),
     ("duration_s", pa.float64()), ("kind", pa.string()), ("source", pa.string())]
)  # fmt: skip

TRANSCRIPTS_SCHEMA = pa.schema(
    [*_KEY, ("segment_id", pa.string()), ("start", _TS), ("end", _TS), ("start_s", pa.float64()),
     ("end_s", pa.float64()), ("text", pa.string()), ("language", pa.string()), ("avg_logprob", pa.float64()),
     ("no_speech_prob", pa.float64()), ("dropped", pa.bool_()), ("drop_reason", pa.string()),
     ("compression_ratio", pa.float64()), ("model", pa.string())]
)  # fmt: skip

SUMMARIES_SCHEMA = pa.schema(
    [*_KEY, ("summary", pa.string()), ("keywords", pa.list_(pa.string())), ("topics", pa.list_(pa.string())),
     ("engine", pa.string()), ("model", pa.string()), ("status", pa.string()), ("error", pa.string()),
     ("language", pa.string()), ("segments", pa.int32()), ("words", pa.int32()),
     ("created_at", _TS)]
)  # fmt: skip

MENTIONS_SCHEMA = pa.schema(
    [*_KEY, ("term", pa.string()), ("start", _TS), ("start_s", pa.float64()), ("text", pa.string()),
     ("end", _TS), ("end_s", pa.float64()), ("segment_id", pa.string())]
)  # fmt: skip
