"""Watching a rules directory: valid changes accepted, invalid ones refused with their place, the
previous rule set kept - on the shipped rule files, through watchfiles and through the command."""

import queue
import shutil
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from riskstream.cli import main
from riskstream.harness import CommandProcess
from riskstream.rules import load_ruleset
from riskstream.rules.watch import ACCEPTED, REJECTED, UNCHANGED, RulesWatch

RULES_SHIPPED = Path(__file__).resolve().parents[2] / "rules"

BROAD = """rules:
  - id: freeze-every-flash-order
    description: too broad on purpose - every flash order is frozen
    match: {flash: true}
    outcome: freeze
"""

BAD = """rules:
  - id: bad-threshold
    velocity: {key: [account], metric: count, window: 1h}
    above: many
    outcome: hold
"""


@pytest.fixture
def rules(tmp_path):
    path = tmp_path / "rules"
    shutil.copytree(RULES_SHIPPED, path)
    return path


def test_reload_accepts_valid_changes_and_keeps_the_last_good_rule_set(rules):
    watch = RulesWatch(rules)
    shipped = load_ruleset(RULES_SHIPPED)
    assert watch.first.status == ACCEPTED and watch.ruleset.version == shipped.version

    (rules / "zz-bad.yaml").write_text(BAD)
    refused = watch.reload()
    assert refused.status == REJECTED and refused.ruleset is watch.ruleset
    assert watch.ruleset.digest == shipped.digest
    assert [str(p) for p in refused.problems] == [
        f"{rules / 'zz-bad.yaml'}:4: rules[0].above: Input should be a valid number, unable to parse string as a number"]
    assert refused.describe() == f"rejected: 1 problem(s); still using ruleset {shipped.version}"

    (rules / "zz-bad.yaml").unlink()
    assert watch.reload().status == UNCHANGED  # back to the content in use: nothing to switch
    (rules / "zz-broad.yaml").write_text(BROAD)
    switched = watch.reload()
    assert switched.status == ACCEPTED and switched.previous.digest == shipped.digest
    assert switched.ruleset.digest != shipped.digest and "freeze-every-flash-order" in {r.id for r in switched.ruleset.rules}
    assert switched.describe() == f"accepted ruleset {switched.ruleset.version} (was {shipped.version})"


def test_an_invalid_directory_at_start_is_reported_and_a_later_fix_accepted(rules):
    (rules / "zz-bad.yaml").write_text(BAD)
    watch = RulesWatch(rules)
    assert watch.first.status == REJECTED and watch.ruleset is None and watch.first.describe().endswith("ruleset none")
    (rules / "zz-bad.yaml").write_text(BROAD)
    assert watch.reload().status == ACCEPTED and watch.ruleset is not None


def test_file_system_changes_reach_the_watch(rules):
    watch = RulesWatch(rules)
    stop = threading.Event()
    seen: queue.Queue = queue.Queue()
    ready = threading.Event()

    def run():
        ready.set()
        for change in watch.changes(stop_event=stop, debounce_ms=50):
            seen.put(change)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait()
    time.sleep(0.5)  # the watcher is registered once its first poll is under way
    try:
        (rules / "notes.txt").write_text("not a rule file: ignored")
        (rules / "zz-bad.yaml").write_text(BAD)
        refused = seen.get(timeout=10)
        assert refused.status == REJECTED and refused.problems[0].line == 4
        started = time.perf_counter()
        (rules / "zz-bad.yaml").write_text(BROAD)
        accepted = seen.get(timeout=10)
        latency = time.perf_counter() - started
        assert accepted.status == ACCEPTED and accepted.previous.digest == load_ruleset(RULES_SHIPPED).digest
        assert latency < 5, f"a save took {latency:.2f} s to be accepted"
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert seen.empty()


def test_watch_command_replays_each_accepted_rule_set_and_refuses_an_invalid_one(rules, tmp_path):
    history = tmp_path / "orders.jsonl"
    result = CliRunner().invoke(main, ["simulate", "-n", "1500", "-s", "3", "-o", str(history)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    watch = CommandProcess("rules", "watch", str(rules), "--replay", str(history))
    try:
        start = watch.until("watching")
        assert start[0].startswith("accepted ruleset ")
        first = dict(part.rsplit(" ", 1) for part in start[1].removeprefix("  outcomes: ").split(", "))
        time.sleep(0.5)

        (rules / "zz-bad.yaml").write_text(BAD)
        refused = watch.until("  ")
        assert refused[0].startswith("rejected: 1 problem(s); still using ruleset ")
        assert refused[1] == (f"  {rules / 'zz-bad.yaml'}:4: rules[0].above: "
                              "Input should be a valid number, unable to parse string as a number")

        (rules / "zz-bad.yaml").write_text(BROAD)
        accepted = watch.until("  outcomes: ")
        assert accepted[0].startswith("accepted ruleset ")
        after = {part.split(" ")[0]: part.split(" ") for part in accepted[1].removeprefix("  outcomes: ").split(", ")}
        frozen_before = int(first["freeze"].replace(",", ""))
        frozen_after = int(after["freeze"][1].replace(",", ""))
        assert frozen_after > frozen_before  # the broad rule freezes flash orders (up to the safety cap)
        assert after["freeze"][2] == f"({frozen_after - frozen_before:+,})"
    finally:
        code = watch.interrupt()
    assert code == 0, watch.seen
    assert watch.until("stopped watching ") == [f"stopped watching {rules}; last accepted ruleset {accepted[0].split()[2]}"]
