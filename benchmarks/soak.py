"""Fault-injection soak: stations on a local Icecast, the real recorder and hourly processing, under faults.

    .venv/bin/python -m benchmarks.soak                       # the full run: 10 stations, 15 minutes
    .venv/bin/python -m benchmarks.soak --minutes 2 --stations 4 --out soak.json   # the CI size

Everything runs on loopback: Icecast 2 with one looping ffmpeg source per station, `pige record`
(killed and restarted here, the harness playing the supervisor), `process_hour` in a subprocess every
few minutes (killed once mid-run, then retried), a real SMTP server (stopped for a while) and the data
root on a size-limited tmpfs (filled to its reserve, then completely). Faults are placed on a seeded
random schedule. The report says, per fault, the audio lost against the injected outage and whether
the recorder's gap log covers every loss, then corrupt chunks, duplicate or missing alerts, and
whether reprocessing the hours changed anything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
PIGE = REPO / ".venv" / "bin" / "pige"
# The hourly assets the soak processes: recording, dead air and airplay. Speech (Whisper and VAD over
# every station-hour) would take the two cores from the recorder; it has its own tests and benchmarks.
SOAK_ASSETS = [
    "audio_chunks",
    "silences",
    "fingerprints",
    "dead_air_alerts",
    "airplay_events",
    "unknown_music",
]
MIN_GAP_S = 0.3  # joins of consecutive chunks jitter by a packet; smaller holes are not losses
RECOVERY_S = 12.0  # a loss this soon after a fault ends is the fault's; the next fault waits longer


@dataclass
class Fault:
    name: str
    targets: list[str]
    start: float  # wall-clock epoch seconds
    end: float
    detail: str = ""
    audio: bool = True  # whether audio can be lost by it

    @property
    def outage_s(self) -> float:
        return self.end - self.start


@dataclass
class SoakConfig:
    minutes: float = 15.0
    stations: int = 10
    seed: int = 7
    segment_s: int = 10
    tmpfs_mb: int = 160
    reserve_percent: float = 5.0
    process_every_s: float = 180.0
    disk_full: bool = True  # after the reserve, fill the disk completely for a few seconds


@dataclass
class Harness:
    config: SoakConfig
    work: Path
    root: Path
    disk: str
    rng: random.Random
    faults: list[Fault] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    recorder: subprocess.Popen | None = None
    runs: list[dict] = field(default_factory=list)

    def log(self, message: str) -> None:
        line = f"{datetime.now(UTC):%H:%M:%S} {message}"
        self.events.append(line)
        print(line, flush=True)


# -- set-up --------------------------------------------------------------------------------------------


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_sources(folder: Path, count: int) -> list[Path]:
    """One 75 s, 32 kb/s MP3 per station from the Debian music; station 0's has 10 s of dead air."""
    from pige_pipeline.testing.sources import singularity_tracks

    tracks = singularity_tracks()
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        dest = folder / f"s{i:02d}.mp3"
        track = str(tracks[i % len(tracks)])
        encode = ["-ac", "1", "-ar", "22050", "-c:a", "libmp3lame", "-b:a", "32k", "-f", "mp3", str(dest)]
        if i == 0:
            # 8 s of music, 10 s of digital silence, 57 s of music: dead air soon after every (re)connect
            graph = "[0:a]asplit[x][y];[x]atrim=0:8,asetpts=N/SR/TB[a];[1:a]aresample=44100[s];"
            graph += "[y]atrim=8:65,asetpts=N/SR/TB[b];[a][s][b]concat=n=3:v=0:a=1"
            _ffmpeg("-ss", "20", "-t", "65", "-i", track, "-f", "lavfi", "-t", "10", "-i",
                    "anullsrc=r=44100:cl=stereo", "-filter_complex", graph, *encode)  # fmt: skip
            # the catalogue holds the track as released: the dead air is the station's fault, not the track's
            _ffmpeg("-ss", "20", "-t", "65", "-i", track, *encode[:-1], str(folder / "s00-release.mp3"))
        else:
            _ffmpeg("-ss", "20", "-t", "75", "-i", track, *encode)
        out.append(dest)
    return out


