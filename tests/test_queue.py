"""The server's per-engine queue: bounded, ordered, with position and an ETA from an EMA."""

from __future__ import annotations

import asyncio

import pytest

from fanren_tts import QueueFull, QueueTimeout
from fanren_tts._queue import EngineQueue, SecondsPerChar
from fanren_tts._server_config import EtaConfig, ServerConfig


def test_ema_uses_the_prior_until_min_samples_then_the_average() -> None:
    rate = SecondsPerChar(EtaConfig(alpha=0.5, min_samples=2, prior_seconds_per_char=0.1))
    rate.observe(2.0, 100)  # 0.02 s/char
    assert rate.value == 0.1 and not rate.measured
    rate.observe(4.0, 100)  # 0.04 -> 0.5*0.04 + 0.5*0.02
    assert rate.measured and rate.value == pytest.approx(0.03)
    rate.observe(1.0, 0)  # nothing to learn from an empty request
    assert rate.value == pytest.approx(0.03)


def test_positions_eta_and_a_full_queue() -> None:
    async def body() -> None:
        q = EngineQueue("e", 2, EtaConfig(prior_seconds_per_char=0.01))
        first = q.enter(100)
        await q.wait(first, 1)
        assert q.position(first) == 0 and q.running is first
        second, third = q.enter(50), q.enter(200)
        assert (q.position(second), q.position(third)) == (1, 2)
        assert q.eta(third) == pytest.approx(q.eta(second) + 2.0, abs=0.01)
        assert q.eta(second) <= 1.0 + 0.5 + 0.01
        with pytest.raises(QueueFull) as full:
            q.enter(10)
        assert full.value.retry_after >= 1.0 and "queue_size=2" in str(full.value)
        q.leave(first)
        assert q.running is second and second.ready.is_set() and q.position(third) == 1
        q.leave(third)  # gave up while waiting: not measured
        q.leave(second)
        assert q.running is None and q.depth == 0 and q.served == 2

    asyncio.run(body())


def test_waiting_past_the_timeout_gives_the_place_up() -> None:
    async def body() -> None:
        q = EngineQueue("e", 4, EtaConfig())
        busy = q.enter(10)
        waiting = q.enter(10)
        with pytest.raises(QueueTimeout):
            await q.wait(waiting, 0.05)
        assert q.depth == 0 and q.running is busy

    asyncio.run(body())


def test_server_config_per_engine_overrides() -> None:
    cfg = ServerConfig.model_validate({"queue_size": 8, "engines": {"slow": {"queue_size": 1, "request_timeout": 5}}})
    assert (cfg.queue_size_of("slow"), cfg.timeout_of("slow")) == (1, 5)
    assert (cfg.queue_size_of("other"), cfg.timeout_of("other")) == (8, 120.0)
