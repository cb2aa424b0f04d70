"""The content-addressed segment cache."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from fanren_tts import TTSGenerator, load_config
from fanren_tts._cache import SegmentCache, cache_key
from fanren_tts._runtime.fanren_worker import Audio


def test_keys_depend_on_every_part() -> None:
    base = dict(engine="piper", model={"env": "abc"}, options={}, text="hi")
    key = cache_key(**base)
    assert key == cache_key(**dict(base))
    for change in ({"engine": "espeak"}, {"model": {"env": "abd"}}, {"options": {"rate": 2}}, {"text": "hi!"}):
        assert cache_key(**{**base, **change}) != key


def test_put_get_and_damaged_entries(tmp_path: Path) -> None:
    cache = SegmentCache(tmp_path)
    audio = Audio(b"\x01\x00" * 100, 16000)
    key = cache_key(text="x")
    assert cache.get(key) is None
    cache.put(key, audio)
    got = cache.get(key)
    assert got is not None and got.pcm == audio.pcm and got.sample_rate == 16000
    path = next(tmp_path.glob("*/*.wav"))
    path.write_bytes(b"RIFF garbage")
    assert cache.get(key) is None and not path.exists()


def test_prune_by_age_and_size(tmp_path: Path) -> None:
    cache = SegmentCache(tmp_path)
    for i in range(4):
        cache.put(cache_key(i=i), Audio(b"\x00\x00" * 1000, 16000))
    old = cache._path(cache_key(i=0))
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    assert cache.prune(older_than=600)[0] == 1 and not old.exists()
    entries, size = cache.stats()
    assert entries == 3
    removed, _freed = cache.prune(max_bytes=size - 1)
    assert removed == 1 and cache.stats()[0] == 2
    assert cache.clear()[0] == 2 and cache.stats() == (0, 0)


def test_a_24_bit_take_from_the_cache_writes_the_same_bytes(tmp_path: Path, default_envs: None) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        f"tts:\n  engine: espeak\n  output: {{bit_depth: 24, sample_rate: 48000}}\n"
        f"  cache: {{dir: {tmp_path / 'cache'}}}\n  espeak: {{}}\n"
    )
    environ = {k: v for k, v in os.environ.items() if k != "FANREN_TTS_CACHE_DIR"}
    with TTSGenerator(load_config(path, environ=environ)) as gen:
        fresh = gen.generate("你好。", tmp_path / "a.wav")
        cached = gen.generate("你好。", tmp_path / "b.wav")
    assert (fresh.cached, cached.cached) == (0, 1)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


def _damage(path: Path, how: str) -> None:
    """Cut in half, keep only the header, or flip bytes in the middle of the samples."""
    blob = path.read_bytes()
    data_at = blob.index(b"data") + 8
    if how == "half":
        path.write_bytes(blob[: len(blob) // 2])
    elif how == "header_only":
        path.write_bytes(blob[:data_at])
    else:
        middle = (data_at + len(blob)) // 2
        flipped = bytes(b ^ 0xFF for b in blob[middle : middle + 8])
        path.write_bytes(blob[:middle] + flipped + blob[middle + 8 :])


@pytest.mark.parametrize("how", ["half", "header_only", "flipped"])
@pytest.mark.parametrize("audio", [Audio(b"\x01\x02" * 4000, 16000), Audio(b"\x00\x00\x80\x3e" * 4000, 24000, "f32")])
def test_a_damaged_entry_is_dropped_with_a_warning_never_returned(
    tmp_path: Path, how: str, audio: Audio, caplog: pytest.LogCaptureFixture
) -> None:
    cache = SegmentCache(tmp_path)
    key = cache_key(text=how)
    cache.put(key, audio, [{"text": "x", "start": 0.0, "end": 0.1}])
    path = cache._path(key)
    _damage(path, how)
    with caplog.at_level(logging.WARNING, logger="fanren_tts.cache"):
        assert cache.get(key) is None
    assert not path.exists() and not path.with_suffix(".words.json").exists()
    assert any("damaged" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)
    cache.put(key, audio)
    again = cache.get(key)
    assert again is not None and again.frames == audio.frames


def test_an_empty_take_is_not_stored(tmp_path: Path) -> None:
    cache = SegmentCache(tmp_path)
    cache.put(cache_key(text="empty"), Audio(b"", 16000))
    assert cache.get(cache_key(text="empty")) is None and cache.stats()[0] == 0


@pytest.mark.parametrize("how", ["half", "header_only", "flipped"])
def test_generate_synthesizes_again_over_a_damaged_entry(tmp_path: Path, echo_config: Any, how: str) -> None:
    config = load_config(echo_config(), environ={"FANREN_TTS_CACHE_DIR": str(tmp_path / "cache")})
    with TTSGenerator(config) as gen:
        first = gen.generate("one two three", tmp_path / "a.wav")
        (entry,) = (tmp_path / "cache").glob("*/*.wav")
        _damage(entry, how)
        second = gen.generate("one two three", tmp_path / "b.wav")
        third = gen.generate("one two three", tmp_path / "c.wav")
    assert (first.cached, second.cached, third.cached) == (0, 0, 1)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes() == (tmp_path / "c.wav").read_bytes()


def _tone_wav(path: Path, level: int) -> None:
    """A short WAV whose samples (not its size) depend on ``level``: a rewrite in place."""
    with open(path, "r+b" if path.exists() else "wb") as f:  # same inode when it exists
        f.write(b"RIFF" + (36 + 3200).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little"))
        f.write((1).to_bytes(2, "little") * 2 + (16000).to_bytes(4, "little") + (32000).to_bytes(4, "little"))
        f.write((2).to_bytes(2, "little") + (16).to_bytes(2, "little") + b"data" + (3200).to_bytes(4, "little"))
        f.write(level.to_bytes(2, "little", signed=True) * 1600)


def _later(path: Path) -> None:
    """touch: a new mtime (and ctime), the same bytes."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns + 10**10, st.st_mtime_ns + 10**10))


