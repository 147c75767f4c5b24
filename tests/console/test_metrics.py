"""The console's /metrics: queue depth and SLA from the store, verdicts by action, time to verdict, the token."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from riskstream.console.models import Case
from riskstream.decisions import Outcome


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_count_the_queue_verdicts_and_time_to_verdict(filled_store, console_kit):
    make_client, log_in, csrf_of = console_kit
    published = []
    client = make_client(filled_store, publish=published.append, sla_minutes=30)
    with filled_store.session() as session:
        depth = dict(((int(o)), n) for o, n in session.execute(
            select(Case.outcome, func.count()).where(Case.status == "open", Case.orders_count > 0)
            .group_by(Case.outcome)))
        # one held case opened two hours ago: past its SLA, and its time to verdict is about two hours
        held = session.scalars(select(Case).where(Case.status == "open", Case.orders_count > 0,
                                                  Case.outcome >= int(Outcome.HOLD)).order_by(Case.id)).first()
        held.opened_at = datetime.now(timezone.utc) - timedelta(hours=2)
        held_id = held.id
    first = client.get("/metrics")  # no session needed: the scraper has none
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/plain")
    seen = samples(first.text)
    for outcome, n in depth.items():
        label = Outcome(outcome).label
        assert seen[("riskstream_console_queue_depth", (("outcome", label), ("status", "open")))] == n
    assert seen[("riskstream_console_sla_breached", ())] == 1
    assert seen[("riskstream_console_verdicts_total", (("action", "freeze"),))] == 0
    assert seen[("riskstream_console_time_to_verdict_seconds_count", ())] == 0
    assert seen[("riskstream_console_ingest_age_seconds", ())] >= 0
    assert not any(name == "riskstream_console_ingest_lag" for name, _ in seen)  # no lag reader configured

    log_in(client, "reviewer")
    page = client.get(f"/cases/{held_id}").text
    revision = re.search(r'name="case_revision" value="(\d+)"', page).group(1)
    accounts = re.search(r'id="verdict-freeze" data-accounts="(\d+)"', page).group(1)
    done = client.post(f"/cases/{held_id}/verdict", data={"csrf": csrf_of(page), "action": "freeze",
                                                          "case_revision": revision, "confirm_count": accounts})
    assert done.status_code == 303, done.text
    assert len(published) == 1
    after = samples(client.get("/metrics").text)
    assert after[("riskstream_console_verdicts_total", (("action", "freeze"),))] == 1
    assert after[("riskstream_console_verdicts_total", (("action", "release"),))] == 0
    assert after[("riskstream_console_time_to_verdict_seconds_count", ())] == 1
    assert 7000 < after[("riskstream_console_time_to_verdict_seconds_sum", ())] < 7400
    assert after[("riskstream_console_time_to_verdict_seconds_bucket", (("le", "3600.0"),))] == 0
    assert after[("riskstream_console_time_to_verdict_seconds_bucket", (("le", "7200.0"),))] == 0
    assert after[("riskstream_console_time_to_verdict_seconds_bucket", (("le", "14400.0"),))] == 1
    assert after[("riskstream_console_sla_breached", ())] == 0
    held_label = Outcome(depth and max(depth)).label
    open_before = seen[("riskstream_console_queue_depth", (("outcome", held_label), ("status", "open")))]
    open_after = after[("riskstream_console_queue_depth", (("outcome", held_label), ("status", "open")))]
    assert open_after <= open_before


def test_the_lag_reader_is_sampled_and_a_failing_one_does_not_break_the_scrape(filled_store, console_kit):
    make_client, _, _ = console_kit
    calls = []

    def lag():
        calls.append(1)
        if len(calls) > 1:
            raise ConnectionError("broker away")
        return {"risk-review": 12, "risk-decisions": 40}

    client = make_client(filled_store, lag=lag)
    client.app.state.console.metrics._lag_every = 0.0  # sample at every scrape
    seen = samples(client.get("/metrics").text)
    assert seen[("riskstream_console_ingest_lag", (("topic", "risk-review"),))] == 12
    assert seen[("riskstream_console_ingest_lag", (("topic", "risk-decisions"),))] == 40
    second = client.get("/metrics")
    assert second.status_code == 200
    seen = samples(second.text)
    assert not any(name == "riskstream_console_ingest_lag" for name, _ in seen)
    assert seen[("riskstream_console_scrape_errors_total", (("part", "lag"),))] == 1
    assert ("riskstream_console_queue_depth", (("outcome", "hold"), ("status", "open"))) in seen


def test_a_metrics_token_is_asked_for_when_set(filled_store, console_kit):
    make_client, _, _ = console_kit
    client = make_client(filled_store, metrics_token="scrape-me-please")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    answer = client.get("/metrics", headers={"Authorization": "Bearer scrape-me-please"})
    assert answer.status_code == 200 and "riskstream_console_queue_depth" in answer.text
