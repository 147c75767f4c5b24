"""Writing a tuned rules directory: the analysts' files with new settings, comments and order kept.

Files are read and written with ruamel.yaml's round-trip mode, so comments,
key order, flow mappings and folded descriptions survive; only the settings
that change are touched (``score``, ``outcome``, ``above``), each with an end
of line comment saying why, and the ruleset header's version gets a suffix.
:func:`diff` shows the change as a unified diff of the files.
"""

from __future__ import annotations

import difflib
import io
from pathlib import Path
from typing import Iterable

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

from ..rules.loader import rule_files
from .evidence import Setting

__all__ = ["diff", "write_rules"]


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a line the analyst wrote
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(float(value), 4)


def _apply(rule: CommentedMap, setting: Setting, why: str) -> None:
    # The blank line after a rule is a comment on its last key: keep it after the new last key.
    tail = rule.ca.items.pop(list(rule)[-1], None)
    blank = tail[2].value.lstrip("\n ") if tail and tail[2] is not None else ""
    gap = "\n" if tail and tail[2] is not None and tail[2].value.startswith("\n\n") else ""
    if setting.shadow:
        keys = list(rule)
        at = max(keys.index(k) for k in ("id", "description", "owner") if k in keys) + 1
        if "mode" in rule:
            rule["mode"] = "shadow"
        else:
            rule.insert(at, "mode", "shadow")
    elif setting.score:
        rule["score"] = _number(setting.score)
    else:
        rule.pop("score", None)
    if setting.shadow:
        pass
    elif setting.outcome is None:
        rule.pop("outcome", None)
    else:
        rule["outcome"] = setting.outcome.label
    if setting.above is not None and "above" in rule and not setting.shadow:
        rule["above"] = _number(setting.above)
    elif setting.above is not None and not setting.shadow and isinstance(rule.get("match"), dict) \
            and isinstance(rule["match"].get("model_score"), dict):
        bound = rule["match"]["model_score"]
        bound["ge" if "ge" in bound else "gt"] = _number(setting.above)  # a rule on the model score
    if list(rule)[-1] in ("description",) or isinstance(rule[list(rule)[-1]], (dict, list)):
        pass
    last = list(rule)[-1]
    rule.ca.items[last] = [None, None, CommentToken(f"  # tuned: {why}\n{gap}{blank}", CommentMark(0), None), None]


def write_rules(source: str | Path, target: str | Path, proposal: dict[str, tuple[Setting, str]],
                version_suffix: str = "-tuned") -> list[Path]:
    """Copy the rule files of ``source`` to the directory ``target`` with ``proposal`` applied.

    ``proposal``: rule id -> (new setting, why); rules not named are copied
    as they are.  Returns the files written; KeyError names a rule id that is
    in no file.
    """
    yaml = _yaml()
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    pending = dict(proposal)
    written = []
    for path in rule_files(source):
        data = yaml.load(path.read_text(encoding="utf-8"))
        if isinstance(data, CommentedMap):
            header = data.get("ruleset")
            if isinstance(header, CommentedMap):
                header["version"] = str(header.get("version", "0")) + version_suffix
            for rule in data.get("rules") or []:
                change = pending.pop(rule.get("id"), None)
                if change is not None:
                    _apply(rule, *change)
        out = io.StringIO()
        yaml.dump(data, out)
        dest = target / path.name
        dest.write_text(out.getvalue(), encoding="utf-8")
        written.append(dest)
    if pending:
        raise KeyError(f"rules not found in {source}: {', '.join(sorted(pending))}")
    return written


def diff(before: str | Path, after: Iterable[Path]) -> str:
    """A unified diff from the rule files of ``before`` to the files ``after``."""
    old = {p.name: p for p in rule_files(before)}
    chunks = []
    for path in after:
        a = old[path.name].read_text(encoding="utf-8").splitlines(keepends=True) if path.name in old else []
        b = path.read_text(encoding="utf-8").splitlines(keepends=True)
        chunks.extend(difflib.unified_diff(a, b, f"a/{path.name}", f"b/{path.name}"))
    return "".join(chunks)
