"""`audio_analysis`: decode each station-hour once and write `silences` and `fingerprints` from it.

Decoding is the floor of the hourly budget (DEVELOPERS.md): level measurement and Chromaprint both
run on the same 11025 Hz mono samples, so the chunk is decoded once, not once per analysis.
"""

from collections.abc import Callable
from typing import Any

from pige_pipeline.airplay import FINGERPRINTS_SCHEMA, fingerprint_rows
from pige_pipeline.audio.decode import ANALYSIS_SAMPLE_RATE
from pige_pipeline.lib.hourly import HourlyOutput, StationFailure, StationHour, station_hour_multi_asset
from pige_pipeline.silence.rows import SILENCES_SCHEMA, silence_rows
from pige_pipeline.store.hour_audio import decode_hour_pieces, load_hour_audio, require_parts


def _guarded(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:  # one analysis failing must not lose the other's output
        return StationFailure(f"{type(exc).__name__}: {exc}")


def _analyse(sh: StationHour, _shared: object) -> dict[str, Any]:
    audio = load_hour_audio(sh.settings.data_root, sh.station.id, sh.hour)
    pieces = decode_hour_pieces(require_parts(audio), ANALYSIS_SAMPLE_RATE)
    outputs: dict[str, Any] = {
        "silences": _guarded(lambda: silence_rows(pieces, ANALYSIS_SAMPLE_RATE, sh.hour, sh.station.silence)),
    }
    if sh.station.airplay.enabled:
        outputs["fingerprints"] = _guarded(lambda: fingerprint_rows(pieces, ANALYSIS_SAMPLE_RATE))
    else:
        outputs["fingerprints"] = []
    return outputs


audio_analysis = station_hour_multi_asset(
    name="audio_analysis",
    outputs=[
        HourlyOutput(
            "silences",
            "Every silence per station: start, end, duration, level and kind (digital, noise floor, hum).",
            SILENCES_SCHEMA,
        ),
        HourlyOutput(
            "fingerprints",
            "Chromaprint raw sub-fingerprints of each station's hour (libchromaprint, 11025 Hz mono).",
            FINGERPRINTS_SCHEMA,
        ),
    ],
    compute=_analyse,
    deps=["audio_chunks"],
    group_name="analysis",
)
