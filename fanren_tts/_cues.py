"""Subtitle cues from word timings: where each cue starts and ends, and where its lines break.

Cues follow common broadcast guidance (Netflix's timed-text style guides, EBU-TT-D
practice), so an editor can take them as they are:

- a cue holds at most ``max_lines`` lines (2) of ``max_chars`` characters (42) in
  Latin scripts, ``max_chars_cjk`` (16) in Chinese and Japanese; two lines are
  balanced, and every break falls between words (``_wordbreak``: jieba, BudouX),
  preferably after a comma or other clause mark, never before a Chinese particle;
- a cue never spans two segments (sentences), and lasts at most ``max_duration``;
- a cue shorter than ``min_duration`` (5/6 s) or read faster than ``max_cps``
  characters a second (17; ``max_cps_cjk`` 9) is merged with its neighbour in the
  same sentence, or extended into the silence around it; what still breaks a rule
  is listed by ``cue_issues``;
- a leading symbol (``$3.50``, an opening quote) stays with the word after it.

The file formats (``_subtitles``) only write what is cut here. Works on anything with
``text``, ``start`` and ``end``: it depends on no result type.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ._timeline import Word, estimate_words, is_cjk
from ._wordbreak import allowed_breaks

__all__ = ["DEFAULT_RULES", "Cue", "CueRules", "Timed", "build_cues", "cue_issues", "join_units", "spaced", "wide"]


class Timed(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


@dataclasses.dataclass(frozen=True)
class CueRules:
    """How cues are cut: ``tts.subtitles`` (the same names), here without the config's types."""

    max_chars: int = 42
    max_chars_cjk: int = 16
    max_lines: int = 2
    max_duration: float = 7.0
    min_duration: float = 5 / 6
    max_cps: float = 17.0
    max_cps_cjk: float = 9.0

    @classmethod
    def of(cls, value: Any) -> CueRules:
        """From ``CueRules``, a config section with these names, or an old (max_chars, max_duration) pair."""
        if isinstance(value, CueRules):
            return value
        if isinstance(value, tuple):
            return cls(max_chars=int(value[0]), max_duration=float(value[1]))
        return cls(**{f.name: getattr(value, f.name) for f in dataclasses.fields(cls) if hasattr(value, f.name)})


DEFAULT_RULES = CueRules()


@dataclasses.dataclass(frozen=True)
class Cue:
    """One cue: ``text`` with ``\\n`` between its lines; ``breaks`` are the indexes of the
    ``words`` that start the second and later lines."""

    text: str
    start: float
    end: float
    words: tuple[Word, ...] = ()
    breaks: tuple[int, ...] = ()

    @property
    def cps(self) -> float:
        """Reading speed: characters (spaces and punctuation included, line breaks not) a second."""
        return len(self.text.replace("\n", "")) / max(self.end - self.start, 1e-3)


_QUOTES = "\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f"


def wide(ch: str) -> bool:
    """CJK characters and full-width punctuation: written without spaces around them."""
    code = ord(ch)
    return is_cjk(ch) or 0x3000 <= code <= 0x303F or 0xFF00 <= code <= 0xFFEF


def spaced(left: str, right: str) -> bool:
    """A space between two units: neither side CJK. Curly quotes serve both scripts, so the
    character inside them decides (“你好” joins; “cheap” keeps its space)."""
    a = left.rstrip(_QUOTES)[-1:] or left[-1:]
    b = right.lstrip(_QUOTES)[:1] or right[:1]
    return bool(a and b) and not (wide(a) or wide(b))


def join_units(units: Sequence[str]) -> str:
    """Units back into text: no space next to CJK text, one between other words."""
    out = ""
    for unit in units:
        if out and spaced(out, unit):
            out += " "
        out += unit
    return out


def _is_cjk_text(text: str) -> bool:
    """Chinese or Japanese by majority of letters: the CJK line length and reading speed apply."""
    letters = [ch for ch in text if ch.isalnum()]
    return sum(is_cjk(ch) for ch in letters) * 2 >= len(letters) > 0


@dataclasses.dataclass(frozen=True)
class _Token:
    """Words that no line may break between (the characters of one Chinese word)."""

    words: tuple[Word, ...]

    @functools.cached_property
    def text(self) -> str:
        return join_units([w.text for w in self.words])


def _tokens(words: Sequence[Word]) -> list[_Token]:
    ok = allowed_breaks([w.text for w in words])
    out: list[list[Word]] = []
    for i, w in enumerate(words):
        if i and ok[i - 1]:
            out.append([w])
        elif out:
            out[-1].append(w)
        else:
            out.append([w])
    return [_Token(tuple(t)) for t in out]


