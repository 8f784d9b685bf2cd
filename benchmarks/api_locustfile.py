"""Locust users of benchmarks/api_load.py: one request a second each, on one scenario (API_SCENARIO).

    plays      GET /plays for one station and one month (its first page of 100)
    statement  GET /statements/{month}/stations for one station
Stations and months are drawn at random from API_STATIONS and API_MONTHS (comma-separated).
"""

from __future__ import annotations

import os
import random
from datetime import date

from locust import constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

SCENARIO = os.environ.get("API_SCENARIO", "plays")
STATIONS = os.environ.get("API_STATIONS", "station-00").split(",")
MONTHS = os.environ.get("API_MONTHS", "2025-01").split(",")
TOKEN = os.environ.get("API_TOKEN", "")


def _month_span(month: str) -> tuple[str, str]:
    first = date(int(month[:4]), int(month[5:]), 1)
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return f"{first}T00:00:00+01:00", f"{after}T00:00:00+01:00"


class ApiReader(FastHttpUser):
    wait_time = constant_throughput(1)

    def on_start(self) -> None:
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    @task
    def read(self) -> None:
        station, month = random.choice(STATIONS), random.choice(MONTHS)
        if SCENARIO == "plays":
            since, until = _month_span(month)
            self.client.get(
                "/plays",
                params={"station": station, "since": since, "until": until, "limit": 100},
                headers=self.headers,
                name="plays of one station for one month",
            )
        else:
            self.client.get(
                f"/statements/{month}/stations",
                params={"station": station},
                headers=self.headers,
                name="monthly statement of one station",
            )
