"""Routing: every line goes to an engine that speaks its language, or says why not."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from conftest import ECHO, TESTS, write_config
from fanren_tts import ConfigError, LanguageError, TTSGenerator, detect_language, load_config
from fanren_tts._language import script_runs
from fanren_tts._routing import Router, engine_languages
from fanren_tts.config import PROJECT_ROOT

CASES = [
    tuple(line.split("\t", 1))
    for line in (TESTS / "data" / "language_cases.tsv").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]


@pytest.mark.parametrize("lang,text", CASES)
def test_language_table(lang: str, text: str) -> None:
    assert detect_language(text) == lang


def test_the_table_covers_every_language_routing_tells_apart() -> None:
    assert {lang for lang, _ in CASES} == {"zh", "ja", "ko", "ru", "en"} and len(CASES) >= 60


def test_script_runs_cover_the_text_and_keep_single_letters_inside() -> None:
    for text in ("我们用 Python 写代码", "A股今天大涨。", "Hello 世界, this is it.", "“Python”是一种语言", "123"):
        runs = script_runs(text)
        assert "".join(r.text for r in runs) == text
        assert all(text[r.start : r.end] == r.text for r in runs)
    assert [(r.text, r.language) for r in script_runs("我们用 Python 写代码")] == [
        ("我们用 ", "zh"),
        ("Python ", "en"),
        ("写代码", "zh"),
    ]
    assert [r.language for r in script_runs("A股今天大涨。")] == ["zh"]  # one letter switches no voice


def default_config(tmp_path: Path, *, strict: bool = False, only_piper: bool = False) -> Path:
    engines = {"piper": {}} if only_piper else {"piper": {}, "espeak": {"voice": "cmn"}}
    return write_config(
        tmp_path / "c.yaml", engines, "piper", routes={} if only_piper else {"zh": "espeak"}, strict=strict
    )


def test_static_languages_of_the_default_engines(tmp_path: Path) -> None:
    cfg = load_config(default_config(tmp_path), environ={})
    assert engine_languages(cfg.engines["piper"]) == {"en"}
    assert engine_languages(cfg.engines["espeak"]) == {"zh"}


@pytest.mark.slow
def test_static_languages_match_what_describe_reports(tmp_path: Path, default_envs: None) -> None:
    """The facts routing uses before any worker starts agree with the running engines."""
    from fanren_tts._routing import language_code

    with TTSGenerator(default_config(tmp_path)) as gen:
        piper = {language_code(t) for t in gen.describe("piper")["languages"]}
        assert piper == engine_languages(gen.config.engines["piper"])
        espeak = gen.describe("espeak")
        assert {language_code(espeak["voice"])} == engine_languages(gen.config.engines["espeak"])


@pytest.mark.parametrize(
    "text,lang", [("こんにちは、元気ですか。", "ja"), ("안녕하세요.", "ko"), ("Привет, мир!", "ru")]
)
def test_a_language_no_engine_speaks_is_warned_about_by_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str, lang: str
) -> None:
    with TTSGenerator(default_config(tmp_path)) as gen, caplog.at_level(logging.WARNING, "fanren_tts.routing"):
        assert gen.route(text) == [(text, "piper")]
        gen.route(text)  # once per engine and language, not once per line
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1
    assert f"({lang})" in warned[0] and "no engine that speaks it" in warned[0]
    assert f"tts.routes.{lang}" in warned[0] and "espeak" in warned[0] and "tts.strict" in warned[0]


def test_strict_refuses_what_no_engine_speaks_before_any_work(tmp_path: Path) -> None:
    with TTSGenerator(default_config(tmp_path, strict=True)) as gen:
        with pytest.raises(LanguageError) as info:
            gen.generate("東京へ行きます。", tmp_path / "ja.wav")
        assert info.value.language == "ja" and info.value.engine == "piper"
        assert isinstance(info.value, ConfigError) and "tts.routes.ja" in str(info.value)
        with pytest.raises(LanguageError, match=r"\(ru\)"):
            list(gen.stream("Привет, мир!"))
        assert gen._pools == {} and not (tmp_path / "ja.wav").exists()  # nothing started, nothing written


def test_chinese_with_only_piper_is_not_read_silently(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with TTSGenerator(default_config(tmp_path, only_piper=True)) as gen, caplog.at_level(logging.WARNING):
        assert gen.pick_engine("今天天气很好。") == "piper"
        gen.route("今天天气很好。")
    assert any("Chinese (zh)" in r.getMessage() and "espeak" in r.getMessage() for r in caplog.records)
    with TTSGenerator(default_config(tmp_path, strict=True, only_piper=True)) as gen:
        with pytest.raises(LanguageError, match=r"Chinese \(zh\)"):
            gen.generate("今天天气很好。", tmp_path / "x.wav")


def test_a_language_goes_to_whichever_engine_speaks_it_without_a_route(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "c.yaml", {"piper": {}, "espeak": {"voice": "cmn"}, "espeak-ru": {"type": "espeak", "voice": "ru"}}
    )
    with TTSGenerator(path) as gen:
        assert gen.pick_engine("Привет, мир!") == "espeak-ru"
        assert gen.pick_engine("你好") == "espeak" and gen.pick_engine("Hello") == "piper"


def test_mixed_lines_are_routed_run_by_run(tmp_path: Path) -> None:
    with TTSGenerator(default_config(tmp_path)) as gen:
        assert gen.route("我们用 Python 写代码") == [("我们用 ", "espeak"), ("Python ", "piper"), ("写代码", "espeak")]
        assert gen.pick_engine("我们用 Python 写代码") == "espeak"  # the line's main language
        assert gen.route("我们用 Python 写代码", engine="espeak") == [("我们用 Python 写代码", "espeak")]
    path = default_config(tmp_path)
    doc = path.read_text() + "  narration: {split_languages: false}\n"
    path.write_text(doc)
    with TTSGenerator(path) as gen:
        assert gen.route("我们用 Python 写代码") == [("我们用 Python 写代码", "espeak")]


def test_an_explicit_engine_choice_turns_routing_off_but_still_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with TTSGenerator(default_config(tmp_path), engine="piper") as gen, caplog.at_level(logging.WARNING):
        assert gen.route("你好。") == [("你好。", "piper")]
    assert any("(zh)" in r.getMessage() for r in caplog.records)


def echo_pair(tmp_path: Path, bare_python: Path) -> Path:
    """Two stand-in engines: one speaks Chinese (440 Hz), one English (880 Hz)."""
    block = {"python": str(bare_python), "wrapper": str(ECHO)}
    return write_config(
        tmp_path / "echo.yaml",
        {"en": {**block, "languages": ["en"], "frequency": 880.0}, "zh": {**block, "languages": ["zh-CN"]}},
        "en",
        cache={"enabled": False},
        output={"sample_rate": 16000},
    )


def test_mixed_line_is_one_file_from_both_engines_without_a_pause_mid_sentence(
    tmp_path: Path, bare_python: Path
) -> None:
    with TTSGenerator(echo_pair(tmp_path, bare_python)) as gen:
        r = gen.generate("我们用 Python 写代码。Next sentence.", tmp_path / "mixed.wav")
        started = {name for name in ("en", "zh") if name in gen._pools and gen._pools[name].replicas[0].alive}
    assert started == {"en", "zh"}
    assert [s.text for s in r.segments] == ["我们用", "Python", "写代码。", "Next sentence."]
    seg = r.segments
    assert seg[1].start == pytest.approx(seg[0].end) and seg[2].start == pytest.approx(seg[1].end)  # one sentence
    assert seg[3].start > seg[2].end + 0.2  # the narration pause between sentences


def test_routing_config_keys_are_checked(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", {"piper": {}}, strict="yes")
    with pytest.raises(ConfigError, match="tts.strict"):
        load_config(path, environ={})
    assert load_config(PROJECT_ROOT / "config.yaml", environ={}).strict is False


def test_router_on_its_own(tmp_path: Path) -> None:
    router = Router(load_config(default_config(tmp_path), environ={}), warn=lambda m: None)
    assert router.engine_for("zh") == "espeak" and router.engine_for("en") == "piper"
    assert router.engine_for("ja") is None and router.speaks("piper", "en")


@pytest.mark.slow
def test_mixed_line_through_piper_and_espeak(tmp_path: Path, default_envs: None) -> None:
    with TTSGenerator(PROJECT_ROOT / "config.yaml") as gen:
        r = gen.generate("我们用 Python 写代码。", tmp_path / "mixed.wav", cache=False)
        assert gen._pools["piper"].replicas[0].alive and gen._pools["espeak"].replicas[0].alive
    assert [s.text for s in r.segments] == ["我们用", "Python", "写代码。"]
    assert all(s.end > s.start for s in r.segments) and r.engine == "espeak"
    assert r.segments[1].start == pytest.approx(r.segments[0].end, abs=1e-3)  # no pause mid-sentence


def test_a_running_engine_s_describe_languages_take_over(
    tmp_path: Path, bare_python: Path, caplog: pytest.LogCaptureFixture
) -> None:
    block = {"python": str(bare_python), "wrapper": str(ECHO), "reported_languages": ["zh-CN"]}
    with TTSGenerator(write_config(tmp_path / "c.yaml", {"x": block})) as gen, caplog.at_level(logging.WARNING):
        gen.route("Hello there.")  # not started: its languages are unknown, so it is trusted
        assert not caplog.records
        gen.warm_up()
        assert gen._router.languages("x") == {"zh"}
        gen.route("Hello there.")
    assert any("English (en)" in r.getMessage() and "x speaks zh" in r.getMessage() for r in caplog.records)


def test_routing_and_normalization_ask_the_one_detector() -> None:
    """One detector: a single Han character among Latin units ("重5kg") is Chinese for
    routing as it is for normalization (routing called it English while the front end
    read it as Chinese)."""
    from fanren_tts import detect_language
    from fanren_tts.text import language_of

    for text, language in [("重5kg", "zh"), ("3mm厚", "zh"), ("He said 你好 and paid $5", "en"), ("こんにちは", "ja")]:
        assert detect_language(text) == language_of(text) == language, text
