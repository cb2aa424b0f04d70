"""The server's per-engine queue: bounded, ordered, with position and an ETA from an EMA."""

from __future__ import annotations

import asyncio

import pytest

from fanren_tts import QueueFull, QueueTimeout
from fanren_tts.server.config import EtaConfig, ServerConfig
from fanren_tts.server.queue import EngineQueue, SecondsPerChar


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
        assert q.position(first) == 0 and q.running == [first]
        second, third = q.enter(50), q.enter(200)
        assert (q.position(second), q.position(third)) == (1, 2)
        assert q.eta(third) == pytest.approx(q.eta(second) + 2.0, abs=0.01)
        assert q.eta(second) <= 1.0 + 0.5 + 0.01
        with pytest.raises(QueueFull) as full:
            q.enter(10)
        assert full.value.retry_after >= 1.0 and "queue_size=2" in str(full.value)
        q.leave(first)
        assert q.running == [second] and second.ready.is_set() and q.position(third) == 1
        q.leave(third)  # gave up while waiting: not measured
        q.leave(second)
        assert q.running == [] and q.depth == 0 and q.served == 2

    asyncio.run(body())


def test_waiting_past_the_timeout_gives_the_place_up() -> None:
    async def body() -> None:
        q = EngineQueue("e", 4, EtaConfig())
        busy = q.enter(10)
        waiting = q.enter(10)
        with pytest.raises(QueueTimeout):
            await q.wait(waiting, 0.05)
        assert q.depth == 0 and q.running == [busy]

    asyncio.run(body())


def test_server_config_per_engine_overrides() -> None:
    cfg = ServerConfig.model_validate({"queue_size": 8, "engines": {"slow": {"queue_size": 1, "request_timeout": 5}}})
    assert (cfg.queue_size_of("slow"), cfg.timeout_of("slow")) == (1, 5)
    assert (cfg.queue_size_of("other"), cfg.timeout_of("other")) == (8, 120.0)


def test_an_engine_with_replicas_runs_that_many_requests_at_once() -> None:
    async def body() -> None:
        q = EngineQueue("e", 1, EtaConfig(prior_seconds_per_char=0.01), slots=2)
        a, b, c = q.enter(100), q.enter(100), q.enter(100)
        assert a.ready.is_set() and b.ready.is_set() and not c.ready.is_set()
        assert q.running == [a, b] and q.position(c) == 1
        # c starts when the first of two 1 s requests ends, then takes its own 1 s
        assert q.eta(c) == pytest.approx(1.0 + 1.0, abs=0.05)
        with pytest.raises(QueueFull):
            q.enter(10)  # both slots busy and the one waiting place taken
        q.leave(a)
        assert q.running == [b, c] and q.state()["running"] == 2 and q.state()["slots"] == 2

    asyncio.run(body())


def test_the_server_gives_each_engine_as_many_slots_as_its_pool_has_replicas(tmp_path) -> None:
    from conftest import write_config
    from fanren_tts import TTSGenerator
    from fanren_tts.server.metrics import Metrics
    from fanren_tts.server.service import SpeechService

    path = write_config(tmp_path / "c.yaml", {"piper": {"replicas": 2, "device": "cpu"}, "espeak": {}})
    with TTSGenerator(path) as tts:
        service = SpeechService(tts, ServerConfig(), Metrics())
        try:
            assert service.queues["piper"].slots == 2 and service.queues["espeak"].slots == 1
        finally:
            service.close()


def test_eta_waits_for_the_first_slot_to_free_not_for_the_work_shared_out() -> None:
    """Two slots, one running request with 10 s left and one with 1 s: the one waiting
    starts at 1 s and ends at 2 s, so a request behind it starts at 2 s and ends at 3 s
    (not 7 s, half of everything ahead plus its own)."""

    async def body() -> None:
        q = EngineQueue("e", 4, EtaConfig(prior_seconds_per_char=0.01), slots=2)
        long, short = q.enter(1000), q.enter(100)
        waiting, mine = q.enter(100), q.enter(100)
        assert q.running == [long, short] and q.position(mine) == 2
        now = short.started or 0.0
        assert q.eta(waiting, now) == pytest.approx(2.0)
        assert q.eta(mine, now) == pytest.approx(3.0)
        assert q.eta(None, now) == pytest.approx(3.0)  # a new request would start when ``mine`` ends

    asyncio.run(body())


def test_eta_behind_k_requests_on_c_slots_takes_ceil_k_plus_1_over_c_turns() -> None:
    async def body() -> None:
        q = EngineQueue("e", 64, EtaConfig(prior_seconds_per_char=0.01), slots=4)
        tickets = [q.enter(100) for _ in range(4 + 9)]  # 4 running, 9 waiting, each 1 s
        now = max(t.started or 0.0 for t in q.running)
        for k, ticket in enumerate(tickets[4:], start=1):  # k - 1 waiting ahead of it
            # behind the 4 running (1 s) and k - 1 waiting: ceil(k / 4) more turns of 1 s
            assert q.eta(ticket, now) == pytest.approx(1.0 + -(-k // 4), abs=0.01), k

    asyncio.run(body())


def test_slots_follow_the_pool_as_its_workers_declare_their_capacity(echo_config) -> None:
    """The queue of an engine whose worker takes 4 calls at once admits 4 requests once the
    worker has started, even when the server was built before it started (no --warm)."""
    from fanren_tts import TTSGenerator
    from fanren_tts.server.metrics import Metrics
    from fanren_tts.server.service import SpeechService

    with TTSGenerator(echo_config(echo={"concurrency": 4})) as tts:
        service = SpeechService(tts, ServerConfig(), Metrics())
        try:
            queue = service.queues["echo"]
            assert queue.slots == 1  # not started: a worker counts 1 until its engine declares more
            tts.worker("echo").start()
            assert queue.slots == 4

            async def body() -> None:
                tickets = [queue.enter(10) for _ in range(5)]
                assert [t.ready.is_set() for t in tickets] == [True] * 4 + [False]

            asyncio.run(body())
        finally:
            service.close()
