"""Assembly: a decision engine and its scoring, built from rule and model paths and the settings.

Every driver builds its engine here - the command line, the stream worker, the
benchmarks - so that they all read the same rule set and model the same way::

    engine = load_engine("rules")                  # or None: $RISKSTREAM_RULES, ./rules, bundled
    scoring = load_scoring(engine, "models/anomaly.skops")   # None: rules alone

A rule set that does not load, or a model artefact that is refused, raises
:class:`AssemblyError` carrying every problem; the command line prints them and
exits with status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .settings import settings_from_env

if TYPE_CHECKING:
    from .engine import DecisionEngine
    from .model import Scoring
    from .rules import RuleSet

__all__ = ["AssemblyError", "load_engine", "load_rules", "load_scoring"]


class AssemblyError(ValueError):
    """Rules or a model that cannot be used: ``lines`` say what is wrong, one problem a line."""

    status = 2

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


def _note(message: str) -> None:
    print(message, file=sys.stderr)


def load_rules(rules: str | Path | None) -> RuleSet:
    """The rule set at ``rules`` (``None``: the settings' rules), or :class:`AssemblyError` with its problems."""
    from .rules import RuleFileError, load_ruleset

    path = Path(rules) if rules else settings_from_env().rules_path
    try:
        return load_ruleset(path)
    except RuleFileError as exc:
        raise AssemblyError([f"invalid rules in {path}:"] + [f"  {problem}" for problem in exc.problems]) from None


def load_engine(rules: str | Path | None, *, graph: bool = True, **overrides: Any) -> DecisionEngine:
    """An engine on the given rule set (``None``: the settings' rules).

    ``graph=False``: without the entity graph and the rules that need it.
    ``overrides`` replace engine options from the settings (``clock=``, ``grace=``...).
    """
    from .engine import DecisionEngine

    settings = settings_from_env()
    ruleset = load_rules(rules)
    if not graph:
        ruleset = ruleset.without_graph()
    return DecisionEngine(ruleset, **(settings.engine_options() | overrides))


def load_scoring(engine: DecisionEngine, model: str | Path | None, *, reload: bool = False,
                 batch: int | None = None, note: Callable[[str], None] = _note) -> Scoring | None:
    """The anomaly model on ``engine`` (``model``, else ``RISKSTREAM_MODEL``), or None for rules alone.

    ``reload``: look for a new version of the artefact every
    ``RISKSTREAM_MODEL_RELOAD_SECONDS`` (stream workers).  Rules that read
    ``model_score`` while no model is loaded are reported through ``note``:
    their condition is false.
    """
    from .model import FixedModel, ModelError, ReloadingModel, Scoring, load_model
    from .model.scorer import DEFAULT_BATCH

    settings = settings_from_env()
    path = model or (str(settings.model) if settings.model else None)
    if path is None:
        if engine.uses_model:
            note("note: rules read model_score but no model is loaded (--model / RISKSTREAM_MODEL): "
                 "those conditions are false")
        return None
    try:
        source = ReloadingModel(path, settings.model_reload_seconds) if reload else FixedModel(load_model(path))
    except ModelError as exc:
        raise AssemblyError([f"model refused: {exc}"]) from None
    return Scoring(engine, source, batch or DEFAULT_BATCH)
