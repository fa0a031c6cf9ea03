"""Matplotlib figures for the reports, one function per chart; Japanese text renders (IPAexGothic
from matplotlib-fontja). Each function returns a Figure and never shows or saves it. Figures are
made with matplotlib's object API, not pyplot: no global figure list, no backend to choose."""

from __future__ import annotations

import matplotlib
import matplotlib.collections
import matplotlib.patches
import matplotlib_fontja  # noqa: F401  (registers the Japanese font)
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cs_analysis.report.formatting import plain_label, signed

matplotlib.rcParams.update({"figure.dpi": 110, "axes.spines.top": False, "axes.spines.right": False,
                     "font.family": "IPAexGothic"})
LEVEL_COLORS = {4: "#2e7d32", 3: "#8bc34a", 2: "#ffb300", 1: "#d32f2f"}


MOVEMENT_COLORS = {"total": "#546e7a", "up": "#2e7d32", "down": "#d32f2f"}


def mrr_waterfall(steps: list[tuple[str, float]], title: str) -> Figure:
    """Bridge from MRR at start to MRR at end: first and last steps are totals, the rest signed
    movements (positive up, negative down) floating from the running total. The axis starts just
    below the lowest level reached (totals are cut there, the cut marked), so the movements are
    readable; each bar is labelled with its amount."""
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    levels, running = [], 0.0
    for i, (_, value) in enumerate(steps):
        total = i in (0, len(steps) - 1)
        running = value if total else running + value
        levels.append(running)
    low, high = min(levels), max(levels)
    moves = max([abs(v) for i, (_, v) in enumerate(steps) if 0 < i < len(steps) - 1] + [0.0])
    floor = max(0.0, low - max(3 * moves, 0.02 * high))
    running = 0.0
    for i, (label, value) in enumerate(steps):
        total = i in (0, len(steps) - 1)
        if total:
            bottom, height, color = floor, value - floor, MOVEMENT_COLORS["total"]
        else:
            bottom, height = (running, value) if value >= 0 else (running + value, -value)
            color = MOVEMENT_COLORS["up" if value >= 0 else "down"]
        ax.bar(plain_label(label), height, bottom=bottom, color=color)
        sign = "" if total else ("+" if value >= 0 else "\u2212")
        ax.annotate(f"{sign}{abs(value) / 1e6:,.2f}M", (i, bottom + height), ha="center", va="bottom", fontsize=8,
                    xytext=(0, 2), textcoords="offset points")
        running = value if total else running + value
    ax.set_ylim(floor, high + max(moves, 0.01 * high) * 1.2)
    if floor > 0:  # the axis does not start at zero: say so where the totals are cut
        ax.spines["bottom"].set_linestyle((0, (4, 2)))
    ax.set_title(plain_label(title))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1e6:,.1f}M"))
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return fig


def trend_lines(trend: pd.DataFrame, kpis: dict[str, str], title: str, percent: bool = True) -> Figure:
    """Monthly lines of some KPIs (``kpis``: name → legend label) from a tidy trend frame."""
    fig = Figure(figsize=(8, 3.5))
    ax = fig.subplots()
    for kpi, label in kpis.items():
        rows = trend[(trend["kpi"] == kpi) & (trend["segment_by"] == "all")]
        ax.plot(rows["month"], pd.to_numeric(rows["value"], errors="coerce"), marker="o", ms=3,
                label=plain_label(label))
    if percent:
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.1f}%"))
    ax.set_title(plain_label(title))
    ax.legend(frameon=False)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def level_mix(counts: pd.DataFrame, labels: dict[int, str], title: str) -> Figure:
    """Stacked horizontal bars: accounts per health level (columns 4..1) for each row."""
    fig = Figure(figsize=(8, 0.6 * len(counts) + 1.5))
    ax = fig.subplots()
    left = np.zeros(len(counts))
    for level in (4, 3, 2, 1):
        values = counts.get(level, pd.Series(0, index=counts.index)).to_numpy(dtype=float)
        ax.barh([plain_label(i) for i in counts.index], values, left=left, color=LEVEL_COLORS[level],
                label=plain_label(labels[level]))
        left += values
    ax.set_title(plain_label(title))
    ax.legend(ncol=4, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.15))
    fig.tight_layout()
    return fig


