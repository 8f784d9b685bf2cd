"""Speech benchmark: transcription speed, word error rate, and the share of a mixed hour sent to Whisper.

Run: .venv/bin/python -m benchmarks.speech_bench [--runs 3]

1. Speed: ~3 min of real French speech (asterisk fr_CA prompts, 0.5 s apart), transcribed by the
   embedded base model on 2 cores, int8, in three set-ups; audio seconds per wall second, median of
   --runs, next to `ffmpeg -i X -f null -` decode speed of the same file measured in the same run.
2. Accuracy: word error rate on English synthesised with espeak-ng (en-us) from known sentences: the
   asterisk English prompts ship no transcripts, so the reference text is the text given to espeak-ng.
3. Share: a 60 min programme of real music (singularity, drascula, asc) alternating with blocks of
   French speech; how much of it the timeline sends to Whisper, without and with airplay's music spans
   (here the known music positions stand in for airplay_events), and VAD speed on the hour.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from pige_pipeline.audio.decode import SPEECH_SAMPLE_RATE, decode_mono
from pige_pipeline.speech.settings import WhisperSettings
from pige_pipeline.speech.timeline import build_timeline, detect_voice, merge_spans
from pige_pipeline.speech.transcribe import Transcriber
from pige_pipeline.testing.sources import asc_tracks, drascula_tracks, french_prompts, singularity_tracks

SR = SPEECH_SAMPLE_RATE
ENGLISH = [
    "The weather today will be sunny with a light breeze from the west.",
    "Traffic is heavy on the main bridge this morning because of road works.",
    "The city council voted to build a new public library next year.",
    "Our next guest is a doctor who studies sleep and memory.",
    "Tickets for the summer festival go on sale on Friday morning.",
    "The local football team won their match after a late goal.",
    "Scientists have found water on a small moon far from the sun.",
    "Stay with us for the news at the top of the hour.",
    "The price of bread and milk rose again in the last month.",
    "Thank you for listening and have a wonderful evening.",
]


def ffmpeg_null_seconds(path: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "null", "-"], check=True
    )
    return time.monotonic() - started


def write_wav(samples: np.ndarray, path: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "s16le", "-ar", str(SR), "-ac", "1",
         "-i", "-", str(path)],
        input=samples.astype(np.int16).tobytes(), check=True,
    )  # fmt: skip
    return path


def french_speech(seconds: float) -> np.ndarray:
    parts, total = [], 0
    for prompt in french_prompts():
        clip = decode_mono(prompt, SR)
        parts += [clip, np.zeros(SR // 2, dtype=np.int16)]
        total += len(clip) + SR // 2
        if total >= seconds * SR:
            break
    return np.concatenate(parts)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def wer(reference: list[str], hypothesis: list[str]) -> tuple[int, int]:
    """(edit distance in words, reference length)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1], len(reference)


def bench_speed(tmp: Path, runs: int) -> None:
    speech = french_speech(180)
    path = write_wav(speech, tmp / "fr.wav")
    duration = len(speech) / SR
    pieces = [(0.0, speech)]
    spans = merge_spans(detect_voice(pieces), 1.0)
    voiced = sum(b - a for a, b in spans)
    print(f"\n## Speed: {duration:.0f} s of French speech ({voiced:.0f} s voiced), 2 threads, int8")
    decode = statistics.median(ffmpeg_null_seconds(path) for _ in range(runs))
    print(f"ffmpeg -f null decode: {duration / decode:.0f}x real time")
    setups = {
        "batched (default): beam 5, batch 8": WhisperSettings(beam_size=5, batch_size=8),
        "batched: beam 1, batch 8": WhisperSettings(beam_size=1, batch_size=8),
        "batched: beam 5, batch 1 (no batching)": WhisperSettings(beam_size=5, batch_size=1),
    }
    for label, settings in setups.items():
        transcriber = Transcriber(settings)
        transcriber.transcribe_spans(pieces, spans[:2], "fr")  # warm-up
        times = []
        for _ in range(runs):
            result = transcriber.transcribe_spans(pieces, spans, "fr")
            times.append(result.seconds)
        median = statistics.median(times)
        print(f"{label}: {duration / median:.1f}x real time on the programme ({voiced / median:.1f}x on the "
              f"audio sent), median of {runs}: {median:.1f} s; decode/whisper speed ratio "
              f"{(duration / decode) / (duration / median):.0f}")  # fmt: skip
    sequential = Transcriber(WhisperSettings())
    times = []
    for _ in range(runs):
        started = time.monotonic()
        segs, _info = sequential.model.transcribe(
            speech.astype(np.float32) / 32768, language="fr", beam_size=5, vad_filter=True,
            condition_on_previous_text=False,
        )  # fmt: skip
        list(segs)
        times.append(time.monotonic() - started)
    median = statistics.median(times)
    print(f"sequential WhisperModel.transcribe (vad_filter, beam 5): {duration / median:.1f}x real time, "
          f"median {median:.1f} s")  # fmt: skip


