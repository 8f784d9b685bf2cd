"""One decode per station-hour: `silences` and `fingerprints` from the same samples."""
