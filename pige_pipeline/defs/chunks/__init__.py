"""The chunk store in Dagster: `audio_chunks`, the `process_hour` job and the new-chunk sensor."""
