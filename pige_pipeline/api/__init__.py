"""The read API: plays, statements, dead air, coverage, transcripts and evidence over HTTP (FastAPI).

from pige_pipeline.api.app import create_app   # served by `pige api` (uvicorn)
"""
