"""The rule-file language: what analysts may write in ``rules/*.yaml``.

Every file may hold any of four sections; a rule set is all files of a
directory merged::

    ruleset:            # once per rule set: version and score thresholds
      version: "2026.11.1"
      thresholds: {review: 40, hold: 70, freeze: 150}
    sales:              # flash-sale campaigns
      - {id: S1111, skus: [FS-PHONE-01], start: ..., end: ..., per_person_limit: 1}
    lists:              # block and allow lists
      - {id: blocked-devices, entity: device, entries: [...]}
    graph:              # once per rule set: how accounts are linked into clusters
      links: [ip, device, phone, payment, address]
      hub_accounts: 50
    rules:
      - id: account-daily-orders
        velocity: {key: [account], metric: count, window: 24h}
        above: 5
        outcome: hold

A rule is one of four kinds, chosen by the block it carries:

* ``velocity`` - a count, sum or distinct count per key over an exact sliding
  window (or the whole sale); hits when the value is ``above`` the threshold.
* ``purchase_limit`` - units of a flash-sale SKU bought per person in a sale,
  against the sale's ``per_person_limit``.
* ``list`` - an entity of the order is on a named list.
* ``cluster`` - conditions on the order's cluster of linked accounts (its
  size, its share of new accounts, the flash units and orders it bought in
  the sale); see the ``graph`` section.
* neither - a predicate rule: only its ``match`` conditions.

``match`` conditions may gate any rule, and so may ``cluster`` conditions on
a velocity or purchase-limit rule.  A rule adds ``score`` to the order's
total and may force an ``outcome``; ``mode: shadow`` reports the rule without
letting it change anything.  Nothing here is ever evaluated as code.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from ..decisions import Outcome

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"


def parse_duration(value: Any) -> float:
    """``"10m"`` -> 600.0; plain numbers are seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, 10m, 24h or 7d, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"expected a duration such as 30s, 10m, 24h or 7d, got {value!r}")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0 and (unit != "d" or seconds > 86400):
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[float, BeforeValidator(parse_duration)]


class Entity(str, Enum):
    """What a velocity key or a list can be made of."""

    ACCOUNT = "account"
    PERSON = "person"  # the account, or its cluster of linked accounts once clustering runs
    IP = "ip"
    IP_PREFIX = "ip_prefix"  # /24 for IPv4, /64 for IPv6
    DEVICE = "device"
    PHONE = "phone"
    PAYMENT = "payment"
    ADDRESS = "address"
    SKU = "sku"
    SALE = "sale"


LIST_ENTITIES = ("account", "ip", "device", "phone", "payment", "address")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Compare(_Strict):
    """A numeric comparison; all given bounds must hold."""

    lt: float | None = None
    le: float | None = None
    gt: float | None = None
    ge: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> "Compare":
        if self.lt is None and self.le is None and self.gt is None and self.ge is None:
            raise ValueError("give at least one of lt, le, gt, ge")
        return self

    def holds(self, value: float) -> bool:
        return (
            (self.lt is None or value < self.lt)
            and (self.le is None or value <= self.le)
            and (self.gt is None or value > self.gt)
            and (self.ge is None or value >= self.ge)
        )


class DurationCompare(Compare):
    """A comparison of a time span: bounds accept 30s, 10m, 72h, 7d or seconds."""

    lt: Duration | None = None
    le: Duration | None = None
    gt: Duration | None = None
    ge: Duration | None = None


class Conditions(_Strict):
    """Predicates on the order itself.  A missing value (no account creation
    time, an order outside any sale) makes its condition false."""

    account_age: DurationCompare | None = Field(None, description="time from account creation to the order")
    since_sale_start: DurationCompare | None = Field(None, description="time from the sale's start to the order")
    quantity: Compare | None = Field(None, description="units in the order (or in the matching SKUs)")
    amount: Compare | None = Field(None, description="order amount")
    items: Compare | None = Field(None, description="number of order lines")
    sale: str | None = Field(None, description="a sale id, or 'any' for any flash sale")
    flash: bool | None = Field(None, description="the order buys (or does not buy) a flash-sale SKU in its sale")
    skus: list[str] | None = Field(None, min_length=1, description="the order buys one of these SKUs")
    model_score: Compare | None = Field(
        None,
        description="the anomaly model's score, 0-1 (higher is more anomalous); false when no model is loaded;"
        " only in a rule's match",
    )

    @model_validator(mode="after")
    def _not_empty(self) -> "Conditions":
        if not self.model_fields_set:
            raise ValueError("give at least one condition")
        return self


