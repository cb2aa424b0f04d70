"""Narrating a script across a Ray cluster: Ray places, fanren_tts isolates.

Why this shape: past one machine users need a distributed engine that already
exists, not a home-made gateway. Ray schedules one actor per engine replica,
asking for the CPUs and GPUs the engine's config implies. The actor runs in the
host env (the cluster's Python with fanren_tts installed), builds the engine's env
on its node from the committed lock (``sync_env``: ``uv sync --locked`` under the
file lock, never ``uv run``), and runs the same persistent worker subprocess as a
local ``TTSGenerator`` would. Engine envs never contain Ray, and Ray's
``runtime_env`` is not used for engine isolation: it layers packages over the
cluster's base env, which is exactly the mixing the envs exist to prevent.

The driver keeps the script: lines are handed to idle actors one at a time; audio
comes back as WAV bytes and is written atomically into the output folder (or the
actors write it straight there when ``shared_output`` says every node sees the
folder). Subtitles and the manifest are made on the driver by the same code as the
local backend, and the cache is the config's cache folder on each node. Engine
errors come back with their type and fields. An actor that dies (its node lost,
or killed) fails no line: its line goes to a replacement actor, which Ray places on
a node that is alive, and the line's manifest entry lists the attempts.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from . import _exceptions
from ._batch import BatchResult, Ledger, Line, Script, run_script
from ._envs import sync_env
from ._exceptions import ConfigError, FanrenTTSError
from ._narrator import Narrator
from ._ray_connect import connect
from ._result import GenerateResult
from ._runtime.fanren_worker import atomic_write
from .config import Config

__all__ = ["RayRunner", "ReplicaActor", "ray_generate_many", "require_ray"]

log = logging.getLogger("fanren_tts.ray")

#: Attempts per line before a line is reported failed (each on a fresh actor).
MAX_ATTEMPTS = 3
#: Extra seconds a line's first call on a new actor may take: its node may build the env.
_ENV_BUILD_S = 1800.0


def require_ray() -> Any:
    """The ``ray`` module, or a clear error saying how to get it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "backend='ray' needs Ray, an optional extra: pip install 'fanren-tts[ray]' "
            "(from a checkout: .venv/bin/pip install -e '.[ray]')"
        ) from None
    return ray


def _error_doc(exc: FanrenTTSError) -> dict[str, Any]:
    """A fanren_tts error as plain data (type name, args, attributes), to rebuild on the driver."""
    state = {k: v for k, v in vars(exc).items() if isinstance(v, str | int | float | bool | list | type(None))}
    return {"type": type(exc).__name__, "args": [str(a) for a in exc.args], "state": state}


def _rebuild_error(doc: dict[str, Any]) -> FanrenTTSError:
    """The error an actor reported, as the same class with the same fields and message."""
    cls = getattr(_exceptions, doc["type"], None)
    if not (isinstance(cls, type) and issubclass(cls, FanrenTTSError)):
        return FanrenTTSError(f"{doc['type']}: {' '.join(doc['args'])}")
    exc = cls.__new__(cls)
    Exception.__init__(exc, *doc["args"])
    vars(exc).update(doc["state"])
    return exc


class ReplicaActor:
    """One engine replica on a Ray node (made a Ray actor by ``ray_generate_many``).

    The env is built and the worker started by the first line, inside ``narrate``, so
    a node that cannot build or start the engine reports the typed error for that line
    (an actor that fails in ``__init__`` would only say it died).
    """

    def __init__(self, config: Config, engine: str) -> None:
        self.config = config
        self.engine = engine
        self.gen: Narrator | None = None

    def _generator(self) -> Narrator:
        if self.gen is None:
            cfg = self.config.get(self.engine)
            if cfg.env_dir is not None:
                sync_env(cfg.env_dir, self.engine)  # uv sync --locked under the file lock; no-op when ready
            # this replica's engine as the default: the one the generator checks when made
            self.gen = Narrator(self.config.model_copy(update={"engine": self.engine}))
        return self.gen

    def node(self) -> dict[str, Any]:
        """Where this replica runs: Ray node id, the actor's pid and its worker's pid (if started)."""
        import ray

        worker = self.gen.worker(self.engine) if self.gen is not None else None
        return {
            "node": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "worker_pid": worker.pid if worker is not None and worker.alive else None,
        }

    def narrate(self, line: dict[str, Any], shared_path: str | None, cache: bool | None) -> dict[str, Any]:
        """One line: the result (path left for the driver to set), the WAV bytes unless
        written to ``shared_path``, or the error as data."""
        item = Line.model_validate(line)
        try:
            with tempfile.TemporaryDirectory(prefix="fanren-ray-") as tmp:
                path = Path(shared_path) if shared_path else Path(tmp) / "line.wav"
                r = self._generator().generate(
                    item.text, path, self.engine, cache=cache, target_duration=item.duration, **item.options
                )
                return {"result": r, "wav": None if shared_path else path.read_bytes()}
        except FanrenTTSError as exc:
            return {"error": _error_doc(exc)}

    def close(self) -> None:
        if self.gen is not None:
            self.gen.close()


