"""The daily log and the statement play each line's clip in the browser; without the audio, they say
why instead of showing a player that cannot play. On the demo hour, in headless Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pige_pipeline.analytics import connect, db_path
from pige_pipeline.reports import airplay, daily_log
from pige_pipeline.reports.periods import Period
from tests.demo.support import DemoRun
from tests.reports.browser import chromium

pytestmark = pytest.mark.slow  # the demo hour, and a browser

# Every <audio> on the page loads its clip's metadata: (duration in s, or -1 for a load error).
DURATIONS = """async () => Promise.all([...document.querySelectorAll('audio')].map(a => new Promise(done => {
  a.addEventListener('loadedmetadata', () => done(a.duration), {once: true});
  a.addEventListener('error', () => done(-1), {once: true});
  a.preload = 'metadata'; a.load();
})))"""


def _root_like_demo(demo_run: DemoRun, base: Path, with_audio: bool) -> Path:
    """A data root with the demo's analytics (sources are relative paths) and, or not, its chunks."""
    root = base / ("with_audio" if with_audio else "without_audio")
    db_path(root).parent.mkdir(parents=True)
    shutil.copy(db_path(demo_run.root), db_path(root))
    if with_audio:
        (root / "chunks").symlink_to(demo_run.root / "chunks", target_is_directory=True)
    return root


def test_pages_play_each_lines_clip(demo_run: DemoRun, tmp_path: Path) -> None:
    root = _root_like_demo(demo_run, tmp_path, with_audio=True)
    local = demo_run.hour.astimezone(ZoneInfo("Europe/Paris"))  # the demo station's timezone
    with connect(root) as con:
        plays = con.execute('SELECT play_id, seconds, start, "end" FROM plays').fetchdf()
        alerts = con.execute("SELECT count(*) FROM dead_air_events").fetchone()[0]
        log = daily_log.write_daily_log(root, con, Period.day(local.date()))
        statement = airplay.write_statement(root, con, Period.month(local.date()))
    assert log.html is not None and statement.html is not None
    clips = sorted((log.directory / "clips").iterdir())
    assert len(clips) == len(plays) + alerts
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(log.html.as_uri())
        durations = page.evaluate(DURATIONS)
        assert page.locator(".missing").count() == 0
        page.goto(statement.html.as_uri())
        statement_durations = page.evaluate(DURATIONS)
        page.close()
    assert len(durations) == len(plays) + alerts and min(durations) > 5.0, durations
    # The longest clip is the longest play with its context.
    assert max(durations) == pytest.approx(plays["seconds"].max() + 10.0, abs=1.0)
    # Each statement line (first play of a track) and each play of the period has a player.
    assert len(statement_durations) == len(statement.preview) + len(plays) and min(statement_durations) > 5


def test_pages_say_why_a_clip_is_missing(demo_run: DemoRun, tmp_path: Path) -> None:
    root = _root_like_demo(demo_run, tmp_path, with_audio=False)
    local = demo_run.hour.astimezone(ZoneInfo("Europe/Paris"))
    with connect(root) as con:
        log = daily_log.write_daily_log(root, con, Period.day(local.date()))
    assert log.html is not None
    html = log.html.read_text(encoding="utf-8")
    assert "<audio" not in html and not (log.directory / "clips").exists()
    assert html.count('class="missing"') >= 5 and "is missing: the audio was deleted by retention" in html
