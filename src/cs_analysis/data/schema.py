"""The data contract (docs/data-contract.md), declared once: tables, columns, types, keys and checks.

Everything that loads data validates against these declarations (see :mod:`validation`);
docs/data-contract.md is the human-readable form of the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["id", "str", "int", "float", "money", "date", "month", "bool"]

# how a bool cell may be written (compared case-insensitively, spaces trimmed)
BOOL_TRUE = ("true", "yes", "1", "y", "t")
BOOL_FALSE = ("false", "no", "0", "n", "f")


@dataclass(frozen=True)
class Column:
    """One column of a table.

    kind: ``id`` (text key), ``str``, ``int`` (integral number), ``float``, ``money`` (a number
    that may also be written ``¥1,200`` / ``1,200`` in text files), ``date`` (ISO date or
    date-time; ``2025/4/1`` and ``2025年4月1日`` accepted), ``month`` (a date on the first day
    of a month), ``bool`` (true/false, yes/no, 1/0 in any case).
    """

    name: str
    kind: Kind
    required: bool = True  # the column must be present in the file
    nullable: bool = False  # empty cells allowed
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None
    doc: str = ""
    planned: bool = False  # a date that may lie further ahead (a due date), see DateLimits


@dataclass(frozen=True)
class Table:
    """One input table: its columns, primary key and within-row date order checks."""

    name: str
    columns: tuple[Column, ...]
    required: bool = False
    key: tuple[str, ...] = ()
    ordered: tuple[tuple[str, str], ...] = ()  # (earlier, later): later >= earlier when both set
    doc: str = ""

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _account() -> Column:
    return Column("account_id", "id", doc="references accounts.account_id")


TOUCH_CHANNELS = ("call", "meeting", "email", "webinar", "chat", "visit", "event", "other")
TOUCH_KINDS = ("proactive", "reactive", "referral")
TICKET_SEVERITIES = ("low", "medium", "high", "critical")
LINE_KINDS = ("recurring", "one_time", "refund")
MRR_SOURCES = ("subscriptions", "contracts", "invoice_lines")  # a dataset gives exactly one

TABLES: tuple[Table, ...] = (
    Table(
        "accounts",
        (
            Column("account_id", "id", doc="unique customer id"),
            Column("name", "str", required=False, nullable=True, doc="default: the account_id"),
            Column("employees", "int", required=False, min=0,
                   doc="without it the size segment is unavailable"),
            Column("industry", "str", required=False, nullable=True),
            Column("signup_date", "date", required=False, nullable=True,
                   doc="default: the first day of service"),
            Column("csm_owner", "str", required=False, nullable=True, doc="empty = unassigned"),
            Column("target_health_level", "int", required=False, nullable=True, min=1, max=4),
        ),
        required=True,
        key=("account_id",),
        doc="one row per customer company; other columns are kept and usable as segments",
    ),
    Table(
        "subscriptions",
        (
            _account(),
            Column("month", "month"),
            Column("product", "str"),
            Column("licenses", "int", min=0, doc="seats / IDs billed"),
            Column("mrr", "money", min=0),
        ),
        key=("account_id", "month", "product"),
        doc="one row per account x product x month billed (or give contracts or invoice_lines)",
    ),
    Table(
        "contracts",
        (
            _account(),
            Column("product", "str"),
            Column("start_date", "date", planned=True, doc="first day of service"),
            Column("end_date", "date", nullable=True, planned=True,
                   doc="last day of service, inclusive; empty = open-ended"),
            Column("licenses", "int", required=False, nullable=True, min=0),
            Column("mrr", "money", required=False, nullable=True, min=0),
            Column("arr", "money", required=False, nullable=True, min=0),
            Column("amount", "money", required=False, nullable=True, min=0, doc="per billing period"),
            Column("billing_period_months", "int", required=False, nullable=True, min=1),
            Column("trial", "bool", required=False, nullable=True, doc="a trial contributes no MRR"),
            Column("auto_renew", "bool", required=False, nullable=True),
            Column("canceled_at", "date", required=False, nullable=True, planned=True,
                   doc="date notice was given; service runs to end_date"),
            Column("currency", "str", required=False, nullable=True, doc="ISO code; default the settings'"),
            Column("contract_id", "id", required=False, nullable=True),
        ),
        key=("contract_id",),
        ordered=(("start_date", "end_date"),),
        doc="one contract (service interval) of an account x product: an MRR source",
    ),
    Table(
        "invoice_lines",
        (
            _account(),
            Column("product", "str"),
            Column("period_start", "date", planned=True),
            Column("period_end", "date", planned=True, doc="last day of the service period, inclusive"),
            Column("amount", "money", doc="net of discounts, without tax"),
            Column("licenses", "int", required=False, nullable=True, min=0),
            Column("kind", "str", required=False, nullable=True, allowed=LINE_KINDS),
            Column("currency", "str", required=False, nullable=True),
        ),
        ordered=(("period_start", "period_end"),),
        doc="one invoice line with its service period: an MRR source",
    ),
    Table(
        "fx_rates",
        (
            Column("currency", "str"),
            Column("month", "month"),
            Column("rate", "float", min=0, doc="one unit of the currency in the settings' currency"),
        ),
        key=("currency", "month"),
        doc="monthly exchange rates for rows in another currency",
    ),
    Table(
        "cancellations",
        (
            _account(),
            Column("date", "date"),
            Column("reason", "str"),
            Column("voluntary", "bool", required=False, nullable=True),
        ),
        doc="one cancellation with its reason",
    ),
    Table(
        "usage",
        (
            _account(),
            Column("month", "month"),
            Column("active_users", "int", min=0),
            Column("logins", "int", required=False, nullable=True, min=0),
            Column("features_used", "int", required=False, nullable=True, min=0),
            Column("calls", "int", required=False, nullable=True, min=0),
        ),
        key=("account_id", "month"),
        doc="account x month product usage",
    ),
    Table(
        "touchpoints",
        (
            _account(),
            Column("date", "date"),
            Column("channel", "str", allowed=TOUCH_CHANNELS),
            Column("kind", "str", required=False, nullable=True, allowed=TOUCH_KINDS),
        ),
        doc="one CS contact",
    ),
    Table(
        "nps_responses",
        (
            _account(),
            Column("contact_id", "id", required=False, nullable=True),
            Column("date", "date"),
            Column("score", "int", min=0, max=10),
        ),
        doc="one NPS survey answer",
    ),
    Table(
        "tickets",
        (
            Column("ticket_id", "id", required=False, nullable=True),
            _account(),
            Column("opened_at", "date"),
            Column("reason", "str"),
            Column("severity", "str", allowed=TICKET_SEVERITIES),
            Column("resolved_at", "date", nullable=True, doc="empty while open"),
        ),
        ordered=(("opened_at", "resolved_at"),),
        doc="one support ticket",
    ),
    Table(
        "champion_changes",
        (_account(), Column("date", "date")),
        doc="one change of the customer's main contact",
    ),
    Table(
        "onboarding",
        (_account(), Column("milestone", "str"), Column("date", "date")),
        key=("account_id", "milestone"),
        doc="one onboarding milestone reached (training_started, operations_learned, ...)",
    ),
    Table(
        "roi",
        (
            _account(),
            Column("date", "date"),
            Column("value", "float"),
            Column("metric", "str", required=False, nullable=True),
        ),
        doc="one ROI measurement (yen saved, hours saved, ...)",
    ),
    Table(
        "success_plans",
        (
            _account(),
            Column("objective", "str"),
            Column("due_date", "date", planned=True),
            Column("completed_date", "date", nullable=True, doc="empty while open"),
        ),
        key=("account_id", "objective"),
        doc="one objective of a customer's success roadmap",
    ),
)

TABLE_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
REQUIRED_TABLES: tuple[str, ...] = tuple(t.name for t in TABLES if t.required)
