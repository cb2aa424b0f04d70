"""The pronunciation lexicon: words an engine misreads, and what to give it instead.

``tts.text.lexicon: FILE`` names a YAML file such as::

    zh:                      # applies to Chinese segments
      韩立: 韩力               # a word and what to say for it
    en:
      Nguyen: Win
      /\\bGIF\\b/: jif          # /regex/: a regular expression (Python syntax)
    "*":                     # every language
      fanren: fan ren
    engines:                 # only for one engine (a name under tts:)
      piper:
        en:
          Siobhan: Shivawn

Engine entries win over language entries, then the file's order. A plain word
matches whole words in Latin script (``\\b`` on both sides) and anywhere in CJK
text. Entries run in the same pass as normalization, before its rules, so a
replacement is said exactly as written (write "twenty" rather than "20").
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .._exceptions import ConfigError
from .rules import Rule

__all__ = ["Lexicon", "load_lexicon"]

_LATIN_WORD = re.compile(r"^\w[\w' -]*\w$|^\w$", re.ASCII)


class Lexicon:
    """Entries by (engine or None, language or "*"), each a list of rules."""

    def __init__(self, entries: Mapping[tuple[str | None, str], list[Rule]] | None = None, source: str = "") -> None:
        self.entries = dict(entries or {})
        self.source = source

    def rules(self, language: str, engine: str | None = None) -> list[Rule]:
        """The rules for a segment in ``language`` spoken by ``engine``, most specific first."""
        out: list[Rule] = []
        if engine is not None:
            out += self.entries.get((engine, language), []) + self.entries.get((engine, "*"), [])
        return out + self.entries.get((None, language), []) + self.entries.get((None, "*"), [])

    def __bool__(self) -> bool:
        return any(self.entries.values())


def _say(replacement: str) -> Callable[[re.Match[str]], str]:
    return lambda m: replacement


def _expand(compiled: re.Pattern[str], replacement: str) -> Callable[[re.Match[str]], str]:
    return lambda m: compiled.sub(replacement, m.group(0), count=1)


def _rule(key: str, replacement: str, where: str) -> Rule:
    if len(key) > 2 and key.startswith("/") and key.endswith("/"):
        try:
            compiled = re.compile(key[1:-1])
        except re.error as exc:
            raise ConfigError(f"{where}: {key!r} is not a valid regular expression: {exc}") from None
        # groups: the replacement may name them (\\1), so it is expanded on the match
        return Rule(f"(?:{key[1:-1]})", _expand(compiled, replacement) if compiled.groups else _say(replacement))
    pattern = re.escape(key)
    if _LATIN_WORD.match(key):
        pattern = rf"\b{pattern}\b"
    return Rule(pattern, _say(replacement))


def _entries(block: Any, where: str) -> list[Rule]:
    if not isinstance(block, Mapping):
        raise ConfigError(f"{where}: expected a mapping of word (or /regex/) -> replacement, got {block!r}")
    rules = []
    for key, value in block.items():
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}.{key}: the replacement must be text, got {value!r}")
        rules.append(_rule(str(key), str(value), f"{where}.{key}"))
    return rules


def load_lexicon(path: str | os.PathLike[str]) -> Lexicon:
    """The lexicon in ``path``; ConfigError naming the file and entry for anything wrong."""
    file = Path(path)
    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"tts.text.lexicon: cannot read {file}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"tts.text.lexicon: {file} is not valid YAML: {exc}") from None
    if not isinstance(doc, Mapping):
        raise ConfigError(f"tts.text.lexicon: {file}: expected a mapping of language -> entries")
    entries: dict[tuple[str | None, str], list[Rule]] = {}
    for lang, block in doc.items():
        if lang == "engines":
            if not isinstance(block, Mapping):
                raise ConfigError(f"{file}: engines: expected a mapping of engine -> language -> entries")
            for engine, langs in block.items():
                if not isinstance(langs, Mapping):
                    raise ConfigError(f"{file}: engines.{engine}: expected a mapping of language -> entries")
                for sub, items in langs.items():
                    entries[(str(engine), str(sub))] = _entries(items, f"{file}: engines.{engine}.{sub}")
        else:
            entries[(None, str(lang))] = _entries(block, f"{file}: {lang}")
    return Lexicon(entries, str(file))
