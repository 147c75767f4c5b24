"""Observability of a stream worker: Prometheus metrics, HTTP endpoints, lag, logs.

:class:`Metrics` owns its prometheus-client objects in a private
:class:`~prometheus_client.CollectorRegistry`, so several apps in one process
(and tests) never share or clash over series.  The app wiring feeds it:

``observe_order(n)``
    ``n`` orders read from the orders topic.
``observe_decision(action, latency_s, review=...)``
    one published decision; ``latency_s`` is the time from the order's
    origin (see :class:`Origins`) to the decision's publish, ``None`` when
    unknown (a revised decision, say).
``observe_capped(n)``
    ``n`` freezes the mass-freeze safety cap downgraded to holds.
``observe_dead(field)``
    one dead letter, labelled by the field that was wrong.
``tick(now)``
    once a second: refreshes ``orders_per_second`` over the last ~10 s.
``watch_evictions(counts)``
    serves ``riskstream_state_evictions_total{state=...}``, read from
    ``counts()`` at each scrape: keys evicted to keep a window (or the
    entities stage's touch ledger) under its cardinality cap.

:func:`install_web` serves ``GET /metrics`` (Prometheus text format) and
``GET /health`` on the Faust web server; :func:`install_timers` adds the
one-second tick and a five-second consumer lag sample (:func:`lag_sampler`).
:func:`configure_logging` sends structlog and stdlib logging (Faust, mode,
aiokafka) through one formatter: JSON lines or a readable console format.

Nothing here imports Faust at module level; the module works without an app.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily

from ..decisions import OUTCOME_LABELS

__all__ = [
    "LATENCY_BUCKETS",
    "Metrics",
    "Origins",
    "configure_logging",
    "install_timers",
    "install_web",
    "lag_sampler",
]

#: Decision latency buckets (seconds): 1 ms .. 5 s, roughly 1-2.5-5 per decade.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)

#: Seconds of history behind ``orders_per_second``.
RATE_WINDOW = 10.0

_NAMESPACE = "riskstream"
_NO_FIELD = "none"  # label value for a dead letter without a field
_INDEX = re.compile(r"\[\d+\]")  # items[12].sku -> items[].sku: one series per field, not per position

log = logging.getLogger(__name__)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("riskstream")
    except PackageNotFoundError:
        return "unknown"


class Metrics:
    """The worker's Prometheus metrics, in a registry of their own.

    Plain counts (``orders``, ``decisions``, ``dead``, ``review``) are kept next
    to the counters so :func:`install_web`'s health view and the rate need not
    read prometheus-client internals.
    """

    def __init__(self, *, rate_window: float = RATE_WINDOW, app_id: str = "") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        ns = _NAMESPACE
        self.orders_total = Counter("orders", "Orders read from the orders topic.", namespace=ns, registry=reg)
        self.decisions_total = Counter(
            "decisions", "Decisions published, by action.", ["action"], namespace=ns, registry=reg
        )
        # every action has a series from the start (rates start at 0); children are cached for the hot path
        self._by_action = {action: self.decisions_total.labels(action) for action in OUTCOME_LABELS}
        self.dead_letters_total = Counter(
            "dead_letters", "Orders refused and dead-lettered, by the field at fault.", ["field"],
            namespace=ns, registry=reg,
        )
        self.review_total = Counter("review", "Decisions published to the review queue.", namespace=ns, registry=reg)
        self.rulesets_adopted_total = Counter(
            "rulesets_adopted", "Published rule sets this worker's decide stage switches to (at their effective time).",
            namespace=ns, registry=reg,
        )
        self.rulesets_refused_total = Counter(
            "rulesets_refused", "Published rule sets refused (invalid, or other windows); the rules before them decide.",
            namespace=ns, registry=reg,
        )
        self.freezes_capped_total = Counter(
            "freezes_capped", "Freezes the mass-freeze safety cap downgraded to hold (sent to review).",
            namespace=ns, registry=reg,
        )
        self.decision_latency_seconds = Histogram(
            "decision_latency_seconds",
            "Seconds from an order's origin time to the publish of its decision.",
            buckets=LATENCY_BUCKETS, namespace=ns, registry=reg,
        )
        self.consumer_lag = Gauge(
            "consumer_lag", "Messages behind the high watermark (last committed offset), by partition.",
            ["topic", "partition"], namespace=ns, registry=reg,
        )
        self.orders_per_second = Gauge(
            "orders_per_second", f"Orders read per second over the last {rate_window:g} s.", namespace=ns, registry=reg
        )
        self.graph_waiting = Gauge(
            "graph_waiting_orders",
            "Orders whose links wait in this worker's graph stage for every orders partition to pass their event time.",
            namespace=ns, registry=reg,
        )
        self.up = Gauge("up", "1 while the worker's metrics are being served.", namespace=ns, registry=reg)
        self.up.set(1)
        self.build = Info("build", "Worker build and identity.", namespace=ns, registry=reg)
        self.build.info({"version": _version(), "app_id": app_id})

        self.orders = 0
        self.decisions = 0
        self.dead = 0
        self.review = 0
        self.rate_window = rate_window
        self._samples: deque[tuple[float, int]] = deque()  # (tick time, orders then)
        self._lag_series: set[tuple[str, str]] = set()

    # -- the hot path: plain increments ---------------------------------------

    def observe_order(self, n: int = 1) -> None:
        """``n`` orders read."""
        if n:
            self.orders += n
            self.orders_total.inc(n)

    def observe_decision(self, action: str, latency_s: float | None = None, *, review: bool = False) -> None:
        """One decision published; ``review``: it also went to the review queue."""
        self.decisions += 1
        child = self._by_action.get(action)
        if child is None:
            child = self._by_action[action] = self.decisions_total.labels(action)
        child.inc()
        if review:
            self.review += 1
            self.review_total.inc()
        if latency_s is not None:
            self.decision_latency_seconds.observe(max(latency_s, 0.0))

    def observe_capped(self, n: int = 1) -> None:
        """``n`` freezes downgraded to hold by the safety cap."""
        if n:
            self.freezes_capped_total.inc(n)

    def observe_dead(self, field: str | None = None) -> None:
        """One dead letter; ``field`` names the bad field (``None``: not one field).

        List positions are dropped from the label (``items[3].sku`` counts as
        ``items[].sku``) so a bad producer cannot blow up the series count.
        """
        self.dead += 1
        label = _INDEX.sub("[]", field)[:64] if field else _NO_FIELD
        self.dead_letters_total.labels(label).inc()

    # -- periodic ---------------------------------------------------------------

    def tick(self, now: float | None = None) -> float:
        """Refresh ``orders_per_second`` and return it.

        Call about once a second with a monotonic clock.  The rate is taken
        between this tick and the newest earlier tick at least
        ``rate_window`` seconds old (or the oldest tick, early on).
        """
        now = time.monotonic() if now is None else now
        samples = self._samples
        samples.append((now, self.orders))
        cut = now - self.rate_window
        while len(samples) > 2 and samples[1][0] <= cut:
            samples.popleft()
        t0, n0 = samples[0]
        rate = (self.orders - n0) / (now - t0) if now > t0 else 0.0
        self.orders_per_second.set(rate)
        return rate

    def set_lag(self, topic: str, partition: int, lag: float) -> None:
        """Lag of one assigned partition."""
        key = (topic, str(partition))
        self._lag_series.add(key)
        self.consumer_lag.labels(*key).set(max(lag, 0))

    def retain_lag(self, keep: Iterable[tuple[str, int]]) -> None:
        """Drop lag series of partitions not in ``keep`` (revoked by a rebalance)."""
        wanted = {(topic, str(partition)) for topic, partition in keep}
        for key in self._lag_series - wanted:
            self.consumer_lag.remove(*key)
        self._lag_series &= wanted

    def watch_evictions(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """Serve the evictions ``counts()`` reports (state name -> keys evicted so far) as a counter."""
        self.registry.register(_EvictionCollector(counts))

    # -- exposition ---------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of this registry and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _EvictionCollector:
    """``riskstream_state_evictions_total``, read from the stages at scrape time."""

    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self.counts = counts

    def describe(self) -> list:
        return [CounterMetricFamily(f"{_NAMESPACE}_state_evictions", _EVICTIONS_HELP, labels=["state"])]

    def collect(self) -> Iterable[CounterMetricFamily]:
        family = CounterMetricFamily(f"{_NAMESPACE}_state_evictions", _EVICTIONS_HELP, labels=["state"])
        for state, count in sorted(self.counts().items()):
            family.add_metric([state], count)
        yield family


_EVICTIONS_HELP = "Keys evicted to keep a window or the touch ledger under its cardinality cap, by state."


class Origins:
    """When each pending order started its trip, for decision latency.

    ``note`` the origin time when an order's plan reaches the decide stage;
    ``take`` it when the order's first decision is published.  Bounded: the
    oldest entries go first (orders that never concluded, replayed plans).
    """

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit
        self._times: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._times)

    def note(self, order_id: str, t: float) -> None:
        times = self._times
        if order_id not in times:
            times[order_id] = t
            if len(times) > self.limit:
                times.popitem(last=False)

    def take(self, order_id: str, now: float) -> float | None:
        """Seconds since ``order_id``'s origin (forgetting it), ``None`` if unknown."""
        t = self._times.pop(order_id, None)
        return None if t is None else now - t


