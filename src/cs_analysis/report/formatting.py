"""Human formatting of KPI values: ¥ with thousands separators, % with one decimal, ja/en labels."""

from __future__ import annotations

import hashlib
import html
import math
import re

import numpy as np
import pandas as pd

from cs_analysis import i18n
from cs_analysis.core.segments import NONE
from cs_analysis.kpis.cancellations import UNKNOWN as UNKNOWN_REASON
from cs_analysis.kpis.registry import KPIS, lookup, small_base

CURRENCY_SYMBOLS = {"JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£"}


MINUS = i18n.MINUS


def format_value(value: object, unit: str, currency: str = "JPY", lang: str | None = None) -> str:
    """``¥1,234,567`` / ``12.3%`` / ``1,234`` / ``+12.3`` (NPS) / ``95日`` (days, with ``lang``);
    "—" when undefined; negative numbers with the minus sign − (``−¥1,200``, ``−3.5%``).

    >>> format_value(-1200, "money"), format_value(-3.25, "percent"), format_value(None, "count")
    ('−¥1,200', '−3.2%', '—')
    """
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "—"
    x = float(value)  # type: ignore[arg-type]
    if math.isnan(x):
        return "—"
    if unit == "money":
        symbol = CURRENCY_SYMBOLS.get(currency)
        text = f"{abs(x):,.0f}"
        sign = MINUS if round(x) < 0 else ""
        return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"
    if unit == "percent":
        text = f"{x:.1f}%"
    elif unit == "score":
        text = f"{x:+.1f}"
    elif unit == "ratio":
        text = f"{x:.3f}"
    else:
        text = f"{x:,.0f}"
        if unit == "days" and lang is not None:
            text += i18n.pick(i18n.DAYS_UNIT, lang)
    return text.replace("-", MINUS)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~$])")  # inline markup, links, tables, math


def md_escape(text: object) -> str:
    """``text`` safe to place in Markdown (and so in the report's HTML): HTML special characters
    escaped and Markdown punctuation backslash-escaped, so data or settings never become markup,
    links or math."""
    one_line = " ".join(str(text).splitlines())  # a line break could start a heading or a list
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(one_line, quote=True))


def signed(value: object, unit: str, currency: str = "JPY") -> str:
    """A change with its sign (+, or the minus −): ``+1.2pt`` for points, ``−3.4`` for scores,
    ``+¥1,000`` for money; "—" when undefined.

    >>> signed(-1.25, "points"), signed(3000, "money")
    ('−1.2pt', '+¥3,000')
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    x = float(value)  # type: ignore[arg-type]
    if unit == "points":
        return f"{x:+.1f}pt".replace("-", MINUS)
    if unit == "score":
        return f"{x:+.1f}".replace("-", MINUS)
    return ("+" if x >= 0 else MINUS) + format_value(abs(x), unit, currency)


def plain_label(text: object) -> str:
    """``text`` as a literal matplotlib label: ``$`` escaped so it is never read as mathtext."""
    return str(text).replace("$", r"\$")


def reason_name(reason: str, lang: str) -> str:
    """A churn reason as a report names it: the data's own text, or, for churn without a recorded
    reason (kpis.cancellations.UNKNOWN), "(no reason recorded)" / （理由の記録なし）."""
    return i18n.pick(i18n.NO_REASON, lang) if reason == UNKNOWN_REASON else reason


def kpi_label(kpi: str, lang: str = "ja") -> str:
    """The KPI's display name in Japanese (``ja``), English (``en``) or both (``both``); a family
    member for churn without a recorded reason reads as such in each language.

    >>> kpi_label("churned_mrr_by_reason:(unknown)", "en")
    'Churned MRR: (no reason recorded)'
    """
    family, sep, member = kpi.partition(":")
    if sep and member == UNKNOWN_REASON:
        en = lookup(f"{family}:{reason_name(member, 'en')}").en
        ja = lookup(f"{family}:{reason_name(member, 'ja').strip('（）')}").ja  # 解約MRR（理由の記録なし）
    else:
        en, ja = lookup(kpi).en, lookup(kpi).ja
    return {"ja": ja, "en": en}.get(lang, f"{ja} / {en}")


SMALL_BASE_MARK = " *"


def segment_name(by: str, segment: object = None, lang: str = "en") -> str:
    """A segmentation, or one of its segments, as a report names it: ``企業規模 = SMB``,
    ``タッチ区分 = ハイタッチ``; a column of the company's own data keeps its name and values.

    >>> segment_name("touch_tier", "high", "ja")
    'タッチ区分 = ハイタッチ'
    """
    name = i18n.pick(i18n.SEGMENTATIONS[by], lang) if by in i18n.SEGMENTATIONS else str(by)
    return name if segment is None else f"{name} = {segment_value(by, segment, lang)}"


def segment_value(by: str, segment: object, lang: str) -> str:
    """One segment's name alone (``ハイタッチ``; ``（なし）`` for no value; others as they are)."""
    values = i18n.SEGMENT_VALUES.get(by, {})
    if segment in values:
        return i18n.pick(values[segment], lang)  # type: ignore[index]
    return i18n.pick(i18n.NO_SEGMENT, lang) if segment == NONE else str(segment)