def _resources(config: Config, engine: str, ray: Any) -> tuple[int, float, float, Config]:
    """How many actors ``engine`` gets, the CPUs and GPUs each asks Ray for, and the
    config each runs (one worker on the GPU Ray gave it, or its share of CPU threads)."""
    cfg = config.get(engine)
    gpu = cfg.devices is not None or cfg.device.startswith("cuda")
    if cfg.devices == "all":
        count = int(ray.cluster_resources().get("GPU", 0)) * cfg.replicas
        if count == 0:
            raise ConfigError(f"engine {engine!r}: devices: all, but the Ray cluster has no GPU")
    else:
        count = (len(cfg.devices) if cfg.devices else 1) * cfg.replicas
    threads = cfg.threads or 1
    # an actor asking for more than the whole cluster has would wait for ever: say so now
    have = ray.cluster_resources()
    for what, need in (("GPU", 1.0 if gpu else 0.0), ("CPU", float(threads))):
        if need > have.get(what, 0.0):
            raise ConfigError(
                f"engine {engine!r}: each replica asks Ray for {need:g} {what} but the cluster has "
                f"{have.get(what, 0.0):g}; "
                + ("use a GPU cluster or device: cpu" if what == "GPU" else "lower threads")
            )
    # Ray sets CUDA_VISIBLE_DEVICES for an actor with num_gpus, so its GPU is cuda:0 there
    device = "cuda" if gpu else cfg.device
    one = cfg.model_copy(update={"replicas": 1, "devices": None, "device": device, "threads": threads})
    engines = {**config.engines, engine: one}
    return count, float(threads), 1.0 if gpu else 0.0, config.model_copy(update={"engines": engines})


def _deliver(reply: dict[str, Any], path: Path, shared: bool) -> GenerateResult:
    """The line's WAV in place (atomically) and its result pointing at it."""
    r: GenerateResult = reply["result"]
    if not shared:
        data: bytes = reply["wav"]
        path.parent.mkdir(parents=True, exist_ok=True)

        def write(tmp: str) -> None:
            Path(tmp).write_bytes(data)

        atomic_write(path, write)
    _, args = r.__reduce__()
    return GenerateResult(path, *args[1:])


class RayRunner:
    """The Ray backend (module docstring): one actor per engine replica on the cluster at
    ``ray_address``; ``shared_output``: every node sees the output folder, so actors write
    there directly. Joins the cluster (in bounded time, ``_ray_connect``) unless Ray is
    already initialized; a cluster it started, it shuts down."""

    backend: str | None = "ray"

    def __init__(self, ray_address: str | None = None, shared_output: bool = False) -> None:
        self.ray_address = ray_address
        self.shared_output = shared_output

    def run(self, narrator: Narrator, script: Script, ledger: Ledger, *, cache: bool | None, progress: bool) -> None:
        ray = require_ray()
        script.out_dir.mkdir(parents=True, exist_ok=True)
        started = not ray.is_initialized()
        if started:  # checked first, and waited for in bounded time: a typed error, never a hang
            connect(ray, self.ray_address, include_dashboard=False, log_to_driver=False)
        try:
            _Cluster(ray, narrator.config, script, ledger, self.shared_output).run(cache, progress)
        finally:
            if started:
                ray.shutdown()


