"""Watching a rules directory: each saved change is validated, and only a valid
rule set replaces the one in use.

For single-node use (an analyst's machine, a demo): ``riskstream rules watch
DIR`` reloads the directory whenever one of its rule files changes.  A change
that validates and differs in content from the rule set in use is *accepted*
and handed on (published to the workers, or replayed in process); an invalid
one is *rejected* with every problem's file, line and field, and the previous
rule set keeps running.  A save that leaves the content as it was (an editor
touching a file) is *unchanged* and reported as nothing.

:class:`RulesWatch` holds the state and decides; :meth:`RulesWatch.changes`
drives it from the file system with watchfiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from .errors import Problem, RuleFileError
from .loader import RULE_SUFFIXES, load_ruleset
from .ruleset import RuleSet

if TYPE_CHECKING:
    from threading import Event

ACCEPTED = "accepted"
REJECTED = "rejected"
UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Change:
    """What one reload of the directory found."""

    status: str  #: accepted, rejected or unchanged
    ruleset: RuleSet | None  #: the rule set in use after the reload (None while none was ever valid)
    problems: tuple[Problem, ...] = ()  #: why a rejected change was refused
    previous: RuleSet | None = None  #: the rule set an accepted change replaced

    def describe(self) -> str:
        """One line for a terminal or a log; the problems follow on their own lines."""
        current = self.ruleset.version if self.ruleset is not None else "none"
        if self.status == ACCEPTED:
            before = self.previous.version if self.previous is not None else "none"
            return f"accepted ruleset {current} (was {before})"
        if self.status == REJECTED:
            return f"rejected: {len(self.problems)} problem(s); still using ruleset {current}"
        return f"unchanged: ruleset {current}"


class RulesWatch:
    """The last valid rule set of ``path``; :meth:`reload` moves it on only to a valid, different one."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.ruleset: RuleSet | None = None
        self.first = self.reload()  #: the state at start: accepted, or rejected with the problems

    def reload(self) -> Change:
        try:
            ruleset = load_ruleset(self.path)
        except RuleFileError as exc:
            return Change(REJECTED, self.ruleset, tuple(exc.problems))
        if self.ruleset is not None and ruleset.digest == self.ruleset.digest:
            return Change(UNCHANGED, self.ruleset)
        previous, self.ruleset = self.ruleset, ruleset
        return Change(ACCEPTED, ruleset, previous=previous)

    def changes(self, stop_event: "Event | None" = None, debounce_ms: int = 200) -> Iterator[Change]:
        """Block on the file system; yield each accepted or rejected reload after a rule file changed.

        Saves within ``debounce_ms`` of each other are one change (an editor's
        write-then-rename, a ``git checkout`` of several files).  Ends when
        ``stop_event`` is set; Ctrl-C raises :class:`KeyboardInterrupt` to the caller.
        """
        from watchfiles import watch

        for _ in watch(self.path, watch_filter=_rule_file, debounce=debounce_ms, stop_event=stop_event,
                       rust_timeout=500, yield_on_timeout=False, raise_interrupt=True):
            change = self.reload()
            if change.status != UNCHANGED:
                yield change


def _rule_file(_change: object, path: str) -> bool:
    name = Path(path).name
    return name.endswith(RULE_SUFFIXES) and not name.startswith(".")
