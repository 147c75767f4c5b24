"""Rule files: the shipped defaults validate; every kind of mistake is located."""

from pathlib import Path

import pytest

from riskstream.rules import RuleFileError, load_ruleset, ruleset_from_sources
from riskstream.rules.model import RuleFile
from riskstream.testing import ruleset_from_yaml

ROOT = Path(__file__).resolve().parents[2]

SALE = """
sales:
  - id: S1
    skus: [FS-1]
    start: "2026-11-11T20:00:00+08:00"
    end: "2026-11-11T20:30:00+08:00"
    per_person_limit: 1
"""


def problems(*texts: str) -> list[str]:
    with pytest.raises(RuleFileError) as info:
        ruleset_from_yaml(*texts)
    return [str(p) for p in info.value.problems]


def test_shipped_rules_validate_and_cover_every_kind():
    ruleset = load_ruleset(ROOT / "rules")
    kinds = {rule.kind for rule in ruleset.rules}
    assert kinds == {"velocity", "purchase_limit", "list", "match", "cluster"}
    assert ruleset.graph is not None and "ip_prefix" not in ruleset.graph.links and "device" in ruleset.graph.links
    assert ruleset.version.startswith("2026.12.2+")
    assert "S1111-2000" in ruleset.sales
    assert ruleset.places["account-daily-orders"].startswith(str(ROOT / "rules" / "velocity.yaml") + ":")


def test_version_changes_with_content():
    a = ruleset_from_yaml("ruleset: {version: '1'}\nrules: []\n")
    b = ruleset_from_yaml("ruleset: {version: '1'}\nrules: []\n# a comment\n")
    assert a.version != b.version and a.version.startswith("1+")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("rules:\n  - id: r\n    velocity: {key: ip, window: 10x}\n    above: 1\n    score: 1\n",
         "memory-0.yaml:3: rules[0].velocity.window: expected a duration"),
        ("rules:\n  - id: r\n    velocity: {key: [ip], window: 1h}\n    score: 1\n",
         "memory-0.yaml:2: rules[0]: a velocity rule needs `above`"),
        ("rules:\n  - id: r\n    velocity: {key: [ipv4], window: 1h}\n    above: 1\n    score: 1\n",
         "memory-0.yaml:3: rules[0].velocity.key[0]: Input should be"),
        ("rules:\n  - id: r\n    match: {quantity: {gt: 1}}\n    outcome: block\n",
         "memory-0.yaml:4: rules[0].outcome: unknown outcome 'block'"),
        ("rules:\n  - id: r\n    match: {quantity: {gt: 1}}\n",
         "memory-0.yaml:2: rules[0]: a rule needs a score, an outcome or both"),
        ("rules:\n  - id: r\n    match: {quantity: {gt: 1}}\n    score: 1\n    scroe: 2\n",
         "memory-0.yaml:5: rules[0].scroe: unknown field"),
        ("rules:\n  - id: r\n    velocity: {key: [ip], metric: distinct, window: 1h}\n    above: 1\n    score: 1\n",
         "memory-0.yaml:3: rules[0].velocity: metric 'distinct' needs `of`"),
        ("rules:\n  - id: r\n    match: {account_age: {lt: soon}}\n    score: 1\n",
         "memory-0.yaml:3: rules[0].match.account_age.lt: expected a duration"),
        ("rules:\n  - id: r\n    list: vip\n    match: {quantity: {gt: 1}}\n    outcome: hold\n",
         "memory-0.yaml:3: rules[0].list: no list with id 'vip'"),
        ("rules:\n  - id: r\n    match: {sale: S9}\n    score: 1\n" + SALE,
         "memory-0.yaml:3: rules[0].match.sale: no sale with id 'S9'"),
        ("rules:\n  - id: r\n    purchase_limit: {}\n    score: 1\n",
         "memory-0.yaml:2: rules[0]: this rule works per sale, but no sales are defined"),
        ("rules:\n  - id: bad id\n    match: {items: {gt: 1}}\n    score: 1\n",
         "memory-0.yaml:2: rules[0].id: String should match pattern"),
        ("ruleset:\n  thresholds: {review: 50, hold: 40}\n",
         "memory-0.yaml:2: ruleset.thresholds: hold (40) must be above review (50)"),
        ("sales:\n  - id: S\n    skus: [A]\n    start: 2026-11-11T20:00:00\n    end: 2026-11-11T21:00:00\n",
         "memory-0.yaml:2: sales[0]: start and end need a UTC offset"),
        ("rules: [\n", "memory-0.yaml:2: not valid YAML"),
        ("rules:\n  - id: r\n    id: s\n", "memory-0.yaml:3: rules[0].id: key given twice"),
        ("- just a list\n", "memory-0.yaml:1: a rule file is a mapping"),
    ],
)
def test_errors_name_file_line_and_field(text, expected):
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_duplicate_ids_across_files_point_at_both():
    rule = "rules:\n  - id: same\n    match: {items: {gt: 5}}\n    score: 1\n"
    found = problems(rule, "\n" + rule)
    assert found == ["memory-1.yaml:3: rules[].id: rule id 'same' is already defined at memory-0.yaml:2"]


def test_all_problems_of_all_files_are_reported_together():
    bad = "rules:\n  - id: r\n    match: {items: {gt: 5}}\n"
    assert len(problems(bad, bad.replace("id: r", "id: s"))) == 2


def test_directory_loading_and_missing_paths(tmp_path):
    with pytest.raises(RuleFileError, match="no such file"):
        load_ruleset(tmp_path / "nope")
    with pytest.raises(RuleFileError, match="no .yaml rule files"):
        load_ruleset(tmp_path)
    (tmp_path / "b.yaml").write_text("rules:\n  - id: b\n    match: {items: {gt: 5}}\n    score: 1\n")
    (tmp_path / "a.yml").write_text("ruleset: {version: x}\n")
    (tmp_path / "notes.txt").write_text("ignored")
    ruleset = load_ruleset(tmp_path)
    assert [r.id for r in ruleset.rules] == ["b"] and ruleset.header.version == "x"


def test_yaml_tags_cannot_build_objects():
    found = problems("rules: !!python/object/apply:os.system ['true']\n")
    assert found and "memory-0.yaml" in found[0]


def test_json_schema_describes_the_language():
    schema = RuleFile.model_json_schema()
    rule = schema["$defs"]["Rule"]["properties"]
    assert {"velocity", "purchase_limit", "list", "match", "above", "score", "outcome", "mode"} <= set(rule)
    assert set(schema["$defs"]["Entity"]["enum"]) >= {"account", "ip", "ip_prefix", "device", "phone", "payment", "address", "sku", "sale"}


def test_sources_are_bytes_or_text():
    assert ruleset_from_sources([("a.yaml", b"rules: []\n")]).rules == ()
