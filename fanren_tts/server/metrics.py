"""Prometheus metrics of the server, in a registry of its own (so several servers, or
tests, can live in one process): requests, latency, queue depth, worker restarts.

The ``engine`` label takes only the configured engines' names; whatever else a client
sends as ``model`` is counted under ``other``. A label value is a time series kept for
the life of the process, so a client must not be able to make them.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["OTHER", "Metrics"]

#: The ``engine`` label of a request for a model that is not a configured engine.
OTHER = "other"
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    def __init__(self, engines: Iterable[str] = ()) -> None:
        self.engines = frozenset(engines)
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "fanren_tts_requests",
            "Requests served, by endpoint, engine and HTTP status",
            ["endpoint", "engine", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "fanren_tts_request_seconds",
            "Seconds from a request's arrival to its last byte",
            ["endpoint", "engine"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "fanren_tts_queue_depth",
            "Requests waiting per engine (not counting the one running)",
            ["engine"],
            registry=self.registry,
        )
        self.restarts = Counter(
            "fanren_tts_worker_restarts",
            "Worker processes started again after one had run (crash, timeout, idle stop)",
            ["engine"],
            registry=self.registry,
        )
        self._pids: dict[str, int] = {}

    def label(self, engine: str) -> str:
        """``engine`` if it is configured, else ``other``."""
        return engine if engine in self.engines else OTHER

    def observe(self, endpoint: str, engine: str, status: int, seconds: float) -> None:
        engine = self.label(engine)
        self.requests.labels(endpoint, engine, str(status)).inc()
        self.latency.labels(endpoint, engine).observe(seconds)

    def saw_worker(self, engine: str, pid: int | None) -> None:
        """Count a restart when an engine's worker pid changes."""
        if pid is None:
            return
        last = self._pids.get(engine)
        if last is not None and last != pid:
            self.restarts.labels(engine).inc()
        self._pids[engine] = pid

    def render(self) -> bytes:
        return generate_latest(self.registry)
