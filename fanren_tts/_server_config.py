"""The ``tts.server`` and ``tts.voices`` sections: how the HTTP server queues work and
where named voices live.

Config-layer only (pydantic, no server imports), so ``load_config`` validates these
sections like every other one, and a config file with a ``server:`` block still
loads where the ``[server]`` extra is not installed.
"""

from __future__ import annotations

from pydantic import Field

from ._options import Strict

__all__ = ["EngineServing", "EtaConfig", "ServerConfig", "VoicesConfig"]


class EtaConfig(Strict):
    """The ETA estimate: an exponential moving average of each engine's seconds per input character."""

    alpha: float = Field(0.2, gt=0, le=1, description="weight of the newest request in the moving average")
    min_samples: int = Field(3, ge=1, description="requests measured before the average replaces the prior")
    prior_seconds_per_char: float = Field(0.05, gt=0, description="the guess until min_samples are measured")


class EngineServing(Strict):
    """One engine's queue: overrides of the server-wide defaults."""

    queue_size: int | None = Field(None, ge=1, description="requests waiting behind the running one")
    request_timeout: float | None = Field(None, gt=0, description="seconds from arrival to the last byte")


class ServerConfig(Strict):
    """``python -m fanren_tts serve``: queue sizes, timeouts and input limits."""

    queue_size: int = Field(16, ge=1, description="per engine: requests waiting behind the running one")
    request_timeout: float = Field(120.0, gt=0, description="seconds from arrival to the last byte (else 504)")
    max_input_chars: int = Field(4096, ge=1, description="longer input is refused with 413")
    max_body_bytes: int = Field(
        2**20, ge=1024, description="a request body (or WebSocket message) over this is refused with 413 as it is read"
    )
    max_upload_bytes: int = Field(
        32 * 2**20, ge=1024, description="a voice upload (POST /v1/voices) over this is refused with 413 as it is read"
    )
    shutdown_grace: float = Field(10.0, ge=0, description="seconds in-flight requests get after SIGTERM")
    eta: EtaConfig = Field(default_factory=EtaConfig)
    engines: dict[str, EngineServing] = Field(default_factory=dict, description="per-engine overrides")

    def queue_size_of(self, engine: str) -> int:
        override = self.engines.get(engine)
        return override.queue_size if override and override.queue_size else self.queue_size

    def timeout_of(self, engine: str) -> float:
        override = self.engines.get(engine)
        return override.request_timeout if override and override.request_timeout else self.request_timeout


class VoicesConfig(Strict):
    """Where named voices (reference audio, transcript, content hash) are kept."""

    dir: str = Field(".fanren/voices", description="relative to the config file's folder")
    max_seconds: float = Field(30.0, gt=0, description="longest reference audio accepted")
    min_seconds: float = Field(0.5, gt=0, description="shortest reference audio accepted")
    min_sample_rate: int = Field(16000, ge=8000, description="references below this rate are refused")
    sample_rate: int = Field(24000, ge=16000, le=48000, description="rate references are stored at")
