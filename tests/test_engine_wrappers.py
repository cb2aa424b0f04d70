"""The named engine wrappers against stand-ins with their upstream call contracts.

Each wrapper runs for real in a torch env (the vits env) behind a real worker; the
upstream package is replaced by a stand-in (tests/standins) with the signatures
from shared/reference/engines.md that logs every call. So argument mapping,
output joining, sample rates and error paths are checked without the weights.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import TESTS, write_config
from fanren_tts import ConfigError, ModelNotFound, RemoteError, TTSGenerator
from fanren_tts._runtime.fanren_worker import Audio, read_wav, write_wav

STANDINS = TESTS / "standins"
WRAPPERS = TESTS.parent / "wrappers"
RUNTIME = TESTS.parent / "fanren_tts" / "_runtime"


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "calls.jsonl"


@pytest.fixture
def make(tmp_path: Path, torch_python: Path, log: Path):
    """Factory: a generator with one engine of ``kind`` on the stand-ins."""

    def build(kind: str, extra_env: dict[str, str] | None = None, **options: object) -> TTSGenerator:
        block = {
            "type": kind,
            "python": str(torch_python),
            "env_vars": {"PYTHONPATH": f"{STANDINS}:{STANDINS / 'site'}", "STANDIN_LOG": str(log), **(extra_env or {})},
            **options,
        }
        cfg = write_config(
            tmp_path / f"{kind}.yaml", {kind: block}, output={"sample_rate": None}, cache={"enabled": False}
        )
        return TTSGenerator(cfg)

    return build


def calls(log: Path, event: str | None = None) -> list[dict]:
    if not log.exists():
        return []
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return [e for e in entries if event is None or e["event"] == event]


def prompt_wav(path: Path) -> Path:
    write_wav(path, Audio(b"\x00\x10" * 16000, 16000))
    return path


def model_dir(tmp_path: Path, *files: str) -> Path:
    d = tmp_path / "model"
    d.mkdir(exist_ok=True)
    for name in files:
        (d / name).write_text("{}")
    return d


# --------------------------------------------------------------------------- cosyvoice


def cosy(make, tmp_path: Path, yaml: str, **options: object) -> TTSGenerator:
    return make(
        "cosyvoice", source_path=str(STANDINS / "cosyvoice_src"), model_path=str(model_dir(tmp_path, yaml)), **options
    )


def test_cosyvoice2_zero_shot_maps_arguments_and_joins_segments(make, tmp_path: Path, log: Path) -> None:
    prompt = prompt_wav(tmp_path / "prompt.wav")
    text = "你好，欢迎收看今天的节目"
    with cosy(
        make,
        tmp_path,
        "cosyvoice2.yaml",
        mode="zero_shot",
        prompt_speech=str(prompt),
        prompt_text="希望你以后能够做的比我还好呦。",
    ) as gen:
        result = gen.generate(text, tmp_path / "out.wav")
        info = gen.describe("cosyvoice")
    (init,) = calls(log, "init")
    assert init["cls"] == "CosyVoice2"
    assert init["kwargs"] == {"load_jit": False, "load_trt": False, "load_vllm": False, "fp16": False}  # no half on CPU
    (call,) = calls(log, "inference_zero_shot")
    assert call == {
        "event": "inference_zero_shot",
        "tts_text": text,
        "prompt_text": "希望你以后能够做的比我还好呦。",
        "prompt_wav": str(prompt),
        "stream": False,
        "speed": 1.0,
        "text_frontend": True,
        "zero_shot_spk_id": "",
    }
    assert result.sample_rate == 24000
    assert abs(result.duration - 0.05 * len(text)) < 0.01  # both upstream yields, joined
    assert info["version"] == "2" and info["speakers"] == ["中文女", "中文男"] and "instruct2" in info["modes"]


def test_cosyvoice3_gets_its_prompt_format_and_no_load_jit(make, tmp_path: Path, log: Path) -> None:
    prompt = prompt_wav(tmp_path / "prompt.wav")
    with cosy(
        make, tmp_path, "cosyvoice3.yaml", prompt_speech=str(prompt), prompt_text="参考文本。", load_jit=True
    ) as gen:
        gen.generate("你好", tmp_path / "a.wav")
        gen.generate("你好", tmp_path / "b.wav", mode="instruct2", instruct_text="用四川话说这句话")
        gen.generate("hello", tmp_path / "c.wav", mode="cross_lingual", speed=1.5)
    (init,) = calls(log, "init")
    assert init["cls"] == "CosyVoice3" and "load_jit" not in init["kwargs"]
    assert (
        calls(log, "inference_zero_shot")[0]["prompt_text"] == "You are a helpful assistant.<|endofprompt|>参考文本。"
    )
    assert (
        calls(log, "inference_instruct2")[0]["instruct_text"]
        == "You are a helpful assistant. 用四川话说这句话<|endofprompt|>"
    )
    cross = calls(log, "inference_cross_lingual")[0]
    assert cross["tts_text"] == "You are a helpful assistant.<|endofprompt|>hello" and cross["speed"] == 1.5


def test_cosyvoice1_sft_speakers_and_mode_errors(make, tmp_path: Path, log: Path) -> None:
    with cosy(make, tmp_path, "cosyvoice.yaml", mode="sft", speaker="中文女") as gen:
        result = gen.generate("你好世界", tmp_path / "a.wav")
        assert result.sample_rate == 22050
        assert calls(log, "inference_sft")[0]["spk_id"] == "中文女"
        with pytest.raises(RemoteError, match="unknown speaker '路人'.*中文女"):
            gen.generate("你好", tmp_path / "b.wav", speaker="路人")
        with pytest.raises(RemoteError, match="instruct2 needs CosyVoice 2 or 3"):
            gen.generate("你好", tmp_path / "c.wav", mode="instruct2")
        gen.generate("你好", tmp_path / "d.wav", mode="instruct", instruct_text="A cheerful voice")
        assert calls(log, "inference_instruct")[0]["instruct_text"] == "A cheerful voice<|endofprompt|>"
        assert not (tmp_path / "b.wav").exists() and not (tmp_path / "c.wav").exists()


def test_cosyvoice_legacy_pipeline_keys(make, tmp_path: Path, log: Path) -> None:
    source = tmp_path / "src"
    import shutil

    shutil.copytree(STANDINS / "cosyvoice_src", source)
    models = source / "pretrained_models" / "CosyVoice2-0.5B"
    models.mkdir(parents=True)
    for name in ("cosyvoice.yaml", "cosyvoice2.yaml"):
        (models / name).write_text("{}")
    prompt = prompt_wav(tmp_path / "p.wav")
    with make(
        "cosyvoice",
        source_path=str(source),
        model_name="CosyVoice2-0.5B",
        use_cosyvoice2=True,
        mode="zero_shot",
        prompt_speech=str(prompt),
        prompt_text="参考。",
        text_frontend=False,
    ) as gen:
        gen.generate("你好", tmp_path / "a.wav")
    assert calls(log, "init")[0]["cls"] == "CosyVoice2" and calls(log, "init")[0]["model_dir"] == str(models)
    assert calls(log, "inference_zero_shot")[0]["text_frontend"] is False


def test_cosyvoice_before_the_prompt_path_api(make, tmp_path: Path, log: Path) -> None:
    prompt = prompt_wav(tmp_path / "prompt.wav")
    with cosy(
        make,
        tmp_path,
        "cosyvoice2.yaml",
        extra_env={"STANDIN_COSYVOICE_LEGACY": "1"},
        prompt_speech=str(prompt),
        prompt_text="参考。",
    ) as gen:
        gen.generate("你好", tmp_path / "a.wav")
    assert calls(log, "load_wav") == [{"event": "load_wav", "wav": str(prompt), "target_sr": 16000}]
    assert calls(log, "inference_zero_shot")[0]["prompt_speech_16k"] == [1, 16000]


def test_cosyvoice_missing_files_are_named(make, tmp_path: Path) -> None:
    # a missing model folder is found on the host, when the generator is made (no process)
    with pytest.raises(ModelNotFound, match="tts.cosyvoice.model_path: model not found; tried .*nope"):
        make("cosyvoice", source_path=str(STANDINS / "cosyvoice_src"), model_path=str(tmp_path / "nope"))
    with make("cosyvoice", source_path=str(tmp_path), model_path=str(model_dir(tmp_path, "cosyvoice2.yaml"))) as gen:
        with pytest.raises(RemoteError, match="no CosyVoice source .* at .*cosyvoice missing"):
            gen.worker("cosyvoice").start()
    with cosy(make, tmp_path, "cosyvoice2.yaml", prompt_speech=str(tmp_path / "missing.wav"), prompt_text="x") as gen:
        with pytest.raises(RemoteError, match="prompt_speech not found: .*missing.wav"):
            gen.generate("你好", tmp_path / "a.wav")


def test_cosyvoice_empty_matcha_submodule_fails_at_start_with_the_fix(make, tmp_path: Path) -> None:
    import shutil

    source = tmp_path / "src"
    shutil.copytree(STANDINS / "cosyvoice_src", source)
    shutil.rmtree(source / "third_party" / "Matcha-TTS")
    (source / "third_party" / "Matcha-TTS").mkdir()  # what a non-recursive clone leaves
    with make("cosyvoice", source_path=str(source), model_path=str(model_dir(tmp_path, "cosyvoice2.yaml"))) as gen:
        with pytest.raises(RemoteError, match="Matcha-TTS is empty.*git -C .* submodule update --init --recursive"):
            gen.worker("cosyvoice").start()


def test_cosyvoice_endofprompt_once_when_the_frontend_appends_it(make, tmp_path: Path, log: Path) -> None:
    prompt = prompt_wav(tmp_path / "prompt.wav")
    old = {"STANDIN_COSYVOICE_FRONTEND_ADDS_END": "1"}
    with cosy(make, tmp_path, "cosyvoice2.yaml", extra_env=old, prompt_speech=str(prompt)) as gen:
        gen.generate("你好", tmp_path / "a.wav", mode="instruct2", instruct_text="用四川话说这句话")
        gen.generate("你好", tmp_path / "b.wav", mode="instruct2", instruct_text="用四川话说这句话<|endofprompt|>")
    assert [c["instruct_text"] for c in calls(log, "inference_instruct2")] == ["用四川话说这句话"] * 2


def test_cosyvoice1_instruct_endofprompt_v1_marker(make, tmp_path: Path, log: Path) -> None:
    old = {"STANDIN_COSYVOICE_FRONTEND_ADDS_END": "1"}
    with cosy(make, tmp_path, "cosyvoice.yaml", extra_env=old, mode="instruct", speaker="中文男") as gen:
        gen.generate("你好", tmp_path / "a.wav", instruct_text="A calm voice")
        gen.generate("你好", tmp_path / "b.wav", instruct_text="A calm voice<endofprompt>")
    # that frontend appends '<endofprompt>' itself: neither marker is added, a given one is dropped
    assert [c["instruct_text"] for c in calls(log, "inference_instruct")] == ["A calm voice"] * 2


def test_cosyvoice3_without_instruct2_is_a_clear_error(make, tmp_path: Path) -> None:
    prompt = prompt_wav(tmp_path / "prompt.wav")
    old = {"STANDIN_COSYVOICE3_NO_INSTRUCT2": "1"}
    with cosy(make, tmp_path, "cosyvoice3.yaml", extra_env=old, prompt_speech=str(prompt), prompt_text="参考。") as gen:
        assert "instruct2" not in gen.describe("cosyvoice")["modes"]
        with pytest.raises(RemoteError, match="has no inference_instruct2.*update the checkout") as info:
            gen.generate("你好", tmp_path / "a.wav", mode="instruct2", instruct_text="用四川话说这句话")
        assert info.value.remote_type == "NotImplementedError"


def test_cosyvoice_registered_zero_shot_speaker_is_used(make, tmp_path: Path, log: Path) -> None:
    prompt = prompt_wav(tmp_path / "prompt.wav")
    with cosy(make, tmp_path, "cosyvoice3.yaml") as gen:
        speakers = gen.call("cosyvoice", "add_speaker", speaker="anna", prompt_speech=str(prompt), prompt_text="参考。")
        assert "anna" in speakers and gen.call("cosyvoice", "describe")["zero_shot_speakers"] == ["anna"]
        gen.generate("你好", tmp_path / "a.wav", speaker="anna")  # no prompt_speech / prompt_text needed
        gen.generate("hello", tmp_path / "b.wav", mode="cross_lingual", speaker="anna")
        with pytest.raises(RemoteError, match="'anna' is a zero-shot speaker.*mode 'sft' needs an spk2info"):
            gen.generate("你好", tmp_path / "c.wav", mode="sft", speaker="anna")
        with pytest.raises(RemoteError, match="'中文女' is not a zero-shot speaker"):
            gen.generate("你好", tmp_path / "d.wav", speaker="中文女")
        gen.generate("你好", tmp_path / "e.wav", mode="sft", speaker="中文女")
    (added,) = calls(log, "add_zero_shot_spk")
    assert added["spk"] == "anna" and added["prompt_text"] == "You are a helpful assistant.<|endofprompt|>参考。"
    (zero,) = calls(log, "inference_zero_shot")
    assert (zero["zero_shot_spk_id"], zero["prompt_text"], zero["prompt_wav"]) == ("anna", "", "")
    (cross,) = calls(log, "inference_cross_lingual")
    assert cross["zero_shot_spk_id"] == "anna" and cross["prompt_wav"] == ""
    # CosyVoice3's LLM asserts an end-of-prompt token: sft text carries the system prompt
    assert calls(log, "inference_sft")[0]["tts_text"] == "You are a helpful assistant.<|endofprompt|>你好"


def test_cosyvoice_cuda_index_selects_the_visible_device(make, tmp_path: Path, log: Path) -> None:
    with cosy(make, tmp_path, "cosyvoice2.yaml", device="cuda:1") as gen:
        # the stand-in's speech tokenizer session reports only the CPU provider: said loudly
        assert "speech tokenizer runs on the CPU" in gen.describe("cosyvoice")["warnings"][0]
    with cosy(make, tmp_path, "cosyvoice2.yaml", device="cuda:1", extra_env={"CUDA_VISIBLE_DEVICES": "4,6"}) as gen:
        gen.worker("cosyvoice").start()
    assert [c["cuda_visible_devices"] for c in calls(log, "init")] == ["1", "6"]


@pytest.mark.parametrize(("key", "what"), [("load_trt", "TensorRT"), ("load_vllm", "vLLM")])
def test_cosyvoice_refuses_trt_and_vllm_it_cannot_load(make, tmp_path: Path, key: str, what: str) -> None:
    with cosy(make, tmp_path, "cosyvoice2.yaml", **{key: True}) as gen:
        with pytest.raises(RemoteError, match=f"{key}: true needs {what}.*set {key}: false"):
            gen.worker("cosyvoice").start()


def test_cosyvoice_warns_when_text_normalization_is_off(make, tmp_path: Path, log: Path) -> None:
    offline = {"STANDIN_WETEXT_OFFLINE": "1"}
    for extra in ({**offline, "STANDIN_COSYVOICE_OLD_WETEXT": "1"}, offline):  # before 7538c6a, and HEAD
        with cosy(make, tmp_path, "cosyvoice2.yaml", extra_env=extra, mode="sft", speaker="中文女") as gen:
            info = gen.describe("cosyvoice")
            gen.generate("第2集", tmp_path / "a.wav")  # the old frontend loads at all offline
        assert info["text_frontend"].startswith("none")
        assert "text normalization is OFF" in info["warnings"][0] and "ConnectionError" in info["warnings"][0]
        assert calls(log, "inference_sft")[-1]["normalized"] == "第2集"
    with cosy(make, tmp_path, "cosyvoice2.yaml", mode="sft", speaker="中文女") as gen:
        assert gen.describe("cosyvoice")["warnings"] == []
        gen.generate("第2集", tmp_path / "b.wav")
    assert calls(log, "inference_sft")[-1]["normalized"] == "第二集"


def test_cosyvoice_seed_makes_a_take_reproducible(make, tmp_path: Path) -> None:
    with cosy(make, tmp_path, "cosyvoice2.yaml", mode="sft", speaker="中文女", seed=7) as gen:
        a = gen.generate("你好", tmp_path / "a.wav").path.read_bytes()
        b = gen.generate("你好", tmp_path / "b.wav").path.read_bytes()
        c = gen.generate("你好", tmp_path / "c.wav", seed=8).path.read_bytes()
        d = gen.generate("你好", tmp_path / "d.wav", seed=8).path.read_bytes()
    assert a == b and c == d and a != c


# --------------------------------------------------------------------------- indextts


def itts(make, tmp_path: Path, version: str, **options: object) -> TTSGenerator:
    d = model_dir(tmp_path, "config.yaml")
    return make(
        "indextts",
        source_path=str(STANDINS / "indextts_src"),
        model_dir=str(d),
        version=version,
        spk_audio_prompt=str(prompt_wav(tmp_path / "voice.wav")),
        **options,
    )


def aux_models(root: Path, *, skip: str = "") -> dict[str, str]:
    """The four IndexTTS2 aux models as files on disk (``skip`` names one file left out)."""
    paths = {
        "w2v_bert": root / "w2v-bert-2.0",
        "semantic_codec": root / "semantic_codec_model.safetensors",
        "campplus": root / "campplus_cn_common.bin",
        "bigvgan": root / "bigvgan",
    }
    files = [
        paths["w2v_bert"] / "config.json",
        paths["w2v_bert"] / "preprocessor_config.json",
        paths["w2v_bert"] / "model.safetensors",
        paths["semantic_codec"],
        paths["campplus"],
        paths["bigvgan"] / "config.json",
        paths["bigvgan"] / "bigvgan_generator.pt",
    ]
    for f in files:
        if f.name != skip:
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text("{}")
    return {k: str(v) for k, v in paths.items()}


def test_indextts2_emotion_and_generation_arguments(make, tmp_path: Path, log: Path) -> None:
    aux = aux_models(tmp_path / "aux")
    emo = prompt_wav(tmp_path / "emo.wav")
    vector = [0, 0, 0.8, 0, 0, 0, 0, 0.2]
    with itts(make, tmp_path, "2", aux_paths=aux, use_fp16=True, use_qwen_emo=False, temperature=0.7) as gen:
        result = gen.generate("今天下雨了", tmp_path / "a.wav", emo_vector=vector, emo_alpha=0.6)
        gen.generate("今天下雨了", tmp_path / "b.wav", emo_audio_prompt=str(emo))
        info = gen.describe("indextts")
    (init,) = calls(log, "init")
    assert init["cls"] == "IndexTTS2" and init["use_fp16"] is False and init["device"] == "cpu"
    assert init["aux_paths"] == aux
    first, second = calls(log, "infer")
    assert first["emo_vector"] == vector and first["emo_alpha"] == 0.6 and first["output_path"] is None
    assert first["generation_kwargs"] == {"temperature": 0.7}
    assert first["spk_audio_prompt"] == str(tmp_path / "voice.wav")
    assert second["emo_audio_prompt"] == str(emo)
    assert result.sample_rate == 22050 and abs(result.duration - 0.25) < 0.01
    assert info["emotions"][0] == "happy" and len(info["emotions"]) == 8


def test_indextts2_partial_aux_paths_is_a_config_error_naming_the_missing_keys(make, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"aux_paths\.campplus") as info:
        itts(make, tmp_path, "2", aux_paths={"w2v_bert": str(tmp_path), "semantic_codec": str(tmp_path)})
    assert "aux_paths.bigvgan" in str(info.value)


def test_indextts2_missing_aux_file_is_listed_and_nothing_downloads(make, tmp_path: Path, log: Path) -> None:
    aux = aux_models(tmp_path / "aux", skip="bigvgan_generator.pt")
    with itts(make, tmp_path, "2", aux_paths=aux) as gen:
        with pytest.raises(RemoteError, match="nothing is downloaded") as info:
            gen.worker("indextts").start()
    assert info.value.remote_type == "FileNotFoundError" and info.value.stage == "load"
    assert "bigvgan: " + str(tmp_path / "aux" / "bigvgan" / "bigvgan_generator.pt") in str(info.value)
    assert not calls(log, "download") and not calls(log, "init")


def test_indextts2_without_aux_paths_uses_hf_cache_or_lists_what_is_missing(make, tmp_path: Path, log: Path) -> None:
    with itts(make, tmp_path, "2", use_qwen_emo=False) as gen:
        with pytest.raises(RemoteError, match="nothing is downloaded") as info:
            gen.worker("indextts").start()
    hf_cache = tmp_path / "model" / "hf_cache"
    for name in ("w2v-bert-2.0", "semantic_codec_model.safetensors", "campplus_cn_common.bin", "bigvgan"):
        assert str(hf_cache / name) in str(info.value)
    assert not calls(log, "download")
    aux = aux_models(hf_cache)  # upstream's own layout: used as aux_paths, upstream's downloader never runs
    with itts(make, tmp_path, "2", use_qwen_emo=False) as gen:
        gen.generate("你好", tmp_path / "a.wav")
    assert calls(log, "init")[0]["aux_paths"] == aux and not calls(log, "download")


def test_indextts2_emotion_model_lands_on_the_configured_device(make, tmp_path: Path, log: Path) -> None:
    with itts(make, tmp_path, "2", aux_paths=aux_models(tmp_path / "aux"), device="cpu") as gen:
        gen.worker("indextts").start()
    (qwen,) = calls(log, "qwen_emo")
    assert qwen["device_map"] == {"": "cpu"} and qwen["torch_dtype"] == "float16"


def test_indextts_seed_makes_takes_identical(make, tmp_path: Path) -> None:
    with itts(make, tmp_path, "2", aux_paths=aux_models(tmp_path / "aux"), seed=7) as gen:
        a = gen.generate("你好", tmp_path / "a.wav").path.read_bytes()
        b = gen.generate("你好", tmp_path / "b.wav").path.read_bytes()
        c = gen.generate("你好", tmp_path / "c.wav", seed=8).path.read_bytes()
        d = gen.generate("你好", tmp_path / "d.wav", seed=8).path.read_bytes()
    assert a == b and c == d and a != c


def test_indextts_fp16_defaults_follow_upstream_on_cuda(make, tmp_path: Path, log: Path) -> None:
    with itts(make, tmp_path, "1.5", device="cuda") as gen:
        gen.worker("indextts").start()
    with itts(make, tmp_path, "1.5", device="cuda", use_fp16=False) as gen:
        gen.worker("indextts").start()
    with itts(make, tmp_path, "1.5", device="cpu") as gen:
        gen.worker("indextts").start()
    with itts(make, tmp_path, "2", device="cuda", aux_paths=aux_models(tmp_path / "aux"), use_qwen_emo=False) as gen:
        gen.worker("indextts").start()
    assert [c["use_fp16"] for c in calls(log, "init")] == [True, False, False, False]


def test_indextts1_is_24k_and_refuses_emotion(make, tmp_path: Path, log: Path) -> None:
    with itts(make, tmp_path, "1.5") as gen:
        assert gen.generate("你好", tmp_path / "a.wav").sample_rate == 24000
        with pytest.raises(RemoteError, match="emo_alpha need IndexTTS 2 or 2.5"):
            gen.generate("你好", tmp_path / "b.wav", emo_alpha=0.5)
    assert calls(log, "init")[0]["cls"] == "IndexTTS"


def test_indextts25_needs_lang(make, tmp_path: Path, log: Path) -> None:
    aux_models(tmp_path / "model" / "hf_cache")
    with itts(make, tmp_path, "2.5") as gen:
        with pytest.raises(RemoteError, match="needs lang"):
            gen.generate("hello", tmp_path / "a.wav")
        gen.generate("hello", tmp_path / "b.wav", lang="EN")
    assert calls(log, "infer")[0]["lang"] == "EN"
    assert calls(log, "init")[0]["version"] == "2.5"


def test_indextts25_lists_missing_hf_cache_files(make, tmp_path: Path, log: Path) -> None:
    aux_models(tmp_path / "model" / "hf_cache", skip="campplus_cn_common.bin")
    with itts(make, tmp_path, "2.5") as gen:
        with pytest.raises(RemoteError, match="campplus: .*campplus_cn_common.bin"):
            gen.worker("indextts").start()
    assert not calls(log, "init")


def test_indextts_bad_values_and_missing_prompt(make, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tts.indextts.emo_vector"):
        itts(make, tmp_path, "2", emo_vector=[1, 2, 3])
    with itts(make, tmp_path, "1") as gen:
        with pytest.raises(RemoteError, match="spk_audio_prompt not found: .*gone.wav"):
            gen.generate("你好", tmp_path / "a.wav", spk_audio_prompt=str(tmp_path / "gone.wav"))


def test_indextts2_target_duration_is_a_time_stretch_without_a_rate_option(make, tmp_path: Path, log: Path) -> None:
    """IndexTTS 2 has no rate control: fitting a line must not retry with one (it used to
    pass duration_factor, which only 2.5 has, and every fit more than 3 % off failed)."""
    with itts(make, tmp_path, "2", aux_paths=aux_models(tmp_path / "aux"), use_qwen_emo=False) as gen:
        natural = gen.generate("今天下雨了吗", tmp_path / "a.wav").duration  # 0.3 s
        fitted = gen.generate("今天下雨了吗", tmp_path / "b.wav", target_duration=natural * 1.5)
        info = gen.describe("indextts")
        with pytest.raises(RemoteError, match="duration_factor needs IndexTTS 2.5"):
            gen.generate("今天下雨了吗", tmp_path / "c.wav", duration_factor=1.2)
    assert abs(fitted.duration / (natural * 1.5) - 1) <= 0.03
    assert len(calls(log, "infer")) == 2  # one take per generate: no retry, the stretch closes the gap
    assert all("duration_factor" not in c["generation_kwargs"] for c in calls(log, "infer"))
    assert info["rate_control"] is None and info["target_duration"] == "time-stretch only"


def test_indextts25_target_duration_retries_with_its_duration_factor(make, tmp_path: Path, log: Path) -> None:
    aux_models(tmp_path / "model" / "hf_cache")
    with itts(make, tmp_path, "2.5", lang="EN") as gen:
        natural = gen.generate("hello there friend", tmp_path / "a.wav").duration  # 0.9 s
        fitted = gen.generate("hello there friend", tmp_path / "b.wav", target_duration=natural * 1.4)
        info = gen.describe("indextts")
    first, take, retry = calls(log, "infer")
    assert first["duration_factor"] == take["duration_factor"] == 1.0
    assert retry["duration_factor"] == pytest.approx(1.4, abs=0.01)  # the engine's own rate, not a stretch
    assert "duration_factor" not in retry["generation_kwargs"]
    assert abs(fitted.duration / (natural * 1.4) - 1) <= 0.03
    assert info["rate_control"] == "duration_factor" and info["target_duration"] == "duration_factor, then time-stretch"


# --------------------------------------------------------------------------- qwen3


def qwen(make, tmp_path: Path, model_type: str, **options: object) -> TTSGenerator:
    d = tmp_path / f"qwen-{model_type}"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"tts_model_type": model_type}))
    return make("qwen3", model_path=str(d), **options)


def test_qwen3_custom_voice(make, tmp_path: Path, log: Path) -> None:
    with qwen(make, tmp_path, "custom_voice", speaker="Vivian", language="Chinese", temperature=0.8) as gen:
        result = gen.generate("你好世界", tmp_path / "a.wav", instruct="用开心的语气")
        info = gen.describe("qwen3")
        with pytest.raises(RemoteError, match="Unsupported speakers"):
            gen.generate("你好", tmp_path / "b.wav", speaker="Nobody")
    (load,) = calls(log, "from_pretrained")
    assert load["kwargs"] == {"dtype": "torch.float32", "attn_implementation": "sdpa", "device_map": "cpu"}
    call = calls(log, "generate_custom_voice")[0]
    assert (call["speaker"], call["language"], call["instruct"], call["kwargs"]) == (
        "Vivian",
        "Chinese",
        "用开心的语气",
        {"temperature": 0.8},
    )
    assert result.sample_rate == 24000 and abs(result.duration - 0.2) < 0.01
    assert info["mode"] == "custom_voice" and "vivian" in info["speakers"]


def test_qwen3_voice_clone_and_design(make, tmp_path: Path, log: Path) -> None:
    ref = prompt_wav(tmp_path / "ref.wav")
    with qwen(make, tmp_path, "base", ref_audio=str(ref)) as gen:
        with pytest.raises(RemoteError, match="needs ref_text"):
            gen.generate("你好", tmp_path / "a.wav")
        gen.generate("你好", tmp_path / "b.wav", ref_text="参考文本")
        gen.generate("你好", tmp_path / "c.wav", x_vector_only_mode=True)
    clone = calls(log, "generate_voice_clone")
    assert (
        clone[0]["ref_audio"] == str(ref)
        and clone[0]["ref_text"] == "参考文本"
        and clone[1]["x_vector_only_mode"] is True
    )
    assert [c["prompt"] for c in clone] == ["given", "given"]  # built by the wrapper, not per call upstream
    built = calls(log, "create_voice_clone_prompt")
    assert [(b["ref_text"], b["x_vector_only_mode"]) for b in built] == [("参考文本", False), (None, True)]
    with qwen(make, tmp_path, "voice_design") as gen:
        with pytest.raises(RemoteError, match="needs an instruct"):
            gen.generate("hello", tmp_path / "d.wav")
        gen.generate("hello", tmp_path / "e.wav", instruct="A warm, low voice")
    assert calls(log, "generate_voice_design")[0]["instruct"] == "A warm, low voice"


def test_qwen3_voice_clone_prompt_built_once_for_many_segments(make, tmp_path: Path, log: Path) -> None:
    ref = prompt_wav(tmp_path / "ref.wav")
    text = "第一句话。第二句话。第三句话。第四句话。"
    with qwen(make, tmp_path, "base", ref_audio=str(ref), ref_text="参考文本") as gen:
        result = gen.generate(text, tmp_path / "a.wav")
        gen.generate("再来一句。最后一句。", tmp_path / "b.wav")
        gen.generate("换个文本。", tmp_path / "c.wav", ref_text="另一个参考")
    assert len(result.segments) == 4
    clone = calls(log, "generate_voice_clone")
    assert len(clone) == 7 and {c["prompt"] for c in clone} == {"given"}
    built = calls(log, "create_voice_clone_prompt")
    assert [b["ref_text"] for b in built] == ["参考文本", "另一个参考"]  # once per reference voice


def test_qwen3_codec_is_moved_with_the_model(tmp_path: Path, torch_python: Path) -> None:
    """The speech tokenizer is no nn.Module attribute: model.to(device) alone leaves it behind."""
    d = tmp_path / "qwen-custom_voice"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"tts_model_type": "custom_voice"}))
    script = f"""
