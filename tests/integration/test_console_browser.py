"""The console in a real headless Chromium (selenium): log in, open a ring's case, freeze it with the keyboard.

The console runs as ``riskstream console serve`` (uvicorn) on a free port, over a
SQLite store filled from a replayed simulated sale, publishing to the session's
real broker.  Skipped, with the reason, only when chromium or chromium-driver
are not installed (``make test`` installs them).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
from kafka import KafkaConsumer
from sqlalchemy import select

from riskstream.console.auth import add_user
from riskstream.console.ingest import CaseIngest
from riskstream.console.models import Case, Order
from riskstream.console.store import CaseStore
from riskstream.kafka.topics import Topics, ensure_topics
from riskstream.verdicts import VerdictAction, parse_verdict

PASSWORD = "correct horse battery"
CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(CHROMIUM is None or DRIVER is None,
                                reason="chromium and chromium-driver are not installed (apt-get install chromium "
                                       "chromium-driver; make test does)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the console exited: {proc.stderr.read().decode()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP answer (the login page's 200): it is up
                return
            time.sleep(0.2)
    raise AssertionError(f"the console did not answer on {url} within {timeout} s")


def test_a_reviewer_freezes_a_ring_from_the_browser(kafka_bootstrap, replayed, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"orders-{suffix}", decisions=f"decisions-{suffix}", review=f"review-{suffix}",
                    dlq=f"dlq-{suffix}", verdicts=f"verdicts-{suffix}", partitions=1, verdicts_partitions=1)
    ensure_topics(kafka_bootstrap, topics)
    store_path = tmp_path / "cases.db"
    with CaseStore.open(store_path) as store:
        CaseIngest(store).ingest(replayed[1])
        with store.session() as session:
            add_user(session, "alice", PASSWORD, "reviewer")
    port = free_port()
    env = {**os.environ, "RISKSTREAM_CONSOLE_SECRET": "browser-test-secret-0123456789",
           "RISKSTREAM_TOPIC_VERDICTS": topics.verdicts}
    console = subprocess.Popen([sys.executable, "-m", "riskstream.cli", "console", "serve", "-s", str(store_path),
                                "--port", str(port), "-b", kafka_bootstrap], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    browser = None
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/login", console)
        browser = webdriver.Chrome(service=Service(DRIVER), options=options)
        browser.implicitly_wait(5)
        browser.get(f"{base}/login")
        browser.find_element(By.ID, "username").send_keys("alice")
        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        browser.find_element(By.ID, "login").click()
        assert browser.current_url.endswith("/queue")
        browser.get(f"{base}/queue?min_size=3&outcome=hold")
        body = browser.find_element(By.TAG_NAME, "body")
        body.send_keys("j")  # select the top case, then open it
        body.send_keys("\n")
        assert "/cases/" in browser.current_url
        case_id = browser.current_url.rsplit("/", 1)[1]
        assert browser.find_element(By.CSS_SELECTOR, "svg.cluster")
        with CaseStore.open(store_path) as store, store.session() as session:
            accounts = list(dict.fromkeys(session.scalars(select(Order.account_id).where(Order.case_id == case_id))))
        browser.find_element(By.TAG_NAME, "body").send_keys("f")  # freeze: the page asks to confirm the count
        prompt = browser.switch_to.alert
        assert f"covers {len(accounts)} accounts" in prompt.text
        prompt.send_keys(str(len(accounts)))
        prompt.accept()
        deadline = time.monotonic() + 15
        while browser.find_element(By.ID, "status").text != "closed" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert browser.find_element(By.ID, "status").text == "closed"
    finally:
        if browser is not None:
            browser.quit()
        console.terminate()
        console.wait(timeout=15)
        console.stderr.close()

    consumer = KafkaConsumer(topics.verdicts, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=5000)
    try:
        (record,) = list(consumer)
    finally:
        consumer.close()
    verdict = parse_verdict(record.value)
    assert (verdict.action, verdict.reviewer, verdict.case_id) == (VerdictAction.FREEZE, "alice", case_id)
    assert list(verdict.accounts) == accounts
    with CaseStore.open(store_path) as store, store.session() as session:
        assert session.get(Case, case_id).label == 1
    verified = subprocess.run([sys.executable, "-m", "riskstream.cli", "audit", "verify", "-s", str(store_path)],
                              capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0 and "audit chain intact" in verified.stderr
