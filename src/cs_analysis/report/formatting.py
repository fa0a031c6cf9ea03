"""Human formatting of KPI values: ¥ with thousands separators, % with one decimal, ja/en labels."""

from __future__ import annotations

import html
import math
import re

import pandas as pd

from cs_analysis.kpis.registry import KPIS, lookup

CURRENCY_SYMBOLS = {"JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£"}


def format_value(value: object, unit: str, currency: str = "JPY") -> str:
    """``¥1,234,567`` / ``12.3%`` / ``1,234`` / ``+12.3`` (NPS); "—" when undefined."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    x = float(value)  # type: ignore[arg-type]
    if unit == "money":
        symbol = CURRENCY_SYMBOLS.get(currency)
        text = f"{abs(x):,.0f}"
        sign = "-" if x < 0 else ""
        return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"
    if unit == "percent":
        return f"{x:.1f}%"
    if unit == "score":
        return f"{x:+.1f}"
    return f"{x:,.0f}"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~$])")  # inline markup, links, tables, math


def md_escape(text: object) -> str:
    """``text`` safe to place in Markdown (and so in the report's HTML): HTML special characters
    escaped and Markdown punctuation backslash-escaped, so data or settings never become markup,
    links or math."""
    one_line = " ".join(str(text).splitlines())  # a line break could start a heading or a list
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(one_line, quote=True))


def plain_label(text: object) -> str:
    """``text`` as a literal matplotlib label: ``$`` escaped so it is never read as mathtext."""
    return str(text).replace("$", r"\$")


def kpi_label(kpi: str, lang: str = "ja") -> str:
    """The KPI's display name in Japanese (``ja``), English (``en``) or both (``both``)."""
    en, ja = lookup(kpi).en, lookup(kpi).ja
    return {"ja": ja, "en": en}.get(lang, f"{ja} / {en}")


def kpi_table(tidy: pd.DataFrame, currency: str = "JPY", lang: str = "both", total: str = "all") -> pd.DataFrame:
    """Wide, formatted view of a tidy KPI frame: one row per KPI (labels in ``lang``), one column
    per segment (``by=segment``; the total column is called ``total``)."""
    frame = tidy.copy()
    units = {k: lookup(k).unit for k in frame["kpi"].unique()}
    frame["text"] = [format_value(v, units[k], currency) for k, v in zip(frame["kpi"], frame["value"], strict=True)]
    frame["column"] = [total if b == "all" else f"{b}={s}" for b, s in zip(frame["segment_by"], frame["segment"], strict=True)]
    wide = frame.pivot_table(index="kpi", columns="column", values="text", aggfunc="first", sort=False)
    members = [k for k in dict.fromkeys(frame["kpi"]) if k not in KPIS]  # family members, in data order
    wide = wide.reindex(index=[k for k in KPIS if k in wide.index] + members,
                        columns=list(dict.fromkeys(frame["column"])))
    wide.index = [kpi_label(k, lang) for k in wide.index]
    wide.index.name = "KPI"
    wide.columns.name = None
    return wide