def churn_by_level(by_level: pd.DataFrame, labels: dict[int, str], title: str) -> Figure:
    """Churn rate in the following months by health level (the score's back-test)."""
    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    ax.bar([plain_label(labels[x]) for x in by_level["level"]], by_level["churn_rate"],
           color=[LEVEL_COLORS[x] for x in by_level["level"]])
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.1f}%"))
    ax.set_title(plain_label(title))
    fig.tight_layout()
    return fig


def calibration(table: pd.DataFrame, title: str, predicted: str = "predicted", observed: str = "observed") -> Figure:
    """Observed churn against predicted probability (the diagonal is perfect calibration)."""
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    top = float(max(table["predicted"].max(), table["observed"].max())) * 1.05
    ax.plot([0, top], [0, top], color="#9e9e9e", lw=1)
    ax.plot(table["predicted"], table["observed"], marker="o")
    ax.set_xlabel(plain_label(predicted))
    ax.set_ylabel(plain_label(observed))
    percent = matplotlib.ticker.PercentFormatter(1.0, decimals=0)
    ax.xaxis.set_major_formatter(percent)
    ax.yaxis.set_major_formatter(percent)
    ax.set_title(plain_label(title))
    fig.tight_layout()
    return fig


def bars(values: pd.Series, title: str, money: bool = True) -> Figure:
    """Horizontal bars of a labelled series, largest on top."""
    values = values.sort_values()
    fig = Figure(figsize=(7, 0.35 * len(values) + 1.2))
    ax = fig.subplots()
    ax.barh([plain_label(i) for i in values.index], values.to_numpy(dtype=float), color="#1565c0")
    if money:
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"¥{v / 1e6:,.1f}M"))
    ax.set_title(plain_label(title))
    fig.tight_layout()
    return fig