def mount_data_root(work: Path, size_mb: int) -> tuple[Path, str]:
    """A size-limited tmpfs for the data root, or a plain directory when mounting is not allowed."""
    root = work / "data"
    root.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "pige-soak", str(root)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode == 0:
        return root, f"tmpfs of {size_mb} MiB"
    return root, f"plain directory (tmpfs refused: {proc.stderr.strip()}); disk faults are simulated"


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def fill_to(root: Path, leave_bytes: int) -> Path:
    """Write a ballast file until only `leave_bytes` are free (never less than zero)."""
    ballast = root / "ballast.bin"
    chunk = b"\0" * (1 << 20)
    with open(ballast, "ab") as handle:
        while True:
            room = free_bytes(root) - leave_bytes
            if room <= 0:
                break
            try:
                handle.write(chunk[: min(len(chunk), room)])
                handle.flush()
            except OSError:
                break
    return ballast


# -- the recorder (the harness is its supervisor) ---------------------------------------------------------


def start_recorder(h: Harness, stations_file: Path) -> None:
    log = open(h.work / "recorder.log", "ab")  # noqa: SIM115 - the child keeps it
    h.recorder = subprocess.Popen(
        [str(PIGE), "record", "--data-root", str(h.root), "--stations", str(stations_file),
         "--segment-seconds", str(h.config.segment_s), "--backoff-max", "1"],
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
    )  # fmt: skip


def stop_recorder(h: Harness) -> None:
    if h.recorder is not None and h.recorder.poll() is None:
        h.recorder.send_signal(signal.SIGINT)
        try:
            h.recorder.wait(30)
        except subprocess.TimeoutExpired:
            h.recorder.kill()
            h.recorder.wait(10)


def wait_recording(h: Harness, stations: list[str], timeout_s: float = 180.0) -> None:
    """Start the clock once every station has a chunk in the store: start-up is not an outage."""
    from pige_pipeline.store.chunks import list_chunks

    deadline = time.time() + timeout_s
    while any(not list_chunks(h.root, s) for s in stations):
        if time.time() > deadline:
            raise RuntimeError(f"not every station recorded within {timeout_s} s; see {h.work}/recorder.log")
        time.sleep(0.5)
    h.log("every station is recording")


def station_ffmpeg_pid(root: Path, station: str) -> int | None:
    sessions = sorted(
        (root / "recorder" / "incoming" / station).glob("*/session.json"), key=lambda p: p.stat().st_mtime
    )
    for path in reversed(sessions):
        with contextlib.suppress(OSError, ValueError):
            pid = int(json.loads(path.read_text())["ffmpeg_pid"])
            if Path(f"/proc/{pid}").exists():
                return pid
    return None


# -- processing ----------------------------------------------------------------------------------------


def process_main(root: str, key: str) -> int:
    """Materialise the soak's hourly assets for one hour; the harness runs this in a subprocess."""
    import dagster as dg

    from pige_pipeline.defs.airplay.assets import airplay_events, unknown_music
    from pige_pipeline.defs.audio.assets import audio_analysis
    from pige_pipeline.defs.chunks.assets import audio_chunks
    from pige_pipeline.defs.silence.assets import dead_air_alerts
    from pige_pipeline.lib.resources import PigeResource, pige_resources

    # The same asset definitions `process_hour` runs, minus speech (see SOAK_ASSETS).
    result = dg.materialize(
        [audio_chunks, audio_analysis, dead_air_alerts, airplay_events, unknown_music],
        partition_key=key,
        instance=dg.DagsterInstance.ephemeral(),
        resources=pige_resources(PigeResource(data_root=root)),
        raise_on_error=False,
    )
    return 0 if result.success else 1


