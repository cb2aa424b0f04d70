"""chatterbox: the wrapper's checks without the env, and the real chatterbox-tts package on
random-weight checkpoints laid out like ResembleAI/chatterbox (English and multilingual).

The end-to-end test needs envs/chatterbox (chatterbox-tts 0.1.7 with its own pins: torch 2.6,
transformers 5.2, numpy<2; about 6 GB) and writes about 5 GB of full-size random weights, so it
skips, saying how to build the env, where that env is absent.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"


def _wrapper() -> ModuleType:
    sys.path[:0] = [str(ROOT / "wrappers"), str(ROOT / "fanren_tts" / "_runtime")]
    try:
        return importlib.import_module("chatterbox_wrapper")
    finally:
        del sys.path[:2]


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
    sys.path.insert(0, str(SCRIPTS))
    try:
        common = importlib.import_module("verify._common")
        module = importlib.import_module("verify.chatterbox")
    finally:
        sys.path.remove(str(SCRIPTS))
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
    }
    assert set(run.modes) == expected
    for name, mode in run.modes.items():
        assert mode.ok and mode.sample_rate == 24000 and mode.duration > 0, (name, mode)
    assert run.upstream.startswith("chatterbox-tts 0.1.7")


class _Upstream:
    """Upstream's contract for voices: prepare_conditionals overwrites self.conds, generate uses it."""

    def __init__(self) -> None:
        self.conds: object = "builtin"
        self.spoken: list[object] = []

    def prepare_conditionals(self, path: str, exaggeration: float = 0.5) -> None:
        self.conds = f"clone of {Path(path).name}"

    def generate(self, text: str, **kwargs: object) -> object:
        self.spoken.append(self.conds)
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


def test_a_take_without_ref_audio_after_a_clone_speaks_the_builtin_voice(tmp_path: Path) -> None:
    wrapper = _wrapper()
    engine = object.__new__(wrapper.Chatterbox)
    upstream = _Upstream()
    engine.tts, engine.builtin, engine.voices, engine.model = upstream, upstream.conds, {}, "english"
    engine.model_path, engine.sampling, engine.defaults = str(tmp_path), wrapper._SAMPLING["english"], {}
    engine.progress = lambda message: None
    ref = tmp_path / "ref.wav"
    ref.write_bytes(b"RIFF")
    engine.synthesize("one")
    engine.synthesize("two", ref_audio=str(ref))
    engine.synthesize("three")
    engine.synthesize("four", ref_audio=str(ref))
    assert upstream.spoken == ["builtin", "clone of ref.wav", "builtin", "clone of ref.wav"]