class _Cluster:
    """One script on the cluster: its actors, the lines waiting, running and retried."""

    def __init__(self, ray: Any, config: Config, script: Script, ledger: Ledger, shared: bool) -> None:
        self.ray, self.config, self.script, self.ledger, self.shared = ray, config, script, ledger, shared
        self.remote = ray.remote(ReplicaActor)
        self.token = uuid.uuid4().hex[:8]
        self.serial = 0
        self.specs: dict[str, tuple[int, float, float, Config]] = {}
        self.actors: dict[str, list[Any]] = {}

    def spawn(self, engine: str) -> Any:
        _, cpus, gpus, config = self.specs[engine]
        self.serial += 1
        return self.remote.options(
            name=f"fanren-{engine}-{self.token}-{self.serial}", namespace="fanren_tts", num_cpus=cpus, num_gpus=gpus
        ).remote(config, engine)

    def run(self, cache: bool | None, progress: bool) -> None:
        ray, script, ledger = self.ray, self.script, self.ledger
        from tqdm import tqdm

        bar = tqdm(total=len(script.lines), desc="narrating (ray)", unit="line", disable=not progress)
        actors = self.actors
        try:
            for engine in dict.fromkeys(script.engines):
                self.specs[engine] = _resources(self.config, engine, ray)
                actors[engine] = [self.spawn(engine) for _ in range(self.specs[engine][0])]
            queue: dict[str, list[int]] = {e: [i for i, n in enumerate(script.engines, 1) if n == e] for e in actors}
            attempts: dict[int, list[str]] = {}
            idle: dict[str, list[Any]] = {e: list(a) for e, a in actors.items()}
            fresh = {id(a) for group in actors.values() for a in group}
            running: dict[Any, tuple[int, str, Any, float]] = {}
            while any(queue.values()) or running:
                for engine, todo in queue.items():
                    while todo and idle[engine]:
                        index = todo.pop(0)
                        actor = idle[engine].pop()
                        timeouts = self.config.get(engine).timeouts
                        limit = timeouts.startup + timeouts.call + (_ENV_BUILD_S if id(actor) in fresh else 0.0)
                        fresh.discard(id(actor))
                        path = script.path(index)
                        ref = actor.narrate.remote(
                            script.lines[index - 1].model_dump(), str(path) if self.shared else None, cache
                        )
                        running[ref] = (index, engine, actor, time.monotonic() + limit)
                ready, _ = ray.wait(list(running), num_returns=1, timeout=5.0)
                now = time.monotonic()
                late = [ref for ref, (*_, deadline) in running.items() if deadline < now and ref not in ready]
                for ref in [*ready, *late]:
                    index, engine, actor, _ = running.pop(ref)
                    try:
                        if ref in late:
                            raise TimeoutError("no answer within the engine's startup + call timeouts")
                        reply = ray.get(ref)
                    except (ray.exceptions.RayActorError, TimeoutError) as exc:
                        # the actor (or its node) is gone: never reuse it; its line goes to a fresh one
                        ray.kill(actor, no_restart=True)
                        why = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                        attempts.setdefault(index, []).append(why)
                        log.warning("line %d: actor lost (%s); retrying elsewhere", index, why)
                        if len(attempts[index]) >= MAX_ATTEMPTS:
                            ledger.failed(
                                index,
                                _exceptions.WorkerCrashed(
                                    f"line {index}: its Ray actor was lost {MAX_ATTEMPTS} times (last: {why})",
                                    engine=engine,
                                ),
                            )
                            bar.update(1)
                        else:
                            queue[engine].insert(0, index)
                        replacement = self.spawn(engine)
                        fresh.add(id(replacement))
                        actors[engine] = [a for a in actors[engine] if a is not actor] + [replacement]
                        idle[engine].append(replacement)
                        continue
                    except ray.exceptions.RayTaskError as exc:  # a bug, not an engine error: the line fails
                        ledger.failed(index, FanrenTTSError(f"line {index}: {str(exc).splitlines()[0]}"))
                        idle[engine].append(actor)
                        bar.update(1)
                        continue
                    idle[engine].append(actor)
                    if "error" in reply:
                        ledger.failed(index, _rebuild_error(reply["error"]))
                        bar.write(f"line {index} failed: {reply['error']['type']}")
                    else:
                        try:
                            ledger.done(index, _deliver(reply, script.path(index), self.shared))
                        except FanrenTTSError as exc:
                            ledger.failed(index, exc)
                    bar.update(1)
            for index, lost in attempts.items():
                ledger.note(index, attempts=len(lost) + (index not in ledger.failures), retried_after=lost)
        finally:
            bar.close()
            for group in actors.values():
                for actor in group:
                    try:
                        ray.get(actor.close.remote(), timeout=30)
                    except Exception:  # already dead, or stuck: kill it either way
                        pass
                    ray.kill(actor, no_restart=True)


def ray_generate_many(
    gen: Narrator,
    items: Iterable[Any],
    output_dir: str | os.PathLike[str],
    *,
    cache: bool | None = None,
    subtitles: bool | Sequence[str] = True,
    progress: bool = False,
    ray_address: str | None = None,
    shared_output: bool = False,
) -> BatchResult:
    """``generate_many`` on a Ray cluster: same files, subtitles and manifest as local
    (``RayRunner``; an address that cannot be joined is a ``RayConnectError`` within seconds)."""
    runner = RayRunner(ray_address, shared_output)
    return run_script(gen, runner, items, output_dir, cache=cache, subtitles=subtitles, progress=progress)
