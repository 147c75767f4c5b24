"""The case store: ingest of real replayed decisions into SQLite and PostgreSQL, idempotence, case grouping."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from riskstream.console.ingest import CaseIngest
from riskstream.console.models import Case, Order, Revision
from riskstream.console.store import CaseStore, StoreError
from riskstream.decisions import Outcome


def ingest_in_batches(store: CaseStore, decisions: list[dict], batch: int = 700):
    ingest = CaseIngest(store)
    results = [ingest.ingest(decisions[i:i + batch]) for i in range(0, len(decisions), batch)]
    return results


def test_replayed_decisions_make_one_case_per_cluster_and_ingest_twice_is_one_row(sqlite_store, replayed, case_oracle):
    expected_cases, stored_cases = case_oracle
    _, decisions = replayed
    want = expected_cases(decisions)
    assert any(len(c["orders"]) > 5 for c in want.values()), "the simulated sale should have a ring"
    assert any(k.startswith("order:") for k in want), "and lone flagged orders"
    results = ingest_in_batches(sqlite_store, decisions)
    assert not [r.rejected for r in results if r.rejected]
    assert stored_cases(sqlite_store) == want

    with sqlite_store.session() as session:
        revisions_before = session.scalar(select(func.count()).select_from(Revision))
    again = ingest_in_batches(sqlite_store, decisions, batch=1000)
    assert sum(r.added for r in again) == 0
    assert sum(r.duplicates for r in again) == revisions_before
    with sqlite_store.session() as session:
        assert session.scalar(select(func.count()).select_from(Revision)) == revisions_before
    assert stored_cases(sqlite_store) == want


def decision(order_id: str, revision: int, action: str, *, cluster: str | None = None, score: float = 40.0,
             rule: str = "device-accounts") -> dict:
    return {"schema": "riskstream.decision/v1", "order_id": order_id, "account_id": f"u-{order_id}",
            "action": action, "score": score, "reasons": [{"rule": rule, "kind": "velocity", "value": 3,
                                                            "threshold": 2}],
            "ruleset_version": "2026.11.1+test", "model_version": None, "model_score": None,
            "cluster_id": cluster, "event_time": f"2026-11-11T00:00:0{revision}+08:00",
            "decided_at": "2026-11-11T00:00:09Z", "revision": revision,
            "cluster": {"id": cluster, "size": 2, "links": []} if cluster else None}


def test_a_lone_order_moves_into_its_cluster_case_and_a_release_revision_updates_it(sqlite_store, case_oracle):
    stored_cases = case_oracle[1]
    ingest = CaseIngest(sqlite_store)
    first = ingest.ingest([decision("o1", 1, "review"), decision("o2", 1, "allow")])
    assert first.added == 1 and first.ignored == 1 and first.cases == {"order:o1"}
    ingest.ingest([decision("o1", 2, "hold", cluster="cl-1", score=80), decision("o2", 2, "hold", cluster="cl-1")])
    assert stored_cases(sqlite_store) == {"cl-1": {"orders": {"o1", "o2"}, "outcome": int(Outcome.HOLD), "risk": 80.0,
                                                   "sale": None, "amount": None}}  # records without sale and amount
    with sqlite_store.session() as session:
        assert session.get(Case, "order:o1").status == "merged"
        revision_before = session.get(Case, "cl-1").revision
    ingest.ingest([decision("o1", 3, "allow", cluster="cl-1", score=0, rule="verdict")])
    with sqlite_store.session() as session:
        case = session.get(Case, "cl-1")
        assert case.revision == revision_before + 1
        assert case.rules == ",device-accounts,verdict,"
        assert session.get(Order, "o1").action == int(Outcome.ALLOW)
        timeline = session.scalars(select(Revision.revision).where(Revision.order_id == "o1")).all()
    assert sorted(timeline) == [1, 2, 3]



@pytest.mark.parametrize("batches", [[["a1"], ["h2"]], [["h2"], ["a1"]], [["a1", "h2"]], [["h2"], ["a1", "h2"]]])
def test_an_allowed_revision_before_the_flag_is_ignored_in_any_arrival_order(sqlite_store, batches):
    made = {"a1": decision("o1", 1, "allow"), "h2": decision("o1", 2, "hold")}
    ingest = CaseIngest(sqlite_store)
    for batch in batches + batches:  # and everything again: the same rows
        ingest.ingest([made[name] for name in batch])
    with sqlite_store.session() as session:
        assert session.scalars(select(Revision.revision).where(Revision.order_id == "o1")).all() == [2]
        assert session.get(Order, "o1").action == int(Outcome.HOLD)

def test_bad_records_are_refused_by_field_and_the_rest_of_the_batch_is_stored(sqlite_store):
    bad_revision = decision("o3", 0, "hold")
    bad_action = decision("o4", 1, "smite")
    result = CaseIngest(sqlite_store).ingest([b"{not json", bad_revision, decision("o5", 1, "freeze"), bad_action])
    assert [(index, exc.field) for index, exc in result.rejected] == [(0, None), (1, "revision"), (3, "action")]
    assert "unknown outcome 'smite'" in str(result.rejected[2][1])
    assert result.added == 1 and result.cases == {"order:o5"}


def test_a_case_holds_its_orders_sale_and_total_amount_and_the_sales_seen(sqlite_store):
    from riskstream.console.models import SaleSeen

    def sold(order_id, revision, action, sale, amount, **more):
        return dict(decision(order_id, revision, action, cluster="cl-9", **more), sale=sale, amount=amount,
                    currency="CNY")

    ingest = CaseIngest(sqlite_store)
    ingest.ingest([sold("o1", 1, "hold", "S-1", 100.0), sold("o2", 2, "hold", "S-1", 250.5)])
    with sqlite_store.session() as session:
        case = session.get(Case, "cl-9")
        assert (case.sale, case.amount) == ("S-1", 350.5)
        order = session.get(Order, "o2")
        assert (order.sale, order.amount, order.currency) == ("S-1", 250.5, "CNY")
    # a later order of the ring in another sale (its event time is the latest): the case follows it
    ingest.ingest([sold("o3", 3, "freeze", "S-2", 49.5), sold("o4", 1, "review", None, 10)])
    with sqlite_store.session() as session:
        case = session.get(Case, "cl-9")
        assert (case.sale, case.amount) == ("S-2", 410.0)
        assert session.scalars(select(SaleSeen.id).order_by(SaleSeen.id)).all() == ["S-1", "S-2"]
    ingest.ingest([sold("o3", 3, "freeze", "S-2", 49.5), sold("o3", 4, "allow", "S-2", 49.5)])  # again, then a release
    with sqlite_store.session() as session:
        assert session.get(Case, "cl-9").amount == 410.0  # a released order still belongs to the case
        assert session.scalar(select(func.count()).select_from(SaleSeen)) == 2


@pytest.mark.parametrize("field, value, problem", [
    ("sale", "", "expected a sale id"), ("sale", 7, "expected a sale id"), ("sale", "s" * 121, "expected a sale id"),
    ("amount", "12.5", "expected a finite number >= 0"), ("amount", -1, "expected a finite number >= 0"),
    ("amount", True, "expected a finite number >= 0"), ("amount", float("nan"), "expected a finite number >= 0"),
    ("currency", 840, "expected a currency code"),
])
def test_a_bad_sale_or_amount_is_refused_naming_the_field(sqlite_store, field, value, problem):
    result = CaseIngest(sqlite_store).ingest([dict(decision("o7", 1, "hold"), **{field: value}), decision("o8", 1, "hold")])
    assert [(index, exc.field) for index, exc in result.rejected] == [(0, field)]
    assert problem in str(result.rejected[0][1]) and result.cases == {"order:o8"}


def test_upgrading_a_0003_store_adds_sale_and_amount_and_new_revisions_fill_them(tmp_path, old_store):
    from sqlalchemy import inspect

    old_store(
        tmp_path / "old.db", "0003",  # a case and its order as a 0003 store holds them
        "INSERT INTO cases (id, status, outcome, risk, size, orders_count, rules, opened_at, updated_at, "
        "first_event, last_event, revision) VALUES ('order:o1', 'open', 3, 40, 1, 1, ',device-accounts,', "
        "'2026-11-11 00:00:00', '2026-11-11 00:00:00', '2026-11-11T00:00:01+08:00', '2026-11-11T00:00:01+08:00', 1)",
        "INSERT INTO orders (order_id, case_id, account_id, action, score, revision, reasons, ruleset_version, "
        "event_time, decided_at) VALUES ('o1', 'order:o1', 'u-o1', 3, 40, 1, '[]', 'r', "
        "'2026-11-11T00:00:01+08:00', '2026-11-11T00:00:09Z')",
        "INSERT INTO revisions (order_id, revision, action, score, reasons, decided_at) "
        "VALUES ('o1', 1, 3, 40, '[]', '2026-11-11T00:00:09Z')")
    with CaseStore.open(tmp_path / "old.db") as store:
        assert store.schema_revision == "0004"
        indexes = {i["name"]: i["column_names"] for i in inspect(store.engine).get_indexes("cases")}
        assert indexes["ix_cases_queue_risk_cover"][-2:] == ["sale", "amount"]
        assert indexes["ix_cases_queue_sale"] == ["status", "sale", "opened_at", "id"]
        with store.session() as session:
            case = session.get(Case, "order:o1")
            assert (case.sale, case.amount, case.orders_count) == (None, None, 1)  # nothing to fill them from
        CaseIngest(store).ingest([dict(decision("o1", 2, "freeze"), sale="S-1", amount=99.0)])
        with store.session() as session:
            assert (session.get(Case, "order:o1").sale, session.get(Case, "order:o1").amount) == ("S-1", 99.0)


def test_opening_runs_the_migrations_and_a_bad_url_says_so(tmp_path):
    with CaseStore.open(tmp_path / "a.db") as store:
        assert store.schema_revision == "0004"
    with CaseStore.open(f"sqlite:///{tmp_path / 'a.db'}") as again:  # already migrated: nothing to do
        assert again.schema_revision == "0004"
    with pytest.raises(StoreError, match="cannot be opened"):
        CaseStore.open("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_postgresql_store_holds_the_same_cases_as_sqlite(postgres_url, sqlite_store, replayed, case_oracle):
    expected_cases, stored_cases = case_oracle
    _, decisions = replayed
    with CaseStore.open(postgres_url) as pg:
        assert pg.dialect == "postgresql" and pg.schema_revision == "0004"
        ingest_in_batches(pg, decisions)
        ingest_in_batches(pg, decisions[:1000])  # a replayed stretch: duplicates only
        ingest_in_batches(sqlite_store, decisions)
        assert stored_cases(pg) == stored_cases(sqlite_store) == expected_cases(decisions)


def test_the_queue_filters_by_sale_and_amount_alike_on_postgresql_and_sqlite(postgres_url, sqlite_store, replayed):
    from riskstream.console.queue import QueueFilter, queue_page, sales_seen
    from riskstream.sim import SALE_ID

    _, decisions = replayed
    amounts = sorted(d["amount"] for d in decisions)
    low, high = amounts[len(amounts) // 4], amounts[len(amounts) * 3 // 4]
    wanted = [QueueFilter(sale=SALE_ID), QueueFilter(min_amount=low), QueueFilter(max_amount=high, sort="age"),
              QueueFilter(sale=SALE_ID, min_amount=low, max_amount=high * 4, sort="age")]
    with CaseStore.open(postgres_url) as pg:
        ingest_in_batches(pg, decisions)  # (a second time when the test above ran: duplicates only)
        ingest_in_batches(sqlite_store, decisions)
        for store in (pg, sqlite_store):
            with store.session() as session:
                assert sales_seen(session) == [SALE_ID]
        for want in wanted:
            pages = []
            for store in (pg, sqlite_store):
                shown, cursor = [], None
                with store.session() as session:
                    while True:
                        want.cursor, want.limit = cursor, 4
                        page = queue_page(session, want, sla_minutes=30)
                        shown.extend((c.id, c.sale, round(c.amount, 6)) for c in page.cases)  # sums: float order
                        cursor = page.next_cursor
                        if not cursor:
                            break
                pages.append(shown)
            assert pages[0] == pages[1] and len(pages[0]) > 4, want
            assert all((want.sale is None or sale == want.sale) and (want.min_amount or 0) <= amount
                       <= (want.max_amount or float("inf")) for _, sale, amount in pages[0])


def test_upgrading_a_0001_store_indexes_the_rules_of_its_cases(tmp_path, old_store):
    from riskstream.console.models import CaseRule

    old_store(
        tmp_path / "old.db", "0001",
        "INSERT INTO cases (id, status, outcome, risk, size, orders_count, rules, opened_at, updated_at, "
        "first_event, last_event, revision) VALUES ('cl-1', 'open', 3, 80, 2, 2, ',device-accounts,hot-sku,', "
        "'2026-11-11 00:00:00', '2026-11-11 00:00:00', 'a', 'b', 1)")
    with CaseStore.open(tmp_path / "old.db") as store:
        assert store.schema_revision == "0004"
        with store.session() as session:
            assert sorted(session.execute(select(CaseRule.rule, CaseRule.case_id)).tuples()) == [
                ("device-accounts", "cl-1"), ("hot-sku", "cl-1")]
