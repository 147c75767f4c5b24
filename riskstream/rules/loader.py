"""Loading rule files: YAML in, a validated :class:`RuleSet` out.

Every problem is reported as ``file:line: field: message`` so an analyst can
jump straight to it; all problems of all files are collected before failing.
YAML is read with the safe loader only, and timestamps stay text so that the
schema, not YAML, decides what a valid time is.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import ValidationError

from .errors import Problem, RuleFileError
from .model import RuleFile
from .ruleset import RuleSet

RULE_SUFFIXES = (".yaml", ".yml")


def rule_files(path: str | Path) -> list[Path]:
    """The YAML files of a rule set: the file itself, or a directory's files in name order."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in RULE_SUFFIXES and not p.name.startswith("."))
        if not files:
            raise RuleFileError([Problem(str(path), None, "", "no .yaml rule files in this directory")])
        return files
    if not path.exists():
        raise RuleFileError([Problem(str(path), None, "", "no such file or directory")])
    return [path]


def load_ruleset(path: str | Path) -> RuleSet:
    """Read and validate every rule file under ``path`` into one rule set."""
    files = rule_files(path)
    sources = [(str(f), f.read_bytes()) for f in files]
    return ruleset_from_sources(sources)


def ruleset_from_sources(sources: Iterable[tuple[str, bytes | str]]) -> RuleSet:
    """Validate named YAML texts (as read from files) into one rule set."""
    problems: list[Problem] = []
    parsed: list[tuple[str, RuleFile, dict[tuple, int]]] = []
    digest = hashlib.sha256()
    for name, text in sources:
        raw = text.encode() if isinstance(text, str) else text
        digest.update(name.rsplit("/", 1)[-1].encode() + b"\0" + raw + b"\0")
        result = _parse_file(name, raw, problems)
        if result is not None:
            parsed.append((name, *result))
    if not problems:
        ruleset = RuleSet.merge(parsed, digest.hexdigest(), problems)
        if not problems:
            return ruleset
    raise RuleFileError(problems)


def _parse_file(name: str, raw: bytes, problems: list[Problem]) -> tuple[RuleFile, dict[tuple, int]] | None:
    try:
        node = yaml.compose(raw.decode("utf-8"), Loader=yaml.SafeLoader)
    except UnicodeDecodeError as exc:
        problems.append(Problem(name, None, "", f"not UTF-8 text: {exc}"))
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.append(Problem(name, mark.line + 1 if mark else None, "", f"not valid YAML: {getattr(exc, 'problem', exc)}"))
        return None
    lines: dict[tuple, int] = {}
    try:
        data = {} if node is None else _to_python(node, (), lines)
    except ValueError as exc:
        problems.append(Problem(name, exc.args[1] if len(exc.args) > 1 else None, "", str(exc.args[0])))
        return None
    except yaml.YAMLError as exc:  # a scalar no safe constructor takes ("=", an unknown tag)
        mark = getattr(exc, "problem_mark", None)
        problems.append(Problem(name, mark.line + 1 if mark else None, "", f"not valid YAML: {getattr(exc, 'problem', exc)}"))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(name, 1, "", "a rule file is a mapping with sections ruleset, sales, lists, rules"))
        return None
    try:
        return RuleFile.model_validate(data), lines
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            problems.append(Problem(name, line_of(lines, loc), field_path(loc), _message(error)))
        return None


def _to_python(node: yaml.Node, path: tuple, lines: dict[tuple, int]) -> Any:
    """Build plain Python from a YAML node tree, recording each path's line."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ValueError("mapping keys must be plain text", key_node.start_mark.line + 1)
            key = key_node.value
            if key in out:
                raise ValueError(f"{field_path(path + (key,))}: key given twice", key_node.start_mark.line + 1)
            out[key] = _to_python(value_node, path + (key,), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(child, path + (n,), lines) for n, child in enumerate(node.value)]
    if node.tag == "tag:yaml.org,2002:timestamp":
        return node.value
    return yaml.SafeLoader(stream="").construct_object(node, deep=True)


def line_of(lines: dict[tuple, int], loc: tuple) -> int | None:
    """The line of the deepest part of ``loc`` present in the file."""
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def field_path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, str) and not _is_field_name(part):
            continue  # a pydantic union branch tag, not a place in the file
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _is_field_name(part: str) -> bool:
    return part.isidentifier() and part.islower() and part not in ("float", "int", "str", "bool")


def _message(error: dict[str, Any]) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "unknown field (check the spelling; `riskstream rules schema` lists the fields)"
    if error["type"] == "missing":
        return "required field is missing"
    got = error.get("input")
    if error["type"].startswith(("literal_error", "enum")) and not isinstance(got, (dict, list)):
        return f"{message}, got {got!r}"
    return message
