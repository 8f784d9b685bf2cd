"""Read API under load: locust (headless, bounded in time) against `pige api` on the synthetic year.

Builds (or with --reuse, reuses) the synthetic analytics year of benchmarks/analytics_year.py, starts
`pige api` on loopback, then for each scenario runs `--users` locust users at one request a second
each (so `--users` requests a second) for `--seconds`, and prints p50/p95/p99 latency, requests a
second, failures, the server's CPU, locust's and the whole machine's. Locust runs on the same machine,
so it takes some of the cores. With --repeats the scenarios alternate and the table gives medians.
The API keeps each build's responses (PIGE_API_CACHE_MB): --no-cache turns that off, so every request
reads DuckDB (the cost of a page or statement nobody asked for yet); --warm-cache asks every station
and month once first, so every request of the runs is served from the cache. Without either, the
runs start cold and hit the cache more and more (50 stations x 12 months is 600 requests a scenario).
--sequential N first sends N requests of each scenario one at a time: the server's CPU per request.

    .venv/bin/python -m benchmarks.api_load [--stations 50] [--days 365] [--users 100] [--seconds 60]
        [--repeats 3] [--sequential 200] [--no-cache | --warm-cache] [--workers 1] [--reuse]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil

from benchmarks.api_scenarios import SCENARIOS, request_of
from pige_pipeline.analytics import rebuild
from pige_pipeline.analytics.build import db_path
from pige_pipeline.api.tokens import TokenStore
from pige_pipeline.settings import REPO_ROOT
from pige_pipeline.testing.synthetic_year import generate, settings_for, write_compacted

START = datetime(2025, 1, 1, tzinfo=UTC)
BIN = Path(sys.executable).parent


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def build_year(root: Path, stations: list[str], days: int) -> None:
    shutil.rmtree(root, ignore_errors=True)
    t = time.perf_counter()
    data = generate(stations, START, days * 24, seed=1, with_speech=False, with_fingerprints=False)
    print(f"generated {len(data.plays):,} plays for {len(stations)} stations x {days} days "
          f"in {time.perf_counter() - t:.0f} s")  # fmt: skip
    write_compacted(root, data)
    t = time.perf_counter()
    result = rebuild(settings_for(root), compact=False, full=True)
    print(f"analytics built in {time.perf_counter() - t:.0f} s: {result.tables}")


def _cpu_seconds(server: psutil.Process) -> float:
    """CPU seconds of the server and its worker processes (`--workers`)."""
    total = 0.0
    for process in [server, *server.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def start_api(root: Path, port: int, log: Path, cache: bool = True, workers: int = 1) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIGE_")} | {"PIGE_DATA_ROOT": str(root)}
    if not cache:
        env["PIGE_API_CACHE_MB"] = "0"  # every request computed from the database
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            [str(BIN / "pige"), "api", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            cwd=REPO_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit(f"pige api did not start: see {log}")


def run_scenario(
    scenario: str,
    url: str,
    token: str,
    stations: list[str],
    months: list[str],
    users: int,
    seconds: int,
    out: Path,
) -> dict[str, float]:
    prefix = out / f"locust-{scenario}"
    env = os.environ | {
        "API_SCENARIO": scenario,
        "API_STATIONS": ",".join(stations),
        "API_MONTHS": ",".join(months),
        "API_TOKEN": token,
    }
    command = [str(BIN / "locust"), "-f", str(REPO_ROOT / "benchmarks" / "api_locustfile.py"), "--headless",
               "-u", str(users), "-r", str(max(users // 5, 1)), "-t", f"{seconds}s", "--host", url,
               "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"]  # fmt: skip
    machine, me = psutil.cpu_times(), psutil.Process().cpu_times()
    subprocess.run(command, env=env, cwd=REPO_ROOT, check=False, capture_output=True)
    machine_after, me_after = psutil.cpu_times(), psutil.Process().cpu_times()
    busy = sum(
        getattr(machine_after, f) - getattr(machine, f) for f in ("user", "nice", "system", "irq", "softirq")
    )
    idle = sum(getattr(machine_after, f) - getattr(machine, f) for f in ("idle", "iowait"))
    with open(f"{prefix}_stats.csv", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Name"] == SCENARIOS[scenario])
    return {
        # The whole machine's CPU use during the run (all cores: 1.0 is every core busy), and locust's.
        "machine_busy": busy / max(busy + idle, 1e-9),
        "locust_cpu_s": (me_after.children_user + me_after.children_system)
        - (me.children_user + me.children_system),
        "requests": float(row["Request Count"]),
        "failures": float(row["Failure Count"]),
        "rps": float(row["Requests/s"]),
        "p50": float(row["50%"]),
        "p95": float(row["95%"]),
        "p99": float(row["99%"]),
        "mean": float(row["Average Response Time"]),
    }


def sequential(
    url: str, token: str, stations: list[str], months: list[str], count: int, server: psutil.Process
) -> None:
    """`count` requests of each scenario one after another: the server's CPU per request, unqueued."""
    rng = random.Random(1)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for scenario in SCENARIOS:
            latencies = []
            cpu = _cpu_seconds(server)
            for _ in range(count):
                path, params = request_of(scenario, rng.choice(stations), rng.choice(months))
                t = time.perf_counter()
                client.get(path, params=params).raise_for_status()
                latencies.append(1000 * (time.perf_counter() - t))
            per_request = 1000 * (_cpu_seconds(server) - cpu) / count
            latencies.sort()
            print(f"sequential {scenario}: {count} requests, server CPU {per_request:.1f} ms/request, "
                  f"latency p50 {latencies[count // 2]:.1f} ms, p95 {latencies[int(count * 0.95)]:.1f} ms "
                  f"({_load()})", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--users", type=int, default=100, help="locust users, one request a second each")
    parser.add_argument("--seconds", type=int, default=60, help="length of each scenario's run")
    parser.add_argument("--out", type=Path, default=Path("/tmp/pige-bench-api"))
    parser.add_argument(
        "--sequential", type=int, default=0, help="first, this many requests of each scenario one at a time"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="PIGE_API_CACHE_MB=0: no response served from the cache"
    )
    parser.add_argument(
        "--warm-cache",
        action="store_true",
        help="ask every station and month once first: every run hits the cache",
    )
    parser.add_argument("--workers", type=int, default=1, help="`pige api --workers`: server processes")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each scenario; medians are printed")
    parser.add_argument("--reuse", action="store_true", help="keep the data root of an earlier run")
    args = parser.parse_args()
    root = args.out / "year"
    stations = [f"station-{i:02d}" for i in range(args.stations)]
    months = sorted({f"{START + timedelta(days=i):%Y-%m}" for i in range(args.days)})
    print(_load())
    if not (args.reuse and db_path(root).exists()):
        build_year(root, stations, args.days)
    store = TokenStore.for_data_root(root)
    token, _ = store.create("api_load benchmark", "admin", ())
    port = 18600
    server = start_api(root, port, args.out / "api.log", cache=not args.no_cache, workers=args.workers)
    url = f"http://127.0.0.1:{port}"
    try:
        server_ps = psutil.Process(server.pid)
        # The first reads of a build are cold (file cache, DuckDB's metadata): give them time.
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300) as client:
            for month in months[:2]:  # warm: the first query of a build attaches it
                client.get("/plays", params={"station": stations[0], "limit": 100})
                client.get(f"/statements/{month}/stations", params={"station": stations[0]})
        if args.sequential:
            sequential(url, token, stations, months, args.sequential, server_ps)
        if args.warm_cache and not args.no_cache:
            t = time.perf_counter()
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as client:
                for scenario in SCENARIOS:
                    for station in stations:
                        for month in months:
                            path, params = request_of(scenario, station, month)
                            client.get(path, params=params).raise_for_status()
            print(f"cache warmed: every request of the scenarios once, in {time.perf_counter() - t:.0f} s")
        runs: dict[str, list[dict[str, float]]] = {scenario: [] for scenario in SCENARIOS}
        for repeat in range(args.repeats):
            for scenario in SCENARIOS:  # alternated, so a change in the machine's load hits both
                before_load = _load()
                cpu = _cpu_seconds(server_ps)
                t = time.perf_counter()
                result = run_scenario(
                    scenario, url, token, stations, months, args.users, args.seconds, args.out
                )
                wall = time.perf_counter() - t
                server_cpu = _cpu_seconds(server_ps) - cpu
                result["server_cpu"] = server_cpu / wall
                result["cpu_ms_per_request"] = 1000 * server_cpu / max(result["requests"], 1)
                result["locust_cpu"] = result.pop("locust_cpu_s") / wall
                runs[scenario].append(result)
                print(f"run {repeat + 1} {scenario}: " + ", ".join(f"{k} {v:.3g}" for k, v in result.items())
                      + f" ({before_load} before, {_load()} after)", flush=True)  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"\n{args.stations} stations x {args.days} days, {args.users} users at 1 request/s, "
          f"{args.seconds} s a run, medians of {args.repeats} runs, {args.workers} server process(es), "
          "response cache "
          f"{'off' if args.no_cache else 'warmed' if args.warm_cache else 'on'}; {_load()}")  # fmt: skip
    print("| scenario | requests | failures | req/s | p50 ms | p95 ms | p99 ms | server CPU (cores) "
          "| server CPU ms/request | locust CPU (cores) | machine busy |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for scenario, results in runs.items():
        if not results:
            continue
        r = {key: statistics.median(run[key] for run in results) for key in results[0]}
        failures = sum(run["failures"] for run in results)
        print(f"| {SCENARIOS[scenario]} | {r['requests']:.0f} | {failures:.0f} (all runs) | {r['rps']:.1f} | "
              f"{r['p50']:.0f} | {r['p95']:.0f} | {r['p99']:.0f} | {r['server_cpu']:.2f} | "
              f"{r['cpu_ms_per_request']:.1f} | {r['locust_cpu']:.2f} | "
              f"{100 * r['machine_busy']:.0f} % |")  # fmt: skip
        print("  p95 of each run: " + ", ".join(f"{run['p95']:.0f}" for run in results))


if __name__ == "__main__":
    main()
