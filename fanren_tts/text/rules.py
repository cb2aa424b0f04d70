"""One-pass rewriting with a span map: how normalized text stays tied to what was written.

Every rewrite (a lexicon entry, a number read out) is a regex whose match is
replaced by a function's result. All rules of a language are joined into one
alternation and applied left to right in a single scan, so no rule rewrites
another's output and each replaced span is known exactly. ``Rewritten.spans``
pairs every spoken span with the original span it came from: word timings
reported on the spoken text map back onto the original (see ``Rewritten.original_span``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

__all__ = ["Rewritten", "Rule", "Rules"]

#: A rule's replacement: the match in, the spoken text out.
Replace = Callable[[re.Match[str]], str]


@dataclasses.dataclass(frozen=True)
class Rule:
    """``pattern`` (a regex; its groups are numbered from 1 in the match ``replace`` gets)
    and what to say for a match."""

    pattern: str
    replace: Replace
    flags: int = 0


@dataclasses.dataclass(frozen=True)
class Rewritten:
    """The original text, the spoken text, and the spans that differ.

    ``spans`` holds ``(orig_start, orig_end, spoken_start, spoken_end)`` for every
    rewritten span, in order; text between spans is the same in both.
    """

    original: str
    spoken: str
    spans: tuple[tuple[int, int, int, int], ...] = ()

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span that spoken characters ``start:end`` come from
        (a word inside a rewritten span maps to the whole span)."""
        return self._map(start)[0], self._map(max(start, end - 1))[1]

    def _map(self, pos: int) -> tuple[int, int]:
        """The original span of spoken character ``pos``: its rewrite's, or the one character."""
        shift = 0  # original index - spoken index, for text between spans
        for o0, o1, s0, s1 in self.spans:
            if pos < s0:
                break
            if pos < s1:
                return o0, o1
            shift = o1 - s1
        return pos + shift, pos + shift + 1


class Rules:
    """Rules joined into one regex; earlier rules win where two match at the same place."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules = list(rules)
        self._compiled = [re.compile(r.pattern, r.flags) for r in self._rules]
        joined = "|".join(f"(?P<r{i}>{_inline(r)})" for i, r in enumerate(self._rules))
        self._regex = re.compile(joined) if rules else None

    def apply(self, text: str) -> Rewritten:
        if self._regex is None:
            return Rewritten(text, text)
        out: list[str] = []
        spans: list[tuple[int, int, int, int]] = []
        last = 0
        length = 0
        for m in self._regex.finditer(text):
            name = m.lastgroup
            if m.end() == m.start() or name is None:
                continue  # a lexicon regex that matches nothing (a*) inserts nothing
            index = int(name[1:])
            own = self._compiled[index].match(text, m.start())  # the rule's own groups, numbered from 1
            assert own is not None
            said = self._rules[index].replace(own)
            if said == m.group(0):
                continue
            out.append(text[last : m.start()])
            length += m.start() - last
            spans.append((m.start(), m.end(), length, length + len(said)))
            out.append(said)
            length += len(said)
            last = m.end()
        out.append(text[last:])
        return Rewritten(text, "".join(out), tuple(spans))


def _inline(rule: Rule) -> str:
    """The rule's pattern with its flags inline, for the joined alternation."""
    flags = "".join(c for f, c in ((re.IGNORECASE, "i"), (re.VERBOSE, "x")) if rule.flags & f)
    return f"(?{flags}:{rule.pattern})" if flags else rule.pattern
