"""The reviewers' web console: a Starlette app over the case store (``riskstream console serve``).

Pages are rendered on the server (Jinja2) and enhanced with htmx (vendored in
``static/``); there is no JavaScript build.  Every route but ``/login``,
``/static`` and ``/metrics`` needs a session: pages answer with the login page
(401), the JSON routes with a 401 JSON error; ``/metrics`` (counts, no case
data) is open to the scraper, or needs its bearer token when one is set; a
role without the right gets 403.  Every form carries a CSRF token bound to
its session (the login form's to a cookie set with it); a post without the
right token is refused with 403.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..decisions import Outcome
from ..verdicts import Verdict, VerdictAction
from . import audit
from .auth import AuthError, SessionData, Sessions, allowed, check_login
from .logs import redact_kafka_records
from .metrics import ConsoleMetrics, LagReader
from .models import Case, Note, Order, Revision, User, VerdictRow
from .queue import QueueError, QueueFilter, claim, dashboard, is_breached, queue_page, sales_seen, sla_cutoff
from .review import FormError, build_verdict, close_case, read_form
from .store import CaseStore
from .svg import ClusterPicture, bar_chart, cluster_svg

HERE = Path(__file__).resolve().parent
PRE_COOKIE = "riskstream_login"
log = logging.getLogger("riskstream.console")


def mask_account(account: str) -> str:
    """An account id as lists show it: the first three and last two characters."""
    return account if len(account) <= 6 else f"{account[:3]}****{account[-2:]}"


@dataclass
class ConsoleConfig:
    store: CaseStore
    secret: str
    publish: Callable[[Verdict], Any]  # sends one verdict and waits for the broker (VerdictPublisher.publish)
    session_minutes: float = 480
    sla_minutes: float = 30
    secure_cookies: bool = False  # set behind HTTPS
    lag: LagReader | None = None  # the case ingest's consumer lag per topic, for /metrics (kafka_lag)
    metrics_token: str | None = None  # when set, /metrics needs "Authorization: Bearer <token>"


class Denied(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


class Console:
    """The routes and their helpers around one :class:`ConsoleConfig`."""

    def __init__(self, config: ConsoleConfig):
        self.config = config
        self.store = config.store
        self.sessions = Sessions(config.secret, config.session_minutes)
        self.pages = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
        self.pages.globals.update(outcome_label=lambda n: Outcome(int(n)).label, mask=mask_account)
        self.metrics = ConsoleMetrics(config.store, sla_minutes=config.sla_minutes, lag=config.lag)

    # -- plumbing -----------------------------------------------------------------------------------------------
    def render(self, name: str, http_status: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(self.pages.get_template(name).render(**context), status_code=http_status)

    def login_page(self, request: Request, status: int = 200, error: str | None = None) -> HTMLResponse:
        pre = secrets.token_urlsafe(18)
        page = self.render("login.html", status, error=error,
                           csrf=self.sessions.csrf_token(SessionData("", pre)), next=request.url.path)
        page.set_cookie(PRE_COOKIE, pre, httponly=True, samesite="strict", secure=self.config.secure_cookies)
        return page

    def who(self, request: Request) -> tuple[User, SessionData] | None:
        session = self.sessions.read(request.cookies.get(Sessions.COOKIE))
        if session is None:
            return None
        with self.store.session() as db:
            user = db.get(User, session.username)
            if user is None or user.locked:
                return None
            db.expunge(user)
        return user, session

    def error(self, request: Request, status: int, message: str, json: bool = False) -> Response:
        if json:
            return JSONResponse({"error": message}, status_code=status)
        return self.render("error.html", status, status=status, message=message)

    def guarded(self, right: str, *, json: bool = False, post: bool = False):
        """Wrap a handler: session, role right and (for posts) the CSRF token."""
        def wrap(handler):
            async def endpoint(request: Request) -> Response:
                found = self.who(request)
                if found is None:
                    if json:
                        return JSONResponse({"error": "log in first"}, status_code=401)
                    return self.login_page(request, 401)
                user, session = found
                if not allowed(user.role, right):
                    return self.error(request, 403, f"a {user.role} may not do this ({right})", json)
                form = None
                if post:
                    form = await request.form()
                    if not self.sessions.check_csrf(session, form.get("csrf")):
                        return self.error(request, 403, "the form's CSRF token is missing or wrong; reload the page")
                try:
                    return await handler(request, user, session, form)
                except Denied as exc:
                    return self.error(request, exc.status, exc.message, json)
                except (QueueError, FormError) as exc:
                    return self.error(request, getattr(exc, "status", 400), str(exc), json)
            return endpoint
        return wrap

    def context(self, user: User, session: SessionData, **more) -> dict:
        return {"user": user, "csrf": self.sessions.csrf_token(session), "can": lambda r: allowed(user.role, r),
                **more}

    # -- login --------------------------------------------------------------------------------------------------
    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self.login_page(request)
        form = await request.form()
        pre = request.cookies.get(PRE_COOKIE)
        if not pre or not self.sessions.check_csrf(SessionData("", pre), form.get("csrf")):
            return self.login_page(request, 403, "the login form expired; try again")
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        refused = None
        with self.store.session() as db:  # failures are counted and audited: the transaction commits either way
            try:
                check_login(db, username, password)
            except AuthError as exc:
                refused = str(exc)
        if refused is not None:
            return self.login_page(request, 401, refused)
        response = RedirectResponse("/queue", status_code=303)
        response.set_cookie(Sessions.COOKIE, self.sessions.issue(username), max_age=self.sessions.max_age,
                            httponly=True, samesite="lax", secure=self.config.secure_cookies)
        response.delete_cookie(PRE_COOKIE)
        return response

    async def logout(self, request, user, session, form) -> Response:
        with self.store.session() as db:
            audit.append(db, user.username, "logout", user.username)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(Sessions.COOKIE)
        return response

    # -- queue --------------------------------------------------------------------------------------------------
    async def queue(self, request, user, session, form) -> Response:
        wanted = QueueFilter.from_query(request.query_params)
        rows_only = bool(request.headers.get("HX-Request") and wanted.cursor)
        with self.store.session() as db:
            page = queue_page(db, wanted, self.config.sla_minutes)
            sales = [] if rows_only else sales_seen(db)
        context = self.context(user, session, page=page, wanted=wanted, sales=sales)
        if rows_only:
            return self.render("queue_rows.html", **context)
        return self.render("queue.html", **context)

    async def queue_json(self, request, user, session, form) -> Response:
        wanted = QueueFilter.from_query(request.query_params)
        with self.store.session() as db:
            page = queue_page(db, wanted, self.config.sla_minutes)
        return JSONResponse({"cases": [{"id": c.id, "outcome": Outcome(c.outcome).label, "risk": c.risk,
                                        "size": c.size, "orders": c.orders_count, "sale": c.sale,
                                        "amount": c.amount, "assignee": c.assignee,
                                        "revision": c.revision, "sla_breached": c.id in page.breached}
                                       for c in page.cases], "next_cursor": page.next_cursor})

    # -- a case -------------------------------------------------------------------------------------------------
    def load_case(self, db, case_id: str) -> tuple[Case, list[Order]]:
        case = db.get(Case, case_id)
        if case is None:
            raise Denied(404, f"no case {case_id!r}")
        orders = db.scalars(select(Order).where(Order.case_id == case_id).order_by(Order.event_time)).all()
        return case, list(orders)

    async def case_page(self, request, user, session, form) -> Response:
        case_id = request.path_params["case_id"]
        reveal = request.query_params.get("reveal") == "1"
        if reveal and not allowed(user.role, "reveal"):
            raise Denied(403, f"a {user.role} may not see account ids in full")
        with self.store.session() as db:
            case, orders = self.load_case(db, case_id)
            if reveal:
                audit.append(db, user.username, "reveal", case_id, {"accounts": len({o.account_id for o in orders})})
            ids = [o.order_id for o in orders]
            revisions = db.scalars(select(Revision).where(Revision.order_id.in_(ids))
                                   .order_by(Revision.decided_at, Revision.order_id, Revision.revision)).all()
            notes = db.scalars(select(Note).where(Note.case_id == case_id).order_by(Note.id)).all()
            verdicts = db.scalars(select(VerdictRow).where(VerdictRow.case_id == case_id)
                                  .order_by(VerdictRow.created_at)).all()
            breached = is_breached(case, sla_cutoff(self.config.sla_minutes))
        show = (lambda a: a) if reveal else mask_account
        accounts = list(dict.fromkeys(o.account_id for o in orders))
        rules = sorted(filter(None, case.rules.split(",")))
        can_decide = allowed(user.role, "verdict") and case.status != "closed" and (
            case.status != "escalated" or allowed(user.role, "verdict-escalated"))
        return self.render("case.html", **self.context(
            user, session, case=case, orders=orders, revisions=revisions, notes=notes, verdicts=verdicts,
            accounts=accounts, rules=rules, show=show, revealed=reveal, breached=breached, can_decide=can_decide,
            picture=cluster_svg(ClusterPicture.of_orders(
                {"account_id": show(o.account_id), "action": Outcome(o.action), "cluster": o.cluster} for o in orders)),
            actions=[a.value for a in VerdictAction]))

    async def claim_case(self, request, user, session, form) -> Response:
        case_id = request.path_params["case_id"]
        assignee = str(form.get("assignee") or user.username)
        if assignee != user.username and not allowed(user.role, "assign"):
            raise Denied(403, f"a {user.role} may claim cases for themselves only")
        with self.store.session() as db:
            case, _ = self.load_case(db, case_id)
            if assignee != user.username and db.get(User, assignee) is None:
                raise Denied(400, f"assignee: no user {assignee!r}")
            before = claim(db, case, assignee)
            audit.append(db, user.username, "assign", case_id, {"assignee": assignee, "before": before})
        return RedirectResponse(f"/cases/{case_id}", status_code=303)

    async def add_note(self, request, user, session, form) -> Response:
        case_id = request.path_params["case_id"]
        text = str(form.get("text") or "").strip()
        if not text or len(text) > 4000:
            raise Denied(400, "text: a note is 1 to 4,000 characters")
        with self.store.session() as db:
            self.load_case(db, case_id)
            db.add(Note(case_id=case_id, author=user.username, text=text, created_at=datetime.now(timezone.utc)))
            audit.append(db, user.username, "note", case_id, {"characters": len(text)})
        return RedirectResponse(f"/cases/{case_id}", status_code=303)

    @staticmethod
    def chosen(picked, orders) -> list[str]:
        """The ticked accounts: the form names them by their place on the page (no account id in the form)."""
        accounts = list(dict.fromkeys(o.account_id for o in orders))
        out = []
        for value in picked:
            if not str(value).isdigit() or int(value) >= len(accounts):
                raise FormError(f"accounts: {value!r} is not an account of this case")
            out.append(accounts[int(value)])
        return out

    async def verdict(self, request, user, session, form) -> Response:
        case_id = request.path_params["case_id"]
        with self.store.session() as db:
            case, orders = self.load_case(db, case_id)
            if case.status == "escalated" and not allowed(user.role, "verdict-escalated"):
                raise Denied(403, "an escalated case waits for a lead")
            fields = {k: str(v) for k, v in form.items() if k != "accounts"}
            record = build_verdict(case, orders, read_form(fields, self.chosen(form.getlist("accounts"), orders)),
                                   user.username)
        try:
            await run_in_threadpool(self.config.publish, record)
        except Exception as exc:  # the broker did not take it: nothing is written
            log.error("verdict %s on %s not published: %r", record.verdict_id, case_id, exc)
            raise Denied(502, f"the verdict could not be published ({type(exc).__name__}); nothing was changed, "
                              "try again") from None
        with self.store.session() as db:
            case = db.get(Case, case_id)
            opened_at = case.opened_at
            close_case(case, record)
            db.add(VerdictRow(verdict_id=record.verdict_id, case_id=case_id, reviewer=user.username,
                              action=record.action.value, created_at=datetime.now(timezone.utc),
                              record=record.to_dict()))
            audit.append(db, user.username, "verdict", case_id,
                         {"verdict_id": record.verdict_id, "action": record.action.value,
                          "accounts": len(record.accounts), "orders": len(record.orders)})
        self.metrics.observe_verdict(opened_at)
        return RedirectResponse(f"/cases/{case_id}", status_code=303)

    # -- dashboard ----------------------------------------------------------------------------------------------
    async def dashboard_page(self, request, user, session, form) -> Response:
        with self.store.session() as db:
            figures = dashboard(db, self.config.sla_minutes)
        depth = [(label, float(n)) for label, n in sorted(figures.depth.items(), key=lambda kv: -Outcome.parse(kv[0]))]
        verdicts = [(action, float(n)) for action, n in sorted(figures.verdicts.items())]
        precision = [(f"{rule} ({confirmed}/{n})", confirmed / n) for rule, confirmed, n in figures.precision]
        return self.render("dashboard.html", **self.context(
            user, session, figures=figures, depth_svg=bar_chart("open cases by outcome", depth),
            verdicts_svg=bar_chart("verdicts by action", verdicts),
            precision_svg=bar_chart("share of labelled cases confirmed", precision, maximum=1.0)))

    # -- metrics ------------------------------------------------------------------------------------------------
    async def metrics_page(self, request: Request) -> Response:
        """Prometheus text format; open (no user data in it) unless a metrics token is configured."""
        token = self.config.metrics_token
        if token and not secrets.compare_digest(request.headers.get("authorization", ""), f"Bearer {token}"):
            return JSONResponse({"error": "a bearer token is needed for /metrics"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        body, content_type = await run_in_threadpool(self.metrics.render)
        return Response(body, media_type=content_type)

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/queue", status_code=303)


def create_app(config: ConsoleConfig) -> Starlette:
    redact_kafka_records()  # a verdict's note is the reviewer's free text: kept out of kafka-python's DEBUG lines
    console = Console(config)
    g = console.guarded
    routes = [
        Route("/", console.home),
        Route("/login", console.login, methods=["GET", "POST"]),
        Route("/logout", g("view", post=True)(console.logout), methods=["POST"]),
        Route("/queue", g("view")(console.queue)),
        Route("/api/queue", g("view", json=True)(console.queue_json)),
        Route("/cases/{case_id}/claim", g("claim", post=True)(console.claim_case), methods=["POST"]),
        Route("/cases/{case_id}/notes", g("note", post=True)(console.add_note), methods=["POST"]),
        Route("/cases/{case_id}/verdict", g("verdict", post=True)(console.verdict), methods=["POST"]),
        Route("/cases/{case_id}", g("view")(console.case_page)),
        Route("/dashboard", g("dashboard")(console.dashboard_page)),
        Route("/metrics", console.metrics_page),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.console = console
    return app


__all__ = ["Console", "ConsoleConfig", "create_app", "mask_account"]
