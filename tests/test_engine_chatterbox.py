"""chatterbox: the wrapper's checks without the env, and the real chatterbox-tts package on
random-weight checkpoints laid out like ResembleAI/chatterbox (English and multilingual) and
ResembleAI/chatterbox-turbo.

The end-to-end test needs envs/chatterbox (chatterbox-tts 0.1.7 with its own pins: torch 2.6,
transformers 5.2, numpy<2; about 6 GB) and writes about 8 GB of full-size random weights, so it
skips, saying how to build the env, where that env is absent. The Turbo test builds its folder
(about 3 GB, a few minutes) unless FANREN_TTS_CHATTERBOX_MODELS names a folder the builder
already filled (``chatterbox_tiny.py DIR --turbo``).
"""

from __future__ import annotations

import os
import wave
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from conftest import import_verify, import_wrapper


def _wrapper() -> ModuleType:
    return import_wrapper("chatterbox")


def test_an_incomplete_folder_lists_the_missing_files_of_every_model(tmp_path: Path) -> None:
    (tmp_path / "ve.safetensors").write_bytes(b"")
    (tmp_path / "t3_cfg.safetensors").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as err:
        _wrapper().Chatterbox({"model_path": str(tmp_path)}, "cpu")
    message = str(err.value)
    assert "english (ResembleAI/chatterbox): s3gen.safetensors, tokenizer.json" in message
    assert "multilingual (ResembleAI/chatterbox): ve.pt, t3_mtl23ls_v2.safetensors" in message
    assert "turbo (ResembleAI/chatterbox-turbo)" in message


def test_auto_picks_the_first_complete_model_and_a_named_one_must_be_complete(tmp_path: Path) -> None:
    wrapper = _wrapper()
    for name in wrapper.FILES["multilingual"]:
        (tmp_path / name).write_bytes(b"")
    assert wrapper.pick_model(str(tmp_path), "auto") == "multilingual"
    with pytest.raises(FileNotFoundError, match="english .*t3_cfg.safetensors"):
        wrapper.pick_model(str(tmp_path), "english")
    with pytest.raises(ValueError, match="auto, english, multilingual, turbo"):
        wrapper.pick_model(str(tmp_path), "large")


def test_cangjie_file_fills_upstreams_converter(tmp_path: Path) -> None:
    class Converter:  # upstream's ChineseCangjieConverter keeps exactly these two maps
        def __init__(self) -> None:
            self.word2cj: dict[str, str] = {}
            self.cj2word: dict[str, list[str]] = {}

    path = tmp_path / "Cangjie5_TC.json"
    path.write_text('["你\\tonf", "好\\tvnd", "妳\\tonf"]', encoding="utf-8")
    converter = Converter()
    assert _wrapper().load_cangjie(converter, str(path)) == 3
    assert converter.word2cj["好"] == "vnd" and converter.cj2word["onf"] == ["你", "妳"]


@pytest.mark.slow
def test_every_chatterbox_mode_runs_on_random_weight_checkpoints(tmp_path: Path) -> None:
    common, module = import_verify("chatterbox")
    try:
        run = module.verify(tmp_path / "chatterbox", None)
    except common.Skip as exc:
        pytest.skip(str(exc))
    assert run.status == "ran", run.reason
    expected = {
        "builtin",
        "seeded",
        "clone",
        "builtin after clone",
        "multilingual fr",
        "multilingual ja",
        "multilingual zh",
        "turbo builtin",
        "turbo seeded",
        "turbo clone",
    }
    assert set(run.modes) == expected
    for name, mode in run.modes.items():
        assert mode.ok and mode.sample_rate == 24000 and mode.duration > 0, (name, mode)
    assert run.upstream.startswith("chatterbox-tts 0.1.7")


@pytest.mark.slow
def test_turbo_speaks_repeats_a_seeded_take_and_clones_on_a_random_weight_checkpoint(tmp_path: Path) -> None:
    common, module = import_verify("chatterbox")
    models = Path(os.environ.get("FANREN_TTS_CHATTERBOX_MODELS") or tmp_path / "models")
    figures: dict[str, float] = {}
    try:
        modes = module.verify_turbo(tmp_path / "turbo", models, figures)
    except common.Skip as exc:
        pytest.skip(str(exc))
    assert set(modes) == {"turbo builtin", "turbo seeded", "turbo clone"}
    for name, mode in modes.items():
        assert mode.ok and mode.sample_rate == 24000 and mode.duration > 0, (name, mode)
    assert figures["turbo_worker_peak_mb"] > 0


