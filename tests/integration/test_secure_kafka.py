"""The secured local broker (SASL_SSL: SCRAM-SHA-512 over TLS, a self-signed CA) with real
clients: a worker deciding a simulated day, the producer helper, the console's ingest; wrong
credentials named, not retried; and no raw IP, phone, address, device or card in the worker's
internal topics, its state directory or its log."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaConsumer

from riskstream.engine.order_view import EntityKeys
from riskstream.harness import compressed_time_settings, read_records, replay_final, same_time_ties
from riskstream.harness.workers import WorkerProcess
from riskstream.kafka.local import tls
from riskstream.kafka.security import kafka_client_options
from riskstream.kafka.topics import Topics, ensure_topics
from riskstream.sim import simulate

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 3000
PROXY_ORDERS = 12  # orders moved onto the blocked-ips range (203.0.113.0/24): the IP list needs the address itself


@pytest.fixture(scope="module")
def secure_env(secure_kafka):
    """The broker's client settings in this process's environment (the harness's readers use them)."""
    env = secure_kafka.client_environment()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.setenv("RISKSTREAM_TEST_LOG_LEVEL", "debug")  # the chattiest log: every place a raw value could show
        yield env


def _cli(args: list[str], env: dict[str, str], timeout: float = 120.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "riskstream.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _topic_env(topics: Topics) -> dict[str, str]:
    return {"RISKSTREAM_TOPIC_ORDERS": topics.orders, "RISKSTREAM_TOPIC_DECISIONS": topics.decisions,
            "RISKSTREAM_TOPIC_REVIEW": topics.review, "RISKSTREAM_TOPIC_DLQ": topics.dlq,
            "RISKSTREAM_TOPIC_VERDICTS": topics.verdicts, "RISKSTREAM_TOPIC_RULES": topics.rules,
            "RISKSTREAM_PARTITIONS": str(topics.partitions)}


def _day() -> list[dict]:
    events = list(simulate(ORDERS, seed=8))
    for n, event in enumerate(events[100:100 + PROXY_ORDERS * 200:200]):
        event["ip"] = f"203.0.113.{10 + n}"
    return events


@pytest.fixture(scope="module")
def day(secure_kafka, secure_env, tmp_path_factory):
    """A simulated day published with the producer helper and decided by one worker, all over SASL_SSL."""
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"orders-{suffix}", decisions=f"decisions-{suffix}", review=f"review-{suffix}",
                    dlq=f"dlq-{suffix}", verdicts=f"verdicts-{suffix}", rules=f"rules-{suffix}", partitions=4)
    ensure_topics(secure_kafka.bootstrap, topics)
    work = tmp_path_factory.mktemp("secure-day")
    events = _day()
    orders_file = work / "orders.jsonl"
    orders_file.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    env = os.environ | _topic_env(topics) | compressed_time_settings()
    app_id = f"sec-{suffix}"
    worker = WorkerProcess(secure_kafka.bootstrap, topics, app_id, work, str(ROOT / "rules"),
                           settings=compressed_time_settings())
    worker.start()
    try:
        worker.wait_ready()
        produced = _cli(["produce", str(orders_file)], env)
        assert produced.returncode == 0, produced.stderr
        decisions = read_records(secure_kafka.bootstrap, topics.decisions, ORDERS, timeout=240)
    finally:
        worker.stop()
    if len({r.key for r in decisions}) < ORDERS:
        logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in work.glob("worker-*.log"))
        pytest.fail(f"{len(decisions)} decisions of {ORDERS} orders; worker log:\n{logs}")
    return {"topics": topics, "events": events, "decisions": decisions, "work": work, "app_id": app_id,
            "env": env, "produce": produced.stderr}