_CLAUSE = ",;:，、；：。！？!?…—)）」』”"  # not ".": inside a sentence it ends "Dr." or "p.m."


def _clause_end(token: _Token) -> bool:
    """A token that ends a clause: a line or cue reads best when it breaks after one."""
    return token.text.rstrip()[-1:] in _CLAUSE


def _lengths(tokens: Sequence[_Token]) -> Callable[[int, int], int]:
    """``length(i, j)``: characters of ``tokens[i:j]`` joined, in constant time (prefix sums)."""
    chars = [0]
    spaces = [0]
    for k, t in enumerate(tokens):
        chars.append(chars[-1] + len(t.text))
        spaces.append(spaces[-1] + (k + 1 < len(tokens) and spaced(t.text, tokens[k + 1].text)))

    def length(i: int, j: int) -> int:
        return chars[j] - chars[i] + (spaces[j - 1] - spaces[i] if j - 1 > i else 0)

    return length


def _layout(tokens: Sequence[_Token], width: int, lines: int) -> tuple[int, ...] | None:
    """Token indexes that start lines 2.., each line at most ``width``; None when the
    tokens do not fit in ``lines`` lines. Lines are as even as can be, and a break after
    a comma or other clause mark counts as a quarter line shorter (it reads better)."""
    n = len(tokens)
    bonus = max(1, width // 4)
    length = _lengths(tokens)

    @functools.cache
    def best(i: int, left: int) -> tuple[int, int, tuple[int, ...]] | None:
        """(longest line, breaks after a clause mark, breaks) for tokens[i:] in at most ``left`` lines."""
        if length(i, n) <= width:
            return length(i, n), 0, ()
        if left <= 1:
            return None
        found: tuple[int, int, tuple[int, ...]] | None = None
        for j in range(i + 1, n):
            head = length(i, j)
            if head > width:
                break
            rest = best(j, left - 1)
            if rest is None:
                continue
            option = (max(head, rest[0]), rest[1] + _clause_end(tokens[j - 1]), (j, *rest[2]))
            if found is None or option[0] - bonus * option[1] < found[0] - bonus * found[1]:
                found = option
        return found

    result = best(0, lines)
    return None if result is None else result[2]


def _cue(tokens: Sequence[_Token], rules: CueRules, width: int) -> Cue:
    breaks = _layout(tokens, width, rules.max_lines) or ()
    words = tuple(w for t in tokens for w in t.words)
    starts = [0, *breaks, len(tokens)]
    lines = [join_units([t.text for t in tokens[a:b]]) for a, b in itertools.pairwise(starts)]
    word_breaks = tuple(sum(len(t.words) for t in tokens[:b]) for b in breaks)
    return Cue("\n".join(lines), words[0].start, words[-1].end, words, word_breaks)


def _fits(tokens: Sequence[_Token], rules: CueRules, width: int) -> bool:
    return tokens[-1].words[-1].end - tokens[0].words[0].start <= rules.max_duration + 1e-9 and (
        _layout(tokens, width, rules.max_lines) is not None
    )


def _slow_enough(cue: Cue, rules: CueRules, cjk: bool) -> bool:
    cps = rules.max_cps_cjk if cjk else rules.max_cps
    return cue.end - cue.start >= rules.min_duration - 1e-9 and cue.cps <= cps + 1e-9


def _balanced(tokens: list[_Token], rules: CueRules, width: int) -> list[list[_Token]]:
    """As few cues as greedy filling needs, their lengths as even as can be (no short last cue)."""
    greedy: list[list[_Token]] = []
    for token in tokens:
        if greedy and _fits([*greedy[-1], token], rules, width):
            greedy[-1].append(token)
        else:
            greedy.append([token])
    if len(greedy) < 2 or len(tokens) > 200:
        return greedy
    n = len(tokens)

    @functools.cache
    def fits(i: int, j: int) -> bool:
        return _fits(tokens[i:j], rules, width)

    bonus = max(1, width // 2)  # a cut after a clause mark counts as half a line shorter
    length = _lengths(tokens)

    @functools.cache
    def best(i: int, count: int) -> tuple[int, int, tuple[int, ...]] | None:
        """(longest cue in characters, cuts after a clause mark, cut points) for tokens[i:] in ``count`` cues."""
        if count == 1:
            return (length(i, n), 0, ()) if fits(i, n) else None
        found: tuple[int, int, tuple[int, ...]] | None = None
        for j in range(i + 1, n - count + 2):
            if not fits(i, j):
                break
            rest = best(j, count - 1)
            if rest is not None:
                size = max(length(i, j), rest[0])
                option = (size, rest[1] + _clause_end(tokens[j - 1]), (j, *rest[2]))
                if found is None or option[0] - bonus * option[1] < found[0] - bonus * found[1]:
                    found = option
        return found

    result = best(0, len(greedy))
    if result is None:
        return greedy
    cuts = [0, *result[2], n]
    return [tokens[a:b] for a, b in itertools.pairwise(cuts)]


def _sentence(words: Sequence[Word], rules: CueRules, cjk: bool) -> list[list[_Token]]:
    """One segment's tokens in cues: filled greedily, then short or fast cues merged."""
    width = rules.max_chars_cjk if cjk else rules.max_chars
    groups = _balanced(_tokens(words), rules, width)
    merged = True
    while merged and len(groups) > 1:
        merged = False
        for i, group in enumerate(groups):
            if _slow_enough(_cue(group, rules, width), rules, cjk):
                continue
            # the neighbour that makes the shorter merged cue, when it fits
            options = [j for j in (i - 1, i + 1) if 0 <= j < len(groups)]
            options.sort(key=lambda j: len(groups[j]))
            for j in options:
                a, b = min(i, j), max(i, j)
                if _fits([*groups[a], *groups[b]], rules, width):
                    groups[a : b + 1] = [[*groups[a], *groups[b]]]
                    merged = True
                    break
            if merged:
                break
    return groups


def build_cues(
    segments: Sequence[Timed],
    words: Sequence[Timed],
    rules: CueRules | tuple[int, float] | int = DEFAULT_RULES,
    max_duration: float | None = None,
    *,
    end: float | None = None,
) -> list[Cue]:
    """Cues for ``segments`` from their ``words`` (see the module docstring), never across segments.

    Without word timings the segment's span is shared out over its words first. ``end``
    (the audio's length) is as far as the last cue may be lengthened; without it, as
    far as its reading needs. ``build_cues(segments, words, 42, 7.0)`` (the old
    signature) still works.
    """
    if isinstance(rules, int):
        rules = CueRules(max_chars=rules, max_duration=7.0 if max_duration is None else max_duration)
    rules = CueRules.of(rules)
    cues: list[Cue] = []
    pool = sorted(words, key=lambda w: w.start)
    starts = [w.start for w in pool]
    for seg in segments:
        lo, hi = bisect.bisect_left(starts, seg.start - 1e-6), bisect.bisect_right(starts, seg.end + 1e-6)
        mine = [Word(w.text, w.start, w.end) for w in pool[lo:hi]]
        if not mine:
            mine = list(estimate_words(seg.text, seg.start, seg.end))
        if not mine:
            continue
        cjk = _is_cjk_text(seg.text)
        width = rules.max_chars_cjk if cjk else rules.max_chars
        cues.extend(_cue(group, rules, width) for group in _sentence(mine, rules, cjk))
    return _stretch(cues, rules, end)


def _stretch(cues: list[Cue], rules: CueRules, end_limit: float | None) -> list[Cue]:
    """Cues still too short or too fast get more time from the silence after, then before them."""
    out = list(cues)
    for i, cue in enumerate(out):
        cps = rules.max_cps_cjk if _is_cjk_text(cue.text) else rules.max_cps
        need = max(rules.min_duration, len(cue.text.replace("\n", "")) / cps)
        if cue.end - cue.start >= need:
            continue
        if i + 1 < len(out):
            after = out[i + 1].start
        else:
            after = cue.start + need if end_limit is None else max(cue.end, end_limit)
        end = max(cue.end, min(cue.start + need, after))
        before = out[i - 1].end if i else 0.0
        start = min(cue.start, max(end - need, before))
        out[i] = dataclasses.replace(cue, start=start, end=end)
    return out


def cue_issues(cues: Sequence[Cue], rules: CueRules | tuple[int, float] = DEFAULT_RULES) -> list[str]:
    """Cues that still break a rule (too short, read too fast, a line too long), one line each."""
    rules = CueRules.of(rules)
    issues: list[str] = []
    for n, cue in enumerate(cues, 1):
        cjk = _is_cjk_text(cue.text)
        width, cps = (rules.max_chars_cjk, rules.max_cps_cjk) if cjk else (rules.max_chars, rules.max_cps)
        span = cue.end - cue.start
        if span < rules.min_duration - 1e-3:
            issues.append(f"cue {n} lasts {span:.2f} s (< {rules.min_duration:.2f} s): {cue.text!r}")
        if cue.cps > cps + 1e-3:
            issues.append(f"cue {n} reads at {cue.cps:.1f} characters/s (> {cps:g}): {cue.text!r}")
        lines = cue.text.split("\n")
        if len(lines) > rules.max_lines or max(len(line) for line in lines) > width:
            issues.append(f"cue {n} does not fit {rules.max_lines} lines of {width} characters: {cue.text!r}")
    return issues