import sys, torch
sys.path[:0] = [{str(WRAPPERS)!r}, {str(RUNTIME)!r}, {str(STANDINS)!r}, {str(STANDINS / "site")!r}]
from qwen_tts import Qwen3TTSModel
from qwen3_wrapper import place
tts = Qwen3TTSModel.from_pretrained({str(d)!r}, device_map="cpu")
place(tts, torch, "meta")  # any device other than the one it was loaded on
codec = tts.model.speech_tokenizer
print(next(tts.model.parameters()).device, tts.device, next(codec.model.parameters()).device, codec.device)
"""
    out = subprocess.run([str(torch_python), "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["meta", "meta", "meta", "meta"]


def test_qwen3_describe_streaming_and_devices(make, tmp_path: Path, log: Path) -> None:
    with qwen(make, tmp_path, "custom_voice", speaker="Vivian") as gen:
        gen.generate("你好", tmp_path / "a.wav")
        info = gen.describe("qwen3")
    assert info["streaming"] is False and "no streaming output" in info["streaming_reason"]
    assert info["device"] == info["codec_device"] == "cpu"
    (decode,) = calls(log, "codec_decode")
    (call,) = calls(log, "generate_custom_voice")
    assert decode["device"] == decode["weights"] == call["model_device"] == "cpu"  # decoded where the model runs


def test_qwen3_seed_makes_takes_repeatable(make, tmp_path: Path) -> None:
    def take(gen: TTSGenerator, name: str, seed: int | None = None) -> bytes:
        out = tmp_path / name
        result = gen.generate("你好世界", out) if seed is None else gen.generate("你好世界", out, seed=seed)
        return read_wav(result.path).pcm

    with qwen(make, tmp_path, "custom_voice", speaker="Vivian") as gen:
        assert take(gen, "a.wav", seed=7) == take(gen, "b.wav", seed=7)
        assert take(gen, "c.wav", seed=7) != take(gen, "d.wav", seed=8)
        assert take(gen, "e.wav") != take(gen, "f.wav")  # unseeded: sampling differs
    with make("qwen3", model_path=str(tmp_path / "qwen-custom_voice"), speaker="Vivian", seed=3) as gen:
        assert take(gen, "g.wav") == take(gen, "h.wav")  # the config's seed is every call's default


def test_qwen3_missing_checkpoint(make, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="tts.qwen3.model_path: model not found; tried .*nope"):
        make("qwen3", model_path=str(tmp_path / "nope"))
    with make("qwen3", model_path=str(tmp_path)) as gen:
        with pytest.raises(RemoteError, match=r"no Qwen3-TTS checkpoint at .* \(config.json missing\)"):
            gen.worker("qwen3").start()


# --------------------------------------------------------------------------- minicpmo


def mini(make, tmp_path: Path, env: dict[str, str] | None = None, **options: object) -> TTSGenerator:
    """A model folder with the stand-in remote code, loaded by real transformers (trust_remote_code)."""
    import shutil

    d = tmp_path / "MiniCPM-o-4_5"
    shutil.copytree(STANDINS / "minicpmo_model", d)
    (d / "assets" / "CosyVoice2-0.5B").mkdir(parents=True)
    (d / "assets" / "CosyVoice2-0.5B" / "cosyvoice2.yaml").write_text("{}")
    extra = {
        "PYTHONPATH": f"{STANDINS}:{STANDINS / 'site'}:{STANDINS / 'minicpmo_site'}",
        "HF_HOME": str(tmp_path / "hf"),
        **(env or {}),
    }
    return make("minicpmo", extra_env=extra, model_path=str(d), **options)


def test_minicpmo_loads_locally_and_reads_in_the_reference_voice(make, tmp_path: Path, log: Path) -> None:
    ref = prompt_wav(tmp_path / "ref.wav")
    with mini(make, tmp_path, ref_audio=str(ref), top_k=20, tts_temperature=0.5) as gen:
        result = gen.generate("你好世界。", tmp_path / "a.wav", temperature=0.3, max_new_tokens=64)
        info = gen.describe("minicpmo")
        with pytest.raises(ConfigError, match="has no option 'speaker'"):
            gen.generate("你好", tmp_path / "b.wav", speaker="x")
        with pytest.raises(RemoteError, match=r"no option\(s\) \['dtype'\]"):  # load-time only
            gen.generate("你好", tmp_path / "b.wav", dtype="float16")
    (load,) = calls(log, "from_pretrained")
    assert load["init"] == {"vision": False, "audio": True, "tts": True}
    assert load["kwargs"]["local_files_only"] == "True"  # trust_remote_code: the remote class did load
    assert load["kwargs"]["torch_dtype"] == "torch.float32" and load["attn"] == "sdpa"
    assert "device_map" not in load["kwargs"] and calls(log, "to") == []  # CPU: loaded there, never moved
    (init,) = calls(log, "init_tts")
    assert init["streaming"] is False and init["model_dir"].endswith("assets/CosyVoice2-0.5B")
    (chat,) = calls(log, "chat")
    assert chat["user"] == ["请朗读以下内容。 你好世界。"]
    assert chat["system"][0] == "模仿音频样本的音色并生成新的内容。" and chat["ref_audio_samples"] == [16000]
    assert chat["ref_audio_dtype"] == ["float32"] and calls(log, "librosa.load")[0]["sr"] == 16000
    assert chat["use_tts_template"] is True and chat["generate_audio"] is True
    assert (chat["max_new_tokens"], chat["do_sample"], chat["kwargs"]) == (64, True, {"temperature": 0.3, "top_k": 20})
    assert chat["tts"]["temperature"] == 0.5 and chat["tts"]["top_k"] == 25  # the rest stays upstream's
    assert result.sample_rate == 24000 and abs(result.duration - 1.4) < 0.01  # 0.1 s per prompt character
    assert info["sample_rate"] == 24000 and info["streaming"] is False and "seed" in info["options"]


def token2wav(root: Path) -> None:
    """The streaming vocoder's folder in a ``mini`` model folder (the stand-in checks flow.yaml)."""
    folder = root / "MiniCPM-o-4_5" / "assets" / "token2wav"
    folder.mkdir()
    (folder / "flow.yaml").write_text("{}")


