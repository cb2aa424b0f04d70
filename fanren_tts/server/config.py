"""The ``tts.server`` and ``tts.voices`` sections: how the HTTP server queues work and
where named voices live.

Config-layer only (pydantic, no server imports), so ``load_config`` validates these
sections like every other one, and a config file with a ``server:`` block still
loads where the ``[server]`` extra is not installed.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from .._options import Strict

__all__ = ["OPENAI_MODELS", "OPENAI_VOICES", "EngineServing", "EtaConfig", "ServerConfig", "VoicesConfig"]

#: The model names OpenAI clients send (Open WebUI, SillyTavern, the openai package's examples).
OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
#: The voice names OpenAI clients send; by default each is the engine's own default voice.
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse")


def _model_aliases() -> dict[str, str | None]:
    return dict.fromkeys(OPENAI_MODELS)


def _voice_aliases() -> dict[str, str | dict[str, str]]:
    return dict.fromkeys(OPENAI_VOICES, "default")


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
    access_log: bool = Field(
        True, description="one line per request on the fanren_tts.access logger (serve --no-access-log: off)"
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="origins a browser may call the API from (CORS), e.g. http://localhost:3000; "
        '"*" for any; empty (the default): no CORS headers, so other sites\' pages cannot read the answers',
    )
    eta: EtaConfig = Field(default_factory=EtaConfig)
    engines: dict[str, EngineServing] = Field(default_factory=dict, description="per-engine overrides")
    model_aliases: dict[str, str | None] = Field(
        default_factory=_model_aliases,
        description="model names clients send -> an engine here; null: the engine the text routes to "
        "(tts.routes, else tts.engine). Merged over the defaults; an engine of the same name wins over an alias.",
    )
    voice_aliases: dict[str, str | dict[str, str]] = Field(
        default_factory=_voice_aliases,
        description="voice names clients send -> a voice (a named voice, an engine's speaker, or default), "
        "or {engine: voice} per engine (engines not listed: default). Merged over the defaults; a stored voice "
        "of the same name wins.",
    )

    @field_validator("model_aliases")
    @classmethod
    def _over_model_defaults(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        """A config's aliases add to (or change) the defaults: naming one keeps the others."""
        return {**_model_aliases(), **value}

    @field_validator("voice_aliases")
    @classmethod
    def _over_voice_defaults(cls, value: dict[str, str | dict[str, str]]) -> dict[str, str | dict[str, str]]:
        return {**_voice_aliases(), **value}

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
