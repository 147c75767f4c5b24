"""Tests of the flash-sale traffic simulator (riskstream.sim)."""

from __future__ import annotations

import collections
import itertools
import os
import re
import subprocess
import sys
from datetime import datetime

import orjson
import pytest

from riskstream import sim
from riskstream.sim import output as sim_output

N = 5000
REQUIRED = {"order_id": str, "event_time": str, "account_id": str, "items": list, "amount": float,
            "currency": str, "ip": str, "device_id": str, "user_agent": str, "phone": str,
            "payment_fingerprint": str, "shipping_address": (str, dict), "label": int, "scenario": str}
ADDRESS_PARTS = {"country", "region", "city", "district", "street", "postal_code", "recipient"}


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return list(sim.simulate(N, seed=7))


def _time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() is not None, text
    return moment


def test_exact_count():
    for n in (0, 1, 2, 9, 101, 2000):
        assert sum(1 for _ in sim.simulate(n, seed=3)) == n


def test_negative_count_is_rejected():
    with pytest.raises(ValueError):
        next(sim.simulate(-1))


def test_scenario_counts_add_up():
    for n in [*range(3000), 99_999, 200_000, 1_000_000, 12_345_677]:
        counts = sim.scenario_counts(n)
        assert sum(counts.values()) == n and min(counts.values()) >= 0
        assert all(abs(counts[k] - n * share) < 1 for k, (_, share, _) in sim.SCENARIOS.items())


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    paths = [tmp_path / name for name in ("a.jsonl", "b.jsonl", "c.jsonl")]
    assert sim.write_jsonl(paths[0], 2000, seed=11) == 2000
    assert sim.write_jsonl(str(paths[1]), 2000, seed=11) == 2000
    sim.write_jsonl(paths[2], 2000, seed=12)
    first = paths[0].read_bytes()
    assert first == paths[1].read_bytes()
    assert first != paths[2].read_bytes()
    assert first.count(b"\n") == 2000 and first.endswith(b"\n")


def test_output_does_not_depend_on_the_process():
    """Hash randomisation must not leak into the output: files are compared across runs."""
    expected = b"".join(orjson.dumps(e) + b"\n" for e in sim.simulate(300, seed=4))
    code = "from riskstream.sim import write_jsonl; write_jsonl('-', 300, seed=4)"
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True).stdout
    assert out == expected


def test_write_jsonl_progress_and_stdout(tmp_path, capsysbinary, monkeypatch):
    monkeypatch.setattr(sim_output, "CHUNK", 100)
    seen: list[int] = []
    assert sim.write_jsonl(tmp_path / "p.jsonl", 250, seed=1, progress=seen.append) == 250
    assert seen == [100, 200, 250]
    assert sim.write_jsonl("-", 50, seed=1) == 50
    lines = capsysbinary.readouterr().out.splitlines()
    assert len(lines) == 50
    assert [orjson.loads(line) for line in lines] == list(sim.simulate(50, seed=1))


def test_time_order_and_unique_order_ids(events):
    times = [_time(e["event_time"]) for e in events]
    assert all(a <= b for a, b in itertools.pairwise(times))
    assert all(t.date().isoformat() == "2026-11-11" for t in times)
    ids = [e["order_id"] for e in events]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"o-\d{9}", i) for i in ids)


def test_every_scenario_present_with_its_label(events):
    by_scenario = collections.Counter(e["scenario"] for e in events)
    assert set(by_scenario) == set(sim.SCENARIOS)
    assert by_scenario == sim.scenario_counts(N)
    for e in events:
        assert e["label"] in (0, 1) and type(e["label"]) is int
        assert e["label"] == sim.SCENARIOS[e["scenario"]][0]
    small = collections.Counter(e["scenario"] for e in sim.simulate(2000, seed=5))
    assert set(small) == set(sim.SCENARIOS)