def test_minicpmo_streams_through_upstreams_streaming_generate(make, tmp_path: Path, log: Path) -> None:
    """Upstream streams (init_tts(streaming=True), streaming_prefill, streaming_generate); the wrapper
    used to load only the CosyVoice2 vocoder and give every stream as one piece."""
    ref = prompt_wav(tmp_path / "ref.wav")
    with mini(make, tmp_path, ref_audio=str(ref), streaming=True, tts_temperature=0.5) as gen:
        token2wav(tmp_path)
        pieces = [c for c in gen.stream("一二三四五六七八九十。", "minicpmo", cache=False, top_k=20) if len(c.data)]
        after = gen.generate("你好世界。", tmp_path / "a.wav")  # a file after a stream: the CosyVoice2 path again
        info = gen.describe("minicpmo")
    assert [(i["streaming"], Path(i["model_dir"]).name) for i in calls(log, "init_tts")] == [
        (True, "token2wav"),
        (False, "CosyVoice2-0.5B"),
    ]
    assert [c["event"] for c in calls(log) if c["event"] != "librosa.load"][-6:-1] == [
        "reset_session",
        "init_token2wav_cache",
        "streaming_prefill",
        "streaming_prefill",
        "streaming_generate",
    ]
    system, user = calls(log, "streaming_prefill")
    assert system["role"] == "system" and system["text"][0] == "模仿音频样本的音色并生成新的内容。"
    assert system["audio"] == [16000] and user["text"] == ["请朗读以下内容。 一二三四五六七八九十。"]
    assert user["is_last_chunk"] is True and user["omni_mode"] is False
    (generate,) = calls(log, "streaming_generate")
    assert generate["session_same"] and generate["generate_audio"] and generate["vocoder"] == "token2wav"
    assert generate["max_new_tokens"] == 512 and generate["kwargs"] == {"temperature": 0.1, "top_k": 20}
    assert generate["tts"]["temperature"] == 0.5
    assert [len(p.data) / p.sample_rate for p in pieces] == [1.0, 1.0]  # 2 s in upstream's 1 s chunks
    assert calls(log, "chat")[0]["vocoder"] == "cosyvoice2" and after.sample_rate == 24000
    assert info["streaming"] is True


