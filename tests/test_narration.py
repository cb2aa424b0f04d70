"""Long text, subtitles, output format, cache and batch with the real default engines."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import pyloudnorm
import pytest

from conftest import write_config
from fanren_tts import ConfigError, TTSGenerator
from fanren_tts._runtime.fanren_worker import read_wav
from fanren_tts.audio.convert import to_array

pytestmark = pytest.mark.usefixtures("default_envs")

STORY = "从前有一座山。山里有一座庙！庙里有个老和尚在讲故事。"
ENGLISH = "Once upon a time there was a mountain. On the mountain stood a temple! An old monk told stories there."


@pytest.fixture(autouse=True)
def own_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests give each config its own cache dir; the session-wide override would win."""
    monkeypatch.delenv("FANREN_TTS_CACHE_DIR", raising=False)


def config(tmp_path: Path, **top: object) -> Path:
    return write_config(
        tmp_path / "c.yaml",
        {"piper": {}, "espeak": {"voice": "cmn"}},
        default="piper",
        routes={"zh": "espeak"},
        cache={"dir": str(tmp_path / "cache")},
        **top,
    )


def test_long_text_is_segmented_with_pauses_and_timings(tmp_path: Path) -> None:
    with TTSGenerator(config(tmp_path, narration={"pause_ms": 400})) as gen:
        result = gen.generate(STORY, tmp_path / "story.wav")
    assert [s.text for s in result.segments] == ["从前有一座山。", "山里有一座庙！", "庙里有个老和尚在讲故事。"]
    starts = [s.start for s in result.segments]
    ends = [s.end for s in result.segments]
    assert starts[0] == 0.0 and abs(ends[-1] - result.duration) < 1e-3
    for prev_end, next_start in zip(ends, starts[1:], strict=False):
        assert abs(next_start - prev_end - 0.4) < 1e-3
    data = to_array(read_wav(result.path))[:, 0]
    gap = data[int(ends[0] * result.sample_rate) + 10 : int(starts[1] * result.sample_rate) - 10]
    assert len(gap) > 0 and not gap.any()


