"""The content-addressed segment cache."""

from __future__ import annotations

import os
import time
from pathlib import Path

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
