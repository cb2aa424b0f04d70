"""TTSGenerator with the real embedded engines, and its file-level promises."""

from __future__ import annotations

import itertools
import wave
from pathlib import Path

import pytest

from conftest import write_config
from fanren_tts import ConfigError, EnvNotReady, RemoteError, TTSGenerator, detect_language
from fanren_tts._runtime.fanren_worker import Audio
from fanren_tts.config import PROJECT_ROOT

pytestmark = pytest.mark.usefixtures("default_envs")

ENGLISH = "The quick brown fox jumps over the lazy dog, and then it takes a nap."
CHINESE = "今天天气很好，我们一起去公园散步吧。"


def read_wav(path: Path) -> Audio:
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2
        return Audio(w.readframes(w.getnframes()), w.getframerate(), "s16", w.getnchannels())


@pytest.fixture(scope="module")
def gen():
    with TTSGenerator(PROJECT_ROOT / "config.yaml") as g:
        yield g


def test_piper_speaks_english(gen: TTSGenerator, tmp_path: Path) -> None:
    result = gen.generate(ENGLISH, tmp_path / "en.wav")
    audio = read_wav(result.path)
    assert result.engine == "piper" and result.sample_rate == 22050 == audio.sample_rate
    assert 2.0 < audio.duration < 8.0, audio  # ~15 words
    assert abs(result.duration - audio.duration) < 1e-6
    assert audio.peak() > 0.1
    assert set(result.timings) == {"start", "synthesize", "write", "total"}


def test_espeak_speaks_mandarin(gen: TTSGenerator, tmp_path: Path) -> None:
    result = gen.generate(CHINESE, tmp_path / "zh.wav")
    audio = read_wav(result.path)
    assert result.engine == "espeak"
    assert 1.5 < audio.duration < 8.0, audio  # 16 syllables
    assert audio.peak() > 0.1
    assert gen.describe("espeak")["voice"] == "cmn"
    assert "cmn" in gen.describe("espeak")["voices"]


def test_per_call_options_change_the_result(gen: TTSGenerator, tmp_path: Path) -> None:
    normal = gen.generate(ENGLISH, tmp_path / "a.wav", engine="piper")
    slow = gen.generate(ENGLISH, tmp_path / "b.wav", engine="piper", length_scale=1.6)
    assert slow.duration > normal.duration * 1.3
    fast = gen.generate(CHINESE, tmp_path / "c.wav", engine="espeak", rate=350)
    assert fast.duration < gen.generate(CHINESE, tmp_path / "d.wav", engine="espeak").duration


def test_bad_input_is_rejected_before_any_work(gen: TTSGenerator, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="non-empty"):
        gen.generate("   ", tmp_path / "x.wav")
    with pytest.raises(ConfigError, match=r"\.wav"):
        gen.generate("hi", tmp_path / "x.mp3")
    with pytest.raises(ConfigError, match="no option 'tempo'.*allowed: .*length_scale"):
        gen.generate("hi", tmp_path / "x.wav", engine="piper", tempo=2)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_call_leaves_no_file_and_keeps_the_old_one(gen: TTSGenerator, tmp_path: Path) -> None:
    target = tmp_path / "line.wav"
    target.write_bytes(b"the previous take")
    with pytest.raises(RemoteError) as info:
        gen.generate(CHINESE, target, engine="espeak", voice="klingon")
    assert info.value.remote_type == "ValueError" and "klingon" in str(info.value)
    assert target.read_bytes() == b"the previous take"
    assert [p.name for p in tmp_path.iterdir()] == ["line.wav"]


def test_routing_by_language(gen: TTSGenerator) -> None:
    assert gen.pick_engine(CHINESE) == "espeak"
    assert gen.pick_engine(ENGLISH) == "piper"
    assert gen.pick_engine("我喜欢 Python 编程") == "espeak"


@pytest.mark.parametrize(
    "text,lang",
    [
        ("hello", "en"),
        ("你好", "zh"),
        ("こんにちは", "ja"),
        ("東京へ行きます", "ja"),
        ("안녕하세요", "ko"),
        ("123", "en"),
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_missing_env_says_how_to_build_it(tmp_path: Path) -> None:
    project = tmp_path / "envs" / "ghost"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname='ghost'\nversion='0'\n")
    (project / "uv.lock").write_text("version = 1\n")
    cfg = write_config(tmp_path / "c.yaml", {"ghost": {"env": str(project), "wrapper": "w.py"}})
    # the default engine: found when the generator is made, as the old class did (no process)
    with pytest.raises(EnvNotReady, match=r"-m fanren_tts.envs --config \S+c\.yaml sync ghost"):
        TTSGenerator(cfg)
    # another engine stays lazy: its first call raises the same error
    cfg = write_config(tmp_path / "c2.yaml", {"piper": {}, "ghost": {"env": str(project), "wrapper": "w.py"}}, "piper")
    with TTSGenerator(cfg) as g:
        with pytest.raises(EnvNotReady, match=r"-m fanren_tts.envs --config \S+c2\.yaml sync ghost"):
            g.generate("hi", tmp_path / "x.wav", engine="ghost")


def test_espeak_word_timings_come_from_the_engine(gen: TTSGenerator, tmp_path: Path) -> None:
    text = "今天天气很好。我们去公园散步，好吗？"
    r = gen.generate(text, tmp_path / "w.wav", engine="espeak")
    assert r.word_timing == "engine"
    assert "".join(w.text for w in r.words) == text.replace(" ", "")  # every character, in order
    starts = [w.start for w in r.words]
    assert starts == sorted(starts) and all(w.start <= w.end for w in r.words)
    assert r.words[0].start >= 0 and r.words[-1].end <= r.duration + 1e-6
    # the second sentence's words sit inside the second segment, after the pause
    second = next(w for w in r.words if w.text.startswith("我"))
    assert second.start >= r.segments[1].start - 1e-6
    cached = gen.generate(text, tmp_path / "w2.wav", engine="espeak")  # from the cache, words included
    assert cached.cached == len(cached.segments) and cached.word_timing == "engine"
    assert [(w.text, round(w.start, 3)) for w in cached.words] == [(w.text, round(w.start, 3)) for w in r.words]


def test_piper_word_timings_come_from_its_phoneme_alignments(gen: TTSGenerator, tmp_path: Path) -> None:
    r = gen.generate(ENGLISH, tmp_path / "p.wav", engine="piper", cache=False)
    assert r.word_timing == "engine"
    assert [w.text for w in r.words] == ENGLISH.split()
    assert all(a.end <= b.start + 1e-9 for a, b in itertools.pairwise(r.words)) and r.words[-1].end <= r.duration
    # a number read as several words ("two thousand twenty-four") maps back onto the one written word
    n = gen.generate("It was 2024 then.", tmp_path / "n.wav", engine="piper", cache=False)
    assert n.word_timing == "engine" and [w.text for w in n.words] == ["It", "was", "2024", "then."]
