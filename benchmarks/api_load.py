"""Read API under load: locust (headless, bounded in time) against `pige api` on the synthetic year.

Builds (or with --reuse, reuses) the synthetic analytics year of benchmarks/analytics_year.py, starts
`pige api` on loopback, then for each scenario runs `--users` locust users at one request a second
each (so `--users` requests a second) for `--seconds`, and prints p50/p95/p99 latency, requests a
second, failures and the server's CPU. Locust runs on the same machine, so it takes some of the cores.

    .venv/bin/python -m benchmarks.api_load [--stations 50] [--days 365] [--users 100] [--seconds 60]
        [--reuse]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil

from pige_pipeline.analytics import rebuild
from pige_pipeline.analytics.build import db_path
from pige_pipeline.api.tokens import TokenStore
from pige_pipeline.settings import REPO_ROOT
from pige_pipeline.testing.synthetic_year import generate, settings_for, write_compacted

START = datetime(2025, 1, 1, tzinfo=UTC)
BIN = Path(sys.executable).parent
SCENARIOS = {"plays": "plays of one station for one month", "statement": "monthly statement of one station"}


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


def start_api(root: Path, port: int, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIGE_")} | {"PIGE_DATA_ROOT": str(root)}
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            [str(BIN / "pige"), "api", "--host", "127.0.0.1", "--port", str(port)],
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
    subprocess.run(command, env=env, check=False, capture_output=True)
    with open(f"{prefix}_stats.csv", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Name"] == SCENARIOS[scenario])
    return {
        "requests": float(row["Request Count"]),
        "failures": float(row["Failure Count"]),
        "rps": float(row["Requests/s"]),
        "p50": float(row["50%"]),
        "p95": float(row["95%"]),
        "p99": float(row["99%"]),
        "mean": float(row["Average Response Time"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--users", type=int, default=100, help="locust users, one request a second each")
    parser.add_argument("--seconds", type=int, default=60, help="length of each scenario's run")
    parser.add_argument("--out", type=Path, default=Path("/tmp/pige-bench-api"))
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
    server = start_api(root, port, args.out / "api.log")
    url = f"http://127.0.0.1:{port}"
    try:
        server_ps = psutil.Process(server.pid)
        # The first reads of a build are cold (file cache, DuckDB's metadata): give them time.
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300) as client:
            for month in months[:2]:  # warm: the first query of a build attaches it
                client.get("/plays", params={"station": stations[0], "limit": 100})
                client.get(f"/statements/{month}/stations", params={"station": stations[0]})
        results = {}
        for scenario in SCENARIOS:
            before_load = _load()
            cpu = server_ps.cpu_times()
            t = time.perf_counter()
            results[scenario] = run_scenario(
                scenario, url, token, stations, months, args.users, args.seconds, args.out
            )
            wall = time.perf_counter() - t
            after = server_ps.cpu_times()
            results[scenario]["server_cpu"] = (after.user + after.system - cpu.user - cpu.system) / wall
            print(f"{scenario}: {results[scenario]} ({before_load} before)")
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"\n{args.stations} stations x {args.days} days, {args.users} users at 1 request/s, "
          f"{args.seconds} s each; {_load()}")  # fmt: skip
    print("| scenario | requests | failures | req/s | p50 ms | p95 ms | p99 ms | server CPU (cores) |")
    print("|---|---|---|---|---|---|---|---|")
    for scenario, r in results.items():
        print(f"| {SCENARIOS[scenario]} | {r['requests']:.0f} | {r['failures']:.0f} | {r['rps']:.1f} | "
              f"{r['p50']:.0f} | {r['p95']:.0f} | {r['p99']:.0f} | {r['server_cpu']:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
