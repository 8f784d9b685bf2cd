"""Speech: what was said on air.

- `timeline`: the hour's speech/music/silence "conducteur" (VAD minus airplay music minus silences);
- `transcribe`: faster-whisper on the speech regions only, batched, with hallucination guards;
- `summarise`: a summary, keywords and topics per station-hour (Ollama, or offline with yake);
- `mentions`: watch terms found in transcripts; `search`: DuckDB search over the transcripts' Parquet.
No module here imports Dagster; `pige_pipeline/defs/speech/` wires them into hourly assets.
"""
