"""Operations: retention of recorded audio, legal holds, storage health and housekeeping (no Dagster)."""
