"""Speech in Dagster: timeline and transcripts, summaries, mentions, and the offline-summary redo sensor."""
