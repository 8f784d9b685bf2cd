"""Evidence for every statement line: the recorded audio a play or a dead-air alert is based on.

The analytics build records, for each play and dead-air event, the chunk file(s) it was heard in
and the offsets in them (`sources.fill_sources`); `locate` reads that record back and `cut_clip`
writes the audio with a few seconds of context, so a person can listen to what a line is based on.
"""

from pige_pipeline.evidence.clip import Clip, cut_clip, cut_evidence
from pige_pipeline.evidence.locate import evidence_from_row, locate
from pige_pipeline.evidence.model import (
    ChunkSpan,
    Evidence,
    EvidenceError,
    EvidenceNotFound,
    EvidenceUnavailable,
)

__all__ = [
    "ChunkSpan",
    "Clip",
    "Evidence",
    "EvidenceError",
    "EvidenceNotFound",
    "EvidenceUnavailable",
    "cut_clip",
    "cut_evidence",
    "evidence_from_row",
    "locate",
]
