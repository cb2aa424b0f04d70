"""``tts.normalize`` (auto | on | off, globally and per engine) and what reaches the engine.

The echo engine speaks half a second per word it is given, so a line's length says
whether it read "$3.50" (one word) or "three dollars and fifty cents" (five).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fanren_tts import ConfigError, TTSGenerator
from fanren_tts.config import load_config
from fanren_tts.engines import BUILTIN

SELF_NORMALIZING = frozenset(name for name, row in BUILTIN.items() if row.self_normalizing)

LINE = "It costs $3.50 today."  # 4 words as written, 8 as read


def _with(path: Path, **top: object) -> Path:
    doc = yaml.safe_load(path.read_text())
    doc["tts"].update(top)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


def test_the_engine_reads_normalized_text_and_subtitles_keep_the_original(echo_config, tmp_path: Path) -> None:
    with TTSGenerator(echo_config()) as gen:
        r = gen.generate(LINE, tmp_path / "a.wav", cache=False)
    assert r.duration == pytest.approx(8 * 0.5, abs=0.01)
    assert [s.text for s in r.segments] == [LINE]
    assert "3.50" in r.srt() and "dollars" not in r.srt()  # (the "costs$ 3.50" spacing is the subtitles' issue)


def test_off_sends_the_text_as_written(echo_config, tmp_path: Path) -> None:
    with TTSGenerator(_with(echo_config(), normalize="off")) as gen:
        assert gen.generate(LINE, tmp_path / "a.wav", cache=False).duration == pytest.approx(4 * 0.5, abs=0.01)
        assert gen.normalize(LINE) == LINE


def test_an_engine_block_overrides_the_global_switch(echo_config, tmp_path: Path) -> None:
    path = _with(echo_config(echo={"normalize": "on"}, plain={"normalize": False}), normalize="off")
    cfg = load_config(path, environ={})
    assert (cfg.normalizes("echo"), cfg.normalizes("plain")) == (True, False)  # YAML's bare off is False
    with TTSGenerator(path) as gen:
        assert gen.normalize(LINE, engine="echo") == "It costs three dollars and fifty cents today."
        assert gen.normalize(LINE, engine="plain") == LINE


def test_auto_leaves_engines_that_normalize_themselves_alone(tmp_path: Path) -> None:
    blocks = {kind: {"python": "/usr/bin/python3"} for kind in ["piper", "espeak", *sorted(SELF_NORMALIZING)]}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"tts": {"engine": "piper", **blocks}}))
    cfg = load_config(path, environ={})
    assert {name: cfg.normalizes(name) for name in blocks} == {
        "piper": True,
        "espeak": True,
        "cosyvoice": False,
        "indextts": False,
        "minicpmo": False,
        "qwen3": False,
        "openai": False,
    }
    assert cfg.model_copy(update={"normalize": "on"}).normalizes("cosyvoice")


def test_a_bad_switch_names_the_key(echo_config) -> None:
    with pytest.raises(ConfigError, match=r"tts.normalize: expected auto, on or off"):
        load_config(_with(echo_config(), normalize="sometimes"), environ={})
    with pytest.raises(ConfigError, match=r"normalize"):
        load_config(echo_config(echo={"normalize": "always"}), environ={})


def test_describe_says_whether_the_front_end_normalizes(echo_config) -> None:
    with TTSGenerator(echo_config()) as gen:
        assert gen.describe("echo")["text"] == {"normalize": True, "normalizes_itself": False}


def test_spoken_segments_show_each_segment_its_engine_and_what_it_reads(echo_config) -> None:
    with TTSGenerator(echo_config()) as gen:
        segments = gen.spoken_segments("Did Dr. Smith pay $3.50? 他在2024年花了¥25。")
        assert not gen.worker("echo").alive  # nothing started
    assert segments == [
        {
            "text": "Did Dr. Smith pay $3.50?",
            "engine": "echo",
            "language": "en",
            "spoken": "Did Doctor Smith pay three dollars and fifty cents?",
        },
        {"text": "他在2024年花了¥25。", "engine": "echo", "language": "zh", "spoken": "他在二零二四年花了二十五元。"},
    ]
