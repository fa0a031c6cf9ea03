"""The simulated demo company: its tables (:mod:`.simulator`) and raw product events
(:mod:`.events`), written by :func:`write_demo`."""

from __future__ import annotations

from pathlib import Path

from cs_analysis.data.demo.events import write_events
from cs_analysis.data.demo.simulator import DemoSpec, generate_demo
from cs_analysis.data.io import write_frame

__all__ = ["DemoSpec", "generate_demo", "write_demo"]


def write_demo(out: str | Path, spec: DemoSpec, fmt: str = "csv", events: bool = False) -> dict[str, int]:
    """Write the demo dataset to ``out`` (``fmt``: csv or parquet); returns rows per table. With
    ``events``, also the raw product events behind the usage table, as Parquet partitioned by
    month in ``out/events/`` (see :mod:`cs_analysis.data.demo.events`)."""
    out = Path(out)
    tables = generate_demo(spec)
    hazard = tables.pop("hazard")
    for name, frame in tables.items():
        write_frame(frame, out / f"{name}.{fmt}")
    write_frame(hazard, out / "_truth" / "hazard.csv")
    counts = {name: len(frame) for name, frame in tables.items()}
    if events:
        counts["events"] = write_events(tables["usage"], out / "events", spec.seed)
    return counts
