"""Named voices: stored atomically, checked, mapped onto each engine's own options."""

from __future__ import annotations

import io
import math
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from conftest import write_config
from fanren_tts import ConfigError, TTSGenerator, VoiceStore
from fanren_tts._setups import Setups
from fanren_tts._voicemap import check_voice, voice_options
from fanren_tts._voices import read_reference
from fanren_tts.config import load_config
from fanren_tts.server.config import VoicesConfig


def wav(seconds: float, rate: int = 22050, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        n = int(seconds * rate) * channels
        w.writeframes(struct.pack(f"<{n}h", *(int(8000 * math.sin(i / 5)) for i in range(n))))
    return buf.getvalue()


def test_store_add_list_replace_remove(tmp_path: Path) -> None:
    store = VoiceStore(tmp_path / "v", VoicesConfig())
    ref = tmp_path / "ref.wav"
    ref.write_bytes(wav(2.0, 44100, 2))
    voice = store.add("narrator", ref, "  the transcript ", engine="qwen3")
    assert voice.transcript == "the transcript" and voice.audio is not None
    with wave.open(str(voice.audio)) as w:  # stored mono at tts.voices.sample_rate
        assert (w.getnchannels(), w.getframerate()) == (1, 24000)
        assert w.getnframes() == pytest.approx(48000, abs=50)
    again = VoiceStore(tmp_path / "v").get("narrator")  # a fresh store reads it back
    assert again == voice
    replaced = store.add("narrator", wav(1.0), "other", engine="qwen3")
    assert replaced.sha256 != voice.sha256 and not voice.audio.exists()
    assert [v.name for v in store.list()] == ["narrator"]
    assert store.remove("narrator") and not store.remove("narrator") and store.list() == []
    assert not list((tmp_path / "v").iterdir())  # nothing left behind, no temp files


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"RIFF but not really", "not audio"),
        (wav(31.0, 16000), "at most 30s"),
        (wav(0.2), "at least 0.5s"),
        (wav(2.0, 8000), "8000 Hz"),
        (b"", "empty"),
    ],
)
def test_bad_reference_audio_is_refused(tmp_path: Path, data: bytes, message: str) -> None:
    store = VoiceStore(tmp_path / "v")
    with pytest.raises(ConfigError, match=message):
        store.add("x", data, "t", engine="qwen3")
    assert store.list() == []


def test_a_long_upload_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    """Ten minutes of FLAC silence is a few kB but 38 MB of float samples: the length is
    read from the header and refused before one sample is decoded."""
    import tracemalloc

    soundfile = pytest.importorskip("soundfile")
    buf = io.BytesIO()
    soundfile.write(buf, np.zeros(600 * 16000, np.int16), 16000, format="FLAC")
    data = buf.getvalue()
    assert len(data) < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match="600.0s long; at most 30s"):
            read_reference(data, VoicesConfig())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"{peak / 2**20:.0f} MiB held while refusing it"


def test_bad_names(tmp_path: Path) -> None:
    store = VoiceStore(tmp_path / "v")
    unsafe = ("evil\n", "a\n", "CON", "con", "nul.x", "Com1", "lpt9.wav", "aux", "a.", "x..", "a/b", "a\\b", "a:b")
    for name in ("default", "../up", "", "a b", "x" * 65, *unsafe):
        with pytest.raises(ConfigError, match="not allowed"):
            store.add(name, speaker="en-us", engine="espeak")
        assert store.get(name) is None
    assert list((tmp_path / "v").glob("*")) == []  # nothing was written for any of them
    for name in ("a", "x" * 64, "narr.v2", "console", "com10", "nul-ish", "a_b-c.d"):
        assert store.add(name, speaker="en-us", engine="espeak").name == name
    assert len(store.list()) == 7