def test_minicpmo_does_not_stream_on_the_cpu_unless_asked(make, tmp_path: Path, log: Path) -> None:
    ref = prompt_wav(tmp_path / "ref.wav")
    with mini(make, tmp_path, ref_audio=str(ref)) as gen:  # Token2wav puts itself on CUDA: off by default here
        token2wav(tmp_path)
        pieces = [c for c in gen.stream("你好世界。", "minicpmo", cache=False) if len(c.data)]
        assert gen.describe("minicpmo")["streaming"] is False
    assert len(pieces) == 1 and not calls(log, "streaming_generate")
    with mini(make, tmp_path / "t", ref_audio=str(ref), streaming=True) as gen:
        (tmp_path / "t" / "MiniCPM-o-4_5" / "assets" / "token2wav").mkdir()  # without its files
        with pytest.raises(
            RemoteError, match=r"streaming vocoder .*did not load .*Missing Step-Audio2 .*streaming: false"
        ):
            gen.worker("minicpmo").start()


def test_minicpmo_seed_makes_takes_repeatable(make, tmp_path: Path) -> None:
    ref = prompt_wav(tmp_path / "ref.wav")
    with mini(make, tmp_path, ref_audio=str(ref), seed=7) as gen:
        a = gen.generate("同一句话。", tmp_path / "a.wav").path.read_bytes()
        b = gen.generate("同一句话。", tmp_path / "b.wav").path.read_bytes()
        c = gen.generate("同一句话。", tmp_path / "c.wav", seed=8).path.read_bytes()
        d = gen.generate("同一句话。", tmp_path / "d.wav", seed=8).path.read_bytes()
    assert a == b and c == d and a != c


