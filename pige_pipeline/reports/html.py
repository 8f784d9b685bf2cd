"""Self-contained HTML pages for reports: charts as base64 PNGs, tables inline, no external asset."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime

import matplotlib

matplotlib.use("Agg")  # reports render in workers and CI without a display

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from jinja2 import Environment  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 2rem; color: #1d2433; max-width: 1200px; }
 h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #dde; }
 .meta { color: #667; margin-bottom: 1rem; } .note { background: #fff6d6; padding: .5rem 1rem; }
 .kpis { display: flex; gap: 1rem; flex-wrap: wrap; }
 .kpi { background: #f2f5fa; border-radius: 6px; padding: .6rem 1rem; min-width: 9rem; }
 .kpi b { display: block; font-size: 1.4rem; }
 table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0; }
 th, td { border-bottom: 1px solid #e4e7ee; padding: .25rem .6rem; text-align: left; }
 th { background: #f2f5fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
 img { max-width: 100%; }
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


def table_html(frame: pd.DataFrame, max_rows: int = 200) -> str:
    """An HTML table of at most `max_rows` rows; the CSV next to the page has them all."""
    shown = frame.head(max_rows).copy()
    for column in shown.columns:
        if pd.api.types.is_datetime64_any_dtype(shown[column]):
            shown[column] = shown[column].dt.strftime("%Y-%m-%d %H:%M:%S")
        elif pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].round(1)
    html = shown.to_html(index=False, border=0, na_rep="", escape=True)
    if len(frame) > max_rows:
        html += f"<p>{len(frame) - max_rows} more rows in the CSV file.</p>"
    return html


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
