"""The Dagster UI in headless Chromium: the pige assets, a materialised partition, a read-only viewer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.ops.support import REPO, Stack

ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium, never a downloaded browser; no network beyond loopback.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
LAUNCH_MUTATION = """
mutation Launch($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on UnauthorizedError { message }
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""

pytestmark = pytest.mark.slow
# The UI renders big graphs slowly on 2 busy cores.
expect.set_options(timeout=30_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/setup does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"ops-{name}.png"), full_page=True)


def graphql(page: Page, query: str, variables: dict | None = None) -> dict:
    """Run a GraphQL request from inside the page, with the UI's own origin and cookies."""
    body = json.dumps({"query": query, "variables": variables or {}})
    text = page.evaluate(
        """async (body) => {
            const headers = {'Content-Type': 'application/json'};
            const r = await fetch('/graphql', {method: 'POST', headers, body});
            return await r.text();
        }""",
        body,
    )
    return json.loads(text)["data"]


def launch(page: Page, base_url: str, job: str, tags: dict[str, str] | None = None) -> dict:
    """POST the UI's own launch mutation from inside the page, as the UI's Materialize button does."""
    params = {
        "selector": {"repositoryLocationName": "pige", "repositoryName": "__repository__", "jobName": job},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
    }
    page.goto(f"{base_url}/runs")
    return graphql(page, LAUNCH_MUTATION, {"params": params})["launchPipelineExecution"]


def test_asset_graph_shows_the_pige_assets(stack: Stack, page: Page) -> None:
    from pige_pipeline.definitions import defs

    page.goto(f"{stack.ui_url}/asset-groups")
    nodes = graphql(page, "{ assetNodes { assetKey { path } groupName } }")["assetNodes"]
    groups: dict[str, list[str]] = {}
    for node in nodes:
        groups.setdefault(node["groupName"], []).append("/".join(node["assetKey"]["path"]))
    served = {asset for assets in groups.values() for asset in assets}
    assert {"audio_chunks", "storage_health"} <= served
    assert served == {spec.key.to_user_string() for spec in defs.resolve_all_asset_specs()}
    for group in groups:
        expect(page.get_by_text(group, exact=True).first).to_be_visible()
    shot(page, "lineage")
    # The graph only renders the nodes in view: a tall window holds a whole group.
    page.set_viewport_size({"width": 1600, "height": 2600})
    for group, assets in sorted(groups.items()):
        page.goto(f"{stack.ui_url}/locations/pige/asset-groups/{group}")
        try:
            for asset in assets:
                expect(page.get_by_text(asset, exact=True).first).to_be_visible()
        finally:
            shot(page, f"group-{group}")


def test_audio_chunks_partition_is_materialised(stack: Stack, materialized_run: str, page: Page) -> None:
    key = stack.demo.partition_key
    page.goto(f"{stack.ui_url}/assets/audio_chunks")
    # The overview names the partition of the latest materialisation and its metadata.
    expect(page.get_by_text("Latest materialization").first).to_be_visible()
    expect(page.get_by_text(key).first).to_be_visible()
    expect(page.get_by_text("stations_failed").first).to_be_visible()
    shot(page, "audio-chunks-overview")
    page.goto(f"{stack.ui_url}/assets/audio_chunks?view=partitions")
    expect(page.get_by_text("Materialized (1)")).to_be_visible()
    shot(page, "audio-chunks-partitions")
    page.goto(f"{stack.ui_url}/runs/{materialized_run}")
    expect(page.get_by_text("Success").first).to_be_visible()
    shot(page, "process-hour-run")


def test_read_only_server_refuses_to_launch_a_run(stack: Stack, page: Page) -> None:
    page.goto(f"{stack.read_only_url}/assets/audio_chunks")
    button = page.get_by_role("button", name="Materialize…")
    expect(button).to_be_visible()
    expect(button).to_be_disabled()
    shot(page, "read-only-asset")
    refused = launch(page, stack.read_only_url, "storage_health_job")
    assert refused["__typename"] == "UnauthorizedError", refused
    # The same request to the operators' server is accepted: the difference is the server, not the request.
    page.goto(f"{stack.ui_url}/assets/audio_chunks")
    expect(page.get_by_role("button", name="Materialize…")).to_be_enabled()
    accepted = launch(page, stack.ui_url, "storage_health_job")
    assert accepted["__typename"] == "LaunchRunSuccess", accepted