def test_minicpmo_swallowed_speech_error_is_raised(make, tmp_path: Path) -> None:
    """Upstream chat() catches its speech step's errors and only prints them; we must not return silence."""
    ref = prompt_wav(tmp_path / "ref.wav")
    with mini(make, tmp_path, ref_audio=str(ref)) as gen:
        with pytest.raises(RemoteError, match="wrote no audio .*stand-in vocoder exploded"):
            gen.generate("FAIL here", tmp_path / "a.wav")
        assert not (tmp_path / "a.wav").exists()
        with pytest.raises(RemoteError, match="stops before <.tts_eos.>, e.g. at max_new_tokens=4: raise it"):
            gen.generate("一句太长的话。", tmp_path / "b.wav", max_new_tokens=4)


def test_minicpmo_switched_off_optional_import_does_not_block_loading(make, tmp_path: Path) -> None:
    """modeling_minicpmo.py imports flag_gems only when USE_FLAGOS=1; transformers demands it anyway."""
    ref = prompt_wav(tmp_path / "ref.wav")
    with mini(make, tmp_path, ref_audio=str(ref)) as gen:  # would fail on check_imports without the fix
        assert gen.generate("好。", tmp_path / "a.wav").sample_rate == 24000
    with mini(make, tmp_path / "on", env={"USE_FLAGOS": "1"}, ref_audio=str(ref)) as gen:
        with pytest.raises(RemoteError, match="requires the following packages .*: flag_gems"):
            gen.worker("minicpmo").start()


