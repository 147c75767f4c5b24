"""The console web app through Starlette's TestClient: sessions, CSRF, lock-out, roles, the queue, case pages."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from riskstream.console.audit import verify_chain
from riskstream.console.models import AuditRow, Case, Order, User
from riskstream.decisions import Outcome

ROUTES = [("get", "/queue"), ("get", "/api/queue"), ("get", "/dashboard"), ("get", "/cases/x"),
          ("post", "/cases/x/claim"), ("post", "/cases/x/notes"), ("post", "/cases/x/verdict"), ("post", "/logout")]


def test_every_route_without_a_session_gets_the_login_page_or_a_401(filled_store, console_kit):
    make_client, _, _ = console_kit
    client = make_client(filled_store)
    for method, path in ROUTES:
        answer = getattr(client, method)(path)
        assert answer.status_code == 401, (method, path)
        if path.startswith("/api/"):
            assert answer.json() == {"error": "log in first"}
        else:
            assert 'action="/login"' in answer.text
    client.cookies.set("riskstream_session", "forged.value.here")
    assert client.get("/queue").status_code == 401
    assert client.get("/static/htmx.min.js").status_code == 200


def test_login_needs_its_csrf_token_and_logins_are_audited(filled_store, console_kit):
    make_client, log_in, csrf_of = console_kit
    client = make_client(filled_store)
    client.get("/login")
    refused = client.post("/login", data={"username": "reviewer", "password": "correct horse battery", "csrf": "x"})
    assert refused.status_code == 403 and "expired" in refused.text
    done = log_in(client, "reviewer")
    assert done.status_code == 303 and done.headers["location"] == "/queue"
    assert client.get("/queue").status_code == 200
    with filled_store.session() as session:
        events = session.scalars(select(AuditRow.event).order_by(AuditRow.id)).all()
    assert events[-1] == "login"


def test_five_failed_logins_lock_the_account(filled_store, console_kit):
    make_client, log_in, _ = console_kit
    client = make_client(filled_store)
    for n in range(4):
        answer = log_in(client, "lead", "wrong password!")
        assert answer.status_code == 401 and "wrong user name or password" in answer.text
    fifth = log_in(client, "lead", "wrong password!")
    assert fifth.status_code == 401 and "locked" in fifth.text
    right = log_in(client, "lead")
    assert right.status_code == 401 and "locked" in right.text and "riskstream_session" not in right.cookies
    with filled_store.session() as session:
        assert session.get(User, "lead").locked == 1
        events = session.scalars(select(AuditRow.event).where(AuditRow.actor == "lead")).all()
    assert events.count("login-failed") == 6 and events.count("locked") == 1
    assert verify_chain(filled_store).ok


def test_sessions_expire(filled_store, console_kit):
    make_client, log_in, _ = console_kit
    client = make_client(filled_store, session_minutes=1 / 60)  # one second
    log_in(client, "reviewer")
    assert client.get("/queue").status_code == 200
    time.sleep(2.1)
    assert client.get("/queue").status_code == 401


def test_posts_need_the_sessions_csrf_token_and_roles_their_rights(filled_store, console_kit):
    make_client, log_in, csrf_of = console_kit
    reviewer, analyst = make_client(filled_store), make_client(filled_store)
    log_in(reviewer, "reviewer")
    log_in(analyst, "analyst")
    top = reviewer.get("/api/queue").json()["cases"][0]["id"]
    page = reviewer.get(f"/cases/{top}")
    token = csrf_of(page.text)
    assert reviewer.post(f"/cases/{top}/claim", data={}).status_code == 403
    assert reviewer.post(f"/cases/{top}/claim", data={"csrf": csrf_of(analyst.get('/queue').text)}).status_code == 403
    assert reviewer.post(f"/cases/{top}/claim", data={"csrf": token, "assignee": "lead"}).status_code == 403
    assert reviewer.post(f"/cases/{top}/claim", data={"csrf": token}).status_code == 303
    with filled_store.session() as session:
        assert session.get(Case, top).assignee == "reviewer"
        assert session.scalars(select(AuditRow.event).order_by(AuditRow.id.desc())).first() == "assign"
    analyst_token = csrf_of(analyst.get(f"/cases/{top}").text)
    refused = analyst.post(f"/cases/{top}/verdict", data={"csrf": analyst_token, "action": "freeze"})
    assert refused.status_code == 403 and "analyst may not" in refused.text
    assert analyst.get(f"/cases/{top}?reveal=1").status_code == 403
    assert analyst.get("/dashboard").status_code == 200
    assert reviewer.get("/dashboard").status_code == 403


def test_lists_mask_account_ids_and_a_reveal_is_audited(filled_store, console_kit):
    make_client, log_in, _ = console_kit
    client = make_client(filled_store)
    log_in(client, "reviewer")
    top = client.get("/api/queue").json()["cases"][0]["id"]
    with filled_store.session() as session:
        accounts = session.scalars(select(Order.account_id).where(Order.case_id == top)).all()
    masked = client.get(f"/cases/{top}").text
    assert accounts and not any(a in masked for a in accounts)
    assert f"{accounts[0][:3]}****{accounts[0][-2:]}" in masked
    shown = client.get(f"/cases/{top}?reveal=1").text
    assert all(a in shown for a in accounts)
    with filled_store.session() as session:
        last = session.scalars(select(AuditRow).order_by(AuditRow.id.desc())).first()
    assert (last.event, last.subject, last.actor) == ("reveal", top, "reviewer")


def _pages(client, params: dict) -> list[dict]:
    """Every case the JSON queue gives for ``params``, page by page (keyset cursors)."""
    seen, cursor = [], None
    while True:
        answer = client.get("/api/queue", params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        seen.extend(answer.json()["cases"])
        cursor = answer.json()["next_cursor"]
        if not cursor:
            return seen


def test_the_queue_pages_by_keyset_through_every_case_once_and_filters(filled_store, console_kit):
    make_client, log_in, _ = console_kit
    client = make_client(filled_store)
    log_in(client, "lead")
    with filled_store.session() as session:
        everything = session.scalars(select(Case).where(Case.status == "open", Case.orders_count > 0)).all()
        by_risk = [c.id for c in sorted(everything, key=lambda c: (-c.risk, c.id))]
    for sort, want in (("risk", by_risk), ("age", None)):
        seen = [c["id"] for c in _pages(client, {"sort": sort, "limit": "7"})]
        assert sorted(seen) == sorted(by_risk) and len(seen) == len(set(seen)) > 7  # more than one page
        if want:
            assert seen == want
    frozen = client.get("/api/queue", params={"outcome": "freeze"}).json()["cases"]
    assert frozen and all(c["outcome"] == "freeze" for c in frozen)
    rings = client.get("/api/queue", params={"min_size": "5"}).json()["cases"]
    assert rings and all(c["size"] >= 5 for c in rings)
    rule = next(r for c in everything for r in c.rules.split(",") if r)
    ruled = client.get("/api/queue", params={"rule": rule}).json()["cases"]
    assert ruled and {c["id"] for c in ruled} <= {c.id for c in everything if f",{rule}," in c.rules}
    assert client.get("/api/queue", params={"assignee": "none"}).json()["cases"]
    assert client.get("/api/queue", params={"assignee": "nobody-here"}).json()["cases"] == []
    bad = client.get("/api/queue", params={"outcome": "maybe"})
    assert bad.status_code == 400 and "unknown outcome" in bad.json()["error"]
    assert client.get("/queue", params={"min_size": "-2"}).status_code == 400
    page = client.get("/queue", params={"sort": "age", "limit": "5"}).text
    assert "More cases" in page and 'hx-get="/queue?' in page


def test_held_cases_past_their_sla_are_marked(filled_store, console_kit):
    make_client, log_in, _ = console_kit
    fresh, late = make_client(filled_store, sla_minutes=60), make_client(filled_store, sla_minutes=0)
    log_in(fresh, "reviewer")
    log_in(late, "reviewer")
    assert not any(c["sla_breached"] for c in fresh.get("/api/queue").json()["cases"])
    marked = late.get("/api/queue", params={"sla": "1"}).json()["cases"]
    assert marked and all(c["sla_breached"] and Outcome.parse(c["outcome"]) >= Outcome.HOLD for c in marked)
    assert "SLA breached" in late.get("/queue").text


def test_verdict_forms_refuse_stale_cases_uncounted_rings_and_bad_input(filled_store, console_kit):
    make_client, log_in, csrf_of = console_kit
    client = make_client(filled_store)
    log_in(client, "reviewer")
    ring = client.get("/api/queue", params={"min_size": "3"}).json()["cases"][0]
    page = client.get(f"/cases/{ring['id']}").text
    token = csrf_of(page)
    revision = re.search(r'name="case_revision" value="(\d+)"', page).group(1)
    form = {"csrf": token, "action": "freeze", "case_revision": revision}
    uncounted = client.post(f"/cases/{ring['id']}/verdict", data=form)
    assert uncounted.status_code == 400 and "confirm that number" in uncounted.text
    stale = client.post(f"/cases/{ring['id']}/verdict", data={**form, "case_revision": "0"})
    assert stale.status_code == 409 and "changed since you opened it" in stale.text
    bad = client.post(f"/cases/{ring['id']}/verdict", data={**form, "action": "smite"})
    assert bad.status_code == 400 and "action: expected one of" in bad.text
    days = client.post(f"/cases/{ring['id']}/verdict", data={**form, "action": "false_positive", "snooze_days": "x"})
    assert days.status_code == 400 and "snooze_days" in days.text
    assert client.post("/cases/no-such-case/verdict", data=form).status_code == 404
    with filled_store.session() as session:
        assert session.get(Case, ring["id"]).status == "open"


def test_the_case_page_shows_reasons_versions_and_the_cluster_picture(filled_store, console_kit):
    make_client, log_in, _ = console_kit
    client = make_client(filled_store)
    log_in(client, "reviewer")
    ring = client.get("/api/queue", params={"min_size": "3"}).json()["cases"][0]
    with filled_store.session() as session:
        orders = session.scalars(select(Order).where(Order.case_id == ring["id"])).all()
    page = client.get(f"/cases/{ring['id']}").text
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="cluster"' in page and 'class="node account' in page
    assert all(o.ruleset_version in page and o.order_id in page for o in orders)
    reason = next(r for o in orders for r in o.reasons if isinstance(r["value"], (int, float)))
    assert f"{reason['rule']}: {reason['value']}" in page
    assert 'id="verdict-freeze"' in page and "keydown" in page
    with filled_store.session() as session:
        case = session.get(Case, ring["id"])
    assert case.sale and f'<span id="case-sale">{case.sale}</span>' in page
    assert f'<span id="case-amount">{case.amount:.2f}</span>' in page
    assert all(f"<td>{o.amount:.2f} {o.currency}</td>" in page for o in orders)  # each order's amount


def test_the_queue_filters_by_how_long_a_case_has_been_open(filled_store, console_kit):
    from datetime import datetime, timedelta, timezone

    make_client, log_in, _ = console_kit
    client = make_client(filled_store)
    log_in(client, "reviewer")
    with filled_store.session() as session:
        old = session.scalars(select(Case).where(Case.status == "open", Case.orders_count > 0)
                              .order_by(Case.id).limit(3)).all()
        for n, case in enumerate(old):
            case.opened_at = datetime.now(timezone.utc) - timedelta(minutes=90 + n)
        old_ids = {c.id for c in old}
    for sort in ("risk", "age"):
        shown = client.get("/api/queue", params={"min_age": "60", "sort": sort}).json()["cases"]
        assert {c["id"] for c in shown} == old_ids, sort
    assert client.get("/api/queue", params={"min_age": "120"}).json()["cases"] == []
    bad = client.get("/queue", params={"min_age": "soon"})
    assert bad.status_code == 400 and "min_age: expected a whole number of minutes" in bad.text
    assert 'name="min_age" value="60"' in client.get("/queue", params={"min_age": "60"}).text


def test_the_queue_filters_by_sale_through_every_page(filled_store, console_kit):
    from datetime import datetime, timezone

    from riskstream.console.models import SaleSeen
    from riskstream.sim import SALE_ID

    make_client, log_in, _ = console_kit
    client = make_client(filled_store)
    log_in(client, "reviewer")
    with filled_store.session() as session:
        everything = session.scalars(select(Case).where(Case.status == "open", Case.orders_count > 0)
                                     .order_by(Case.id)).all()
        in_sale = {c.id for c in everything if c.sale == SALE_ID}
        assert in_sale and len(in_sale) < len(everything)  # the replayed sale has orders outside its window too
        other = {c.id for c in everything[:5]}
        for case in everything[:5]:  # five cases of another sale
            case.sale = "S-other"
        session.add(SaleSeen(id="S-other", first_seen=datetime.now(timezone.utc)))
    in_sale -= other
    for sort in ("risk", "age"):
        for sale, want in (("S-other", other), (SALE_ID, in_sale)):
            shown = _pages(client, {"sale": sale, "sort": sort, "limit": "2"})
            assert [c["id"] for c in shown if c["sale"] != sale] == [] and len(shown) == len(want)
            assert {c["id"] for c in shown} == want, (sort, sale)
    assert client.get("/api/queue", params={"sale": "S-none"}).json()["cases"] == []
    form = client.get("/queue", params={"sale": "S-other"}).text
    assert "<option selected>S-other</option>" in form and f"<option >{SALE_ID}</option>" in form
    assert "<td>S-other</td>" in form
    more = client.get("/queue", params={"sale": SALE_ID, "limit": "3"})
    link = re.search(r'hx-get="(/queue\?[^"]+)"', more.text).group(1).replace("&amp;", "&")
    assert f"sale={SALE_ID}" in link
    rows = client.get(link, headers={"HX-Request": "true"})  # the htmx rows keep the filter
    assert rows.status_code == 200 and "<form" not in rows.text
    assert rows.text.count(f"<td>{SALE_ID}</td>") == rows.text.count('class="case-row"') > 0
    bad = client.get("/api/queue", params={"sale": "s" * 121})
    assert bad.status_code == 400 and bad.json()["error"].startswith("sale:")


def test_the_queue_filters_by_amount_range_through_every_page(filled_store, console_kit):
    make_client, log_in, _ = console_kit
    client = make_client(filled_store)
    log_in(client, "reviewer")
    with filled_store.session() as session:
        everything = session.scalars(select(Case).where(Case.status == "open", Case.orders_count > 0)).all()
        totals = {}
        for case_id, amount in session.execute(select(Order.case_id, Order.amount)):
            totals[case_id] = totals.get(case_id, 0.0) + amount
        amounts = {c.id: c.amount for c in everything}
    assert all(amounts[c] == pytest.approx(totals[c]) for c in amounts)  # a case's amount: its orders' total
    ordered = sorted(set(amounts.values()))
    low, high = ordered[len(ordered) // 4], ordered[len(ordered) * 3 // 4]
    assert low < high
    for sort in ("risk", "age"):
        for params, want in (({"min_amount": str(low)}, {c for c, a in amounts.items() if a >= low}),
                             ({"max_amount": str(high)}, {c for c, a in amounts.items() if a <= high}),
                             ({"min_amount": str(low), "max_amount": str(high)},
                              {c for c, a in amounts.items() if low <= a <= high})):
            shown = _pages(client, {**params, "sort": sort, "limit": "9"})
            assert {c["id"] for c in shown} == want and len(shown) == len(want), (sort, params)
            assert all(c["amount"] == amounts[c["id"]] for c in shown)
    assert client.get("/api/queue", params={"min_amount": str(ordered[-1] + 1)}).json()["cases"] == []
    form = client.get("/queue", params={"min_amount": "100", "max_amount": "2500.5"}).text
    assert 'name="min_amount" value="100"' in form and 'name="max_amount" value="2500.5"' in form
    more = client.get("/queue", params={"min_amount": "0", "max_amount": "1e9", "limit": "3"}).text
    assert "min_amount=0&amp;max_amount=1000000000" in more  # the next page keeps the range
    for params, field in (({"min_amount": "lots"}, "min_amount"), ({"max_amount": "-5"}, "max_amount"),
                          ({"min_amount": "inf"}, "min_amount"), ({"max_amount": "nan"}, "max_amount"),
                          ({"min_amount": "500", "max_amount": "20"}, "max_amount")):
        page = client.get("/queue", params=params)
        assert page.status_code == 400 and f"{field}: " in page.text, params
        answer = client.get("/api/queue", params=params)
        assert answer.status_code == 400 and answer.json()["error"].startswith(f"{field}: "), params