def process_hour(h: Harness, hour: datetime, kill: bool = False) -> dict:
    """Process one hour in a subprocess; with `kill`, SIGKILL it once it has started writing Parquet."""
    from pige_pipeline.hours import partition_key_for

    key = partition_key_for(hour)
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.soak", "process", str(h.root), key],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(h.work / "process.log", "ab"),  # noqa: SIM115
        # The hour being recorded is processed provisionally, as late chunks would make it be again.
        env={**os.environ, "PYTHONPATH": str(REPO), "PIGE_PARTITIONS_END_OFFSET": "1"},
    )  # fmt: skip
    killed_at = None
    if kill:
        marker = h.root / "parquet"
        before = {p: p.stat().st_mtime for p in marker.rglob("*.parquet")} if marker.exists() else {}
        while proc.poll() is None:
            fresh = (
                [p for p in marker.rglob("*.parquet") if before.get(p) != _mtime(p)]
                if marker.exists()
                else []
            )
            if fresh:
                time.sleep(h.rng.uniform(0.2, 2.0))  # somewhere inside the run, after its first file
                proc.kill()
                killed_at = time.time()
                break
            time.sleep(0.1)
    code = proc.wait()
    run = {"hour": key, "started": started, "seconds": round(time.time() - started, 1), "exit": code,
           "killed": killed_at is not None}  # fmt: skip
    h.runs.append(run)
    h.log(
        f"process_hour {key}: exit {code} in {run['seconds']} s" + (" (killed mid-run)" if killed_at else "")
    )
    return run


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


# -- notifications ----------------------------------------------------------------------------------------


class Mail:
    """The loopback SMTP server, which can be taken down and brought back on the same port."""

    def __init__(self) -> None:
        from pige_pipeline.testing.loopback_smtp import LoopbackSMTP, free_port

        self.port = free_port()
        self._cls = LoopbackSMTP
        self.server = LoopbackSMTP(port=self.port).start()
        self.delivered: list = []

    def down(self) -> None:
        self.delivered += self.server.messages
        self.server.stop()
        self.server = None

    def up(self) -> None:
        for _ in range(50):  # the port can linger a moment after the stop
            try:
                self.server = self._cls(port=self.port).start()
                return
            except (OSError, RuntimeError):
                time.sleep(0.2)
        raise RuntimeError(f"SMTP server could not come back on port {self.port}")

    def messages(self) -> list:
        return self.delivered + (self.server.messages if self.server else [])


def flush_outbox(root: Path) -> None:
    """What the `notification_outbox` sensor does every minute."""
    from pige_pipeline.notify import Notifier

    with contextlib.suppress(Exception):  # a full disk or a down server: the next flush retries
        Notifier.from_env(root).flush()


# -- the run -----------------------------------------------------------------------------------------------


def schedule(h: Harness, stations: list[str], record_s: float, t0: float) -> list[tuple[float, str, dict]]:
    """Seeded random times, outages and targets for the recording-side faults, one per slot of the run."""
    rng = h.rng
    kinds = ["source_killed", "icecast_restarted", "ffmpeg_killed", "recorder_killed"]
    rng.shuffle(kinds)
    kinds.append("disk_to_reserve_then_full")  # last: a full disk may leave damage for the others to hit
    short = record_s < 300
    margin = 15.0
    slot = (record_s - 2 * margin) / len(kinds)
    plan = []
    for i, kind in enumerate(kinds):
        at = t0 + margin + i * slot + rng.uniform(0, max(0.0, slot - (45 if not short else 25)))
        down = rng.uniform(3, 6) if short else rng.uniform(5, 15)
        plan.append((at, kind, {"station": rng.choice(stations), "down_s": round(down, 1)}))
    return plan


