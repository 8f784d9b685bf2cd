"""The scenarios of benchmarks/api_load.py, shared by its driver and its locust users (no locust import:
importing locust patches the standard library with gevent)."""

from __future__ import annotations

from datetime import date

# Scenario -> the request name locust reports it under.
SCENARIOS = {"plays": "plays of one station for one month", "statement": "monthly statement of one station"}


def month_span(month: str) -> tuple[str, str]:
    """`since` and `until` of a YYYY-MM month, as the benchmark sends them."""
    first = date(int(month[:4]), int(month[5:]), 1)
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return f"{first}T00:00:00+01:00", f"{after}T00:00:00+01:00"


def request_of(scenario: str, station: str, month: str) -> tuple[str, dict[str, str | int]]:
    """The path and query parameters of one request of `scenario`."""
    if scenario == "plays":
        since, until = month_span(month)
        return "/plays", {"station": station, "since": since, "until": until, "limit": 100}
    return f"/statements/{month}/stations", {"station": station}