class Velocity(_Strict):
    key: list[Entity] = Field(min_length=1, description="entities the window is kept per, e.g. [ip] or [address, sku]")
    metric: Literal["count", "quantity", "amount", "distinct"] = Field(
        "count", description="count of orders, sum of units, sum of amount, or distinct count of `of`"
    )
    of: Entity | None = Field(None, description="with metric: distinct, the entity counted (e.g. account)")
    window: Duration | Literal["sale"] = Field(description="exact sliding window (10m, 1h, 24h) or 'sale'")
    where: Conditions | None = Field(None, description="only orders meeting these count (and are checked)")

    @field_validator("key", mode="before")
    @classmethod
    def _key_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> Any:
        if value == "sale":
            return value
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError("a window must be longer than zero")
        return seconds

    @model_validator(mode="after")
    def _distinct_needs_of(self) -> "Velocity":
        if len(set(self.key)) != len(self.key):
            raise ValueError("key lists an entity twice")
        if self.metric == "distinct" and self.of is None:
            raise ValueError("metric 'distinct' needs `of`, the entity to count (e.g. of: account)")
        if self.metric != "distinct" and self.of is not None:
            raise ValueError("`of` only goes with metric: distinct")
        if self.of is not None and self.of in self.key:
            raise ValueError(f"counting distinct {self.of.value} per {self.of.value} is always 1")
        return self


class PurchaseLimit(_Strict):
    per: Literal["account", "person"] = Field(
        "person", description="whose purchases are added up: a person is the account's cluster when the rule set keeps a graph"
    )
    limit: int | None = Field(None, ge=0, description="units per SKU per sale; defaults to the sale's per_person_limit")


LinkKind = Literal["ip", "ip_prefix", "device", "phone", "payment", "address"]


class FuzzyAddresses(_Strict):
    """Link addresses that are near-equal, not only equal (``graph.fuzzy_addresses``).

    Matching runs on keyed signatures (see :mod:`riskstream.entities.fuzzy`):
    junk suffixes, reordered parts and small typos link; other street
    numbers, buildings or districts never do, and with ``guard: unit`` other
    rooms or flats of one building do not either.
    """

    similarity: float = Field(0.7, ge=0.0, le=1.0, description="least estimated share (0-1) of the name parts in common")
    guard: Literal["unit", "none"] = Field("unit", description="unit: rooms and flats must be equal to link; none: one group per building")