def test_up_secure_prints_the_client_settings(secure_kafka, secure_env) -> None:
    """``riskstream kafka up --secure`` on a running secure broker adopts it and prints its settings as exports."""
    result = _cli(["kafka", "--root", str(ROOT), "up", "--secure", "--port", str(secure_kafka.port),
                   "--data-dir", str(secure_kafka.data_dir)], dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == tls.shell_exports(secure_env)
    assert secure_env["RISKSTREAM_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert secure_env["RISKSTREAM_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert Path(secure_env["RISKSTREAM_KAFKA_SSL_CAFILE"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
    status = _cli(["kafka", "--root", str(ROOT), "status", "--data-dir", str(secure_kafka.data_dir), "--json"],
                  dict(os.environ))
    info = orjson.loads(status.stdout)
    assert status.returncode == 0 and info["running"] and info["secure"]


def test_the_listener_refuses_plaintext_clients(secure_kafka, secure_env) -> None:
    from kafka.errors import KafkaError

    started = time.monotonic()
    with pytest.raises((KafkaError, OSError)):
        KafkaAdminClient(bootstrap_servers=secure_kafka.bootstrap, request_timeout_ms=5000,
                         api_version_auto_timeout_ms=5000)
    assert time.monotonic() - started < 30


def test_a_worker_decides_the_day_over_sasl_ssl_as_replay_does(day) -> None:
    events, decisions = day["events"], day["decisions"]
    assert f"sent {ORDERS:,} orders" in day["produce"]
    live: dict[str, dict] = {}
    for record in decisions:
        value = orjson.loads(record.value)
        if value["revision"] >= live.get(value["order_id"], {}).get("revision", 0):
            live[value["order_id"]] = value
    offline = {o: d.action.label for o, d in replay_final(str(ROOT / "rules"), events).items()}
    differ = [o for o, a in offline.items() if live[o]["action"] != a]
    print(f"live/replay over SASL_SSL: {len(offline) - len(differ)} of {len(offline)} equal")
    assert [o for o in differ if not same_time_ties(o, events)] == []
    assert len(differ) <= len(offline) * 0.001
    # The IP list still sees the address: its sealed copy opens in the decide stage.
    proxied = [e["order_id"] for e in events if e["ip"].startswith("203.0.113.")]
    assert len(proxied) == PROXY_ORDERS
    assert all("blocked-ip" in {r["rule"] for r in live[o]["reasons"]} for o in proxied)


def _raw_values(events: list[dict]) -> tuple[set[str], set[str]]:
    """Every IP, phone, address (whole, or its parts), device and card of the day as written,
    and the canonical forms of IPs, phones and addresses (what pseudonyms are made of)."""
    keys = EntityKeys(b"unused")
    written: set[str] = set()
    canonical: set[str] = set()
    for event in events:
        for name, kind in (("ip", "ip"), ("phone", "phone"), ("shipping_address", "address"),
                           ("device_id", None), ("payment_fingerprint", None)):
            value = event.get(name)
            if value is None:
                continue
            if isinstance(value, dict):
                # Parts that say something of a person: not a bare number (a postcode, a building number)
                written.update(part for part in value.values()
                               if isinstance(part, str) and len(part) >= 3 and not part.strip().isdigit())
            else:
                written.add(value)
            if kind is not None:
                form = keys.canonical(kind, value)
                if form and len(form) >= 6:
                    canonical.add(form)
    return written, canonical - written


def _topic_bytes(bootstrap: str, topic: str) -> bytes:
    """Keys, values and headers of every record of ``topic``, read to its end offsets."""
    from kafka import TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_bytes=1_000_000,
                             max_partition_fetch_bytes=1_000_000, receive_message_max_bytes=8 * 1024 * 1024,
                             **kafka_client_options())
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        parts: list[bytes] = []
        deadline = time.monotonic() + 120
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            assert time.monotonic() < deadline, f"{topic} not read to its end in 120 s"
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    parts += [record.key or b"", record.value or b""]
                    parts += [value for _, value in record.headers or ()]
        return b"\n".join(parts)
    finally:
        consumer.close()


def _hits(blob: bytes, values: set[str], scratch: Path) -> set[str]:
    """The ``values`` found in ``blob`` by ``grep -F -w`` (fixed strings, whole words: a phone's
    digits inside a longer number, a timestamp, do not count)."""
    patterns, data = scratch / "patterns.txt", scratch / "blob.bin"
    patterns.write_text("\n".join(sorted(values)) + "\n", encoding="utf-8")
    data.write_bytes(blob)
    found = subprocess.run(["grep", "-a", "-F", "-w", "-o", "-f", str(patterns), str(data)], capture_output=True,
                           env={**os.environ, "LC_ALL": "C"}, check=False)
    assert found.returncode in (0, 1), found.stderr
    return {line for line in found.stdout.decode("utf-8", "replace").splitlines() if line in values}


def test_no_raw_identities_in_internal_topics_state_or_logs(secure_kafka, day, tmp_path) -> None:
    """The orders topic holds the raw values (the check can fail); nothing the worker writes does."""
    written, canonical = _raw_values(day["events"])
    topics, app_id = day["topics"], day["app_id"]
    bootstrap = secure_kafka.bootstrap
    in_orders = _hits(_topic_bytes(bootstrap, topics.orders), written, tmp_path)
    # grep -o reports a value once per place: one inside a longer one (an address part) is not reported apart
    assert len(in_orders) >= 0.9 * len(written), f"{len(in_orders)} of {len(written)} raw values found in orders"
    ips = {e["ip"] for e in day["events"]}
    phones = {e["phone"] for e in day["events"] if e.get("phone")}
    assert ips <= in_orders and phones <= in_orders
    values = written | canonical

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **kafka_client_options())
    try:
        internal = sorted(t for t in admin.list_topics() if t.startswith(app_id))
    finally:
        admin.close()
    assert {f"{app_id}-touches", f"{app_id}-signals", f"{app_id}-graph"} <= set(internal)
    leaks: dict[str, list[str]] = {}
    sizes = {}
    for topic in [*internal, topics.decisions, topics.review]:
        blob = _topic_bytes(bootstrap, topic)
        sizes[topic] = len(blob)
        if hits := _hits(blob, values, tmp_path):
            leaks[topic] = sorted(hits)[:5]
    assert sizes[f"{app_id}-signals"] > 100_000 and sizes[f"{app_id}-touches"] > 10_000
    files = [p for p in (day["work"] / "state").rglob("*") if p.is_file()]
    logs = list(day["work"].glob("worker-*.log"))
    assert logs and sum(p.stat().st_size for p in logs) > 1000
    for path in files + logs:
        if hits := _hits(path.read_bytes(), values, tmp_path):
            leaks[str(path)] = sorted(hits)[:5]
    print(f"{len(written)} raw values (+{len(canonical)} canonical forms), {len(in_orders)} reported in the orders "
          f"topic; none in {sizes}, "
          f"{len(files)} state files, {len(logs)} log of {sum(p.stat().st_size for p in logs):,} bytes")
    assert leaks == {}


def test_console_ingest_reads_the_day_over_sasl_ssl(day, tmp_path) -> None:
    result = _cli(["cases", "ingest", "-s", str(tmp_path / "cases.db"), "--group", f"cases-{uuid.uuid4().hex[:6]}",
                   "--idle-exit", "3"], day["env"], timeout=180)
    assert result.returncode == 0, result.stderr
    assert "revisions stored" in result.stderr and "read 0 records" not in result.stderr


def _other_ca(tmp: Path) -> str:
    """A CA that did not sign the broker's certificate."""
    import shutil as sh

    files = tls.ensure(tmp / "other-ca", tls.find_keytool(sh.which("java") or "java"))
    return str(files.ca_pem)


def test_a_wrong_password_is_named_not_retried(secure_kafka, secure_env, tmp_path) -> None:
    orders = tmp_path / "orders.jsonl"
    orders.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in simulate(10, seed=1)))
    env = os.environ | {"RISKSTREAM_KAFKA_SASL_PASSWORD": "not-the-password"}
    for args in (["produce", str(orders)],
                 ["worker", "--data-dir", str(tmp_path / "state"), "--app-id", "wrong-pw", "--web-port", "0"]):
        started = time.monotonic()
        result = _cli(args, env, timeout=90)
        took = time.monotonic() - started
        assert result.returncode == 2, (args, result.stderr[-2000:])
        assert "SASL SCRAM-SHA-512 authentication of user 'riskstream'" in result.stderr, result.stderr[-2000:]
        assert "RISKSTREAM_KAFKA_SASL_PASSWORD" in result.stderr
        assert took < 60, f"{args[0]} took {took:.0f} s to fail"