def inject(h: Harness, ice, kind: str, params: dict, stations: list[str], stations_file: Path) -> None:  # noqa: ANN001
    station, down_s = params["station"], params["down_s"]
    if kind == "source_killed":
        mount = f"/{station}.mp3"
        start = time.time()
        ice.kill_source(mount)
        time.sleep(down_s)
        ice.restart_source(mount)
        h.faults.append(
            Fault(kind, [station], start, time.time(), f"source of {mount} killed for {down_s} s")
        )
    elif kind == "icecast_restarted":
        start = time.time()
        ice.restart(down_s=down_s)
        h.faults.append(
            Fault(kind, stations, start, time.time(), f"server down {down_s} s, sources restarted")
        )
    elif kind == "ffmpeg_killed":
        deadline = time.time() + 10
        while (pid := station_ffmpeg_pid(h.root, station)) is None and time.time() < deadline:
            time.sleep(0.2)
        start = time.time()
        if pid:
            os.kill(pid, signal.SIGKILL)
        h.faults.append(Fault(kind, [station], start, start, f"recorder ffmpeg pid {pid} SIGKILLed"))
    elif kind == "recorder_killed":
        start = time.time()
        assert h.recorder is not None
        h.recorder.kill()
        h.recorder.wait(10)
        time.sleep(down_s)
        start_recorder(h, stations_file)
        h.faults.append(
            Fault(kind, stations, start, time.time(), f"pige record SIGKILLed, restarted after {down_s} s")
        )
    elif kind == "disk_to_reserve_then_full":
        from pige_pipeline.maintenance.storage import StorageThresholds, check_storage

        total = shutil.disk_usage(h.root).total
        reserve = int(total * h.config.reserve_percent / 100)
        start = time.time()
        ballast = fill_to(h.root, reserve)
        health = check_storage(h.root, record=False)
        problems = health.problems(StorageThresholds(min_free_percent=h.config.reserve_percent + 0.5))
        h.log(f"disk at its reserve: {free_bytes(h.root) / 1e6:.1f} MB free; storage check: {problems}")
        time.sleep(10 if h.config.minutes < 5 else 20)
        h.faults.append(Fault("disk_at_reserve", stations, start, time.time(),
                              f"{free_bytes(h.root) / 1e6:.1f} MB free; storage check says: "
                              + ("; ".join(problems) or "nothing (MISSED)"), audio=False))  # fmt: skip
        if h.config.disk_full:
            start = time.time()
            fill_to(h.root, 0)
            time.sleep(down_s)
            ballast.unlink()
            h.faults.append(Fault("disk_full", stations, start, time.time(), f"0 bytes free for {down_s} s"))
        else:
            ballast.unlink()
    h.log(f"fault {kind}: {h.faults[-1].detail}")