def test_minicpmo_missing_pieces_are_named(make, tmp_path: Path) -> None:
    with mini(make, tmp_path) as gen:
        with pytest.raises(RemoteError, match="give ref_audio"):
            gen.generate("你好", tmp_path / "a.wav")
    (tmp_path / "MiniCPM-o-4_5" / "modeling_minicpmo.py").unlink()
    with make("minicpmo", model_path=str(tmp_path / "MiniCPM-o-4_5")) as gen:
        with pytest.raises(RemoteError, match=r"no MiniCPM-o model code at .*modeling_minicpmo.py missing"):
            gen.worker("minicpmo").start()
    bare = model_dir(tmp_path, "config.json", "modeling_minicpmo.py", "configuration_minicpmo.py")
    (bare / "processing_minicpmo.py").write_text("")
    with make("minicpmo", model_path=str(bare)) as gen:
        with pytest.raises(
            RemoteError, match=r"CosyVoice2 vocoder folder not found: .*assets/CosyVoice2-0.5B; .*vocoder_path"
        ):
            gen.worker("minicpmo").start()


# --------------------------------------------------------------------------- flux


def test_flux_through_the_generic_call_path(make, tmp_path: Path, log: Path) -> None:
    d = model_dir(tmp_path, "model_index.json")
    with make("flux", model_path=str(d), num_inference_steps=4, guidance_scale=0.0) as gen:
        out = gen.call(
            "flux",
            "generate",
            prompt="a temple in the mist",
            output_path=str(tmp_path / "f.png"),
            height=64,
            width=80,
            seed=3,
        )
        again = gen.call("flux", "generate", prompt="a temple in the mist", height=64, width=80, seed=3)
        other = gen.call("flux", "generate", prompt="a temple in the mist", height=64, width=80, seed=4)
        with pytest.raises(RemoteError, match="height must be a multiple of 16"):
            gen.call("flux", "generate", prompt="x", height=70)
        with pytest.raises(RemoteError, match="does not implement synthesize"):
            gen.generate("not speech", tmp_path / "x.wav")
    assert out["png"].startswith(b"\x89PNG") and (tmp_path / "f.png").read_bytes() == out["png"]
    assert (out["width"], out["height"], out["seed"]) == (80, 64, 3)
    assert again["png"] == out["png"] and other["png"] != out["png"]
    load = calls(log, "from_pretrained")[0]
    assert load["torch_dtype"] == "torch.float32" and load["local_files_only"] is True
    assert calls(log, "to")[0]["device"] == "cpu"
    first = calls(log, "call")[0]
    assert (first["num_inference_steps"], first["guidance_scale"], first["max_sequence_length"]) == (4, 0.0, 512)


