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


class ApiReader(FastHttpUser):
    wait_time = constant_throughput(1)

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Bearer {TOKEN}"}
        # Locust starts `-r` users at the same instant each second and constant_throughput keeps each
        # user's phase: without a random start, all users would ask within a few milliseconds of each
        # other, a burst of `--users` requests once a second instead of a steady rate.
        time.sleep(random.random())

    @task
    def read(self) -> None:
        path, params = request_of(SCENARIO, random.choice(STATIONS), random.choice(MONTHS))
        self.client.get(path, params=params, headers=self.headers, name=SCENARIOS[SCENARIO])