def test_an_untrusted_ca_is_named_not_retried(secure_kafka, secure_env, tmp_path) -> None:
    orders = tmp_path / "orders.jsonl"
    orders.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in simulate(10, seed=1)))
    env = os.environ | {"RISKSTREAM_KAFKA_SSL_CAFILE": _other_ca(tmp_path)}
    started = time.monotonic()
    result = _cli(["produce", str(orders)], env, timeout=90)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "is not trusted by" in result.stderr and "RISKSTREAM_KAFKA_SSL_CAFILE" in result.stderr
    assert time.monotonic() - started < 60
    missing = _cli(["produce", str(orders)], env | {"RISKSTREAM_KAFKA_SSL_CAFILE": str(tmp_path / "none.pem")})
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_signals_are_unreadable_without_their_key(day) -> None:
    """A plan carries the order's pseudonyms and sealed fields; not one raw field of the order."""
    raw = _topic_bytes(day["env"]["RISKSTREAM_BOOTSTRAP"], f"{day['app_id']}-signals")
    plans = [plan for line in raw.split(b"\n") if line.startswith(b'{"plans"')
             for plan in orjson.loads(line)["plans"]]
    assert len({p["order"]["order_id"] for p in plans}) == ORDERS
    by_id = {e["order_id"]: e for e in day["events"]}
    for plan in plans[:200]:
        order, event = plan["order"], by_id[plan["order"]["order_id"]]
        assert order["ip"].startswith("~s1:") and order["ip"] != event["ip"]
        for name in ("phone", "shipping_address", "device_id", "payment_fingerprint"):
            if event.get(name) is not None:
                assert order[name] not in (None, event[name]), name
        assert len(order["_digest"]) == 24



