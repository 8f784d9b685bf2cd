"""Airplay: Chromaprint sub-fingerprints matched against the catalogue (no Dagster here)."""

from pige_pipeline.airplay.fingerprint import FINGERPRINTS_SCHEMA, fingerprint_rows

__all__ = ["FINGERPRINTS_SCHEMA", "fingerprint_rows"]
