"""The simulated demo company: its tables (:mod:`.simulator`) and raw product events
(:mod:`.events`), written by :func:`write_demo`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from cs_analysis.data.billing import contracts_from_subscriptions
from cs_analysis.data.demo.events import write_events
from cs_analysis.data.demo.simulator import DemoSpec, generate_demo, simulate
from cs_analysis.data.io import DATASET_FILE, write_frame, write_text
from cs_analysis.errors import ConfigError

__all__ = ["DemoSpec", "generate_demo", "write_demo"]
CONTACT_HORIZON_MONTHS = 3  # the horizon of _truth/contact_effect.json (the setting horizon_months' default)


def write_demo(out: str | Path, spec: DemoSpec, fmt: str = "csv", events: bool = False,
               mrr_as: str = "subscriptions") -> dict[str, int]:
    """Write the demo dataset to ``out`` (``fmt``: csv or parquet); returns rows per table. With
    ``events``, also the raw product events behind the usage table, as Parquet partitioned by
    month in ``out/events/`` (see :mod:`cs_analysis.data.demo.events`). ``mrr_as="contracts"``
    writes its MRR as contracts (one per run of months at the same price and licenses, the last
    ones open-ended) with a dataset.yaml giving the as-of date: the same KPIs as the monthly form."""
    out = Path(out)
    sim = simulate(spec)
    tables = sim.tables()
    hazard = tables.pop("hazard")
    if mrr_as == "contracts":
        subs = tables.pop("subscriptions")
        subs = subs.assign(month=pd.to_datetime(subs["month"]))
        last = pd.Period(str(spec.end_month()), "M")
        tables = {"accounts": tables.pop("accounts"), "contracts": contracts_from_subscriptions(subs, last), **tables}
        write_text(f"# the demo company's as-of date: subscriptions are derived from contracts through it\n"
                   f"as_of: {last.end_time:%Y-%m-%d}\n", out / DATASET_FILE)
    elif mrr_as != "subscriptions":
        raise ConfigError(f"the demo's MRR is written as subscriptions or contracts, not {mrr_as!r}")
    for name, frame in tables.items():
        write_frame(frame, out / f"{name}.{fmt}")
    write_frame(hazard, out / "_truth" / "hazard.csv")
    write_text(json.dumps(sim.contact_effect(CONTACT_HORIZON_MONTHS), indent=1) + "\n",
               out / "_truth" / "contact_effect.json")
    counts = {name: len(frame) for name, frame in tables.items()}
    if events:
        counts["events"] = write_events(tables["usage"], out / "events", spec.seed)
    return counts