class GraphSettings(_Strict):
    """How accounts are linked into clusters (the ``graph`` section).

    A rule set with a ``graph`` section or a ``cluster`` rule keeps the graph;
    without either, no graph step runs and ``person`` is the account.
    """

    links: list[LinkKind] = Field(
        default_factory=lambda: ["ip", "device", "phone", "payment", "address"],
        min_length=1,
        description="entity kinds that link accounts (ip_prefix is off unless listed)",
    )
    hub_accounts: int = Field(50, ge=2, description="an entity linked to more accounts within the retention is a hub: recorded, never merging")
    hubs: dict[LinkKind, Annotated[int, Field(ge=2)]] = Field(default_factory=dict, description="hub_accounts per entity kind, e.g. {ip: 30}")
    retention: Duration = Field(7 * 86400.0, description="a link unused for this long ages out")
    new_account_age: Duration = Field(7 * 86400.0, description="accounts younger than this count as new in new_share")
    escalate_within: Duration = Field(3600.0, description="earlier orders of a cluster's members this recent are escalated when a cluster rule hits")
    fuzzy_addresses: FuzzyAddresses | None = Field(
        None, description="link near-equal addresses (disguised drop addresses); off: exact canonical addresses only")

    @field_validator("links")
    @classmethod
    def _unique_links(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("links lists an entity kind twice")
        return value

    @field_validator("retention", "escalate_within")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be longer than zero")
        return value


class ClusterConditions(_Strict):
    """Conditions on the order's cluster of linked accounts; all given must hold.

    An account linked to no other account is a cluster of one.
    """

    size: Compare | None = Field(None, description="accounts in the cluster")
    new_share: Compare | None = Field(None, description="share (0-1) of members younger than graph.new_account_age")
    flash_units: Compare | None = Field(None, description="units of the order's flash SKU the cluster bought in this sale")
    flash_orders: Compare | None = Field(None, description="orders of the order's flash SKU the cluster placed in this sale")
    via: list[LinkKind] | None = Field(
        None, min_length=1,
        description="the account shares an entity of one of these kinds with another member (e.g. [device, phone, payment]: "
                    "not only an IP or an address)",
    )

    @model_validator(mode="after")
    def _not_empty(self) -> "ClusterConditions":
        if not self.model_fields_set:
            raise ValueError("give at least one of size, new_share, flash_units, flash_orders, via")
        return self

    @property
    def per_sale(self) -> bool:
        return self.flash_units is not None or self.flash_orders is not None


class Rule(_Strict):
    id: str = Field(pattern=ID_PATTERN, description="stable id, quoted in decisions")
    description: str = ""
    owner: str | None = None
    mode: Literal["active", "shadow"] = "active"
    velocity: Velocity | None = None
    purchase_limit: PurchaseLimit | None = None
    list: str | None = Field(None, description="id of a list under `lists`")
    match: Conditions | None = Field(None, description="conditions on the order; all must hold")
    cluster: ClusterConditions | None = Field(None, description="conditions on the order's cluster of linked accounts")
    above: float | None = Field(None, description="velocity threshold: hits when the value is above it")
    score: float = Field(0, ge=0, description="added to the order's score when the rule hits")
    outcome: Outcome | None = Field(None, description="forces at least this outcome when the rule hits")

    @field_validator("outcome", mode="before")
    @classmethod
    def _outcome(cls, value: Any) -> Any:
        return Outcome.parse(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _shape(self) -> "Rule":
        kinds = [k for k in ("velocity", "purchase_limit", "list") if getattr(self, k) is not None]
        if len(kinds) > 1:
            raise ValueError(f"a rule is one kind: pick one of {', '.join(kinds)}")
        if not kinds and self.match is None and self.cluster is None:
            raise ValueError("a rule needs velocity, purchase_limit, list, cluster or match")
        if self.cluster is not None and self.list is not None:
            raise ValueError("`cluster` conditions do not go with a list rule")
        if self.velocity is not None and self.above is None:
            raise ValueError("a velocity rule needs `above`, the threshold")
        if self.velocity is None and self.above is not None:
            raise ValueError("`above` only goes with a velocity rule")
        if not self.score and self.outcome is None:
            raise ValueError("a rule needs a score, an outcome or both")
        if self.outcome is Outcome.ALLOW and self.list is None:
            raise ValueError("outcome: allow is only for allow lists (a rule with `list`)")
        return self

    @property
    def kind(self) -> str:
        for name in ("velocity", "purchase_limit", "list", "cluster"):
            if getattr(self, name) is not None:
                return name
        return "match"


class Sale(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str = ""
    skus: list[str] = Field(min_length=1, description="the flash-sale SKUs")
    start: datetime
    end: datetime
    per_person_limit: int | None = Field(None, ge=0, description="units per SKU per person in this sale")

    @model_validator(mode="after")
    def _times(self) -> "Sale":
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a UTC offset, e.g. 2026-11-11T20:00:00+08:00")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class EntityList(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    entity: Literal["account", "ip", "device", "phone", "payment", "address"]
    description: str = ""
    entries: list[str] = Field(default_factory=list, description="values; IP lists also take CIDR prefixes")


class Thresholds(_Strict):
    """Minimum total score for each outcome; leave one out to never reach it by score."""

    challenge: float | None = None
    review: float | None = 40
    hold: float | None = 70
    freeze: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "Thresholds":
        seen = [(n, v) for n, v in self.model_dump().items() if v is not None]
        for (lo_name, lo), (hi_name, hi) in zip(seen, seen[1:]):
            if hi <= lo:
                raise ValueError(f"{hi_name} ({hi:g}) must be above {lo_name} ({lo:g})")
        return self


class FreezeCap(_Strict):
    """The mass-freeze safety cap: a freeze beyond these limits is downgraded to hold and sent to review."""

    max_cluster_accounts: int | None = Field(
        None, ge=1, description="a freeze of an order whose cluster has more accounts than this is held instead")
    max_freezes_per_minute: int | None = Field(
        None, ge=1, description="freezes allowed within any minute of event time; the ones beyond it are held instead")


class Header(_Strict):
    version: str = Field("0", description="the analysts' version label; a content hash is appended")
    description: str = ""
    thresholds: Thresholds = Thresholds()
    safety: FreezeCap = Field(FreezeCap(), description="limits that keep a broad rule from freezing a whole sale")


class RuleFile(_Strict):
    """One YAML file under rules/."""

    ruleset: Header | None = None
    graph: GraphSettings | None = None
    sales: list[Sale] = Field(default_factory=list)
    lists: list[EntityList] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
