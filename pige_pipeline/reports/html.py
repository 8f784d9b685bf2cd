"""Self-contained HTML pages for reports: charts as base64 PNGs, tables inline, no external asset."""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from numbers import Integral, Real

import matplotlib

matplotlib.use("Agg")  # reports render in workers and CI without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from jinja2 import Environment  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>
 /* Pages are read on laptops: nothing may be wider than the window (checked in headless Chromium at
    1024 and 1366 px). Long text wraps, numbers are right-aligned, a wide table scrolls in its own box. */
 *, *::before, *::after { box-sizing: border-box; }
 body { font-family: system-ui, sans-serif; margin: 0 auto; padding: 1rem 1.5rem; color: #1d2433;
        max-width: 1200px; overflow-wrap: break-word; }
 h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #dde; }
 .meta { color: #667; margin-bottom: 1rem; } .note { background: #fff6d6; padding: .5rem 1rem; }
 .kpis { display: flex; gap: 1rem; flex-wrap: wrap; }
 .kpi { background: #f2f5fa; border-radius: 6px; padding: .6rem 1rem; min-width: 9rem; }
 .kpi b { display: block; font-size: 1.4rem; }
 .table-wrap { max-width: 100%; overflow-x: auto; }
 table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0; max-width: 100%; }
 th, td { border-bottom: 1px solid #e4e7ee; padding: .25rem .5rem; text-align: left; vertical-align: top; }
 th { background: #f2f5fa; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
 td.text { min-width: 4rem; max-width: 24rem; overflow-wrap: anywhere; }
 td.time { min-width: 5.5rem; } td.id { max-width: 9rem; overflow-wrap: anywhere; font-size: .75rem; }
 audio { width: 9rem; max-width: 100%; height: 2rem; }
 .missing { color: #8a4b00; font-size: .8rem; display: block; max-width: 16rem; }
 code { overflow-wrap: anywhere; }
 img { max-width: 100%; height: auto; }
</style></head><body>
<h1>{{ title }}</h1>
<div class="meta">{{ subtitle }} &middot; generated {{ generated }}</div>
{% for note in notes %}<p class="note">{{ note }}</p>{% endfor %}
{% if kpis %}<div class="kpis">{% for k, v in kpis.items() %}
<div class="kpi"><b>{{ v }}</b>{{ k }}</div>{% endfor %}</div>{% endif %}
{% for s in sections %}
<h2>{{ s.title }}</h2>
{% if s.text %}<p>{{ s.text }}</p>{% endif %}
{% for img in s.images %}<img alt="{{ s.title }}" src="data:image/png;base64,{{ img }}">{% endfor %}
{% if s.table is not none %}{{ s.table | safe }}{% endif %}
{% endfor %}
</body></html>
"""


@dataclass
class Section:
    title: str
    text: str = ""
    images: list[str] = field(default_factory=list)
    table: str | None = None


def figure_png(fig: Figure) -> str:
    """A matplotlib figure as a base64 PNG, closed afterwards so long report runs do not leak memory."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


_TIME_COLUMNS = {
    "start",
    "end",
    "first_play",
    "last_play",
    "notified_at",
    "hour",
    "local_time",
    "oldest",
    "newest",
}


def _cell_class(name: str, series: pd.Series) -> str:
    if name in _TIME_COLUMNS:
        return "time"
    if pd.api.types.is_bool_dtype(series):
        return ""
    if pd.api.types.is_numeric_dtype(series):
        return "num"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "time"
    if name.endswith("_id") or name.endswith("_ids") or name == "source_files":
        return "id"
    return "text"


def table_html(frame: pd.DataFrame, max_rows: int = 200, raw_columns: tuple[str, ...] = ()) -> str:
    """An HTML table of at most `max_rows` rows; the CSV next to the page has them all.

    Numbers are right-aligned, text wraps; `raw_columns` hold HTML made by the report (audio players).
    """
    shown = frame.head(max_rows)
    classes = {c: _cell_class(str(c), shown[c]) for c in shown.columns}
    head = "".join(
        f'<th class="{classes[c]}">{escape(str(c)).replace("_", "_<wbr>")}</th>' for c in shown.columns
    )
    decimals = {c: _decimals(shown[c]) for c in shown.columns}
    rows = []
    for record in shown.itertuples(index=False, name=None):
        cells = []
        for column, value in zip(shown.columns, record, strict=True):
            text = _cell(value, column in raw_columns, decimals[column])
            cells.append(f'<td class="{classes[column]}">{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    html = (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    if len(frame) > max_rows:
        html += f"<p>{len(frame) - max_rows} more rows in the CSV file.</p>"
    return html


def _decimals(series: pd.Series) -> int:
    """One number of decimals per column, so that a column's numbers line up: 2 below 10, else 1."""
    if not pd.api.types.is_float_dtype(series):
        return 0
    values = series.dropna().abs()
    if values.empty or (values == values.round()).all():
        return 0
    return 2 if values.max() < 10 else 1


def _cell(value: object, raw: bool, decimals: int = 1) -> str:
    if value is None or (not isinstance(value, (list, tuple, dict, str)) and pd.isna(value)):
        return ""
    if raw:
        return str(value)
    if isinstance(value, pd.Timestamp | datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, Real) and not isinstance(value, Integral):
        number = float(value)
        return f"{number:,.{decimals}f}" if math.isfinite(number) else str(number)
    if isinstance(value, Integral):
        return f"{int(value):,}"
    return escape(str(value))


def render_page(
    title: str,
    subtitle: str,
    sections: list[Section],
    notes: list[str] | None = None,
    kpis: dict[str, object] | None = None,
) -> str:
    env = Environment(autoescape=True)
    return env.from_string(_TEMPLATE).render(
        title=title,
        subtitle=subtitle,
        sections=sections,
        notes=notes or [],
        kpis=kpis or {},
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