def test_a_reference_file_enters_the_key_by_content(tmp_path: Path, echo_config: Any) -> None:
    ref = tmp_path / "ref.wav"
    _tone_wav(ref, 100)
    config = load_config(
        echo_config(echo={"ref_audio": "ref.wav"}), environ={"FANREN_TTS_CACHE_DIR": str(tmp_path / "c")}
    )
    with TTSGenerator(config) as gen:
        takes = [gen.generate("one", tmp_path / "a.wav").cached, gen.generate("one", tmp_path / "a.wav").cached]
        inode = ref.stat().st_ino
        _tone_wav(ref, -100)  # rewritten in place: same path, same size, same inode
        assert ref.stat().st_ino == inode
        takes.append(gen.generate("one", tmp_path / "a.wav").cached)
        _later(ref)
        takes.append(gen.generate("one", tmp_path / "a.wav").cached)
    assert takes == [0, 1, 0, 1]


def test_a_reference_file_in_a_call_option_enters_the_key_by_content(tmp_path: Path, bare_python: Path) -> None:
    from conftest import TESTS, write_config

    block = {"python": str(bare_python), "wrapper": str(TESTS / "wrappers" / "letters_wrapper.py")}
    path = write_config(tmp_path / "c.yaml", {"letters": block}, cache={"dir": str(tmp_path / "cache")})
    ref = tmp_path / "ref.wav"
    _tone_wav(ref, 7)
    environ = {k: v for k, v in os.environ.items() if k != "FANREN_TTS_CACHE_DIR"}
    with TTSGenerator(load_config(path, environ=environ)) as gen:
        takes = [gen.generate("one", tmp_path / "a.wav", ref_audio=str(ref)).cached for _ in range(2)]
        _tone_wav(ref, 8)
        takes.append(gen.generate("one", tmp_path / "a.wav", ref_audio=str(ref)).cached)
        _later(ref)
        takes.append(gen.generate("one", tmp_path / "a.wav", ref_audio=str(ref)).cached)
        copy = tmp_path / "same_voice_elsewhere.wav"
        copy.write_bytes(ref.read_bytes())
        takes.append(gen.generate("one", tmp_path / "a.wav", ref_audio=str(copy)).cached)
    assert takes == [0, 1, 0, 1, 1]