def bench_wer(tmp: Path) -> None:
    print("\n## Accuracy: English (espeak-ng en-us, known text), base model, default settings")
    transcriber = Transcriber(WhisperSettings())
    errors = total = 0
    for index, sentence in enumerate(ENGLISH):
        wav = tmp / f"en{index}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), sentence], check=True)
        result = transcriber.transcribe_file(wav, "en")
        said = " ".join(s.text for s in result.segments if not s.dropped)
        e, n = wer(words(sentence), words(said))
        errors, total = errors + e, total + n
        print(f"  {e}/{n}  ref: {sentence}\n        hyp: {said}")
    print(f"WER: {errors}/{total} = {errors / total:.1%}")


def bench_share(tmp: Path) -> None:
    print("\n## Share of a mixed hour sent to Whisper")
    music = [*singularity_tracks(), *drascula_tracks()[:10], *asc_tracks()]
    speech_pool = french_speech(1500)
    timeline: list[np.ndarray] = []
    music_spans, speech_spans, cursor, m, s = [], [], 0, 0, 0
    while cursor < 3600 * SR:
        clip = decode_mono(music[m % len(music)], SR, duration_s=150)
        m += 1
        music_spans.append((cursor / SR, (cursor + len(clip)) / SR))
        timeline.append(clip)
        cursor += len(clip)
        block = speech_pool[s : s + 90 * SR]
        s = (s + 90 * SR) % (len(speech_pool) - 90 * SR)
        speech_spans.append((cursor / SR, (cursor + len(block)) / SR))
        timeline.append(block)
        cursor += len(block)
    hour = np.concatenate(timeline)[: 3600 * SR]
    path = write_wav(hour, tmp / "hour.wav")
    truth_speech = sum(min(b, 3600) - a for a, b in speech_spans if a < 3600)
    started = time.monotonic()
    samples = decode_mono(path, SR)
    decode_s = time.monotonic() - started
    started = time.monotonic()
    voice = detect_voice([(0.0, samples)])
    vad_s = time.monotonic() - started
    plain = build_timeline([(0, 3600)], voice)
    with_airplay = build_timeline([(0, 3600)], voice, music=music_spans)
    sent = sum(x.duration_s for x in plain if x.kind == "speech")
    sent_airplay = sum(x.duration_s for x in with_airplay if x.kind == "speech")
    in_music = sum(
        max(0.0, min(b, mb) - max(a, ma)) for x in plain if x.kind == "speech"
        for a, b in [(x.start_s, x.end_s)] for ma, mb in music_spans
    )  # fmt: skip
    print(f"programme: 3600 s, of which speech {truth_speech:.0f} s ({truth_speech / 36:.1f}%)")
    print(f"decode at 16 kHz: {3600 / decode_s:.0f}x real time; VAD: {3600 / vad_s:.0f}x real time")
    print(f"sent to Whisper, VAD only: {sent:.0f} s ({sent / 36:.1f}% of the hour), "
          f"of which {in_music:.0f} s inside music")  # fmt: skip
    print(f"sent to Whisper, VAD minus airplay music: {sent_airplay:.0f} s ({sent_airplay / 36:.1f}%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=["speed", "wer", "share"], default=None)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        if args.only in (None, "share"):
            bench_share(tmp)
        if args.only in (None, "wer"):
            bench_wer(tmp)
        if args.only in (None, "speed"):
            bench_speed(tmp, args.runs)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
