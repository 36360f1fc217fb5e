"""The raw data contract (docs/data-contract.md) as data: entities, columns, types, rules."""

from __future__ import annotations

from dataclasses import dataclass

# Column kinds the loader knows how to parse and check.
STRING, INT, DECIMAL, BOOL, DATE, TIMESTAMP, ENUM, CURRENCY = (
    "string",
    "int",
    "decimal",
    "bool",
    "date",
    "timestamp",
    "enum",
    "currency",
)

# Accepted spellings of booleans (compared lower-cased).
TRUE_WORDS = ("true", "t", "1", "yes", "y")
FALSE_WORDS = ("false", "f", "0", "no", "n")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = STRING
    required: bool = False
    values: tuple[str, ...] = ()  # accepted values of an enum
    upper: bool = False  # enums compared upper-cased (gender F/M/U) instead of lower-cased
    min: float | None = None  # smallest accepted value, inclusive
    max: float | None = None  # largest accepted value, inclusive
    any_past: bool = False  # a date that may lie before earliest_plausible_date (birth dates)
    scale: int = 4  # decimals: digits kept after the point; a value with more is quarantined
    below_min_hint: str = ""  # said after the reason when a value is below min


@dataclass(frozen=True)
class RowRule:
    """A rule across columns: rows where `bad_when` (SQL on typed columns) holds are quarantined."""

    bad_when: str
    reason: str
    at_least: tuple[str, str] | None = None  # the same rule as (a, b): a >= b, for the checks


@dataclass(frozen=True)
class Entity:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # one row per key within a delivered file
    rules: tuple[RowRule, ...] = ()
    optional: bool = False  # a shop may deliver no files for it at all
    # opt-in columns whose readable values are kept from quarantined rows, so that an
    # opt-out is never lost with a row quarantined for another reason (raw.quarantined_consent)
    consent: tuple[str, ...] = ()
    amount: str | None = None  # the money column (with a currency column): for reconciliation

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


# the words that end the reason of a negative order total: such a row is a credit note or a
# return in the wrong place, not a broken row (the blocking quarantine share leaves it out)
CREDIT_NOTE_HINT = (
    "a credit note or return: deliver it as a row of landing/returns/ "
    "(see 'returns' in docs/data-contract.md)"
)