def test_contract_fields_and_types(events):
    for e in events:
        for field, kind in REQUIRED.items():
            assert isinstance(e[field], kind), (field, e)
        assert e["currency"] == "CNY" and e["order_id"] and e["account_id"]
        assert len(e["items"]) >= 1
        for item in e["items"]:
            assert set(item) == {"sku", "quantity", "unit_price"}
            assert type(item["quantity"]) is int and item["quantity"] >= 1
            assert isinstance(item["unit_price"], float) and item["unit_price"] >= 0
            assert isinstance(item["sku"], str) and item["sku"]
        assert e["amount"] == pytest.approx(sum(i["quantity"] * i["unit_price"] for i in e["items"]), abs=0.01)
        _time(e["event_time"])
        if "account_created_at" in e:
            assert _time(e["account_created_at"]) < _time(e["event_time"]), e
        if isinstance(e["shipping_address"], dict):
            assert set(e["shipping_address"]) == ADDRESS_PARTS
            assert all(isinstance(v, str) for v in e["shipping_address"].values())
        assert set(e) <= set(REQUIRED) | {"account_created_at", "sale_id"}


def test_events_parse_with_the_contract_parser(events):
    events_module = pytest.importorskip("riskstream.events")
    for e in events[::7]:
        parsed = events_module.parse_order(orjson.dumps(e))
        assert parsed.order_id == e["order_id"]


def test_sale_id_only_on_flash_orders_during_the_sale(events):
    for e in events:
        t = _time(e["event_time"])
        flash = [i for i in e["items"] if i["sku"] in sim.FLASH_SKUS]
        in_sale = sim.SALE_START <= t < sim.SALE_END
        if flash and in_sale:
            assert e.get("sale_id") == sim.SALE_ID
            assert all(i["unit_price"] == sim.FLASH_SKUS[i["sku"]] for i in flash)
        else:
            assert "sale_id" not in e, e
    assert sum("sale_id" in e for e in events) > N // 10


def test_mix_of_shapes_that_real_pipelines_send(events):
    addresses = [e["shipping_address"] for e in events]
    assert 0.1 < sum(isinstance(a, dict) for a in addresses) / N < 0.6
    assert any(isinstance(a, str) and "London" in a or isinstance(a, dict) and a["country"] != "CN"
               for a in addresses)
    assert 0.05 < sum(":" in e["ip"] for e in events) / N < 0.2
    benign = [e for e in events if e["label"] == 0]
    missing = sum("account_created_at" not in e for e in benign) / len(benign)
    assert 0.005 < missing < 0.05
    assert all("account_created_at" in e for e in events if e["label"] == 1)


def test_ring_phones_appear_in_several_formats(events):
    formats = collections.defaultdict(set)
    for e in events:
        if e["scenario"] == "ring":
            digits = re.sub(r"\D", "", e["phone"])
            formats[digits[-11:]].add(e["phone"])
    assert max(len(v) for v in formats.values()) >= 3
    shapes = {re.sub(r"\d", "9", p) for texts in formats.values() for p in texts}
    assert len(shapes) >= 5


def test_ring_accounts_are_fresh_and_share_resources(events):
    ring = [e for e in events if e["scenario"] == "ring"]
    accounts = {e["account_id"] for e in ring}
    for e in ring:
        created, at = _time(e["account_created_at"]), _time(e["event_time"])
        assert created < sim.SALE_START <= at < sim.SALE_END
        assert (sim.SALE_START - created).total_seconds() <= 72 * 3600
    devices = collections.Counter(e["device_id"] for e in ring)
    cards = {e["payment_fingerprint"] for e in ring}
    assert max(devices.values()) >= 3
    assert len(cards) < len(accounts) / 3


def test_benign_accounts_respect_the_flash_limit(events):
    units = collections.Counter()
    for e in events:
        if e["label"] == 0 and "sale_id" in e:
            for i in e["items"]:
                if i["sku"] in sim.FLASH_SKUS:
                    units[e["account_id"], i["sku"]] += i["quantity"]
    assert units and max(units.values()) == 1


def test_ids_do_not_reveal_the_label(events):
    for e in events:
        assert re.fullmatch(r"u\d{11}", e["account_id"])
        assert re.fullmatch(r"[0-9a-f]{16}|[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}", e["device_id"])
        assert re.fullmatch(r"[0-9a-f]{24}", e["payment_fingerprint"])
    owners = collections.defaultdict(set)
    for e in events:
        owners[e["account_id"]].add(e["label"])
    assert all(len(labels) == 1 for labels in owners.values())