def run_soak(config: SoakConfig, work: Path) -> dict:
    from pige_pipeline.hours import HOUR, hour_start
    from pige_pipeline.lib.resources import PigeResource  # noqa: F401 - imported early: fail fast
    from pige_pipeline.testing.icecast import IcecastServer

    rng = random.Random(config.seed)
    root, disk = mount_data_root(work, config.tmpfs_mb)
    h = Harness(config, work, root, disk, rng)
    h.log(f"data root {root} on a {disk}")
    sources = make_sources(work / "sources", config.stations)
    stations = [f"s{i:02d}" for i in range(config.stations)]
    mail = Mail()
    os.environ.update({"PIGE_SMTP_HOST": "127.0.0.1", "PIGE_SMTP_PORT": str(mail.port),
                       "PIGE_ALERT_TO": "onair@example.org"})  # fmt: skip
    catalogue = root / "catalogue"
    catalogue.mkdir(parents=True)
    released = [work / "sources" / "s00-release.mp3", *sources[1:]]
    rows = ["track_id,title,artist,isrc,path"] + [
        f"{s},Track {s},Soak,,{src}" for s, src in zip(stations, released, strict=True)
    ]
    (catalogue / "catalogue.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    subprocess.run(
        [str(PIGE), "catalogue", "index", "--data-root", str(root)], check=True, capture_output=True
    )
    record_s = config.minutes * 60
    try:
        with IcecastServer(source_timeout_s=5) as ice:
            for sid, src in zip(stations, sources, strict=True):
                ice.add_source(f"/{sid}.mp3", src)
            entries = [{"id": s, "name": s, "stream_url": ice.url(f"/{s}.mp3"), "speech": {"enabled": False}}
                       for s in stations]  # fmt: skip
            stations_file = root / "stations.yaml"
            stations_file.write_text(yaml.safe_dump({"stations": entries}), encoding="utf-8")
            start_recorder(h, stations_file)
            wait_recording(h, stations)
            t0 = time.time()
            plan = schedule(h, stations, record_s, t0)
            stop = threading.Event()
            first_done = threading.Event()
            kill_round = rng.randrange(max(1, int(record_s // config.process_every_s) - 1))

            def processing() -> None:
                n = 0
                next_at = t0 + config.process_every_s
                while not stop.wait(1):
                    if time.time() >= next_at:
                        process_hour(h, hour_start(datetime.now(UTC)), kill=(n == kill_round))
                        if h.runs[-1]["killed"]:
                            run = h.runs[-1]
                            note = "process_hour SIGKILLed mid-run"
                            h.faults.append(
                                Fault("processing_killed", stations, run["started"], time.time(), note, False)
                            )
                            process_hour(h, hour_start(datetime.now(UTC)))  # the retry
                        first_done.set()
                        n += 1
                        next_at = time.time() + config.process_every_s
                    flush_outbox(root)

            def smtp_outage() -> None:
                # Down before the first processing run, back a while after it: its alerts must wait.
                stop.wait(max(0.0, t0 + rng.uniform(0.3, 0.8) * config.process_every_s - time.time()))
                mail.down()
                down_at = time.time()
                h.log("fault smtp_down: SMTP server stopped")
                first_done.wait()
                stop.wait(rng.uniform(5, 20))
                mail.up()
                h.faults.append(
                    Fault("smtp_down", [], down_at, time.time(), "SMTP server stopped", audio=False)
                )
                h.log(f"SMTP server back after {time.time() - down_at:.0f} s")

            worker = threading.Thread(target=processing, daemon=True)
            worker.start()
            smtp = threading.Thread(target=smtp_outage, daemon=True)
            smtp.start()
            for at, kind, params in plan:
                # Faults never overlap: each loss is attributed to one fault.
                at = max(at, (h.faults[-1].end if h.faults else t0) + RECOVERY_S + config.segment_s + 3)
                while time.time() < at:
                    time.sleep(0.2)
                inject(h, ice, kind, params, stations, stations_file)
            while time.time() < t0 + record_s:
                time.sleep(0.5)
            t_end = time.time()  # the recorder is asked to stop now: audio ends here, not when it exits
            stop_recorder(h)
            stop.set()
            first_done.set()
            worker.join(600)
            smtp.join(60)
            if mail.server is None:
                mail.up()
        # After recovery: process every hour touched, flush the outbox, then process again (exactly once?).
        hours = sorted({hour_start(datetime.fromtimestamp(t, UTC)) for t in (t0, t_end)})
        # Twice when the run spans an hour boundary: an hour matched before its later neighbour was
        # fingerprinted has an open edge there, which the second pass closes (docs/airplay.md, hour
        # margins). What must not change is a third processing of hours that have seen their neighbours.
        for _ in range(2 if len(hours) > 1 else 1):
            for hour in hours:
                process_hour(h, hour)
        deadline = time.time() + 60
        while time.time() < deadline:
            flush_outbox(root)
            from pige_pipeline.notify import Notifier

            if Notifier.from_env(root).outbox.pending_count() == 0:
                break
            time.sleep(2)
        before = snapshot(root)
        for hour in hours:
            process_hour(h, hour)
        flush_outbox(root)
        time.sleep(2)
        after = snapshot(root)
        report = measure(h, stations, t0, t_end, hours, mail, before, after, HOUR)
    finally:
        with contextlib.suppress(Exception):
            stop_recorder(h)
        with contextlib.suppress(Exception):
            mail.server and mail.server.stop()
    return report


# -- measuring -------------------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, list]:
    import pyarrow.parquet as pq

    out = {}
    for path in sorted((root / "parquet").glob("*/*/*/*/*/*.parquet")):
        frame = pq.read_table(path).to_pandas().drop(columns=["created_at"], errors="ignore")
        out[str(path.relative_to(root))] = sorted(map(repr, frame.to_dict("records")))
    return out


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1] + MIN_GAP_S:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def _holes(covered: list[tuple[float, float]], start: float, end: float) -> list[tuple[float, float]]:
    holes, cursor = [], start
    for a, b in covered:
        if a > cursor + MIN_GAP_S:
            holes.append((cursor, min(a, end)))
        cursor = max(cursor, b)
    if end > cursor + MIN_GAP_S:
        holes.append((cursor, end))
    return [(a, b) for a, b in holes if b > a]


def _overlap(spans: list[tuple[float, float]], a: float, b: float) -> float:
    return sum(max(0.0, min(e, b) - max(s, a)) for s, e in spans)


def measure(h: Harness, stations, t0, t_end, hours, mail, before, after, HOUR) -> dict:  # noqa: ANN001, N803
    from pige_pipeline.audio.probe import AudioProbeError, probe_audio
    from pige_pipeline.silence.alerts import LIVE_NOTIFICATION_KIND
    from pige_pipeline.store.chunks import list_chunks
    from pige_pipeline.store.gaps import read_gaps
    from pige_pipeline.store.parquet import read_asset_range

    lo, hi = datetime.fromtimestamp(t0, UTC), datetime.fromtimestamp(t_end, UTC)
    holes, logged, corrupt, chunks, first_audio = {}, {}, [], 0, {}
    for sid in stations:
        spans = []
        for chunk in list_chunks(h.root, sid):
            chunks += 1
            try:
                info = probe_audio(chunk.path)
            except AudioProbeError as exc:
                corrupt.append(str(exc))
                continue
            decode = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(chunk.path), "-f", "null", "-"]
            proc = subprocess.run(decode,
                                  capture_output=True, text=True, check=False)  # fmt: skip
            if proc.returncode != 0:
                corrupt.append(f"{chunk.path}: {proc.stderr.strip()[-200:]}")
            spans.append((chunk.start.timestamp(), chunk.start.timestamp() + info.duration_s))
        covered = _merge(spans)
        first_audio[sid] = covered[0][0] if covered else t_end
        # The window starts at the station's first audio: connecting at start-up is not an outage.
        holes[sid] = _holes(covered, max(t0, first_audio[sid]), t_end - 1.0)
        logged[sid] = [(g.start.timestamp(), g.end.timestamp()) for g in read_gaps(h.root, sid, lo, hi)]
    per_fault = []
    claimed: dict[str, list[tuple[float, float]]] = {s: [] for s in stations}
    # Audio faults first; a fault that should cost no audio only gets the losses no other fault explains.
    for fault in sorted(h.faults, key=lambda f: not f.audio):
        rows = []
        for sid in fault.targets:
            if fault.audio:
                # the segment being written when a fault hits can be lost with it: look one segment back
                window = (fault.start - h.config.segment_s - 1.0, fault.end + RECOVERY_S)
            else:
                window = (fault.start, fault.end)
            lost_holes = [
                (a, b)
                for a, b in holes[sid]
                if b > window[0] and a < window[1] and (a, b) not in claimed[sid]
            ]
            claimed[sid] += lost_holes
            lost = sum(b - a for a, b in lost_holes)
            unlogged = sum(max(0.0, (b - a) - _overlap(logged[sid], a, b)) for a, b in lost_holes)
            rows.append({"station": sid, "lost_s": round(lost, 2), "unlogged_s": round(unlogged, 2)})
        worst = max(rows, key=lambda r: r["lost_s"]) if rows else {"lost_s": 0.0, "unlogged_s": 0.0}
        per_fault.append({
            "fault": fault.name, "detail": fault.detail, "audio": fault.audio,
            "at_s": round(fault.start - t0, 1),
            "outage_s": round(fault.outage_s, 2) if fault.audio else 0.0,
            "stations": len(fault.targets),
            "max_lost_s": worst["lost_s"],
            "median_lost_s": sorted(r["lost_s"] for r in rows)[len(rows) // 2] if rows else 0.0,
            "excess_s": round(worst["lost_s"] - (fault.outage_s if fault.audio else 0.0), 2),
            "all_gaps_logged": all(r["unlogged_s"] <= 1.0 for r in rows),
            "max_unlogged_s": max((r["unlogged_s"] for r in rows), default=0.0),
        })  # fmt: skip
    per_fault.sort(key=lambda f: f["at_s"])
    unexplained = {sid: [(round(a - t0, 1), round(b - a, 2))
                         for a, b in holes[sid] if (a, b) not in claimed[sid]]
                   for sid in stations}  # fmt: skip
    # Alerts: every suspect alert of the final tables is mailed exactly once, and nothing else is. A
    # silence the live monitor paged while recording is not mailed again by the hourly record, whose
    # row names the live page's notification key; that page's mail carries the key in X-Pige-Key.
    start, end = hours[0], hours[-1] + HOUR
    alerts = read_asset_range(h.root, "dead_air_alerts", start, end)
    suspect_rows = alerts[alerts["classification"] == "suspect"] if len(alerts) else alerts
    suspect = set(suspect_rows["alert_id"]) if len(alerts) else set()
    messages = mail.messages()
    mailed = [m for msg in messages for m in re.findall(r"Alert id: (\S+)", msg.get_content())]
    live_pages = [str(msg["X-Pige-Key"]) for msg in messages if msg["X-Pige-Kind"] == LIVE_NOTIFICATION_KIND]
    paged_live = {}
    for row in suspect_rows.itertuples() if len(alerts) else ():
        found = re.search(r"\(live alert (\S+)\)", str(row.notification_status or ""))
        if found:
            paged_live[row.alert_id] = found.group(1)
    mailed += [alert for alert, key in paged_live.items() for page in live_pages if page == key]
    plays = read_asset_range(h.root, "airplay_events", start, end)
    litter = [str(p) for p in (h.root / "parquet").rglob("*.tmp")]
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    manifests_ok = True
    from pige_pipeline.store.parquet import read_manifest

    for hour in hours:
        for asset in SOAK_ASSETS:
            m = read_manifest(h.root, asset, hour) or {}
            done = set(m.get("rows", {})) | set(m.get("no_audio", {}))
            manifests_ok &= set(stations) <= done and (asset == "audio_chunks" or not m.get("failed"))
    return {
        "config": asdict(h.config),
        "disk": h.disk,
        "recorded_s": round(t_end - t0, 1),
        "chunks": chunks,
        "faults": per_fault,
        "unexplained_holes": {k: v for k, v in unexplained.items() if v},
        "corrupt_chunks": corrupt,
        "alerts": {
            "suspect": len(suspect),
            "emails": len(mailed),
            "duplicates": len(mailed) - len(set(mailed)),
            "missing": sorted(suspect - set(mailed)),
            "spurious": sorted(set(mailed) - suspect),
            "paged_live": len(paged_live),
            "live_pages_without_a_suspect_row": sorted(set(live_pages) - set(paged_live.values())),
        },  # fmt: skip
        "plays": int(len(plays)),
        "duplicate_play_ids": int(plays["play_id"].duplicated().sum()) if len(plays) else 0,
        "processing_runs": h.runs,
        "hours": [f"{x:%Y-%m-%d %H:00Z}" for x in hours],
        "every_station_hour_processed": bool(manifests_ok),
        "reprocessing_changed": changed,
        "temporary_files_left": litter,
        "events": h.events,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["process"]:
        return process_main(argv[1], argv[2])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--stations", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--segment-seconds", type=int, default=10)
    parser.add_argument("--process-every", type=float, default=None, help="seconds between processing runs")
    parser.add_argument("--no-disk-full", action="store_true", help="fill the disk to its reserve only")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (and its tmpfs)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "pige-soak" / "soak.json")
    args = parser.parse_args(argv)
    every = args.process_every or max(45.0, min(180.0, args.minutes * 60 / 4))
    config = SoakConfig(
        args.minutes, args.stations, args.seed, args.segment_seconds, process_every_s=every,
        disk_full=not args.no_disk_full,
    )  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="pige-soak-"))
    try:
        report = run_soak(config, work)
    finally:
        logs = args.out.parent / f"{args.out.stem}-logs"
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir(parents=True)
        for name in ("recorder.log", "process.log"):
            if (work / name).exists():
                shutil.copy(work / name, logs / name)
        if args.keep:
            print(f"kept: {work}")
        else:
            subprocess.run(["umount", str(work / "data")], capture_output=True, check=False)
            shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(summary(report))
    print(f"report: {args.out}")
    return 0


def summary(report: dict) -> str:
    lines = ["| fault | stations | injected outage (s) | audio lost, worst station (s) | excess (s) "
             "| every gap logged |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for f in report["faults"]:
        logged = "yes" if f["all_gaps_logged"] else f"NO ({f['max_unlogged_s']} s unlogged)"
        cells = [f["fault"], f["stations"], f["outage_s"], f["max_lost_s"], f["excess_s"], logged]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    a = report["alerts"]
    lines += [
        "",
        f"- recorded {report['recorded_s']} s, {report['chunks']} chunks, disk: {report['disk']}",
        f"- corrupt chunks: {len(report['corrupt_chunks'])}",
        f"- alerts: {a['suspect']} suspect, {a['emails']} emails, {a['duplicates']} duplicates, "
        f"{len(a['missing'])} missing, {len(a['spurious'])} spurious",
        f"- plays: {report['plays']}, duplicate play ids: {report['duplicate_play_ids']}",
        f"- every station-hour processed: {report['every_station_hour_processed']}; reprocessing changed "
        f"{len(report['reprocessing_changed'])} file(s); "
        f"temporary files left: {len(report['temporary_files_left'])}",
        f"- losses outside any fault: {report['unexplained_holes'] or 'none'}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
