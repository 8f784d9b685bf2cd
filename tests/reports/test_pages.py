"""The HTML reports fit a laptop screen: checked in headless Chromium at 1366 and 1024 px wide.

Nothing is wider than the window (the page's scroll width equals the viewport's, and no table runs
past its column), numbers are right-aligned, long text wraps, and the summary comes first."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pige_pipeline.analytics import connect
from pige_pipeline.reports import airplay, coverage, daily_log, dead_air, stats
from pige_pipeline.reports.html import Section, render_page, table_html
from pige_pipeline.reports.periods import Period
from pige_pipeline.testing.synthetic_year import SyntheticData
from tests.reports.browser import chromium

pytestmark = pytest.mark.slow  # a browser, and every report of a synthetic month

WIDTHS = (1366, 1024)
# What the page says about itself: widths, tables past their box, alignment, order of the parts.
MEASURE = """() => {
  const tables = [...document.querySelectorAll('table')];
  const numbers = [...document.querySelectorAll('td.num')];
  const first = (selector) => document.querySelector(selector);
  const before = (a, b) => !!(a && b && (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING));
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    tables: tables.length,
    tablesPastTheirBox: tables.filter(t => t.getBoundingClientRect().width > t.parentElement.clientWidth + 1)
                              .map(t => t.querySelector('th') ? t.querySelector('th').textContent : '?'),
    numbers: numbers.length,
    numbersNotRight: numbers.filter(td => getComputedStyle(td).textAlign !== 'right').length,
    textCellsNotWrapping: [...document.querySelectorAll('td.text')]
        .filter(td => getComputedStyle(td).overflowWrap !== 'anywhere').length,
    summaryFirst: before(first('.kpis'), first('table')) && before(first('.kpis'), first('h2 ~ img, img')),
  };
}"""


def test_report_pages_fit_the_window(synthetic_copy: tuple[Path, SyntheticData]) -> None:
    root, _data = synthetic_copy
    day, month = Period.day("2026-01-31"), Period.month("2026-01")
    with connect(root) as con:
        outputs = [
            daily_log.write_daily_log(root, con, day),
            airplay.write_statement(root, con, month),
            dead_air.write_dead_air(root, con, month),
            coverage.write_coverage(root, con, month),
            stats.write_stats(root, con),
        ]
    with chromium() as browser:
        for output in outputs:
            assert output.html is not None
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(output.html.as_uri())
                seen = page.evaluate(MEASURE)
                page.close()
                where = f"{output.report} at {width} px"
                assert seen["scrollWidth"] == seen["innerWidth"] == width, (where, seen)
                assert seen["tables"] >= 2 and seen["tablesPastTheirBox"] == [], (where, seen)
                assert seen["numbers"] > 0 and seen["numbersNotRight"] == 0, (where, seen)
                assert seen["textCellsNotWrapping"] == 0, (where, seen)
                assert seen["summaryFirst"], (where, seen)


def test_wide_tables_and_long_words_still_fit(tmp_path: Path) -> None:
    """What real catalogues and logs hold: a 200-character title without a space, a long error text,
    and a table of 16 numeric columns, in the page machinery every report uses."""
    frame = pd.DataFrame(
        {
            "station": ["radio-with-a-long-identifier"] * 3,
            "start": pd.to_datetime(["2026-04-01 00:00:01"] * 3, utc=True),
            "title": ["Symphonie" * 22, "short", "a b " * 60],
            "source_files": ["chunks/radio/2026/04/01/20260401T000000Z.mp3;" * 3] * 3,
            **{f"measure_number_{i}": [123456.789, 0.5, 42.0] for i in range(16)},
        }
    )
    page = tmp_path / "index.html"
    sections = [Section("Wide", table=table_html(frame))]
    html = render_page("A wide table", "synthetic", sections, kpis={"rows": 3})
    page.write_text(html, encoding="utf-8")
    with chromium() as browser:
        for width in WIDTHS:
            view = browser.new_page(viewport={"width": width, "height": 900})
            view.goto(page.as_uri())
            seen = view.evaluate(MEASURE)
            view.close()
            assert seen["scrollWidth"] == width, (width, seen)
            assert seen["numbersNotRight"] == 0 and seen["textCellsNotWrapping"] == 0, (width, seen)