# -- Faust web endpoints --------------------------------------------------------------


def _health(app: Any, metrics: Metrics) -> tuple[dict[str, Any], int]:
    agents = getattr(app, "agents", None)
    if getattr(app, "should_stop", False) or getattr(agents, "should_stop", False):
        status = "stopping"
    elif agents is not None and getattr(agents, "started", False):
        status = "ok"
    else:
        status = "starting"
    body = {"status": status, "orders": metrics.orders, "decisions": metrics.decisions}
    return body, 200 if status == "ok" else 503


def install_web(app: Any, metrics: Metrics) -> None:
    """Serve ``GET /metrics`` and ``GET /health`` on ``app``'s web server.

    ``/health`` answers 200 ``{"status": "ok", ...}`` once the app's agents
    have started, 503 with ``"starting"`` before and ``"stopping"`` after.
    """
    from faust import web

    @app.page("/metrics", name="riskstream-metrics")
    async def riskstream_metrics(self: web.View, request: web.Request) -> web.Response:
        body, content_type = metrics.render()
        # aiohttp refuses parameters (version, charset) in ``content_type=``; a header keeps them.
        return self.bytes(body, headers={"Content-Type": content_type})

    @app.page("/health", name="riskstream-health")
    async def riskstream_health(self: web.View, request: web.Request) -> web.Response:
        body, status = _health(self.app, metrics)
        return self.json(body, status=status, headers={"Cache-Control": "no-store"})


