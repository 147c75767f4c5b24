"""Each role's rights route by route, escalated cases for leads only, and a verdict the broker refuses
leaves nothing behind."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from riskstream.console.audit import verify_chain
from riskstream.console.models import AuditRow, Case, Note, VerdictRow

# (role, what it may do) by route; the rest answer 403
CAN = {
    "reviewer": {"queue", "api", "case", "reveal", "claim", "assign-self", "note", "verdict"},
    "lead": {"queue", "api", "case", "reveal", "claim", "assign-self", "assign-other", "note", "verdict",
             "dashboard", "escalated"},
    "analyst": {"queue", "api", "case", "dashboard"},
    "admin": {"queue", "api", "case", "reveal", "claim", "assign-self", "assign-other", "note", "verdict",
              "dashboard", "escalated"},
}


def _form(page: str, store=None, case_id: str | None = None) -> dict[str, str]:
    """The page's CSRF token and the case revision: from the page's verdict form, else (a page that shows
    no verdict form to this role) from the store."""
    found = re.search(r'name="case_revision" value="(\d+)"', page)
    if found is None:
        with store.session() as session:
            revision = str(session.get(Case, case_id).revision)
    else:
        revision = found.group(1)
    return {"csrf": re.search(r'name="csrf" value="([^"]+)"', page).group(1), "case_revision": revision}


def _single_account_case(store, status: str = "open", skip: int = 0) -> str:
    with store.session() as session:
        case = session.scalars(select(Case).where(Case.status == "open", Case.size == 1, Case.orders_count == 1)
                               .order_by(Case.id).offset(skip)).first()
        case.status = status
        return case.id


@pytest.mark.parametrize("role", sorted(CAN))
def test_each_role_gets_what_its_rights_allow_and_403_for_the_rest(role, filled_store, console_kit):
    make_client, log_in, csrf_of = console_kit
    published = []
    client = make_client(filled_store, publish=published.append)
    assert log_in(client, role).status_code == 303
    case_id = _single_account_case(filled_store)
    escalated = _single_account_case(filled_store, "escalated", skip=1)
    page = client.get(f"/cases/{case_id}").text
    token = csrf_of(page)
    allowed = CAN[role]
    answers = {
        "queue": client.get("/queue").status_code,
        "api": client.get("/api/queue").status_code,
        "case": client.get(f"/cases/{case_id}").status_code,
        "reveal": client.get(f"/cases/{case_id}?reveal=1").status_code,
        "dashboard": client.get("/dashboard").status_code,
        "claim": client.post(f"/cases/{case_id}/claim", data={"csrf": token}).status_code,
        "assign-self": client.post(f"/cases/{case_id}/claim", data={"csrf": token, "assignee": role}).status_code,
        "assign-other": client.post(f"/cases/{case_id}/claim",
                                    data={"csrf": token, "assignee": "reviewer" if role != "reviewer" else "lead"}
                                    ).status_code,
        "note": client.post(f"/cases/{case_id}/notes", data={"csrf": token, "text": "looked"}).status_code,
    }
    escalated_form = _form(client.get(f"/cases/{escalated}").text, filled_store, escalated)
    answers["escalated"] = client.post(f"/cases/{escalated}/verdict",
                                       data={**escalated_form, "action": "release"}).status_code
    verdict_form = _form(client.get(f"/cases/{case_id}").text, filled_store, case_id)
    answers["verdict"] = client.post(f"/cases/{case_id}/verdict", data={**verdict_form, "action": "release"}).status_code
    for what, status in answers.items():
        want = (200, 303) if what in allowed else (403,)
        assert status in want, f"{role} {what}: {status}"
    assert len(published) == ("verdict" in allowed) + ("escalated" in allowed)
    assert verify_chain(filled_store).ok


def test_a_verdict_the_broker_refuses_changes_nothing(filled_store, console_kit):
    make_client, log_in, csrf_of = console_kit

    def broker_down(verdict):
        raise ConnectionError("no broker")

    client = make_client(filled_store, publish=broker_down)
    log_in(client, "reviewer")
    case_id = _single_account_case(filled_store)
    with filled_store.session() as session:
        before = session.get(Case, case_id)
        state = (before.status, before.revision, before.label, before.verdict_action)
        audit_rows = session.scalar(select(func.count()).select_from(AuditRow))
    page = client.get(f"/cases/{case_id}").text
    answer = client.post(f"/cases/{case_id}/verdict", data={**_form(page), "action": "freeze", "note": "x"})
    assert answer.status_code == 502 and "nothing was changed" in answer.text
    with filled_store.session() as session:
        after = session.get(Case, case_id)
        assert (after.status, after.revision, after.label, after.verdict_action) == state
        assert session.scalar(select(func.count()).select_from(VerdictRow)) == 0
        assert session.scalar(select(func.count()).select_from(Note).where(Note.case_id == case_id)) == 0
        assert session.scalar(select(func.count()).select_from(AuditRow)) == audit_rows  # no verdict audited
    # and the same form goes through once the broker is back: it was not used up
    published = []
    again = make_client(filled_store, publish=published.append)
    log_in(again, "reviewer")
    page = again.get(f"/cases/{case_id}").text
    assert again.post(f"/cases/{case_id}/verdict", data={**_form(page), "action": "freeze"}).status_code == 303
    assert len(published) == 1


def test_bad_form_input_gets_a_400_page_naming_the_field(filled_store, console_kit):
    make_client, log_in, csrf_of = console_kit
    client = make_client(filled_store)
    log_in(client, "lead")
    case_id = _single_account_case(filled_store)
    token = csrf_of(client.get(f"/cases/{case_id}").text)
    empty = client.post(f"/cases/{case_id}/notes", data={"csrf": token, "text": "  "})
    assert empty.status_code == 400 and "text: a note is 1 to 4,000 characters" in empty.text
    nobody = client.post(f"/cases/{case_id}/claim", data={"csrf": token, "assignee": "nobody"})
    assert nobody.status_code == 400 and "assignee: no user &#39;nobody&#39;" in nobody.text
    for params, field in (({"sort": "price"}, "sort"), ({"limit": "100000"}, "limit"), ({"cursor": "junk"}, "cursor"),
                          ({"status": "gone"}, "status"), ({"rule": "a,b"}, "rule")):
        answer = client.get("/queue", params=params)
        assert answer.status_code == 400 and f"{field}:" in answer.text, params
    revision = _form(client.get(f"/cases/{case_id}").text)["case_revision"]
    bad = client.post(f"/cases/{case_id}/verdict", data={"csrf": token, "action": "freeze", "case_revision": "x"})
    assert bad.status_code == 400 and "case_revision" in bad.text
    snooze = client.post(f"/cases/{case_id}/verdict", data={"csrf": token, "action": "false_positive",
                                                            "case_revision": revision, "snooze_days": "3"})
    assert snooze.status_code == 400 and "snooze_rule: choose the rule" in snooze.text