def test_the_verdict_publisher_and_the_rules_topic_work_over_sasl_ssl(secure_kafka, secure_env) -> None:
    from riskstream.kafka.control import publish_control, read_control
    from riskstream.kafka.verdicts import VerdictPublisher
    from riskstream.verdicts import Verdict

    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"orders-{suffix}", decisions=f"decisions-{suffix}", review=f"review-{suffix}",
                    dlq=f"dlq-{suffix}", verdicts=f"verdicts-{suffix}", rules=f"rules-{suffix}", partitions=1)
    ensure_topics(secure_kafka.bootstrap, topics)
    verdict = Verdict.create("freeze", "alice", accounts=["u-1"], case_id="c-1")
    with VerdictPublisher(secure_kafka.bootstrap, topics.verdicts) as publisher:
        publisher.publish(verdict)
    (record,) = read_records(secure_kafka.bootstrap, topics.verdicts, 1, timeout=30, settle=0.5)
    assert orjson.loads(record.value)["verdict_id"] == verdict.verdict_id
    publish_control(b"live", b'{"x": 1}', secure_kafka.bootstrap, topics.rules)
    assert [(key, value) for key, value, _ in read_control(secure_kafka.bootstrap, topics.rules)] == [
        (b"live", b'{"x": 1}')]
