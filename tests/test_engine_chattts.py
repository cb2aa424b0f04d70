"""ChatTTS: the wrapper's file checks and controls (host Python, no torch), then every mode
through the real ChatTTS package on a tiny random checkpoint (envs/chattts; skips without it).

Build the env with: python -m fanren_tts.envs sync chattts (ChatTTS 0.2.5, torch 2.8: several GB).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from types import ModuleType

import pytest

from conftest import import_verify, import_wrapper


@pytest.fixture(scope="module")
def wrapper() -> ModuleType:
    return import_wrapper("chattts")


def _release_layout(folder: Path, vocab: int = 300) -> None:
    for name in (
        "asset/Vocos.safetensors",
        "asset/DVAE.safetensors",
        "asset/Decoder.safetensors",
        "asset/gpt/config.json",
        "asset/gpt/model.safetensors",
        "asset/tokenizer/tokenizer.json",
        "asset/tokenizer/tokenizer_config.json",
        "asset/tokenizer/special_tokens_map.json",
    ):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"")
    header = json.dumps({"emb_text.weight": {"dtype": "F32", "shape": [vocab, 768], "data_offsets": [0, 0]}}).encode()
    (folder / "asset/Embed.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)


def test_missing_files_are_listed_with_where_they_go_before_torch_is_imported(
    wrapper: ModuleType, tmp_path: Path
) -> None:
    (tmp_path / "asset").mkdir()
    (tmp_path / "asset/Vocos.safetensors").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as err:
        wrapper.ChatTTS({"model_path": str(tmp_path)}, "cpu")
    message = str(err.value)
    assert "asset/gpt/model.safetensors" in message and "asset/tokenizer/tokenizer.json" in message
    assert "asset/Vocos.safetensors," not in message  # present: not listed
    assert "2Noise/ChatTTS" in message


def test_no_model_path_says_what_to_give(wrapper: ModuleType) -> None:
    with pytest.raises(ValueError, match="model_path"):
        wrapper.ChatTTS({}, "cpu")


def test_release_layout_is_complete_and_the_text_vocab_is_read_from_embed(wrapper: ModuleType, tmp_path: Path) -> None:
    _release_layout(tmp_path, vocab=21178)
    assert wrapper.missing_files(tmp_path) == []
    assert wrapper.embed_vocab(tmp_path / "asset/Embed.safetensors") == 21178


def test_refine_and_speed_controls_become_upstream_prompts(wrapper: ModuleType) -> None:
    assert wrapper.refine_prompt({}) == ""
    assert wrapper.refine_prompt({"oral_level": 2, "laugh_level": 0, "break_level": 6}) == "[oral_2][laugh_0][break_6]"
    assert wrapper.refine_prompt({"break_level": 4}) == "[break_4]"
    assert wrapper.speed_prompt(5) == "[speed_5]"
    assert wrapper.speed_prompt(6.6) == "[speed_7]"  # fit-to-slot hands fractions
    assert wrapper.speed_prompt(12) == "[speed_9]" and wrapper.speed_prompt(-1) == "[speed_0]"


@pytest.mark.slow
def test_every_chattts_mode_runs_on_a_tiny_checkpoint(tmp_path: Path) -> None:
    common, module = import_verify("chattts")
    try:
        run = module.verify(tmp_path / "chattts", None)
    except common.Skip as exc:
        pytest.skip(str(exc))
    assert run.status == "ran", run.reason
    assert set(run.modes) == {
        "speaker_seed",
        "refine",
        "spk_emb",
        "reference",
        "named_voice",
        "named_speaker",
        "stream",
        "seeded",
    }
    for name, mode in run.modes.items():
        assert mode.ok and mode.sample_rate == 24000 and mode.duration > 0, (name, mode)
    assert run.upstream.startswith("ChatTTS 0.2.5")


def _config(tmp_path: Path, block: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"tts:\n  engine: chattts\n  chattts: {{{block}}}\n", encoding="utf-8")
    return path


def test_the_controls_are_checked_in_config_yaml(tmp_path: Path) -> None:
    from fanren_tts import ConfigError, load_config

    ok = load_config(_config(tmp_path, "model_path: m, oral_level: 2, laugh_level: 0, break_level: 6"), environ={})
    assert ok.engines["chattts"].options["laugh_level"] == 0
    for bad in ("laugh_level: 3", "speed_level: 10", "lang: ja"):
        with pytest.raises(ConfigError, match="chattts"):
            load_config(_config(tmp_path, f"model_path: m, {bad}"), environ={})


def test_a_stored_voice_becomes_a_seed_an_embedding_or_a_reference() -> None:
    from types import SimpleNamespace

    from fanren_tts.engines import BUILTIN

    rule = BUILTIN["chattts"].voice
    assert rule is not None and rule.takes == "either" and rule.speaker_option is not None

    def voice(**kw: object) -> SimpleNamespace:
        return SimpleNamespace(**{"name": "v", "audio": None, "transcript": None, "speaker": None, **kw})

    assert rule.options(voice(speaker="2")) == {"speaker_seed": 2}
    assert rule.options(voice(speaker="蘁淰敥欀")) == {"spk_emb": "蘁淰敥欀"}
    assert rule.options(voice(audio=Path("/r.wav"), transcript="你好")) == {"ref_audio": "/r.wav", "ref_text": "你好"}
    assert rule.speaker_option("7") == {"speaker_seed": 7}