def test_a_model_folder_enters_the_key_by_its_file_list(tmp_path: Path, echo_config: Any) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "sub" / "weights.bin").write_bytes(b"\x00" * 1000)
    config_path = echo_config(echo={"model_path": "model"})
    environ = {"FANREN_TTS_CACHE_DIR": str(tmp_path / "c")}

    def take() -> int:
        with TTSGenerator(load_config(config_path, environ=environ)) as gen:
            return gen.generate("one", tmp_path / "a.wav").cached

    first, same = take(), take()
    (model / "sub" / "weights.bin").write_bytes(b"\x01" * 1001)  # new weights
    assert (first, same, take(), take()) == (0, 1, 0, 1)


def test_an_unchanged_file_is_hashed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fanren_tts import _fingerprint

    monkeypatch.setattr(_fingerprint, "RACY_SECONDS", -1.0)  # trust even a fresh file's stamp
    reads: list[str] = []
    real = _fingerprint._hash_file

    def counted(name: str) -> str:
        reads.append(name)
        return real(name)

    monkeypatch.setattr(_fingerprint, "_hash_file", counted)
    path = tmp_path / "ref.wav"
    _tone_wav(path, 1)
    first = _fingerprint.file_digest(path)
    assert _fingerprint.file_digest(path) == first and len(reads) == 1
    _later(path)
    assert _fingerprint.file_digest(path) == first and len(reads) == 2
    _tone_wav(path, 2)
    assert _fingerprint.file_digest(path) != first and len(reads) == 3


def test_a_freshly_written_file_is_hashed_on_every_use(tmp_path: Path) -> None:
    """Its stamp cannot be trusted yet: a second write in the same clock tick keeps it."""
    from fanren_tts import _fingerprint

    path = tmp_path / "ref.wav"
    _tone_wav(path, 1)
    first = _fingerprint.file_digest(path)
    st = path.stat()
    _tone_wav(path, 2)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, inode and mtime
    assert _fingerprint.file_digest(path) != first


def test_content_keys_for_every_option_that_names_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fanren_tts import _fingerprint
    from fanren_tts.config import PATH_OPTION

    (tmp_path / "lex.yaml").write_text("Nguyen: Win\n")
    (tmp_path / "emo.wav").write_bytes(b"emotion")
    (tmp_path / "big.pt").write_bytes(b"w" * 100)
    options = {
        "lexicon": "lex.yaml",
        "emo_audio_prompt": "emo.wav",
        "checkpoint": "big.pt",
        "aux_paths": {"qwen": "emo.wav"},
        "speaker": "emo.wav",  # not a path option: kept as written
        "prompt_speech": "missing.wav",  # names nothing: kept as written
    }
    monkeypatch.setattr(_fingerprint, "WHOLE_FILE_LIMIT", 50)
    keys = _fingerprint.content_keys(options, PATH_OPTION, lambda v: tmp_path / v, {})
    emo = "sha256:" + hashlib.sha256(b"emotion").hexdigest()
    assert keys["lexicon"] == "sha256:" + hashlib.sha256(b"Nguyen: Win\n").hexdigest()
    assert keys["emo_audio_prompt"] == emo and keys["aux_paths"] == {"qwen": emo}
    assert keys["checkpoint"].startswith("stat:100:")  # past the limit: size and mtime, not 100 bytes read
    assert (keys["speaker"], keys["prompt_speech"]) == ("emo.wav", "missing.wav")
