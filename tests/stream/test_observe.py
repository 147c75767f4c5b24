"""Observability without Kafka: metrics and their exposition, the order rate, consumer
lag from a stand-in consumer, structured logs, and the web views on a live web server."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from riskstream.stream.observe import (
    LATENCY_BUCKETS,
    Metrics,
    Origins,
    configure_logging,
    install_timers,
    install_web,
    lag_sampler,
)


def samples(metrics: Metrics) -> dict[tuple[str, frozenset], float]:
    """Every sample of the exposition text, by name and labels."""
    body, _ = metrics.render()
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, frozenset(labels.items())))


# -- metrics ---------------------------------------------------------------------------


def test_counters_and_histogram_in_the_exposition():
    m = Metrics()
    m.observe_order(3)
    m.observe_order(2)
    m.observe_decision("allow", 0.002)
    m.observe_decision("hold", 0.3, review=True)
    m.observe_decision("allow", None)
    m.observe_dead("email")
    m.observe_dead("email")
    m.observe_dead(None)
    m.observe_dead("items[3].sku")
    m.observe_dead("items[417].sku")

    body, content_type = m.render()
    assert content_type.startswith("text/plain") and "version=" in content_type
    assert body.endswith(b"\n")
    got = samples(m)
    assert got[("riskstream_orders_total", frozenset())] == 5
    assert got[("riskstream_decisions_total", frozenset({("action", "allow")}))] == 2
    assert got[("riskstream_decisions_total", frozenset({("action", "hold")}))] == 1
    assert got[("riskstream_decisions_total", frozenset({("action", "freeze")}))] == 0  # present from the start
    assert got[("riskstream_review_total", frozenset())] == 1
    assert got[("riskstream_dead_letters_total", frozenset({("field", "email")}))] == 2
    assert got[("riskstream_dead_letters_total", frozenset({("field", "none")}))] == 1
    assert got[("riskstream_dead_letters_total", frozenset({("field", "items[].sku")}))] == 2
    assert got[("riskstream_up", frozenset())] == 1
    assert (m.orders, m.decisions, m.dead, m.review) == (5, 3, 5, 1)

    buckets = {
        float(dict(labels)["le"]): v
        for (name, labels), v in got.items()
        if name == "riskstream_decision_latency_seconds_bucket"
    }
    assert sorted(buckets) == [*LATENCY_BUCKETS, float("inf")]
    assert buckets[0.001] == 0
    assert buckets[0.0025] == 1 and buckets[0.25] == 1
    assert buckets[0.5] == 2 and buckets[5.0] == 2 and buckets[float("inf")] == 2
    assert got[("riskstream_decision_latency_seconds_count", frozenset())] == 2
    assert got[("riskstream_decision_latency_seconds_sum", frozenset())] == pytest.approx(0.302)


def test_latency_buckets_cover_a_millisecond_to_five_seconds():
    assert LATENCY_BUCKETS[0] == 0.001 and LATENCY_BUCKETS[-1] == 5.0
    assert list(LATENCY_BUCKETS) == sorted(set(LATENCY_BUCKETS))


def test_instances_share_nothing():
    a, b = Metrics(), Metrics()
    a.observe_order(4)
    a.observe_decision("review", 0.01, review=True)
    a.set_lag("orders", 0, 7)
    assert a.registry is not b.registry
    assert value(a, "riskstream_orders_total") == 4
    assert value(b, "riskstream_orders_total") == 0
    assert value(b, "riskstream_review_total") == 0
    assert value(b, "riskstream_decision_latency_seconds_count") == 0
    assert value(b, "riskstream_consumer_lag", topic="orders", partition="0") is None


def test_lag_series_follow_the_assignment():
    m = Metrics()
    m.set_lag("orders", 0, 12)
    m.set_lag("orders", 1, -3)  # a stale high watermark never shows as negative lag
    assert value(m, "riskstream_consumer_lag", topic="orders", partition="0") == 12
    assert value(m, "riskstream_consumer_lag", topic="orders", partition="1") == 0
    m.retain_lag([("orders", 1)])
    assert value(m, "riskstream_consumer_lag", topic="orders", partition="0") is None
    assert value(m, "riskstream_consumer_lag", topic="orders", partition="1") == 0


def test_orders_per_second_over_the_last_ten_seconds():
    m = Metrics()
    assert m.tick(100.0) == 0.0
    m.observe_order(50)
    assert m.tick(101.0) == 50.0  # only one second of history so far
    for t in range(102, 121):  # 20 orders a second from now on
        m.observe_order(20)
        rate = m.tick(float(t))
    assert rate == pytest.approx(20.0)  # the burst at 101 has left the window
    assert value(m, "riskstream_orders_per_second") == pytest.approx(20.0)
    for t in range(121, 126):  # orders stop
        rate = m.tick(float(t))
    assert rate == pytest.approx(10.0)  # 5 busy seconds of the last 10
    for t in range(126, 132):
        rate = m.tick(float(t))
    assert rate == 0.0
    m.observe_order(30)
    assert m.tick(161.0) == pytest.approx(1.0)  # ticks missed for 30 s: the average since the last tick


def test_origins_give_latency_once_and_stay_bounded():
    origins = Origins(limit=2)
    origins.note("o-1", 10.0)
    origins.note("o-1", 11.0)  # a replayed plan keeps the first origin
    assert origins.take("o-1", 10.25) == 0.25
    assert origins.take("o-1", 12.0) is None
    for n in range(3):
        origins.note(f"p-{n}", float(n))
    assert len(origins) == 2 and origins.take("p-0", 5.0) is None


# -- consumer lag -----------------------------------------------------------------------


class FakeConsumer:
    """The parts of a Faust consumer that :func:`lag_sampler` reads."""

    def __init__(self, assigned, highwaters, committed, positions):
        self.assigned = set(assigned)
        self.highwaters = highwaters
        self._committed_offset = committed
        self.positions = positions

    def assignment(self):
        return set(self.assigned)

    def highwater(self, tp):
        if tp not in self.highwaters:
            raise AssertionError("Partition is not assigned")
        return self.highwaters[tp]

    async def position(self, tp):
        return self.positions.get(tp)


def test_lag_sampler_sets_lag_per_assigned_partition():
    from faust.types import TP

    o0, o1, o2, t0 = TP("orders", 0), TP("orders", 1), TP("orders", 2), TP("t-touches", 0)
    gone = TP("orders", 3)
    consumer = FakeConsumer(
        assigned=[o0, o1, o2, t0, gone],
        highwaters={o0: 100, o1: 50, o2: None, t0: 9},
        committed={o0: 90, o2: 5},
        positions={o1: 20, t0: None},
    )
    app = SimpleNamespace(consumer=consumer)
    m = Metrics()
    asyncio.run(lag_sampler(app, m))
    assert value(m, "riskstream_consumer_lag", topic="orders", partition="0") == 10  # committed
    assert value(m, "riskstream_consumer_lag", topic="orders", partition="1") == 30  # position: nothing committed
    assert value(m, "riskstream_consumer_lag", topic="orders", partition="2") is None  # no fetch yet
    assert value(m, "riskstream_consumer_lag", topic="t-touches", partition="0") is None
    assert value(m, "riskstream_consumer_lag", topic="orders", partition="3") is None  # highwater raised

    consumer.assigned = {o1}  # a rebalance took orders-0 away
    asyncio.run(lag_sampler(app, m))
    assert value(m, "riskstream_consumer_lag", topic="orders", partition="0") is None
    assert value(m, "riskstream_consumer_lag", topic="orders", partition="1") == 30


def test_lag_sampler_before_the_consumer_started():
    class NotStarted:
        def assignment(self):
            raise RuntimeError("Consumer thread not yet started")

    m = Metrics()
    asyncio.run(lag_sampler(SimpleNamespace(consumer=NotStarted()), m))
    assert not any(name == "riskstream_consumer_lag" for name, _ in samples(m))


# -- logging ----------------------------------------------------------------------------


@pytest.fixture
def clean_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()


def test_json_logs_from_stdlib_and_structlog(clean_logging, capsys):
    configure_logging(True, "info")
    stdlib = logging.getLogger("riskstream.test")
    stdlib.info("order %s refused", "o-1", extra={"field": "email", "partition": 3})
    stdlib.debug("not at info")
    structlog.get_logger("riskstream.sl").warning("decided", order_id="o-2", latency_ms=4.5)
    try:
        raise ValueError("bad")
    except ValueError:
        stdlib.exception("failed")

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3
    first, second, third = (json.loads(line) for line in lines)
    assert first["event"] == "order o-1 refused"
    assert first["field"] == "email" and first["partition"] == 3
    assert first["level"] == "info" and first["logger"] == "riskstream.test"
    assert first["timestamp"].startswith("20") and first["timestamp"].endswith("Z")
    assert "T" in first["timestamp"]
    assert second == {
        "event": "decided",
        "order_id": "o-2",
        "latency_ms": 4.5,
        "level": "warning",
        "logger": "riskstream.sl",
        "timestamp": second["timestamp"],
    }
    assert third["event"] == "failed" and third["level"] == "error"
    assert "ValueError: bad" in third["exception"]


def test_logging_configuration_is_idempotent_and_has_a_console_format(clean_logging):
    first, second = io.StringIO(), io.StringIO()
    configure_logging(True, "info", stream=first)
    configure_logging(False, "debug", stream=second)
    ours = [h for h in logging.getLogger().handlers if type(h).__module__ == "riskstream.stream.observe"]
    assert len(ours) == 1
    logging.getLogger("aiokafka.consumer").debug("fetched %d records", 7, extra={"tp": "orders-0"})
    assert first.getvalue() == ""
    line = second.getvalue().strip()
    assert "fetched 7 records" in line and "tp=orders-0" in line and "aiokafka.consumer" in line
    assert not line.startswith("{")
    with pytest.raises(ValueError, match="log level"):
        configure_logging(True, "loud")


# -- web views --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def web_app():
    import faust

    port = free_port()
    app = faust.App("t-observe", broker="memory://", web_port=port, web_host="127.0.0.1", web_bind="127.0.0.1")
    metrics = Metrics(app_id="t-observe")
    install_web(app, metrics)
    return app, metrics, port


def get(port: int, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read()


def test_routes_are_registered(web_app):
    app, _, _ = web_app
    assert {"/metrics", "/health"} <= set(app.web.views)
    assert app.web.url_for("riskstream-metrics") == "/metrics"


def test_metrics_and_health_over_http(web_app):
    app, metrics, port = web_app
    metrics.observe_order(7)
    metrics.observe_decision("challenge", 0.004, review=True)

    async def scenario():
        loop = asyncio.get_running_loop()

        def fetch(path):
            return loop.run_in_executor(None, get, port, path)

        await app.web.start()
        try:
            results = {"metrics": await fetch("/metrics"), "starting": await fetch("/health")}
            await app.agents.start()
            results["ok"] = await fetch("/health")
            await app.agents.stop()
            results["stopping"] = await fetch("/health")
        finally:
            await app.web.stop()
        return results

    results = asyncio.run(scenario())
    status, content_type, body = results["metrics"]
    assert status == 200
    assert content_type == metrics.render()[1]
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert families["riskstream_orders"].samples[0].value == 7
    assert families["riskstream_build_info"].samples[0].labels["app_id"] == "t-observe"

    for state, code in (("starting", 503), ("ok", 200), ("stopping", 503)):
        status, content_type, body = results[state]
        assert status == code
        assert content_type.startswith("application/json")
        assert json.loads(body) == {"status": state, "orders": 7, "decisions": 1}


def test_timers_are_registered():
    import faust

    app = faust.App("t-observe-timers", broker="memory://")
    before = len(app._app_tasks)
    install_timers(app, Metrics())
    assert len(app._app_tasks) == before + 2
