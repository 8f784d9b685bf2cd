"""The bad-input corpus: files a real archive or a careless colleague produces, made from real audio.

Every file is generated with ffmpeg from freely licensed Debian audio, so nothing big is committed.
`CORPUS` says, for each file, what pige must make of it; the tests and `python -m benchmarks.corpus`
both read it.
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pige_pipeline.testing.sources import french_prompts, singularity_tracks

CLIP_S = 40  # seconds of music in each ordinary file: long enough for a fingerprint, short to decode
LONG_S = 3 * 3600


@dataclass(frozen=True)
class CorpusFile:
    """One corpus file and what pige must make of it."""

    name: str  # file name; the extension is the one a careless tool gave it
    readable: bool  # ffprobe can describe it and the hour gets audio from it
    what: str  # one line for the docs
    codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None


CORPUS = [
    CorpusFile("good.mp3", True, "40 s of music, 64 kb/s MP3 (the control)", "mp3", 22050, 1),
    CorpusFile("truncated.mp3", True, "the first 40 % of an MP3, cut mid-frame", "mp3", 22050, 1),
    CorpusFile("zero.mp3", False, "0 bytes"),
    CorpusFile("text.mp3", False, "a text file named .mp3"),
    CorpusFile("garbage.mp3", False, "64 KiB of random bytes named .mp3"),
    CorpusFile("ogg_named.mp3", True, "Ogg Vorbis named .mp3", "vorbis", 48000, 2),
    CorpusFile("mp3_named.wav", True, "an MP3 named .wav", "mp3", 22050, 1),
    CorpusFile("rate8k.wav", True, "8 kHz PCM speech (telephone prompts)", "pcm_s16le", 8000, 1),
    CorpusFile("rate11k.mp3", True, "11.025 kHz MP3", "mp3", 11025, 1),
    CorpusFile("rate96k.flac", True, "96 kHz FLAC", "flac", 96000, 2),
    CorpusFile("surround.m4a", True, "5.1 AAC", "aac", 48000, 6),
    CorpusFile("video.ts", True, "an MPEG-TS with a test-pattern video and an audio track", "mp2", 48000, 2),
]
LONG = CorpusFile("long3h.mp3", True, "a 3-hour file in a 1-hour slot", "mp3", 16000, 1)
VIDEO_ONLY = "video.mp4"  # for the catalogue: a video a colleague put in the music library


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _music(seconds: float = CLIP_S) -> list[str]:
    return ["-t", str(seconds), "-i", str(singularity_tracks()[1])]


def build_corpus(dest: Path, *, with_long: bool = False) -> dict[str, Path]:
    """Write every corpus file into `dest` (reused if already there); returns name -> path."""
    dest.mkdir(parents=True, exist_ok=True)
    out = {f.name: dest / f.name for f in CORPUS}

    def make(name: str, build) -> None:  # noqa: ANN001 - a local builder callback
        path = dest / name
        if not path.exists() or (path.stat().st_size == 0 and name != "zero.mp3"):
            tmp = path.with_name(f".tmp.{name}")
            build(tmp)
            tmp.replace(path)

    make(
        "good.mp3",
        lambda p: _ffmpeg(*_music(), "-ac", "1", "-ar", "22050", "-b:a", "64k", "-f", "mp3", str(p)),
    )

    def truncated(p: Path) -> None:
        data = (dest / "good.mp3").read_bytes()
        p.write_bytes(data[: int(len(data) * 0.4) + 7])  # +7: not on a frame boundary

    make("truncated.mp3", truncated)
    make("zero.mp3", lambda p: p.write_bytes(b""))
    make(
        "text.mp3",
        lambda p: p.write_text("Playlist export 2026-11-20\nthis is not audio\n", encoding="utf-8"),
    )
    make("garbage.mp3", lambda p: p.write_bytes(random.Random(9).randbytes(64 * 1024)))
    make("ogg_named.mp3", lambda p: _ffmpeg(*_music(), "-c:a", "libvorbis", "-q:a", "2", "-f", "ogg", str(p)))
    make("mp3_named.wav", lambda p: _ffmpeg("-i", str(dest / "good.mp3"), "-c", "copy", "-f", "mp3", str(p)))
    prompts = [str(p) for p in french_prompts()[:12]]
    concat = "".join(f"[{i}:a]" for i in range(len(prompts))) + f"concat=n={len(prompts)}:v=0:a=1"
    make(
        "rate8k.wav",
        lambda p: _ffmpeg(
            *[a for f in prompts for a in ("-i", f)],
            "-filter_complex", concat,
            "-ar", "8000", "-ac", "1", "-c:a", "pcm_s16le", "-f", "wav", str(p),
        ),
    )  # fmt: skip
    make(
        "rate11k.mp3",
        lambda p: _ffmpeg(*_music(), "-ac", "1", "-ar", "11025", "-b:a", "32k", "-f", "mp3", str(p)),
    )
    make("rate96k.flac", lambda p: _ffmpeg(*_music(), "-ar", "96000", "-c:a", "flac", "-f", "flac", str(p)))
    make(
        "surround.m4a",
        lambda p: _ffmpeg(
            *_music(), "-af", "pan=5.1|FL=c0|FR=c1|FC=0.5*c0+0.5*c1|LFE=0.1*c0|BL=c0|BR=c1",
            "-ar", "48000", "-c:a", "aac", "-b:a", "192k", "-f", "mp4", str(p),
        ),
    )  # fmt: skip
    make(
        "video.ts",
        lambda p: _ffmpeg(
            "-f", "lavfi", "-i", f"testsrc=size=160x120:rate=10:duration={CLIP_S}", *_music(),
            "-c:v", "mpeg2video", "-c:a", "mp2", "-ar", "48000", "-ac", "2", "-shortest",
            "-f", "mpegts", str(p),
        ),
    )  # fmt: skip
    make(
        VIDEO_ONLY,
        lambda p: _ffmpeg(
            "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=20", *_music(20),
            "-c:v", "mpeg4", "-c:a", "aac", "-shortest", "-f", "mp4", str(p),
        ),
    )  # fmt: skip
    out[VIDEO_ONLY] = dest / VIDEO_ONLY
    if with_long:
        # Low rate, stream-copied in a loop: three hours in ~1 s and ~20 MB, decoded fast.
        def long(p: Path) -> None:
            seed = dest / ".seed16k.mp3"
            _ffmpeg(*_music(60), "-ac", "1", "-ar", "16000", "-b:a", "16k", "-f", "mp3", str(seed))
            _ffmpeg(
                "-stream_loop", "-1", "-i", str(seed), "-t", str(LONG_S), "-c", "copy", "-f", "mp3", str(p)
            )
            seed.unlink()

        make(LONG.name, long)
        out[LONG.name] = dest / LONG.name
    return out
