"""What a Ray Serve deployment asks for, from the engine's config block; the shared-voices
check and the multiplexing key. No cluster: these are the decisions made before one is asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write_config
from fanren_tts import ConfigError
from fanren_tts._voices import VoiceStore
from fanren_tts.config import load_config

pytest.importorskip("ray.serve", reason="needs ray[serve] (the [ray] extra)")
pytest.importorskip("fastapi")

from fanren_tts.rayserve.app import WORKER_CAPACITY, engine_options
from fanren_tts.rayserve.voices import check_shared, mark_shared, model_id, warm_voice


def test_autoscaling_resources_and_capacity_come_from_the_engine_block(tmp_path: Path) -> None:
    scale = {"min_replicas": 0, "max_replicas": 3, "target_ongoing_requests": 2, "downscale_delay_s": 7}
    config = load_config(
        write_config(
            tmp_path / "config.yaml",
            {
                "espeak": {"threads": 2, "serve": scale},
                "piper": {"replicas": 4},
                "gpu": {"type": "piper", "device": "cuda"},
            },
        )
    )
    espeak = engine_options(config.get("espeak"))
    assert espeak["autoscaling_config"] == {
        "min_replicas": 0,
        "initial_replicas": 1,
        "max_replicas": 3,
        "target_ongoing_requests": 2.0,
        "upscale_delay_s": 5.0,
        "downscale_delay_s": 7.0,
    }
    assert espeak["ray_actor_options"] == {"num_cpus": 2.0, "num_gpus": 0.0}
    assert espeak["max_ongoing_requests"] == WORKER_CAPACITY == 1
    assert espeak["logging_config"] == {"enable_access_log": False}  # the app logs each request itself
    piper = engine_options(config.get("piper"), {"resources": {"node2": 1}})
    assert piper["autoscaling_config"]["max_replicas"] == 4  # default: the block's replicas
    assert piper["ray_actor_options"] == {"num_cpus": 1.0, "num_gpus": 0.0, "resources": {"node2": 1}}
    assert engine_options(config.get("gpu"))["ray_actor_options"]["num_gpus"] == 1.0


def test_min_over_max_replicas_is_refused(tmp_path: Path) -> None:
    config = load_config(
        write_config(tmp_path / "c.yaml", {"espeak": {"serve": {"min_replicas": 3, "max_replicas": 2}}})
    )
    with pytest.raises(ConfigError, match="min_replicas 3 is over serve.max_replicas 2"):
        engine_options(config.get("espeak"))


def test_a_voices_folder_that_is_not_shared_is_caught(tmp_path: Path) -> None:
    token = mark_shared(tmp_path / "voices")
    check_shared(tmp_path / "voices", token)  # the same folder: fine
    with pytest.raises(ConfigError, match="not the ingress's"):
        check_shared(tmp_path / "elsewhere", token)
    mark_shared(tmp_path / "elsewhere")  # another node's own folder, marked by someone else
    with pytest.raises(ConfigError, match="every node mounts"):
        check_shared(tmp_path / "elsewhere", token)


def test_the_multiplexing_key_changes_when_a_voice_is_replaced(tmp_path: Path) -> None:
    store = VoiceStore(tmp_path / "voices")
    assert model_id(store, "narrator") is None and model_id(store, None) is None
    store.add("narrator", speaker="de", engine="espeak")
    first = model_id(store, "narrator")
    assert first is not None and first.startswith("narrator@")
    assert warm_voice(store, first).speaker == "de"
    store.add("narrator", speaker="fr", engine="espeak")
    second = model_id(store, "narrator")
    assert second is not None and second != first
    with pytest.raises(ConfigError, match="replaced"):
        warm_voice(store, first)  # a request keyed to the old voice is not served the new one
    store.remove("narrator")
    with pytest.raises(ConfigError, match="every node of the cluster mounts"):
        warm_voice(store, second)
