"""The README's "Text front end" tables: normalizer and sentence-splitter candidates on the case tables.

Run it in a scratch venv that has the candidates (none of them is a fanren_tts dependency)::

    uv venv /tmp/text-scratch -p 3.11
    uv pip install -p /tmp/text-scratch/bin/python -e . wetext WeTextProcessing nemo_text_processing pysbd
    /tmp/text-scratch/bin/python scripts/text_candidates.py [passthrough bare wetext wetp nemo ours] [--split] [-v]

NeMo builds its grammars on first use (minutes; cached under /tmp/text-candidates-nemo).
The espeak column needs the espeak env (python scripts/quickstart.py). Informs; asserts nothing.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]  # the checkout, installed or not

from text_cases import fold, split_cases, text_cases  # noqa: E402

Speak = Callable[[str, str], str]
CASES = text_cases()
VOICE = {"zh": "cmn", "en": "en-us"}
ESPEAK = ROOT / "envs" / "espeak" / ".venv" / "bin" / "python"


def _phonemes(pairs: list[tuple[str, str]]) -> list[str]:
    done = subprocess.run(
        [str(ESPEAK), str(ROOT / "tests" / "espeak_phonemes.py")],
        input=json.dumps(pairs),
        capture_output=True,
        text=True,
        check=True,
    )
    return [re.sub(r"[\s_:|',]", "", p) for p in json.loads(done.stdout)]


def _heard(text: str) -> str:
    return re.sub(r"[^\w\s']", " ", text.replace("-", " "))


def passthrough() -> Speak:
    return lambda text, lang: text


def ours() -> Speak:
    from fanren_tts.text import FrontEnd

    front = FrontEnd()
    return lambda text, lang: front.speak(text).spoken


def bare() -> Speak:
    import cn2an
    from num2words import num2words

    def en(text: str) -> str:
        return re.sub(r"\d+(?:\.\d+)?", lambda m: str(num2words(float(m[0]) if "." in m[0] else int(m[0]))), text)

    return lambda text, lang: str(cn2an.transform(text, "an2cn")) if lang == "zh" else en(text)


def wetext() -> Speak:
    from wetext import Normalizer

    n = {"zh": Normalizer(lang="zh", operator="tn"), "en": Normalizer(lang="en", operator="tn")}
    return lambda text, lang: str(n[lang].normalize(text))


def wetp() -> Speak:
    from tn.chinese.normalizer import Normalizer as Zh
    from tn.english.normalizer import Normalizer as En

    n: dict[str, Any] = {"zh": Zh(), "en": En()}
    return lambda text, lang: str(n[lang].normalize(text))


def nemo() -> Speak:
    from nemo_text_processing.text_normalization.normalize import Normalizer

    cache = "/tmp/text-candidates-nemo"
    n = {lang: Normalizer(input_case="cased", lang=lang, cache_dir=cache) for lang in ("zh", "en")}
    return lambda text, lang: str(n[lang].normalize(text, punct_post_process=True))


NAMES = {
    "passthrough": "pass-through (before)",
    "bare": "cn2an.transform / num2words alone",
    "wetext": "wetext (WeTextProcessing's FSTs on kaldifst)",
    "wetp": "WeTextProcessing (pynini)",
    "nemo": "NeMo text processing (pynini)",
    "ours": "chosen: fanren_tts.text rules over cn2an + num2words",
}


def measure(name: str, setup: Callable[[], Speak], verbose: bool) -> None:
    t0 = time.perf_counter()
    speak = setup()
    load = time.perf_counter() - t0
    outs = [speak(c.text, c.lang) for c in CASES]
    ok = {
        lang: sum(fold(o) == fold(c.expected) for c, o in zip(CASES, outs, strict=True) if c.lang == lang)
        for lang in VOICE
    }
    total = {lang: sum(c.lang == lang for c in CASES) for lang in VOICE}
    heard = "n/a"
    if ESPEAK.is_file():
        said = _phonemes([(VOICE[c.lang], _heard(o)) for c, o in zip(CASES, outs, strict=True)])
        meant = _phonemes([(VOICE[c.lang], _heard(c.expected)) for c in CASES])
        same = sum(a == b for a, b in zip(said, meant, strict=True))
        heard = f"{same}/{len(CASES)} ({same * 100 / len(CASES):.0f}%)"
    t0 = time.perf_counter()
    for _ in range(3):
        for c in CASES:
            speak(c.text, c.lang)
    per_1000 = (time.perf_counter() - t0) / 3 * 1000 / sum(len(c.text) for c in CASES) * 1000
    share = (ok["zh"] + ok["en"]) * 100 / len(CASES)
    print(
        f"| {name} | {ok['zh']}/{total['zh']} | {ok['en']}/{total['en']} | {share:.0f}% | {heard} "
        f"| {per_1000:.1f} | {load:.1f} s |",
        flush=True,
    )
    if verbose:
        for c, o in zip(CASES, outs, strict=True):
            if fold(o) != fold(c.expected):
                print(f"    {c.text!r} -> {o!r} (want {c.expected!r})")


def splitters(verbose: bool) -> None:
    import pysbd
    import sentencex

    from fanren_tts.text.sentences import _sentences

    seg = {lang: pysbd.Segmenter(language=lang, clean=False) for lang in ("en", "zh")}
    candidates: dict[str, Speak | Callable[[str, str], list[str]]] = {
        "pysbd": lambda t, lang: [s.strip() for s in seg[lang].segment(t) if s.strip()],
        "sentencex": lambda t, lang: [s.strip() for s in sentencex.segment(lang, t) if s.strip()],
        "chosen: CJK rules + sentencex": lambda t, lang: _sentences(t),
    }
    cases = split_cases()
    print("| splitter | English | Chinese | ms / 1,000 chars |\n|---|---|---|---|")
    for name, split in candidates.items():
        ok = {"en": 0, "zh": 0}
        for lang, text, want in cases:
            got = split(text, lang)
            ok[lang] += got == want
            if verbose and got != want:
                print(f"    {name}: {text!r} -> {got!r}")
        t0 = time.perf_counter()
        for _ in range(20):
            for lang, text, _want in cases:
                split(text, lang)
        per_1000 = (time.perf_counter() - t0) / 20 * 1000 / sum(len(c[1]) for c in cases) * 1000
        en, zh = sum(c[0] == "en" for c in cases), sum(c[0] == "zh" for c in cases)
        print(f"| {name} | {ok['en']}/{en} | {ok['zh']}/{zh} | {per_1000:.1f} |")


def main() -> int:
    logging.disable(logging.CRITICAL)  # the WFST normalizers log every grammar they load
    args = sys.argv[1:]
    verbose = "-v" in args
    if "--split" in args:
        splitters(verbose)
        return 0
    chosen = [a for a in args if not a.startswith("-")] or list(NAMES)
    print("| candidate | Chinese (text) | English (text) | all (text) | all (espeak) | ms / 1,000 chars | load |")
    print("|---|---|---|---|---|---|---|")
    for key in chosen:
        measure(NAMES[key], globals()[key], verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