@pytest.mark.parametrize(
    ("device", "expected"),
    [("cuda:1", {"gpu_id": 1, "device": "cuda"}), ("cuda", {"gpu_id": None, "device": "cuda"})],
)
def test_flux_cpu_offload_goes_to_the_configured_gpu(
    make, tmp_path: Path, log: Path, device: str, expected: dict
) -> None:
    d = model_dir(tmp_path, "model_index.json")
    with make("flux", model_path=str(d), cpu_offload=True, device=device) as gen:
        info = gen.call("flux", "describe")
    assert info["device"] == f"{device} (model cpu offload)"
    (offload,) = calls(log, "enable_model_cpu_offload")
    assert {k: offload[k] for k in ("gpu_id", "device")} == expected
    assert calls(log, "to") == []  # offloaded, never moved whole
    assert calls(log, "from_pretrained")[0]["torch_dtype"] == "torch.bfloat16"  # auto on CUDA


def test_flux_seed_seeds_every_rng_and_unseeded_images_report_theirs(make, tmp_path: Path, log: Path) -> None:
    d = model_dir(tmp_path, "model_index.json")
    with make("flux", model_path=str(d), seed=11) as gen:
        configured = gen.call("flux", "generate", prompt="a fox", height=64, width=64)
        again = gen.call("flux", "generate", prompt="a fox", height=64, width=64, seed=None)  # None: the default
        per_call = gen.call("flux", "generate", prompt="a fox", height=64, width=64, seed=12)
        with pytest.raises(RemoteError, match=r"seed must be in \[0, 2\*\*32\)"):
            gen.call("flux", "generate", prompt="a fox", seed=-1)
    first, second, third = (c["rngs"] for c in calls(log, "call"))
    assert (configured["seed"], again["seed"], per_call["seed"]) == (11, 11, 12)
    assert configured["png"] == again["png"] and first == second  # random, numpy and torch all reseeded
    assert per_call["png"] != configured["png"] and all(a != b for a, b in zip(first, third, strict=True))

    log.unlink()
    with make("flux", model_path=str(d)) as gen:
        a = gen.call("flux", "generate", prompt="a fox", height=64, width=64)
        b = gen.call("flux", "generate", prompt="a fox", height=64, width=64)
        replay = gen.call("flux", "generate", prompt="a fox", height=64, width=64, seed=a["seed"])
    assert isinstance(a["seed"], int) and a["seed"] != b["seed"] and a["png"] != b["png"]  # fresh seed each image
    assert replay["png"] == a["png"]  # the reported seed makes the image again