def test_a_turbo_folder_without_its_gpt2_vocabulary_is_incomplete(tmp_path: Path) -> None:
    wrapper = _wrapper()
    for name in ("ve.safetensors", "t3_turbo_v1.safetensors", "s3gen_meanflow.safetensors", "tokenizer_config.json"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"turbo \(ResembleAI/chatterbox-turbo\): vocab.json, merges.txt"):
        wrapper.pick_model(str(tmp_path), "turbo")


class _Upstream:
    """Upstream's contract for voices: prepare_conditionals overwrites self.conds, generate uses it."""

    def __init__(self) -> None:
        self.conds: object = "builtin"
        self.spoken: list[object] = []
        self.prepared: list[dict[str, object]] = []
        self.kwargs: list[dict[str, object]] = []

    def prepare_conditionals(self, path: str, exaggeration: float = 0.5, **kwargs: object) -> None:
        self.prepared.append(kwargs)
        self.conds = f"clone of {Path(path).name}"

    def generate(self, text: str, **kwargs: object) -> object:
        self.spoken.append(self.conds)
        self.kwargs.append(kwargs)
        import numpy as np

        class Wav:
            def squeeze(self, axis: int) -> Wav:
                return self

            def detach(self) -> Wav:
                return self

            def cpu(self) -> Wav:
                return self

            def numpy(self) -> object:
                return np.zeros(240, dtype="float32")

        return Wav()


def _engine(model: str, folder: Path) -> tuple[Any, _Upstream]:
    """The wrapper's Chatterbox around a stand-in for upstream's model object (no env needed)."""
    wrapper = _wrapper()
    engine = object.__new__(wrapper.Chatterbox)
    upstream = _Upstream()
    engine.tts, engine.builtin, engine.voices, engine.model = upstream, upstream.conds, {}, model
    engine.model_path, engine.sampling, engine.defaults = str(folder), wrapper._SAMPLING[model], {}
    engine.prepare = wrapper._PREPARE[model]
    engine.progress = lambda message: None
    return engine, upstream


def _wav(path: Path, seconds: float) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(24000)
        w.writeframes(b"\x10\x00" * int(seconds * 24000))
    return path


def test_a_take_without_ref_audio_after_a_clone_speaks_the_builtin_voice(tmp_path: Path) -> None:
    engine, upstream = _engine("english", tmp_path)
    ref = tmp_path / "ref.wav"
    ref.write_bytes(b"RIFF")
    engine.synthesize("one")
    engine.synthesize("two", ref_audio=str(ref))
    engine.synthesize("three")
    engine.synthesize("four", ref_audio=str(ref))
    assert upstream.spoken == ["builtin", "clone of ref.wav", "builtin", "clone of ref.wav"]


def test_turbo_norm_loudness_shapes_the_prepared_voice_not_the_generate_call(tmp_path: Path) -> None:
    engine, upstream = _engine("turbo", tmp_path)
    ref = _wav(tmp_path / "ref.wav", 6)
    engine.synthesize("one", ref_audio=str(ref), norm_loudness=False, top_k=50)
    engine.synthesize("two", ref_audio=str(ref), norm_loudness=True)
    engine.synthesize("three", ref_audio=str(ref), norm_loudness=False)
    assert upstream.prepared == [{"norm_loudness": False}, {"norm_loudness": True}]  # the third reused the first
    assert upstream.kwargs == [{"top_k": 50}, {}, {}]


def test_turbo_refuses_a_reference_of_five_seconds_or_less_before_upstream_asserts(tmp_path: Path) -> None:
    engine, upstream = _engine("turbo", tmp_path)
    with pytest.raises(ValueError, match=r"longer than 5 s; .*ref.wav is 3.00 s"):
        engine.synthesize("one", ref_audio=str(_wav(tmp_path / "ref.wav", 3)))
    assert upstream.prepared == [] and upstream.spoken == []
    english, _ = _engine("english", tmp_path)  # only Turbo has the limit
    english.synthesize("one", ref_audio=str(tmp_path / "ref.wav"))
