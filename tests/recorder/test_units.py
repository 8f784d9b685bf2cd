"""Recorder pieces without a stream: names, boundary splits, ICY log, lenient stations, ffmpeg whitelist."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pige_pipeline.audio.probe import probe_audio
from pige_pipeline.recorder.command import PROTOCOL_WHITELIST, OutputFormat, record_command, scrub
from pige_pipeline.recorder.live import PcmReceiver
from pige_pipeline.recorder.nowplaying import NowPlaying, append_nowplaying, parse_title_line, read_nowplaying
from pige_pipeline.recorder.orphans import orphan_sessions
from pige_pipeline.recorder.publish import snap_to_boundary, split_at_boundaries
from pige_pipeline.recorder.recordable import load_recordable_stations
from pige_pipeline.stations import Station

from .helpers import write_yaml


def test_snap_to_boundary_only_near_a_boundary() -> None:
    assert snap_to_boundary(datetime(2026, 1, 1, 10, 59, 59, 980000, tzinfo=UTC), 3600) == datetime(
        2026, 1, 1, 11, tzinfo=UTC
    )
    odd = datetime(2026, 1, 1, 10, 23, 14, tzinfo=UTC)
    assert snap_to_boundary(odd, 3600) == odd


def test_a_first_segment_over_a_boundary_is_split_there(tmp_path: Path, stream_mp3: Path) -> None:
    clip = tmp_path / "seg.mp3"
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(stream_mp3), "-t", "8", "-c", "copy"]
    subprocess.run([*cmd, str(clip)], check=True)
    duration = probe_audio(clip).duration_s
    start = datetime(2026, 1, 1, 10, 59, 57, tzinfo=UTC)
    pieces = split_at_boundaries(clip, start, duration, 3600)
    assert [p[1] for p in pieces] == [start, datetime(2026, 1, 1, 11, tzinfo=UTC)]
    assert abs(probe_audio(pieces[0][0]).duration_s - 3.0) < 0.1
    assert abs(sum(probe_audio(p[0]).duration_s for p in pieces) - duration) < 0.1


def test_nowplaying_reader_gives_the_title_on_air_and_changes(tmp_path: Path) -> None:
    t0 = datetime(2026, 11, 22, 9, 58, tzinfo=UTC)
    for minutes, title in ((0, "A - One"), (3, "B - Two"), (4, "B - Two"), (9, "C - Three"), (70, "D")):
        append_nowplaying(tmp_path, NowPlaying("fm", t0 + timedelta(minutes=minutes), title))
    got = read_nowplaying(
        tmp_path, "fm", datetime(2026, 11, 22, 10, tzinfo=UTC), datetime(2026, 11, 22, 11, tzinfo=UTC)
    )
    assert [g.stream_title for g in got] == ["A - One", "B - Two", "C - Three"]
    assert got[0].at < datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert parse_title_line("[http @ 0x1] Metadata update for StreamTitle: Zaz - Je veux") == "Zaz - Je veux"


def test_bad_stations_are_named_and_the_rest_kept(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path / "stations.yaml",
        [
            {"id": "ok", "name": "Ok", "stream_url": "http://127.0.0.1/ok.mp3"},
            {"id": "evil", "name": "Evil", "stream_url": "concat:/etc/passwd"},
            {"id": "off", "name": "Off", "stream_url": "http://127.0.0.1/off.mp3", "enabled": False},
        ],
    )
    stations, errors = load_recordable_stations(path)
    assert [s.id for s in stations] == ["ok"]
    assert len(errors) == 1 and "'evil'" in errors[0] and "stream_url" in errors[0]


def test_command_is_whitelisted_and_secrets_are_scrubbed(tmp_path: Path) -> None:
    station = Station(id="s", name="S", stream_url="https://u:p4ss@example.org/live")
    cmd = record_command(station, OutputFormat("mp3", "mp3", None), tmp_path, tmp_path / "l.csv", 3600)
    assert cmd[cmd.index("-protocol_whitelist") + 1] == PROTOCOL_WHITELIST
    assert "file" not in PROTOCOL_WHITELIST.split(",")
    assert (
        scrub("https://u:p4ss@example.org/live: 401", station.stream_url)
        == "https://u:***@example.org/live: 401"
    )
    with pytest.raises(ValueError, match="file:"):
        record_command(
            Station.model_construct(id="x", stream_url="file:/etc/passwd", reencode=None),
            OutputFormat("mp3", "mp3", None), tmp_path, tmp_path / "l.csv", 3600,
        )  # fmt: skip


def test_hls_playlist_cannot_smuggle_a_local_file(tmp_path: Path) -> None:
    """An http HLS playlist that points at file: is refused by ffmpeg under the recorder's whitelist."""
    (tmp_path / "evil.m3u8").write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
    )
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/evil.m3u8"
        proc = subprocess.run(
            ["ffmpeg", "-nostdin", "-hide_banner", "-protocol_whitelist", PROTOCOL_WHITELIST, "-i", url,
             "-f", "null", "-"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    finally:
        server.shutdown()
    assert proc.returncode != 0
    assert "root:" not in proc.stderr


def test_live_pcm_receiver_reads_datagrams_like_a_pipe() -> None:
    receiver = PcmReceiver()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for value in (1, 2, 3):
            sender.sendto(bytes([value]) * 1000, ("127.0.0.1", receiver.port))
        assert receiver.read(2000) == b"\x01" * 1000 + b"\x02" * 1000
        receiver.close()  # ffmpeg exited: what arrived is still handed out, then the end
        assert receiver.read(2000) == b"\x03" * 1000
        assert receiver.read(2000) == b""
    finally:
        sender.close()


def test_orphan_sessions_are_found_by_their_running_ffmpeg_not_by_a_reused_pid(tmp_path: Path) -> None:
    session = tmp_path / "recorder" / "incoming" / "alpha" / "host-1-abcdef-00001"
    session.mkdir(parents=True)
    # A process whose command line names the session stands for its ffmpeg; `true` exits at once.
    ffmpeg = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", str(session / "%Y%m%dT%H%M%SZ.mp3")]
    )
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead_pid = finished.pid
    try:
        info = {"recorder_id": "host-1-abcdef", "ffmpeg_pid": ffmpeg.pid, "recorder_pid": dead_pid}
        (session / "session.json").write_text(json.dumps(info))
        # Its recorder is gone (even if a new one took the same id): the ffmpeg is an orphan.
        assert [d for d, _i in orphan_sessions(tmp_path, {"host-1-abcdef"})] == [session]
        assert [d for d, _i in orphan_sessions(tmp_path, set())] == [session]
        # The recorder that owns it is this live process: not an orphan.
        (session / "session.json").write_text(json.dumps({**info, "recorder_pid": os.getpid()}))
        assert orphan_sessions(tmp_path, {"host-1-abcdef"}) == []
        # A pid that now belongs to another program is not taken for the session's ffmpeg.
        (session / "session.json").write_text(json.dumps({**info, "ffmpeg_pid": os.getpid()}))
        assert orphan_sessions(tmp_path, set()) == []
    finally:
        ffmpeg.kill()
        ffmpeg.wait()