ORDER_STATUSES = (
    "created",
    "paid",
    "shipped",
    "completed",
    "cancelled",
    "refunded",
    "partially_refunded",
)
ORDER_CHANNELS = ("web", "app", "mini_program", "store", "marketplace")
PROMOTION_TYPES = ("none", "coupon", "flash_sale", "group_buy")
EVENT_TYPES = (
    "page_view",
    "product_view",
    "search",
    "favorite",
    "add_to_cart",
    "remove_from_cart",
    "inquiry",
    "checkout_start",
    "login",
    "signup",
    "review",
    "other",  # an event the pipeline has no type for (an event stream's unmapped names)
)

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity(
            "customers",
            "Customer profile snapshots; the newest updated_at per customer wins, history is kept.",
            (
                Column("customer_id", required=True),
                Column("email"),
                Column("phone"),
                Column("gender", ENUM, values=("F", "M", "U"), upper=True),
                Column("birth_date", DATE, any_past=True),
                Column("country"),
                Column("province"),
                Column("city"),
                Column("city_tier", INT, min=1, max=5),
                Column("registered_at", TIMESTAMP, required=True),
                Column("acquisition_channel"),
                Column("email_opt_in", BOOL),
                Column("sms_opt_in", BOOL),
                Column("push_opt_in", BOOL),
                Column("updated_at", TIMESTAMP, required=True),
            ),
            key=("customer_id", "updated_at"),
            consent=("email_opt_in", "sms_opt_in", "push_opt_in"),
        ),
        Entity(
            "orders",
            "One row per order version; the newest updated_at per order wins.",
            (
                Column("order_id", required=True),
                Column("customer_id"),
                Column("email"),  # the buyer's, as given at checkout (guests too)
                Column("phone"),
                Column("status", ENUM, required=True, values=ORDER_STATUSES),
                Column("created_at", TIMESTAMP, required=True),
                Column("paid_at", TIMESTAMP),
                Column("currency", CURRENCY, required=True),
                Column(
                    "order_total", DECIMAL, required=True, min=0, below_min_hint=CREDIT_NOTE_HINT
                ),
                Column("discount_total", DECIMAL, min=0),
                Column("shipping_total", DECIMAL, min=0),
                Column("refund_total", DECIMAL, min=0),
                Column("channel", ENUM, values=ORDER_CHANNELS),
                Column("promotion_type", ENUM, values=PROMOTION_TYPES),
                Column("updated_at", TIMESTAMP, required=True),
            ),
            key=("order_id", "updated_at"),
            amount="order_total",
            rules=(
                RowRule(  # a negative total has its own reason
                    "refund_total > order_total and order_total >= 0",
                    "refund_total above order_total",
                    at_least=("order_total", "refund_total"),
                ),
            ),
        ),
        Entity(
            "order_items",
            "Order lines, keyed by order_id and line_number.",
            (
                Column("order_id", required=True),
                Column("line_number", INT, required=True, min=1),
                Column("sku", required=True),
                Column("category", required=True),
                Column("product_name"),
                Column("quantity", INT, required=True, min=1),
                Column("unit_price", DECIMAL, required=True, min=0),
                Column("line_total", DECIMAL, required=True, min=0),
            ),
            key=("order_id", "line_number"),
        ),
        Entity(
            "sessions",
            "Web and app visits.",
            (
                Column("session_id", required=True),
                Column("anonymous_id", required=True),
                Column("customer_id"),
                Column("started_at", TIMESTAMP, required=True),
                Column("ended_at", TIMESTAMP),
                Column("channel"),
                Column("utm_source"),
                Column("utm_medium"),
                Column("utm_campaign"),
                Column("device_type"),
                Column("landing_page"),
            ),
            key=("session_id",),
        ),
        Entity(
            "events",
            "What happened inside sessions.",
            (
                Column("event_id", required=True),
                Column("session_id", required=True),
                Column("anonymous_id", required=True),
                Column("customer_id"),
                Column("event_type", ENUM, required=True, values=EVENT_TYPES),
                Column("occurred_at", TIMESTAMP, required=True),
                Column("sku"),
                Column("category"),
                Column("search_query"),
                Column("order_id"),
            ),
            key=("event_id",),
        ),
        Entity(
            "marketing_spend",
            "Marketing spend per acquisition channel and day, for CAC and LTV/CAC.",
            (
                Column("date", DATE, required=True),
                Column("channel", required=True),
                Column("spend", DECIMAL, required=True, min=0),
                Column("currency", CURRENCY, required=True),
            ),
            key=("date", "channel"),
            amount="spend",
            optional=True,
        ),
        Entity(
            "returns",
            "Returns, cancellations after payment and credit notes: money given back, on the "
            "day it was given back; the newest delivery of a return_id wins.",
            (
                Column("return_id", required=True),
                Column("order_id"),  # the order returned, when known
                Column("customer_id"),  # when known; the order's customer comes first
                Column("returned_at", TIMESTAMP, required=True),
                Column("amount", DECIMAL, required=True, min=0),
                Column("currency", CURRENCY, required=True),
                Column("reason"),
            ),
            key=("return_id",),
            amount="amount",
            optional=True,
        ),
        Entity(
            "exchange_rates",
            "Daily exchange rates: one unit of currency is worth rate units of the reporting "
            "currency on that day (store time).",
            (
                Column("date", DATE, required=True),
                Column("currency", CURRENCY, required=True),
                Column("rate", DECIMAL, required=True, min=0, scale=10),
            ),
            key=("date", "currency"),
            rules=(RowRule("rate = 0", "rate is 0"),),
            optional=True,
        ),
    )
}