def kpi_table(tidy: pd.DataFrame, currency: str = "JPY", lang: str = "both", total: str = "all",
              small_base_accounts: int = 0) -> pd.DataFrame:
    """Wide, formatted view of a tidy KPI frame: one row per KPI (labels in ``lang``), one column
    per segment (``by=segment`` with ``lang="both"``, else :func:`segment_name`; the total column
    is called ``total``). A rate computed on fewer than ``small_base_accounts`` accounts ends in
    " *" (small base; kpis.registry.BASE_OF)."""
    frame = tidy.copy()
    units = {k: lookup(k).unit for k in frame["kpi"].unique()}
    unit_lang = None if lang == "both" else lang
    frame["text"] = [format_value(v, units[k], currency, unit_lang)
                     for k, v in zip(frame["kpi"], frame["value"], strict=True)]
    if small_base_accounts and len(frame):
        mark = np.asarray(small_base(frame, small_base_accounts)) & frame["value"].notna().to_numpy()
        frame.loc[mark, "text"] = frame.loc[mark, "text"] + SMALL_BASE_MARK
    name = (lambda b, s: f"{b}={s}") if lang == "both" else (lambda b, s: segment_name(b, s, lang))
    frame["column"] = [total if b == "all" else name(b, s) for b, s in zip(frame["segment_by"], frame["segment"], strict=True)]
    wide = frame.pivot_table(index="kpi", columns="column", values="text", aggfunc="first", sort=False)
    members = [k for k in dict.fromkeys(frame["kpi"]) if k not in KPIS]  # family members, in data order
    wide = wide.reindex(index=[k for k in KPIS if k in wide.index] + members,
                        columns=list(dict.fromkeys(frame["column"])))
    # a family has rows only where its value is not zero (docs/kpis.md): its gaps are 0
    zeros = pd.Series({k: format_value(0.0, units[k], currency, unit_lang) for k in members}, dtype=object)
    wide = wide.apply(lambda column: column.fillna(zeros))
    wide.index = [kpi_label(k, lang) for k in wide.index]
    wide.index.name = "KPI"
    wide.columns.name = None
    return wide


def present(frame: pd.DataFrame, spec: dict[str, str], lang: str, currency: str = "JPY"):
    """``frame`` as people read it: only the columns of ``spec`` (column → unit: money, percent,
    prob (0–1 shown as %), count, days, date, level, segment (a segment of the column's
    segmentation, :func:`segment_value`), model (a churn-model name), ratio, score or text), each formatted by its
    unit, headers from :data:`cs_analysis.i18n.COLUMNS` in ``lang``, no index column. Returns a
    pandas Styler (what a notebook shows); text from the data is HTML-escaped."""
    levels = {k: f"{k} {i18n.pick(v, lang)}" for k, v in i18n.LEVELS.items()}

    def cell(value: object, unit: str, col: str) -> str:
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return "—"
        if unit in ("money", "percent", "count", "score", "ratio"):
            return format_value(value, unit, currency)
        if unit == "prob":
            return format_value(float(value) * 100, "percent")  # type: ignore[arg-type]
        if unit == "days":
            return format_value(value, "days", lang=lang)
        if unit == "date":
            return "—" if pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d}"  # type: ignore[arg-type]
        if unit == "level":
            return levels.get(int(value), str(value))  # type: ignore[call-overload]
        if unit == "segment":
            return segment_value(col, value, lang)
        if unit == "model":
            return i18n.pick(i18n.MODELS[value], lang) if value in i18n.MODELS else str(value)
        return str(value)

    out = pd.DataFrame({
        i18n.pick(i18n.COLUMNS.get(col, (col, col)), lang): [cell(v, unit, col) for v in frame[col]]
        for col, unit in spec.items() if col in frame.columns
    })
    return Table(out)


# a formatted number as a cell shows it: sign, currency, digits, unit, small-base mark; or a dash
NUMBER_CELL = r"[−+-]?[¥$€£]?[\d,.]+(%|pt| ?days?|日|x)?( \*)?|—|"


SHORT_CELL = 12  # characters: a column of cells no longer than this is not wrapped


class Table:
    """A formatted table as a report shows it: HTML without the index column, every cell and
    header HTML-escaped, an optional caption; plain text without the index for consoles. The
    HTML's ids derive from the content, so the same data gives the same report."""

    def __init__(self, frame: pd.DataFrame, caption: str | None = None):
        self.frame, self.caption = frame, caption

    def _repr_html_(self) -> str:
        digest = hashlib.sha256(pd.util.hash_pandas_object(self.frame.astype(str), index=False).to_numpy().tobytes()
                                + str(list(self.frame.columns)).encode() + str(self.caption).encode()).hexdigest()
        styler = (self.frame.style.hide(axis="index").format(escape="html").format_index(escape="html", axis=1)
                  .set_uuid(digest[:10]))
        text = [c for c in self.frame.columns if not self.frame[c].astype(str).str.fullmatch(NUMBER_CELL).all()]
        short = [c for c in self.frame.columns if self.frame[c].astype(str).str.len().max() <= SHORT_CELL]
        styles: dict[object, list[dict[str, str]]] = {}
        for c in self.frame.columns:  # numbers stay right-aligned (the notebook's style); words read from the left
            props = ["text-align: left"] if c in text else []
            props += ["white-space: nowrap"] if c in short else []  # "ハイタッチ" is not broken over two lines
            if props:
                styles[c] = [{"selector": s, "props": "; ".join(props)} for s in ("td", "th")]
        if styles:
            styler = styler.set_table_styles(styles, overwrite=False)
        if self.caption:
            styler = styler.set_caption(html.escape(self.caption))
        return styler.to_html()

    def __repr__(self) -> str:
        text = self.frame.to_string(index=False)
        return f"{self.caption}\n{text}" if self.caption else text

    def __len__(self) -> int:
        return len(self.frame)