def test_engine_segment_limit_is_respected(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", {"espeak": {"max_segment_chars": 12}}, cache={"dir": str(tmp_path / "c")})
    with TTSGenerator(cfg) as gen:
        result = gen.generate("一二三四五六七八九十，一二三四五六七八九十一二三四五。", tmp_path / "x.wav")
    assert all(len(s.text) <= 12 for s in result.segments) and len(result.segments) >= 3


def test_subtitles_srt_and_json(tmp_path: Path) -> None:
    with TTSGenerator(config(tmp_path)) as gen:
        result = gen.generate(ENGLISH, tmp_path / "en.wav")
    srt = result.write_srt().read_text(encoding="utf-8")
    blocks = srt.strip().split("\n\n")
    assert len(blocks) == 3
    first = blocks[0].splitlines()
    assert (
        first[0] == "1"
        and first[1].startswith("00:00:00,000 --> 00:00:0")
        and first[2] == "Once upon a time there was a mountain."
    )
    doc = json.loads(result.write_json().read_text(encoding="utf-8"))
    assert [s["text"] for s in doc["segments"]] == [s.text for s in result.segments]
    assert doc["segments"][-1]["end"] == round(result.duration, 3)


def test_output_format_resamples_and_normalizes(tmp_path: Path) -> None:
    cfg = config(tmp_path, output={"sample_rate": 16000, "channels": 2, "loudness_lufs": -18})
    with TTSGenerator(cfg) as gen:
        en = gen.generate(ENGLISH, tmp_path / "en.wav")
        zh = gen.generate(STORY, tmp_path / "zh.wav")
    for result in (en, zh):
        with wave.open(str(result.path)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 2, 2)
        data = to_array(read_wav(result.path))
        assert abs(pyloudnorm.Meter(16000).integrated_loudness(data) + 18) < 1.0


def test_bad_output_config_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tts.output.channels"):
        TTSGenerator(config(tmp_path, output={"channels": 6}))
    with pytest.raises(ConfigError, match="tts.narration.pause: unknown key; allowed here: pause_ms"):
        TTSGenerator(config(tmp_path, narration={"pause": 3}))


def test_cache_reuses_segments_and_can_be_bypassed(tmp_path: Path) -> None:
    with TTSGenerator(config(tmp_path)) as gen:
        first = gen.generate(STORY, tmp_path / "a.wav")
        assert first.cached == 0
        again = gen.generate(STORY, tmp_path / "b.wav")
        assert again.cached == 3 and again.timings["synthesize"] == 0.0
        assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
        edited = gen.generate(STORY.replace("老和尚", "小和尚"), tmp_path / "c.wav")
        assert edited.cached == 2  # only the edited sentence is synthesized again
        fresh = gen.generate(STORY, tmp_path / "d.wav", cache=False)
        assert fresh.cached == 0
        other = gen.generate(STORY, tmp_path / "e.wav", rate=220)
        assert other.cached == 0  # options are part of the key


def test_a_fully_cached_text_needs_no_worker(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    with TTSGenerator(cfg) as gen:
        gen.generate(STORY, tmp_path / "a.wav")
    with TTSGenerator(cfg) as gen:
        result = gen.generate(STORY, tmp_path / "b.wav")
        assert result.cached == 3 and not gen.worker("espeak").alive


def test_several_processes_share_one_cache(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    code = (
        "import sys; from fanren_tts import TTSGenerator\n"
        f"g = TTSGenerator({str(cfg)!r}); r = g.generate({STORY!r}, sys.argv[1]); g.close(); print(r.cached)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path / f"p{i}.wav")], stdout=subprocess.PIPE, text=True)
        for i in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    # eSpeak NG is not bit-exact from one call to the next, so racing writers may
    # store different (equally valid) takes; what matters is that every file is whole.
    for i in range(3):
        audio = read_wav(tmp_path / f"p{i}.wav")
        assert 4.0 < audio.duration < 12.0 and audio.peak() > 0.1
    entries = list((tmp_path / "cache").glob("*/*.wav"))
    assert len(entries) == 3 and all(read_wav(e).duration > 0.5 for e in entries)
    assert not list((tmp_path / "cache").glob("*/.*.part")), "no temp files may remain"


def test_generate_many_keeps_going_and_writes_a_manifest(tmp_path: Path) -> None:
    lines = [
        {"id": "intro", "text": ENGLISH},
        STORY,
        {"id": "broken", "text": "Voice that does not exist.", "engine": "espeak", "options": {"voice": "klingon"}},
        {"text": "Slow and steady.", "options": {"length_scale": 1.5}, "output": "custom/slow.wav"},
    ]
    out = tmp_path / "out"
    with TTSGenerator(config(tmp_path)) as gen:
        batch = gen.generate_many(lines, out)  # type: ignore[arg-type]  # str lines are accepted too
    assert not batch.ok
    assert [i for i, _, _ in batch.results] == [1, 2, 4]
    assert [(i, type(e).__name__) for i, _, e in batch.failures] == [(3, "RemoteError")]
    assert sorted(p.name for p in out.iterdir()) == [
        "001_intro.json",
        "001_intro.srt",
        "001_intro.wav",
        "002.json",
        "002.srt",
        "002.wav",
        "custom",
        "manifest.json",
    ]
    assert (out / "custom" / "slow.wav").exists() and (out / "custom" / "slow.srt").exists()
    manifest = json.loads(batch.manifest.read_text(encoding="utf-8"))
    assert manifest["schema"] == "fanren_tts.batch/1" and manifest["ok"] is False
    entries = manifest["lines"]
    assert [e["ok"] for e in entries] == [True, True, False, True]
    assert entries[1]["engine"] == "espeak" and entries[0]["engine"] == "piper"
    assert entries[2]["remote_type"] == "ValueError" and "klingon" in entries[2]["message"]
    assert entries[3]["wav"] == "custom/slow.wav"


def test_generate_many_rejects_bad_scripts_before_work(tmp_path: Path) -> None:
    with TTSGenerator(config(tmp_path)) as gen:
        with pytest.raises(ConfigError, match="line 2: text"):
            gen.generate_many([{"text": "ok"}, {"txt": "typo"}], tmp_path / "o")
        with pytest.raises(ConfigError, match="same file"):
            gen.generate_many([{"text": "a", "output": "x.wav"}, {"text": "b", "output": "x.wav"}], tmp_path / "o")
        with pytest.raises(ConfigError, match="no engine named 'nope'"):
            gen.generate_many([{"text": "a", "engine": "nope"}], tmp_path / "o")
        with pytest.raises(ConfigError, match="relative .wav path"):
            gen.generate_many([{"text": "a", "output": "../escape.wav"}], tmp_path / "o")
    assert not (tmp_path / "o").exists()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fanren_tts", *args], capture_output=True, text=True, timeout=300)


def test_batch_cli_progress_failures_and_exit_code(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {"lines": [{"text": ENGLISH}, {"text": "坏的", "engine": "espeak", "options": {"voice": "xx"}}]},
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    out = run_cli("batch", str(script), "-o", str(tmp_path / "o"), "-c", str(config(tmp_path)))
    assert out.returncode == 1
    assert "narrating" in out.stderr and "FAILED line 2" in out.stderr
    assert "wrote 1/2 lines" in out.stdout and (tmp_path / "o" / "manifest.json").exists()
    good = tmp_path / "good.json"
    good.write_text(json.dumps([ENGLISH, STORY], ensure_ascii=False), encoding="utf-8")
    out = run_cli("batch", str(good), "-o", str(tmp_path / "o2"), "-c", str(config(tmp_path)), "--no-cache")
    assert out.returncode == 0, out.stderr
    assert "0 segments cached" in out.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert run_cli("batch", str(bad), "-o", str(tmp_path / "o3")).returncode == 2


def test_cache_cli_prune_and_clear(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    with TTSGenerator(cfg) as gen:
        gen.generate(STORY, tmp_path / "a.wav")
    out = run_cli("cache", "info", "-c", str(cfg))
    assert out.returncode == 0 and "3 entries" in out.stdout
    out = run_cli("cache", "prune", "--older-than", "1d", "-c", str(cfg))
    assert out.returncode == 0 and "removed 0 entries" in out.stdout
    assert run_cli("cache", "prune", "-c", str(cfg)).returncode == 2
    out = run_cli("cache", "clear", "-c", str(cfg))
    assert "removed 3 entries" in out.stdout and "0 entries" in out.stdout


def test_say_writes_subtitles_beside_the_wav(tmp_path: Path) -> None:
    out = run_cli("say", STORY, "-o", str(tmp_path / "s.wav"), "--subtitles", "-c", str(config(tmp_path)))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "s.srt").read_text(encoding="utf-8").startswith("1\n00:00:00,000 --> ")
    assert "3 segments" in out.stdout
