"""`pige stations probe` against real Icecast mounts: what each stream is, or why not."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pige_pipeline.testing.icecast import IcecastServer, free_port
from pige_pipeline.testing.sources import singularity_tracks

PIGE = Path(sys.executable).with_name("pige")


def _encode(source: Path, dest: Path, *codec_args: str) -> Path:
    """20 s of real music (singularity-music, CC BY-SA 3.0) encoded as a station would send it."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(source), "-t", "20", "-ar", "44100",
         *codec_args, str(dest)],
        check=True,
    )  # fmt: skip
    return dest


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, dict], str, int]]:
    """Four stations probed by `pige stations probe`: (JSON lines by station, text output, exit status)."""
    work = tmp_path_factory.mktemp("probe")
    track = singularity_tracks()[1]
    mp3 = _encode(track, work / "music.mp3", "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k")
    ogg = _encode(track, work / "music.ogg", "-ac", "1", "-c:a", "libvorbis", "-b:a", "96k")
    with IcecastServer() as ice:
        ice.add_source("/alpha.mp3", mp3, name="Radio Alpha")
        ice.add_source("/beta.ogg", ogg, name="Radio Beta")
        stations = work / "stations.yaml"
        entries = [
            {"id": "alpha", "name": "Alpha", "stream_url": ice.url("/alpha.mp3")},
            {"id": "beta", "name": "Beta", "stream_url": ice.url("/beta.ogg")},
            # A live server without that mount (the studio encoder is down) ...
            {"id": "no-mount", "name": "No Mount", "stream_url": ice.url("/gone.mp3")},
            # ... and a host where nothing listens (wrong port, server down).
            {"id": "dead-host", "name": "Dead", "stream_url": f"http://127.0.0.1:{free_port()}/live.mp3"},
        ]
        stations.write_text(yaml.safe_dump({"stations": entries}), encoding="utf-8")
        args = [
            str(PIGE),
            "stations",
            "probe",
            "--stations",
            str(stations),
            "--data-root",
            str(work / "data"),
        ]
        args += ["--timeout", "5"]
        as_json = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=120, check=False)
        as_text = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert as_json.returncode == 1, as_json.stderr
    lines = {row["station"]: row for row in map(json.loads, as_json.stdout.splitlines())}
    yield lines, as_text.stdout, as_text.returncode


def test_probe_reports_codec_bitrate_and_icy_name_of_live_mounts(
    probed: tuple[dict[str, dict], str, int],
) -> None:
    lines, _text, _status = probed
    alpha, beta = lines["alpha"], lines["beta"]
    assert alpha["error"] is None and alpha["reachable"] and alpha["http_status"] == 200
    assert (alpha["codec"], alpha["bitrate"], alpha["sample_rate"], alpha["channels"]) == (
        "mp3",
        128000,
        44100,
        2,
    )
    assert alpha["icy_name"] == "Radio Alpha"
    assert alpha["icy_metaint"], "Icecast interleaves ICY titles in an MP3 mount when asked"
    assert 0 < alpha["ttfb_s"] < 5
    assert beta["error"] is None and beta["codec"] == "vorbis" and beta["channels"] == 1
    assert beta["icy_name"] == "Radio Beta"
    # Vorbis' nominal bitrate as the stream declares it: ffprobe reads it from the identification header.
    assert beta["bitrate"] == 96000


def test_probe_names_each_dead_station_its_url_and_why(probed: tuple[dict[str, dict], str, int]) -> None:
    lines, text, status = probed
    no_mount, dead = lines["no-mount"], lines["dead-host"]
    assert not no_mount["reachable"] and no_mount["http_status"] == 404
    assert "HTTP 404" in no_mount["error"] and no_mount["url"] in no_mount["error"]
    assert not dead["reachable"] and dead["http_status"] is None
    assert dead["error"].startswith(f"cannot reach {dead['url']}") and "refused" in dead["error"]
    # The text report: one line per station, the dead ones say FAIL with the reason; the command fails.
    assert status == 1
    by_station = {line.split()[0]: line for line in text.splitlines()}
    assert set(by_station) == {"alpha", "beta", "no-mount", "dead-host"}
    assert (
        " ok " in by_station["alpha"]
        and "'Radio Alpha'" in by_station["alpha"]
        and "128 kb/s" in by_station["alpha"]
    )
    assert "titles yes" in by_station["alpha"] and "titles no" in by_station["beta"]
    assert " FAIL " in by_station["no-mount"] and "HTTP 404" in by_station["no-mount"]
    assert " FAIL " in by_station["dead-host"] and dead["url"] in by_station["dead-host"]
