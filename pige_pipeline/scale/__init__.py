"""Scale-out settings: which Dagster executor runs the hour's station steps, and where Redis is."""
