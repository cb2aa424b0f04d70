"""The speech server as a Ray Serve application: one deployment per engine, one ingress.

Why this shape: Ray Serve already autoscales, streams, routes around dead replicas and keeps
a model warm per replica (multiplexing), so fanren_tts adds only what is its own:

- ``EngineReplica``: one deployment per engine. Each replica is what a Ray batch actor is
  (``fanren_tts._ray``): it builds the engine's env on its node from the lock (never Ray's
  ``runtime_env``; engine envs never contain Ray) and runs the usual worker subprocess.
  A replica asks Ray for the engine's CPUs (``threads``) and GPU, takes at most
  ``WORKER_CAPACITY`` requests at once (``max_ongoing_requests``), and autoscales between the
  engine block's ``serve.min_replicas`` and ``serve.max_replicas``. A named voice arrives as
  Serve's multiplexed model id, so requests for it go to replicas where it is already warm.
- ``Ingress``: the same FastAPI app as ``fanren-tts serve`` (``create_app``: routes, auth,
  errors, streaming, WebSocket, metrics), over ``ServeGenerator``; ``/health`` also lists
  each engine's replicas and the replicas on each node.

``build(args)`` is the application builder for ``serve run fanren_tts.rayserve.app:build
config=...`` and for a RayService's ``import_path``; ``fanren-tts serve --ray`` calls it too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from ray import serve

from .._envs import sync_env
from .._exceptions import ConfigError, FanrenTTSError
from .._generator import TTSGenerator
from .._ray import _error_doc
from .._voicemap import voice_options
from .._voices import Voice
from ..config import Config, EngineConfig, load_config
from ..server.app import create_app
from .messages import END, HOLD_S, Outbox, coalesce
from .remote import WORKER_CAPACITY, ServeGenerator
from .voices import check_shared, mark_shared, warm_voice

__all__ = [
    "APP_NAME",
    "LOGGING",
    "WORKER_CAPACITY",
    "EngineReplica",
    "Ingress",
    "build",
    "deployment_name",
    "engine_options",
]

log = logging.getLogger("fanren_tts.rayserve")

APP_NAME = "fanren_tts"
#: Named voices each replica keeps warm (least recently used ones are dropped first).
WARM_VOICES = 8
#: Serve's own access log is off: the app writes one line per request itself (``server.access``),
#: and Serve's line per hop (proxy, ingress, engine replica) was CPU taken from the engines.
LOGGING = {"enable_access_log": False}


def deployment_name(engine: str) -> str:
    return f"engine-{engine}"


def _replica_config(config: Config, engine: str) -> Config:
    """The config one replica runs: one worker, on the GPU Ray gave it (``cuda`` there) or
    its ``threads`` CPUs; the line goes to this engine only (no routing to others)."""
    cfg = config.get(engine)
    gpu = cfg.devices is not None or cfg.device.startswith("cuda")
    one = cfg.model_copy(
        update={"replicas": 1, "devices": None, "device": "cuda" if gpu else cfg.device, "threads": cfg.threads or 1}
    )
    return config.model_copy(update={"engines": {**config.engines, engine: one}})


def engine_options(cfg: EngineConfig, actor_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """``serve.deployment`` options of one engine: resources, capacity, autoscaling."""
    gpu = cfg.devices is not None or cfg.device.startswith("cuda")
    scale = cfg.serve
    top = scale.max_replicas or cfg.replicas
    if scale.min_replicas > top:
        raise ConfigError(
            f"engine {cfg.name!r}: serve.min_replicas {scale.min_replicas} is over serve.max_replicas {top}"
        )
    return {
        "name": deployment_name(cfg.name),
        "max_ongoing_requests": WORKER_CAPACITY,
        "ray_actor_options": {"num_cpus": float(cfg.threads or 1), "num_gpus": 1.0 if gpu else 0.0}
        | (actor_options or {}),
        "autoscaling_config": {
            "min_replicas": scale.min_replicas,
            "initial_replicas": max(1, scale.min_replicas),
            "max_replicas": top,
            "target_ongoing_requests": scale.target_ongoing_requests,
            "upscale_delay_s": scale.upscale_delay_s,
            "downscale_delay_s": scale.downscale_delay_s,
        },
        # a replica's first start may build its env from the lock (uv sync --locked)
        "health_check_timeout_s": 60.0,
        "graceful_shutdown_timeout_s": cfg.timeouts.shutdown + 5.0,
        "logging_config": dict(LOGGING),
    }


class _WarmVoice:
    """A voice Serve keeps loaded on a replica; Serve calls ``__del__`` when it drops it (LRU)."""

    def __init__(self, voice: Voice, key: str, warm: set[str]) -> None:
        self.voice, self.key, self._warm = voice, key, warm
        warm.add(key)

    def __del__(self) -> None:
        self._warm.discard(self.key)


class EngineReplica:
    """One replica of one engine: its env synced from the lock, its worker started."""

    def __init__(self, config: Config, engine: str, voices_token: str | None = None) -> None:
        if voices_token is not None:
            check_shared(config.voices_dir, voices_token)
        cfg = config.get(engine)
        if cfg.env_dir is not None:
            sync_env(cfg.env_dir, engine)  # under the env's file lock; a no-op when it is ready
        self.engine = engine
        self.gen = TTSGenerator(config, engine=engine)
        self.gen.warm_up(engine)  # Serve counts the replica ready once its worker is
        self.threads = concurrent.futures.ThreadPoolExecutor(WORKER_CAPACITY + 1, thread_name_prefix="fanren-replica")
        self.warm: set[str] = set()  # the voice keys Serve's multiplexing holds on this replica
        self.hold = HOLD_S  # how long a chunk after the first may wait for others (messages.coalesce)

    @serve.multiplexed(max_num_models_per_replica=WARM_VOICES)  # type: ignore[untyped-decorator, unused-ignore]
    async def voice(self, key: str) -> _WarmVoice:
        """Load a named voice: read it from the shared store, register it with the pool so
        each worker of this replica sets it up (CosyVoice's speaker, Qwen3's clone prompt)."""

        def load() -> _WarmVoice:
            voice = warm_voice(self.gen.voices, key)
            voice_options(self.gen.config, self.engine, voice.name, self.gen.voices.get, self._setup)
            return _WarmVoice(voice, key, self.warm)

        return await asyncio.get_running_loop().run_in_executor(self.threads, load)

    def _setup(self, setup: Any) -> None:
        self.gen.pool(self.engine).setups.add(setup)

    def _produce(self, out: Outbox, stop: threading.Event, *job: Any) -> None:
        """The generator's stream, on one thread from start to close (it holds the worker's lock)."""
        text, options, cache = job
        put = out.put

        try:
            stream = self.gen.stream(text, self.engine, cache=cache, **options)
            try:
                for chunk in stream:
                    if stop.is_set():
                        break
                    put(chunk)
            finally:
                stream.close()  # cancels the engine's rest; the worker stays loaded
            put(END)
        except FanrenTTSError as exc:
            put({"error": _error_doc(exc)})
        except BaseException as exc:
            put(exc)

    async def speak(self, text: str, options: dict[str, Any], cache: bool | None) -> AsyncIterator[Any]:
        """The line's chunks as they are made, in lists: the first chunk at once, later ones
        coalesced (``messages.coalesce``: one Serve message per chunk cost more than a fast
        engine's chunk); an engine error as a last ``{"error": ...}``."""
        key = serve.get_multiplexed_model_id()
        if key:
            try:
                await self.voice(key)
            except FanrenTTSError as exc:
                yield {"error": _error_doc(exc)}
                return
        loop = asyncio.get_running_loop()
        out = Outbox(loop)
        stop = threading.Event()
        work = loop.run_in_executor(self.threads, self._produce, out, stop, text, options, cache)
        try:
            async for message in coalesce(out, self.hold):
                yield message
        finally:
            stop.set()  # a cancelled request: the engine stops after its current piece
            await asyncio.wait([work], timeout=self.gen.config.get(self.engine).timeouts.call)

    def where(self) -> dict[str, Any]:
        """This replica's node and pids (for tests and operators)."""
        import ray

        worker = self.gen.worker(self.engine)
        return {
            "node": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "worker_pid": worker.pid,
            "voices": sorted(self.warm),
        }

    def __del__(self) -> None:
        gen = getattr(self, "gen", None)
        if gen is not None:
            gen.close()


def _replicas() -> dict[str, list[dict[str, Any]]]:
    """Every replica of this application, per deployment: node, state, pid (the Serve
    controller's own view; an empty dict where it cannot be asked)."""
    try:
        from ray.serve.context import _get_global_client

        client = _get_global_client()
        details = client.get_serve_details() if client is not None else {}
    except Exception as exc:
        log.warning("cannot list the Serve replicas: %s", exc)
        return {}
    app = (details.get("applications") or {}).get(serve.get_replica_context().app_name) or {}
    found: dict[str, list[dict[str, Any]]] = {}
    for name, dep in (app.get("deployments") or {}).items():
        found[name] = [
            {
                "replica_id": r.get("replica_id"),
                "actor_name": r.get("actor_name"),
                "state": str(r.get("state")),
                "node_id": r.get("node_id"),
                "node_ip": r.get("node_ip"),
                "pid": r.get("pid"),
            }
            for r in dep.get("replicas") or []
        ]
    return found


@serve.ingress()
class Ingress:
    """The FastAPI app of ``fanren-tts serve``, its engines behind Serve deployment handles."""

    def __init__(self, config: Config, handles: dict[str, Any], api_key: str | None = None) -> None:
        self.config = config
        self.tts = ServeGenerator(config, handles)
        self.api_key = api_key

    def __serve_build_asgi_app__(self) -> FastAPI:
        app = create_app(self.tts, api_key=self.api_key)  # queues admit ServeGenerator.capacity at once
        _add_replicas_to_health(app, app.state.service)
        return app


def _add_replicas_to_health(app: FastAPI, service: Any) -> None:
    """``/health`` as the local server's, plus each engine's replicas and a per-node list."""
    routes = [r for r in app.router.routes if getattr(r, "path", None) == "/health"]
    local = routes[0].endpoint  # type: ignore[attr-defined]
    app.router.routes.remove(routes[0])

    async def health() -> JSONResponse:
        answer = await local()
        body = json.loads(answer.body)
        replicas = await service.run(_replicas)
        nodes: dict[str, dict[str, Any]] = {}
        for name, info in body["engines"].items():
            mine = replicas.get(deployment_name(name), [])
            running = [r for r in mine if r["state"].endswith("RUNNING")]
            info["replicas"] = mine
            if info["state"] != "unavailable":
                info["state"] = "ready" if running else "starting"
            for r in mine:
                node = nodes.setdefault(r["node_id"] or "?", {"node_ip": r["node_ip"], "replicas": []})
                node["replicas"].append({"engine": name, **r})
        body["nodes"] = nodes
        body["ray_serve"] = True
        return JSONResponse(body, status_code=answer.status_code)

    app.add_api_route(
        "/health",
        health,
        methods=["GET"],
        summary="Liveness, readiness, each engine's state, queue and Serve replicas, and the replicas per node",
        tags=["operations"],
    )


def build(args: dict[str, Any]) -> Any:
    """The Serve application (for ``serve run`` and a RayService ``import_path``). Args:
    ``config`` (path; default $FANREN_TTS_CONFIG, else ./config.yaml), ``api_key`` (default
    $FANREN_TTS_API_KEY), ``engines`` (names; default every available engine),
    ``engine_actor_options`` and ``ingress_actor_options`` (merged into ``ray_actor_options``,
    e.g. custom ``resources`` to pin them to node groups)."""
    config = args.get("config")
    cfg: Config = config if isinstance(config, Config) else load_config(config)
    names = args.get("engines") or [n for n, e in cfg.engines.items() if not e.unavailable]
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    for name in names:
        cfg.get(name)
    api_key = args.get("api_key") or os.environ.get("FANREN_TTS_API_KEY") or None
    token = mark_shared(cfg.voices_dir)
    handles = {}
    for name in names:
        options = engine_options(cfg.get(name), args.get("engine_actor_options"))
        replica = serve.deployment(**options)(EngineReplica)
        handles[name] = replica.bind(_replica_config(cfg, name), name, token)
    served = cfg.model_copy(update={"engines": {n: cfg.engines[n] for n in names}})
    ingress = serve.deployment(
        name="ingress",
        ray_actor_options={"num_cpus": 0.0} | (args.get("ingress_actor_options") or {}),
        max_ongoing_requests=1000,  # the app's own queues admit and refuse (429)
        logging_config=dict(LOGGING),
    )(Ingress)
    return ingress.bind(served, handles, api_key)
