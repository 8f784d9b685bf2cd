"""Locust users of benchmarks/api_load.py: one request a second each, at a random phase within the second,
on one scenario (API_SCENARIO).

    plays      GET /plays for one station and one month (its first page of 100)
    statement  GET /statements/{month}/stations for one station
Stations and months are drawn at random from API_STATIONS and API_MONTHS (comma-separated).
"""

from __future__ import annotations

import os
import random
import time

from locust import constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

from benchmarks.api_scenarios import SCENARIOS, request_of

SCENARIO = os.environ.get("API_SCENARIO", "plays")
STATIONS = os.environ.get("API_STATIONS", "station-00").split(",")
MONTHS = os.environ.get("API_MONTHS", "2025-01").split(",")
TOKEN = os.environ.get("API_TOKEN", "")


def jittered_second(user: FastHttpUser) -> float:
    """Wait so that the next request starts 0.5-1.5 s (1 s on average) after this one started.

    Independent clients, not a metronome. With `constant_throughput(1)` a user keeps its phase only
    while its answers take under a second; one slow second (the first reads after a build) and every
    waiting user's next request starts when its answer arrives, so answers given in a batch come back
    as a burst a second later, and the burst keeps itself going: in the cache-off runs 81 % of the
    requests arrived within the same 100 ms of each second (docs/benchmarks.md, Read API).
    """
    now = time.monotonic()
    started = getattr(user, "_started", now)
    target = random.uniform(0.5, 1.5)
    user._started = now + max(0.0, target - (now - started))  # type: ignore[attr-defined]
    return max(0.0, target - (now - started))


class ApiReader(FastHttpUser):
    wait_time = constant_throughput(1) if os.environ.get("API_PACING") == "metronome" else jittered_second

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Bearer {TOKEN}"}
        # Locust starts `-r` users at the same instant each second: a random start spreads them.
        time.sleep(random.random())
        self._started = time.monotonic()

    @task
    def read(self) -> None:
        path, params = request_of(SCENARIO, random.choice(STATIONS), random.choice(MONTHS))
        self.client.get(path, params=params, headers=self.headers, name=SCENARIOS[SCENARIO])
