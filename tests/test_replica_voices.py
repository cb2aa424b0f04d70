"""Named voices that an engine keeps in its process (CosyVoice's zero-shot speakers), with
several replicas: each replica registers the voice in its own process before its first
call that uses it, and again after a restart; ``describe()`` shows the live state.

The engine is a stdlib stand-in (tests/wrappers/zero_shot_wrapper.py) of kind cosyvoice,
so the cosyvoice voice rule applies, on the bare interpreter; it logs every
``add_speaker`` with its process id.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path

import pytest
from test_engine_wrappers import STANDINS, calls, model_dir
from test_voices import wav

from conftest import TESTS, wait_gone, write_config
from fanren_tts import TTSGenerator, WorkerCrashed

WRAPPER = TESTS / "wrappers" / "zero_shot_wrapper.py"


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "calls.jsonl"


def registered(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def make(tmp_path: Path, bare_python: Path, log: Path, replicas: int) -> TTSGenerator:
    block = {
        "type": "cosyvoice",
        "python": str(bare_python),
        "wrapper": str(WRAPPER),
        "replicas": replicas,
        "env_vars": {"STANDIN_LOG": str(log)},
    }
    cfg = write_config(
        tmp_path / "config.yaml",
        {"cosyvoice": block},
        voices={"dir": str(tmp_path / "voices")},
        cache={"enabled": False},
    )
    return TTSGenerator(cfg)


def test_a_named_voice_is_registered_on_every_replica_that_serves_it(
    tmp_path: Path, bare_python: Path, log: Path
) -> None:
    with make(tmp_path, bare_python, log, replicas=2) as gen:
        gen.voices.add("narr", wav(1.0), "the transcript", engine="cosyvoice")
        gen.warm_up()
        pool = gen.pool("cosyvoice")
        pids = {w.pid for w in pool.replicas}
        for i in range(4):  # least recently used first: the takes alternate between the replicas
            gen.generate(f"Line {i}.", tmp_path / f"{i}.wav", voice="narr")
        assert Counter(e["pid"] for e in registered(log)) == {pid: 1 for pid in pids}  # once per process
        assert [r["voices"] for r in gen.describe("cosyvoice")["replicas"]] == [["narr"], ["narr"]]


def test_a_restarted_replica_registers_the_voice_again(tmp_path: Path, bare_python: Path, log: Path) -> None:
    with make(tmp_path, bare_python, log, replicas=2) as gen:
        gen.voices.add("narr", wav(1.0), "the transcript", engine="cosyvoice")
        gen.warm_up()
        pool = gen.pool("cosyvoice")
        for i in range(2):
            gen.generate(f"Line {i}.", tmp_path / f"{i}.wav", voice="narr")
        old = pool.replicas[1].pid
        with pytest.raises(WorkerCrashed):
            pool.replicas[1].call("crash_now")
        assert pool.replicas[1].set_up == []  # its process went, and what it had registered with it
        with pool.acquire() as first:  # keep replica 0 busy: the next take goes to replica 1, restarted
            assert first is pool.replicas[0]
            gen.generate("After the restart.", tmp_path / "after.wav", voice="narr")
        new = pool.replicas[1].pid
        assert new != old
        assert Counter(e["pid"] for e in registered(log)) == {pool.replicas[0].pid: 1, old: 1, new: 1}


def test_a_voice_added_again_with_new_audio_is_registered_again(tmp_path: Path, bare_python: Path, log: Path) -> None:
    with make(tmp_path, bare_python, log, replicas=1) as gen:
        first = gen.voices.add("narr", wav(1.0), "the transcript", engine="cosyvoice")
        gen.generate("One.", tmp_path / "1.wav", voice="narr")
        second = gen.voices.add("narr", wav(1.5), "another transcript", engine="cosyvoice")
        gen.generate("Two.", tmp_path / "2.wav", voice="narr")
        gen.generate("Three.", tmp_path / "3.wav", voice="narr")
    assert [e["prompt_speech"] for e in registered(log)] == [str(first.audio), str(second.audio)]


def test_describe_asks_the_live_worker(tmp_path: Path, bare_python: Path, log: Path) -> None:
    with make(tmp_path, bare_python, log, replicas=1) as gen:
        gen.voices.add("narr", wav(1.0), "the transcript", engine="cosyvoice")
        assert gen.describe("cosyvoice")["zero_shot_speakers"] == []
        gen.generate("One.", tmp_path / "1.wav", voice="narr")
        info = gen.describe("cosyvoice")
        assert info["zero_shot_speakers"] == ["narr"]  # what the wrapper has now, not what it had at start
        assert "synthesize" in info["methods"] and info["replicas"][0]["voices"] == ["narr"]


def test_the_cosyvoice_wrapper_on_two_replicas_gets_the_voice_in_each_process(
    tmp_path: Path, torch_python: Path, log: Path
) -> None:
    """The real CosyVoice wrapper on upstream's stand-in (tests/standins), whose
    ``add_zero_shot_spk`` logs its process: the wrapper refuses a zero-shot speaker its
    process never registered, so every take on replica 1 failed before."""
    block = {
        "type": "cosyvoice",
        "python": str(torch_python),
        "env_vars": {"PYTHONPATH": f"{STANDINS}:{STANDINS / 'site'}", "STANDIN_LOG": str(log)},
        "source_path": str(STANDINS / "cosyvoice_src"),
        "model_path": str(model_dir(tmp_path, "cosyvoice2.yaml")),
        "replicas": 2,
    }
    cfg = write_config(
        tmp_path / "config.yaml",
        {"cosyvoice": block},
        output={"sample_rate": None},
        cache={"enabled": False},
        voices={"dir": str(tmp_path / "voices")},
    )
    with TTSGenerator(cfg) as gen:
        gen.voices.add("narr", wav(1.0), "希望你以后能够做的比我还好呦。", engine="cosyvoice")
        gen.warm_up()
        pool = gen.pool("cosyvoice")
        first, old = (w.pid for w in pool.replicas)
        for i in range(2):
            gen.generate("你好。", tmp_path / f"{i}.wav", voice="narr")
        assert old is not None
        os.kill(old, signal.SIGKILL)  # replica 1 dies while idle (an OOM kill, say)
        assert wait_gone(old, 10)
        with pool.acquire():  # replica 0 is busy: the take goes to replica 1, which starts afresh
            gen.generate("再见。", tmp_path / "after.wav", voice="narr")
        new = pool.replicas[1].pid
    assert new not in (None, old)
    added = calls(log, "add_zero_shot_spk")
    assert Counter(a["pid"] for a in added) == {first: 1, old: 1, new: 1} and {a["spk"] for a in added} == {"narr"}
    zero_shot = calls(log, "inference_zero_shot")
    assert len(zero_shot) == 3 and all(z["zero_shot_spk_id"] == "narr" for z in zero_shot)