# -- periodic jobs ---------------------------------------------------------------------


async def lag_sampler(app: Any, metrics: Metrics) -> None:
    """Set ``consumer_lag`` for every partition assigned to ``app``'s consumer.

    Lag is the high watermark minus the last committed offset (both "next
    offset" positions, as Kafka reports them), or minus the fetch position
    while nothing is committed yet.  A partition whose high watermark is not
    known yet (no fetch since assignment) is skipped.  Series of partitions
    no longer assigned are removed.
    """
    consumer = app.consumer
    try:
        assigned = consumer.assignment()
    except Exception:  # noqa: BLE001 - not started yet, or stopping: nothing to sample
        return
    committed_offsets = getattr(consumer, "_committed_offset", {})
    keep: list[tuple[str, int]] = []
    for tp in assigned:
        keep.append((tp.topic, tp.partition))
        try:
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            committed = committed_offsets.get(tp)
            if committed is None:
                committed = await consumer.position(tp)
            if committed is None:
                continue
        except Exception as exc:  # noqa: BLE001 - revoked meanwhile, consumer restarting: skip it
            log.debug("lag of %s[%s] not available: %r", tp.topic, tp.partition, exc)
            continue
        metrics.set_lag(tp.topic, tp.partition, highwater - committed)
    metrics.retain_lag(keep)


def install_timers(app: Any, metrics: Metrics, *, tick: float = 1.0, lag: float = 5.0) -> None:
    """Register ``app`` timers: ``metrics.tick`` every ``tick`` s, :func:`lag_sampler` every ``lag`` s."""

    @app.timer(tick, name="riskstream-metrics-tick", traced=False)
    async def riskstream_metrics_tick() -> None:
        metrics.tick(time.monotonic())

    @app.timer(lag, name="riskstream-lag-sampler", traced=False)
    async def riskstream_lag_sampler() -> None:
        await lag_sampler(app, metrics)


# -- logging ---------------------------------------------------------------------------------


class _Handler(logging.StreamHandler):
    """The root handler :func:`configure_logging` installs (and replaces on a later call)."""


def configure_logging(json_logs: bool, level: str = "info", *, stream: IO[str] | None = None) -> None:
    """Structured logs for structlog and stdlib loggers alike.

    ``json_logs``: one JSON object per line (``timestamp`` ISO 8601 UTC,
    ``level``, ``logger``, ``event``, then the key/values; stdlib ``extra=``
    keys included); otherwise a readable console format.  Records go to
    ``stream`` (default: standard error).  Calling again replaces the earlier
    configuration; handlers installed by others are left alone.
    """
    number = logging.getLevelNamesMapping().get(level.upper())
    if number is None:
        raise ValueError(f"unknown log level {level!r}")
    out = sys.stderr if stream is None else stream

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]
    renderer: Any
    final: list[Any]
    if json_logs:
        final = [structlog.processors.StackInfoRenderer(), structlog.processors.format_exc_info]
        renderer = structlog.processors.JSONRenderer()
    else:
        final = [structlog.processors.StackInfoRenderer()]  # ConsoleRenderer formats exceptions itself
        renderer = structlog.dev.ConsoleRenderer(colors=_isatty(out))

    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final, renderer],
    )
    handler = _Handler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(number)


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