def test_every_named_engine_has_a_wrapper_env_and_lock() -> None:
    from fanren_tts.config import PROJECT_ROOT
    from fanren_tts.engines import BUILTIN as BUILTIN_OPTIONS

    for kind in BUILTIN_OPTIONS:
        assert (PROJECT_ROOT / "wrappers" / f"{kind}_wrapper.py").is_file(), kind
        assert (PROJECT_ROOT / "envs" / kind / "uv.lock").is_file(), kind


def test_indextts2_streams_each_segment_as_upstream_decodes_it(make, tmp_path: Path, log: Path) -> None:
    aux = aux_models(tmp_path / "aux")
    with itts(make, tmp_path, "2", aux_paths=aux, use_qwen_emo=False) as gen:
        chunks = list(gen.stream("第一句。第二句话。", "indextts", cache=False))
        assert gen.describe("indextts")["streaming"] is True
    assert all(c["stream_return"] is True for c in calls(log, "infer"))
    voiced = [c for c in chunks if len(c.data) and np.abs(c.data).max() > 0]
    assert len(voiced) == 2 and abs(voiced[0].data.max() - 8100 / 32767) < 0.01  # int16 range scaled back
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


def test_indextts1_does_not_pretend_to_stream(make, tmp_path: Path, log: Path) -> None:
    with itts(make, tmp_path, "1.5") as gen:
        chunks = [c for c in gen.stream("你好。", "indextts", cache=False) if len(c.data)]
        assert gen.describe("indextts")["streaming"] is False
    assert len(chunks) == 1 and not calls(log, "infer")[0].get("stream_return")


def test_cosyvoice_streams_with_upstream_stream_true_but_not_at_another_speed(make, tmp_path: Path, log: Path) -> None:
    prompt = prompt_wav(tmp_path / "prompt.wav")
    options = {"mode": "zero_shot", "prompt_speech": str(prompt), "prompt_text": "希望你以后能够做的比我还好呦。"}
    with cosy(make, tmp_path, "cosyvoice2.yaml", **options) as gen:
        line = "你好，欢迎收看今天的节目，" * 3 + "谢谢大家。"  # one sentence, 2.2 s: a hop of 25 tokens, the rest
        pieces = [c for c in gen.stream(line, "cosyvoice", cache=False) if len(c.data)]
        slow = [c for c in gen.stream("你好", "cosyvoice", cache=False, speed=0.8) if len(c.data)]
        gen.generate("你好", tmp_path / "file.wav", cache=False)
    first, second, third = calls(log, "inference_zero_shot")
    assert first["stream"] is True and len(pieces) == 2  # each upstream yield is its own piece
    assert second["stream"] is False and second["speed"] == 0.8 and len(slow) == 2  # upstream: speed needs stream=False
    assert third["stream"] is False  # a file gets upstream's whole-take decode


@pytest.mark.parametrize("yaml", ["cosyvoice2.yaml", "cosyvoice3.yaml"])
def test_cosyvoice_every_stream_starts_with_the_same_first_chunk(make, tmp_path: Path, yaml: str) -> None:
    """Upstream doubles the model's token_hop_len after each chunk and never resets it: in a
    worker that stays loaded the 2nd and 3rd streams began with 4 s instead of 1 s."""
    prompt = prompt_wav(tmp_path / "prompt.wav")
    line = "你好，欢迎收看今天的节目，" * 7 + "谢谢。"  # one sentence, 4.7 s: hops of 25 and 50 tokens, the rest
    with cosy(make, tmp_path, yaml, prompt_speech=str(prompt), prompt_text="参考文本。") as gen:
        firsts, counts = [], []
        for _ in range(3):
            pieces = [c for c in gen.stream(line, "cosyvoice", cache=False) if len(c.data)]
            firsts.append(len(pieces[0].data) / pieces[0].sample_rate)
            counts.append(len(pieces))
        info = gen.describe("cosyvoice")
    assert firsts == [1.0, 1.0, 1.0] and counts == [3, 3, 3], (firsts, counts)  # 25 tokens at 25 Hz
    assert info["stream_first_hop_tokens"] == 25


def test_cosyvoice_concurrent_streams_on_one_model_keep_their_own_hop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two streams interleaved on one upstream model (as a worker running calls at once would):
    each grows its own hop, 25 -> 50 -> 100, instead of doubling the other's."""
    import importlib.util

    monkeypatch.syspath_prepend(str(RUNTIME))  # the wrapper imports fanren_worker, as in a worker
    spec = importlib.util.spec_from_file_location("cosyvoice_wrapper_under_test", WRAPPERS / "cosyvoice_wrapper.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class Model:  # CosyVoice2Model.tts's bookkeeping: the hop lives on the shared model
        def __init__(self) -> None:
            self.token_hop_len, self.token_max_hop_len, self.stream_scale_factor = 25, 100, 2

        def tts(self, tokens: int):
            offset = 0
            while tokens - offset >= self.token_hop_len:
                yield self.token_hop_len
                offset += self.token_hop_len
                self.token_hop_len = min(self.token_max_hop_len, self.token_hop_len * self.stream_scale_factor)
            yield tokens - offset

    model = Model()
    assert module.own_stream_hop(model) == 25
    a, b = model.tts(300), model.tts(300)
    got_a, got_b = [], []
    for _ in range(3):
        got_a.append(next(a))
        got_b.append(next(b))
    assert got_a == got_b == [25, 50, 100]
    assert model.token_hop_len == 25 and list(model.tts(40)) == [25, 15]  # the shared model never grows
