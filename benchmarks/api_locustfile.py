"""Locust users of benchmarks/api_load.py: one request a second each, on one scenario (API_SCENARIO).

    plays      GET /plays for one station and one month (its first page of 100)
    statement  GET /statements/{month}/stations for one station
Stations and months are drawn at random from API_STATIONS and API_MONTHS (comma-separated).
"""

from __future__ import annotations

import os
import random

from locust import constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

from benchmarks.api_scenarios import SCENARIOS, request_of

SCENARIO = os.environ.get("API_SCENARIO", "plays")
STATIONS = os.environ.get("API_STATIONS", "station-00").split(",")
MONTHS = os.environ.get("API_MONTHS", "2025-01").split(",")
TOKEN = os.environ.get("API_TOKEN", "")


class ApiReader(FastHttpUser):
    wait_time = constant_throughput(1)

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    @task
    def read(self) -> None:
        path, params = request_of(SCENARIO, random.choice(STATIONS), random.choice(MONTHS))
        self.client.get(path, params=params, headers=self.headers, name=SCENARIOS[SCENARIO])
