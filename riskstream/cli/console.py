"""``riskstream console serve | add-user``: the reviewers' web console."""

from __future__ import annotations

import os
import secrets

import click

from ..terminal import err

STORE_HELP = "case store: a SQLite path or a SQLAlchemy URL [default: $RISKSTREAM_CASES_URL or var/cases.db]"


@click.group()
def console() -> None:
    """The reviewers' web console."""


@console.command("serve")
@click.option("--store", "-s", "store_target", help=STORE_HELP)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--bootstrap", "-b", help="Kafka bootstrap servers [default: $RISKSTREAM_BOOTSTRAP or 127.0.0.1:9092]")
@click.option("--sla-minutes", default=30.0, show_default=True, help="a held case open longer is marked")
@click.option("--session-minutes", default=480.0, show_default=True, help="sessions expire after this long")
@click.option("--secure-cookies/--no-secure-cookies", default=False, help="mark cookies Secure (behind HTTPS)")
@click.option("--ingest-group", default="riskstream-cases", show_default=True,
              help="consumer group of `riskstream cases ingest`, whose lag /metrics reports")
@click.option("--metrics-token", envvar="RISKSTREAM_CONSOLE_METRICS_TOKEN",
              help="bearer token /metrics asks for [default: $RISKSTREAM_CONSOLE_METRICS_TOKEN, else /metrics is open]")
def serve(store_target, host, port, bootstrap, sla_minutes, session_minutes, secure_cookies, ingest_group,
          metrics_token) -> None:
    """Serve the console (uvicorn).  The session secret is $RISKSTREAM_CONSOLE_SECRET (16+ characters);
    without it a random one is made and sessions end when the console stops.  Prometheus metrics (queue
    depth, ingest lag, verdicts by action, time to verdict) are on /metrics."""
    import uvicorn

    from ..console.app import ConsoleConfig, create_app
    from ..console.metrics import kafka_lag
    from ..console.store import CaseStore
    from ..kafka.topics import Topics, default_bootstrap
    from ..kafka.verdicts import VerdictPublisher

    secret = os.environ.get("RISKSTREAM_CONSOLE_SECRET", "")
    if not secret:
        secret = secrets.token_urlsafe(32)
        err("RISKSTREAM_CONSOLE_SECRET is not set: sessions last until the console stops")
    store = CaseStore.open(store_target)
    publisher: list[VerdictPublisher] = []

    def publish(verdict):
        if not publisher:
            publisher.append(VerdictPublisher(bootstrap))
        return publisher[0].publish(verdict)

    topics = Topics.from_env()
    lag = kafka_lag(bootstrap or default_bootstrap(), ingest_group, [topics.review, topics.decisions])
    app = create_app(ConsoleConfig(store=store, secret=secret, publish=publish, sla_minutes=sla_minutes,
                                   session_minutes=session_minutes, secure_cookies=secure_cookies, lag=lag,
                                   metrics_token=metrics_token or None))
    err(f"console on http://{host}:{port}/ (case store: {store.engine.url.render_as_string(hide_password=True)})")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        for p in publisher:
            p.close()
        store.close()


@console.command("add-user")
@click.argument("username")
@click.option("--role", type=click.Choice(["reviewer", "lead", "analyst", "admin"]), default="reviewer",
              show_default=True)
@click.option("--password", envvar="RISKSTREAM_CONSOLE_PASSWORD",
              help="the password [default: $RISKSTREAM_CONSOLE_PASSWORD, else asked for]")
@click.option("--unlock", is_flag=True, help="only unlock a user locked after failed logins")
@click.option("--store", "-s", "store_target", help=STORE_HELP)
def add_user(username, role, password, unlock, store_target) -> None:
    """Add a console user (or set a user's role and password, or unlock them)."""
    from ..console import auth
    from ..console.store import CaseStore

    store = CaseStore.open(store_target)
    try:
        with store.session() as session:
            if unlock:
                auth.unlock(session, username)
            else:
                if password is None:
                    password = click.prompt("password", hide_input=True, confirmation_prompt=True)
                auth.add_user(session, username, password, role)
    except auth.AuthError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    err(f"user {username} {'unlocked' if unlock else f'saved with role {role}'}")