def _runs(mask: np.ndarray) -> list[tuple[int, int, int]]:
    """The runs of True in each row of a 2-D mask: (row, first column, column after the last)."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    starts, ends = np.argwhere(edges == 1), np.argwhere(edges == -1)  # both in row-major order
    return [(int(r), int(c0), int(c1)) for (r, c0), (_, c1) in zip(starts, ends, strict=True)]


def cohort_heatmap(matrix: pd.DataFrame, sizes: pd.Series, small: pd.DataFrame, title: str, age_label: str,
                   size_label: str, small_label: str = "few accounts") -> Figure:
    """Cohorts (rows, with their sizes on the axis) × ages (columns): retention in % on a colour
    scale, the value in each cell; cells over too few accounts (``small``: True) are hatched, and
    a legend says what the hatching means (``small_label``)."""
    values = matrix.to_numpy(dtype=float)
    n_rows, n_cols = values.shape
    fig = Figure(figsize=(min(16, 2.5 + 0.42 * n_cols), 1.4 + 0.32 * n_rows))
    ax = fig.subplots()
    top = max(100.0, float(np.nanmax(values))) if np.isfinite(values).any() else 100.0
    image = ax.imshow(np.ma.masked_invalid(values), cmap="YlGnBu", vmin=0, vmax=top, aspect="auto")
    for (r, c), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(c, r, f"{v:.0f}", ha="center", va="center", fontsize=7, in_layout=False,  # inside the axes
                    color="white" if v > 0.6 * top else "#212121")
    runs = _runs(np.isfinite(values) & small.to_numpy(dtype=bool))
    if runs:  # one rectangle per run of hatched cells in a row (a cohort's size is the same at every age)
        ax.add_collection(matplotlib.collections.PatchCollection(
            [matplotlib.patches.Rectangle((c0 - 0.5, r - 0.5), c1 - c0, 1) for r, c0, c1 in runs],
            facecolor="none", edgecolor="#9e9e9e", hatch="///", linewidth=0))
    ax.set_xticks(range(n_cols), [str(a) for a in matrix.columns], fontsize=7)
    ax.set_yticks(range(n_rows), [f"{plain_label(c)}  ({int(sizes.get(c, 0)):,})" for c in matrix.index], fontsize=7)
    ax.set_xlabel(plain_label(age_label))
    ax.set_ylabel(plain_label(size_label))
    ax.spines[["left", "bottom"]].set_visible(False)
    if small.to_numpy().any():
        hatched = matplotlib.patches.Patch(facecolor="white", edgecolor="#9e9e9e", hatch="///",
                                           label=plain_label(small_label))
        ax.legend(handles=[hatched], loc="lower right", fontsize=8, frameon=False)  # the empty corner
    fig.colorbar(image, ax=ax, format=matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.0f}%"), shrink=0.8)
    ax.set_title(plain_label(title))
    fig.tight_layout()
    return fig


def forecast(history: pd.DataFrame, ahead: pd.DataFrame, title: str, labels: dict[str, str]) -> Figure:
    """Monthly MRR so far (``history``: month, value) and the forecast ahead (month, low, base,
    high, cmrr) with its band."""
    fig = Figure(figsize=(8, 3.5))
    ax = fig.subplots()
    past = history.tail(24)
    ax.plot(past["month"], pd.to_numeric(past["value"], errors="coerce"), color="#546e7a", marker="o", ms=3,
            label=plain_label(labels["actual"]))
    months = pd.PeriodIndex(ahead["month"], freq="M").to_timestamp()
    if len(past):
        start = past.iloc[[-1]]
        months_line = pd.DatetimeIndex([start["month"].iloc[0], *months])
        joined = lambda col: [float(pd.to_numeric(start["value"]).iloc[0]), *ahead[col].to_numpy(float)]  # noqa: E731
    else:
        months_line, joined = pd.DatetimeIndex(months), (lambda col: list(ahead[col].to_numpy(float)))  # noqa: E731
    ax.fill_between(months_line, joined("low"), joined("high"), color="#90caf9", alpha=0.5,
                    label=plain_label(labels["band"]))
    ax.plot(months_line, joined("base"), color="#1565c0", marker="o", ms=3, label=plain_label(labels["forecast_base"]))
    ax.plot(months_line, joined("cmrr"), color="#1565c0", ls="--", lw=1, label=plain_label(labels["cmrr"]))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1e6:,.1f}M"))
    ax.set_title(plain_label(title))
    ax.legend(frameon=False, fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def effect_intervals(table: pd.DataFrame, title: str, zero_label: str) -> Figure:
    """Estimated effects (``effect``, in percentage points) with their 95 % intervals (``low``,
    ``high``), one row per ``label``, against a line at no effect."""
    fig = Figure(figsize=(7, 0.5 * len(table) + 1.4))
    ax = fig.subplots()
    rows = np.arange(len(table))[::-1]
    effect = table["effect"].to_numpy(dtype=float)
    err = np.vstack([effect - table["low"].to_numpy(dtype=float), table["high"].to_numpy(dtype=float) - effect])
    colors = [MOVEMENT_COLORS["up"] if h < 0 else MOVEMENT_COLORS["down"] if lo > 0 else MOVEMENT_COLORS["total"]
              for lo, h in zip(table["low"], table["high"], strict=True)]
    for k, color in enumerate(colors):  # one interval per segment (a handful), each in its colour
        ax.errorbar(effect[k], rows[k], xerr=err[:, [k]], fmt="o", color=color, ecolor=color, elinewidth=2, capsize=4)
    ax.axvline(0, color="#9e9e9e", lw=1, ls="--", label=plain_label(zero_label))
    ax.set_yticks(rows, [plain_label(x) for x in table["label"]])
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: signed(v, "points")))
    ax.legend(loc="best", fontsize=8, frameon=False)
    ax.set_title(plain_label(title))
    fig.tight_layout()
    return fig
