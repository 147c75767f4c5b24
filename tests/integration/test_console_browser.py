"""The reviewers' console end to end in a real headless Chromium (Debian's chromium and chromium-driver,
driven by selenium): a real broker, a real worker, a real SQLite case store and the console served by
uvicorn.  A reviewer logs in, moves to the top ring of the queue with the keyboard, freezes it with one
key, and the verdict reaches the stream: the record on risk-verdicts, frozen revisions of the ring's held
orders on risk-decisions, the next order of a frozen account frozen by the worker, the audit chain clean."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote

import orjson
import pytest
from click.testing import CliRunner
from kafka import KafkaConsumer
from sqlalchemy import select

from riskstream.cli import main
from riskstream.console.models import Case, Order
from riskstream.console.store import CaseStore
from riskstream.decisions import Outcome
from riskstream.harness import WorkerProcess, compressed_time_settings, publish_paced
from riskstream.kafka.topics import Topics, ensure_topics
from riskstream.sim import simulate
from riskstream.testing import make_order
from riskstream.verdicts import parse_verdict

ROOT = Path(__file__).resolve().parents[2]
RULES = str(ROOT / "rules")
ORDERS, SEED = 3000, 3
PASSWORD = "correct horse battery"


class Topic:
    """Every record of a topic so far, read on demand from the beginning."""

    def __init__(self, bootstrap: str, topic: str):
        self.consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                      enable_auto_commit=False)
        self.records: list = []

    def until(self, done, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done(self.records):
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not there after {timeout} s ({len(self.records)} records read)")
            for batch in self.consumer.poll(timeout_ms=100).values():
                self.records.extend(batch)

    def values(self) -> list[dict]:
        return [orjson.loads(r.value) for r in self.records]

    def close(self) -> None:
        self.consumer.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("chromium and chromedriver are needed: apt-get install chromium chromium-driver "
                    "(make test does)", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def _serve(store: Path, port: int, bootstrap: str, topics: Topics, log: Path) -> subprocess.Popen:
    env = os.environ | {"RISKSTREAM_TOPIC_VERDICTS": topics.verdicts, "RISKSTREAM_CONSOLE_SECRET": uuid.uuid4().hex}
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen([sys.executable, "-m", "riskstream.cli", "console", "serve", "-s", str(store),
                                    "--port", str(port), "-b", bootstrap], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=1) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the console did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)


def _verdict_reason(decision: dict) -> str | None:
    found = [r["value"]["reason"] for r in decision["reasons"] if r["kind"] == "verdict"]
    return found[0] if found else None


def test_a_reviewer_freezes_a_ring_with_the_keyboard_and_the_stream_applies_it(kafka_bootstrap, tmp_path,
                                                                                  monkeypatch):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"orders-{suffix}", decisions=f"decisions-{suffix}", review=f"review-{suffix}",
                    dlq=f"dlq-{suffix}", verdicts=f"verdicts-{suffix}", partitions=2)
    ensure_topics(kafka_bootstrap, topics)
    for name, value in (("RISKSTREAM_TOPIC_DECISIONS", topics.decisions), ("RISKSTREAM_TOPIC_REVIEW", topics.review),
                        ("RISKSTREAM_TOPIC_DLQ", topics.dlq), ("RISKSTREAM_TOPIC_VERDICTS", topics.verdicts)):
        monkeypatch.setenv(name, value)
    worker = WorkerProcess(kafka_bootstrap, topics, f"rs-{suffix}", tmp_path, RULES, compressed_time_settings())
    decisions = Topic(kafka_bootstrap, topics.decisions)
    store_path = tmp_path / "cases.db"
    console = browser = None
    try:
        # A simulated sale through a real worker, then into the case store.
        worker.start()
        worker.wait_ready()
        events = list(simulate(ORDERS, seed=SEED))
        publish_paced(kafka_bootstrap, topics.orders, events, rate=3000)
        decisions.until(lambda r: len({x.key for x in r}) >= len(events), 90, "a decision for every order")
        time.sleep(1.0)  # the ring's escalations follow their trigger
        runner = CliRunner()
        ingested = runner.invoke(main, ["cases", "ingest", "-s", str(store_path), "-b", kafka_bootstrap,
                                        "--group", f"cases-{suffix}", "--idle-exit", "2"])
        assert ingested.exit_code == 0, ingested.output
        added = runner.invoke(main, ["console", "add-user", "alice", "--role", "reviewer", "--password", PASSWORD,
                                     "-s", str(store_path)])
        assert added.exit_code == 0, added.output

        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        console = _serve(store_path, port, kafka_bootstrap, topics, tmp_path / "console.log")
        browser = _browser()
        wait = WebDriverWait(browser, 15)

        # Log in; the queue of rings (3 accounts or more), riskiest first.
        browser.get(f"{base}/queue")
        assert browser.find_element(By.ID, "login")  # no session: the login page
        browser.find_element(By.ID, "username").send_keys("alice")
        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        browser.find_element(By.ID, "login").click()
        wait.until(seen.url_contains("/queue"))
        browser.get(f"{base}/queue?min_size=3&sort=risk")
        rows = browser.find_elements(By.CSS_SELECTOR, "tr.case-row")
        assert rows, "the simulated sale gave no ring to the queue"
        top = rows[0].get_attribute("data-href")

        # j selects the top case, Enter opens it.
        body = browser.find_element(By.TAG_NAME, "body")
        body.send_keys("j")
        assert "selected" in rows[0].get_attribute("class")
        body.send_keys(Keys.ENTER)
        wait.until(seen.url_contains("/cases/"))
        assert browser.current_url == base + top
        case_id = unquote(top.rsplit("/", 1)[1])
        assert browser.find_element(By.ID, "picture").find_elements(By.CSS_SELECTOR, "g.account")
        with CaseStore.open(store_path) as store, store.session() as session:
            orders = session.scalars(select(Order).where(Order.case_id == case_id)).all()
            accounts = {o.account_id for o in orders}
            held = {o.order_id for o in orders if o.action < Outcome.FREEZE}
        assert len(accounts) >= 3

        # f freezes the ring; the console asks to confirm the number of accounts.
        browser.find_element(By.TAG_NAME, "body").send_keys("f")
        alert = wait.until(seen.alert_is_present())
        assert str(len(accounts)) in alert.text
        alert.send_keys(str(len(accounts)))
        alert.accept()
        wait.until(seen.text_to_be_present_in_element((By.ID, "status"), "closed"))

        # The verdict record on risk-verdicts.
        verdicts = Topic(kafka_bootstrap, topics.verdicts)
        verdicts.until(lambda r: len(r) >= 1, 15, "the verdict on risk-verdicts")
        verdict = parse_verdict(verdicts.records[0].value)
        verdicts.close()
        assert verdict.action.value == "freeze" and verdict.reviewer == "alice" and verdict.case_id == case_id
        assert set(verdict.accounts) == accounts

        # Frozen revisions of the ring's held orders, with the verdict's reason.
        def revised(records) -> bool:
            frozen = {d["order_id"] for d in map(lambda r: orjson.loads(r.value), records)
                      if d["action"] == "freeze" and _verdict_reason(d) == "verdict by alice"}
            return held <= frozen

        decisions.until(revised, 20, f"frozen revisions of the {len(held)} held orders")

        # The next order of a frozen account is frozen by the worker.
        account = sorted(accounts)[0]
        later = (datetime.now(timezone.utc) + timedelta(seconds=2)).isoformat(timespec="milliseconds")
        next_order = make_order(account_id=account, event_time=later)
        publish_paced(kafka_bootstrap, topics.orders, [next_order], rate=100)
        decisions.until(lambda r: any(x.key.decode() == next_order["order_id"] for x in r), 30,
                        "a decision on the frozen account's next order")
        first = next(d for d in decisions.values() if d["order_id"] == next_order["order_id"])
        assert first["action"] == "freeze" and _verdict_reason(first) == "verdict by alice"
    except BaseException:
        for log in sorted(tmp_path.glob("*.log")):
            print(f"--- {log.name}:\n" + log.read_text(errors="replace")[-3000:])
        raise
    finally:
        if browser is not None:
            browser.quit()
        if console is not None:
            console.terminate()
            console.wait(10)
        worker.stop()
        decisions.close()

    # The login and the verdict are in the audit trail, and its chain verifies.
    with CaseStore.open(store_path) as store, store.session() as session:
        assert session.get(Case, case_id).label == 1  # a confirmed scalper: its orders export as label 1
    checked = CliRunner().invoke(main, ["audit", "verify", "-s", str(store_path)])
    assert checked.exit_code == 0 and "audit chain intact" in checked.output, checked.output