def _config(tmp_path: Path) -> Path:
    engines = {
        "piper": {},
        "espeak": {},
        "cosyvoice": {"source_path": str(tmp_path), "model_path": str(tmp_path)},
        "qwen3": {"model_path": str(tmp_path)},
        "indextts": {"source_path": str(tmp_path), "model_dir": str(tmp_path)},
        "flux": {"model_path": str(tmp_path)},
    }
    return write_config(tmp_path / "config.yaml", engines, "piper", voices={"dir": str(tmp_path / "voices")})


def test_the_voice_table_per_engine(tmp_path: Path) -> None:
    """Config-level: these engines need GPUs and weights that this machine lacks, so the
    mapping is checked as the options each would be called with."""
    config = load_config(_config(tmp_path))
    store = VoiceStore(tmp_path / "voices")
    ref = wav(2.0)
    setups = Setups()
    for engine in ("cosyvoice", "qwen3", "indextts"):
        store.add(f"{engine}-v", ref, "hello", engine=engine)
    store.add("piper-v", speaker="3", engine="piper")
    store.add("espeak-v", speaker="en-us", engine="espeak")

    def opts(engine: str, voice: str) -> dict[str, object]:
        return voice_options(config, engine, voice, store.get, setups.add)

    cosy = opts("cosyvoice", "cosyvoice-v")
    assert cosy["mode"] == "zero_shot" and cosy["speaker"] == "cosyvoice-v" and cosy["prompt_text"] == "hello"
    (setup,) = setups.needed("synthesize", {"text": "x", **cosy})  # each replica registers it first
    assert (setup.method, dict(setup.kwargs)) == (
        "add_speaker",
        {"speaker": "cosyvoice-v", "prompt_speech": cosy["prompt_speech"], "prompt_text": "hello"},
    )
    assert not setups.needed("add_speaker", cosy) and not setups.needed("synthesize", {"speaker": "cosyvoice-v"})
    opts("cosyvoice", "cosyvoice-v")
    assert len(setups) == 1  # one entry per voice, however many calls
    qwen = opts("qwen3", "qwen3-v")
    assert qwen["ref_text"] == "hello" and Path(str(qwen["ref_audio"])).is_file()
    assert set(opts("indextts", "indextts-v")) == {"spk_audio_prompt"}
    assert opts("piper", "piper-v") == {"speaker_id": 3}
    assert opts("espeak", "espeak-v") == {"voice": "en-us"}
    assert opts("espeak", "fr") == {"voice": "fr"}  # not stored: the engine's own voice
    assert opts("qwen3", "Ryan") == {"speaker": "Ryan"}
    assert opts("piper", "default") == {}
    with pytest.raises(ConfigError, match="made for engine 'qwen3'"):
        opts("indextts", "qwen3-v")
    with pytest.raises(ConfigError, match="no voices"):
        opts("flux", "x")
    with pytest.raises(ConfigError, match="built-in voices"):
        check_voice(config, "espeak", True, None, None)
    with pytest.raises(ConfigError, match="needs the transcript"):
        check_voice(config, "cosyvoice", True, None, None)
    with pytest.raises(ConfigError, match="integers"):
        check_voice(config, "piper", False, "narrator", None)


@pytest.mark.usefixtures("default_envs")
def test_generate_with_a_named_voice(tmp_path: Path) -> None:
    with TTSGenerator(_config(tmp_path)) as tts:
        tts.voices.add("english", speaker="en-us", engine="espeak")
        with pytest.raises(ConfigError, match="built-in voices"):
            tts.voices.add("clone", wav(1.0), engine="espeak")
        named = tts.generate("Hello there.", tmp_path / "named.wav", engine="espeak", voice="english", cache=False)
        direct = tts.generate("Hello there.", tmp_path / "direct.wav", engine="espeak", voice="en-us", cache=False)
        chinese = tts.generate("Hello there.", tmp_path / "zh.wav", engine="espeak", cache=False)
        assert abs(named.duration - direct.duration) < 0.01, (named.duration, direct.duration)
        assert abs(named.duration - chinese.duration) > 0.05, (named.duration, chinese.duration)
    with TTSGenerator(_config(tmp_path)) as tts:  # it outlives the generator
        assert [v.name for v in tts.voices.list()] == ["english"]
