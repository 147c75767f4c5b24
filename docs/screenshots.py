"""The README's console screenshots, taken in headless Chromium from a simulated flash sale.

    python docs/screenshots.py [--orders 30000] [--seed 11]

A simulated sale is decided by ``riskstream replay`` with the shipped rules, its
decision records go into a fresh case store as the case consumer would put them
there, a lead ``demo`` is added, and ``riskstream console serve`` is opened in
Debian's chromium (selenium, as the browser test drives it): the queue of rings
riskiest first, then the top ring's case page (its picture, the verdict forms
and the first orders), written to docs/console-queue.png
and docs/console-case.png.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

DOCS = Path(__file__).resolve().parent
PASSWORD = "demo password for the screenshots"


def run(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "riskstream.cli", *args], check=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def browser(width: int, height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--hide-scrollbars",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=30000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000, help="the queue's")
    parser.add_argument("--case-height", type=int, default=1600, help="the case page's, at most")
    options = parser.parse_args()

    from selenium.webdriver.common.by import By

    from riskstream.console.ingest import CaseIngest
    from riskstream.console.store import CaseStore

    work = Path(tempfile.mkdtemp(prefix="riskstream-shots-"))
    orders, decisions, store_path = work / "orders.jsonl", work / "decisions.jsonl", work / "cases.db"
    run("simulate", "--orders", str(options.orders), "--seed", str(options.seed), "-o", str(orders))
    run("replay", str(orders), "-o", str(decisions))
    with CaseStore.open(store_path) as store:
        lines = decisions.read_bytes().splitlines()
        ingest = CaseIngest(store)
        for start in range(0, len(lines), 5000):
            ingest.ingest(lines[start:start + 5000])
    run("console", "add-user", "demo", "--role", "lead", "--password", PASSWORD, "-s", str(store_path))
    port = free_port()
    env = os.environ | {"RISKSTREAM_CONSOLE_SECRET": os.urandom(16).hex()}
    server = subprocess.Popen([sys.executable, "-m", "riskstream.cli", "console", "serve", "-s", str(store_path),
                               "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    driver = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/login", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the console did not start") from None
                time.sleep(0.2)
        driver = browser(options.width, options.height)
        driver.get(f"{base}/login")
        driver.find_element(By.ID, "username").send_keys("demo")
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "login").click()
        driver.get(f"{base}/queue?min_size=3&sort=risk")
        top = driver.find_elements(By.CSS_SELECTOR, "tr.case-row")[0].get_attribute("data-href")
        driver.save_screenshot(str(DOCS / "console-queue.png"))
        driver.get(base + top)
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(options.width, min(height, options.case_height))  # the picture, verdicts, orders
        time.sleep(0.5)
        driver.save_screenshot(str(DOCS / "console-case.png"))
        print(f"wrote {DOCS / 'console-queue.png'} and {DOCS / 'console-case.png'} (case {top})")
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
