"""riskstream cluster list / show: the reviewer's view of a ring, with its picture."""

import orjson
import pytest
from click.testing import CliRunner

from riskstream.cli import main
from riskstream.graph import cluster_id_of
from riskstream.testing import make_order

RULES = """
ruleset: {version: t, thresholds: {review: 40, hold: 70, freeze: 150}}
sales:
  - {id: S1, skus: [FS-1], start: "2026-11-11T20:00:00+08:00", end: "2026-11-11T20:30:00+08:00", per_person_limit: 1}
graph: {links: [device, phone, payment, address], hub_accounts: 10}
rules:
  - id: ring
    cluster: {size: {ge: 3}, new_share: {ge: 0.5}, flash_orders: {ge: 3}, via: [device, phone, payment]}
    match: {flash: true}
    score: 100
    outcome: freeze
"""


@pytest.fixture
def files(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    rows = [make_order(k, account_id=f"ring{k}", device_id=f"emu-{k % 2}", phone="13800138000", sku="FS-1",
                       account_age=7200) for k in range(6)]
    rows += [make_order(10 + k, account_id=f"home{k}", shipping_address="北京市海淀区中关村大街27号1单元101室")
             for k in range(2)]
    rows += [make_order(20 + k, account_id=f"alone{k}") for k in range(5)]
    source = tmp_path / "orders.jsonl"
    source.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return rules, source, rows


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, terminal_width=200)
    return result


def test_cluster_list_shows_the_ring_first(files):
    rules, source, _ = files
    result = run("cluster", "list", "--input", source, "--rules", rules)
    assert result.exit_code == 0, result.output
    ring, home = cluster_id_of("ring0"), cluster_id_of("home0")
    assert ring in result.output and home in result.output
    assert result.output.index(ring) < result.output.index(home)  # largest first
    flagged = run("cluster", "list", "--input", source, "--rules", rules, "--flagged")
    assert ring in flagged.output and home not in flagged.output


@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".png", b"\x89PNG")])
def test_cluster_show_prints_members_links_orders_and_draws_the_graph(files, tmp_path, suffix, magic):
    rules, source, rows = files
    picture = tmp_path / f"ring{suffix}"
    result = run("cluster", "show", cluster_id_of("ring0"), "--input", source, "--rules", rules, "-o", picture)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "6 accounts" in out
    for k in range(6):
        assert f"ring{k}" in out
        assert rows[k]["order_id"] in out
    assert "home0" not in out and "alone0" not in out
    assert "device" in out and "phone" in out and "13800138000" not in out  # pseudonyms only
    assert "freeze" in out
    data = picture.read_bytes()
    assert data.startswith(magic) and len(data) > 2000
    if suffix == ".svg":
        assert data.count(b"<path") > 6  # edges and nodes drawn


def test_cluster_show_of_an_unknown_id_says_where_to_look(files):
    rules, source, _ = files
    result = run("cluster", "show", "cl-nope", "--input", source, "--rules", rules)
    assert result.exit_code != 0 and "riskstream cluster list" in result.output


def test_cluster_commands_need_a_rule_set_with_a_graph(files, tmp_path):
    _, source, _ = files
    plain = tmp_path / "plain.yaml"
    plain.write_text("rules:\n  - id: r\n    match: {quantity: {gt: 5}}\n    score: 1\n")
    result = run("cluster", "list", "--input", source, "--rules", plain)
    assert result.exit_code != 0 and "keeps no graph" in result.output
