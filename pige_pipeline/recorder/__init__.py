"""The recorder: one ffmpeg per station writing clock-aligned chunks, gaps and ICY titles (no Dagster)."""
