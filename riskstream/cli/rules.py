"""``riskstream rules``: validate rule files and export their schema."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from ..settings import settings_from_env
from ..terminal import err


@click.group()
def rules() -> None:
    """Validate rule files and export their schema."""


@rules.command("check")
@click.argument("path", required=False, type=click.Path())
def rules_check(path: str | None) -> None:
    """Validate a rule file or directory; exit 1 with file:line: field: problem on error."""
    from ..rules import RuleFileError, load_ruleset

    target = Path(path) if path else settings_from_env().rules_path
    try:
        ruleset = load_ruleset(target)
    except RuleFileError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        err(f"{len(exc.problems)} problem(s) in {target}")
        raise SystemExit(1)
    active = sum(r.mode == "active" for r in ruleset.rules)
    click.echo(f"{target}: ok - ruleset {ruleset.version}, {len(ruleset.rules)} rules ({active} active, "
               f"{len(ruleset.rules) - active} shadow), {len(ruleset.sales)} sales, {len(ruleset.lists)} lists")


@rules.command("schema")
def rules_schema() -> None:
    """Print the JSON Schema of a rule file (for editor autocompletion)."""
    from ..rules.model import RuleFile

    schema = RuleFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "riskstream rule file"
    click.echo(orjson.dumps(schema, option=orjson.OPT_INDENT_2).decode())
