"""The ingress's generator: the same ``TTSGenerator`` the local server gets, except that
speaking goes to the engine's Serve deployment instead of a local worker.

Why a subclass and not a second server: the FastAPI app (``create_app``) reads config,
routing, option checks, voice mapping and the voice store from its generator, and calls
``stream`` for audio; everything but ``stream`` is pure config and files, so it runs on
the ingress unchanged and the Ray-served API cannot drift from the local one. Made with
``lazy=True``: the ingress node needs no engine env.

``stream`` runs on one of the server's threads (``SpeechService``), so it iterates the
deployment's response generator synchronously. A named voice is sent as Serve's
``multiplexed_model_id`` (``voices.model_id``). The replica's last message is marked, so
the answer goes out without waiting for Serve's end-of-stream (``messages``). A replica
lost mid-request (killed, its node gone) is ``WorkerCrashed``: 503 with ``Retry-After``;
the retry goes to a live replica, or waits in Serve's queue for the replacement Serve starts.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Generator
from typing import Any

from .._exceptions import FanrenTTSError, WorkerCrashed
from .._generator import TTSGenerator
from .._ray import _rebuild_error
from .._stream import Chunk
from .voices import model_id

#: Requests one replica serves at once (its ``max_ongoing_requests``): its worker's calls are
#: serialized (batching would raise it).
WORKER_CAPACITY = 1

__all__ = ["ServeGenerator"]

#: Reads each finished reply to its end-of-stream message, so Serve counts it done as usual.
_DRAIN = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="fanren-serve-drain")


def _drain(replies: Any) -> None:
    try:
        for _ in replies:
            pass
    except Exception:  # the replica went after its last message: the answer is already out
        pass


class _ReplicaView:
    """What ``/health`` and the metrics ask of ``tts.worker(engine)``: is it there, which pid.
    Serve owns the replicas; the ingress counts the engine as ready while its deployment has one."""

    def __init__(self, alive: bool) -> None:
        self.alive = alive
        self.pid: int | None = None


class ServeGenerator(TTSGenerator):
    """A ``TTSGenerator`` whose engines are Serve deployments (``handles``: engine -> handle)."""

    def __init__(self, config: Any, handles: dict[str, Any], running: Any = None) -> None:
        super().__init__(config, lazy=True)
        self.handles = handles
        # engine -> whether Serve has a running replica for it (``app.replica_count``)
        self._running = running or (lambda engine: True)
        self._calls = threading.local()

    def worker(self, engine: str) -> Any:
        self.config.get(engine)
        return _ReplicaView(self._running(engine))

    def warm_up(self, *engines: str) -> dict[str, float]:
        """Serve starts each deployment's replicas (and their workers) before it is ready."""
        return {}

    def capacity(self, engine: str) -> int:
        """Requests the deployment serves at once: its most replicas, each one request at a time
        (``max_ongoing_requests`` = ``WORKER_CAPACITY``); the server's queue admits that many."""
        cfg = self.config.get(engine)
        return (cfg.serve.max_replicas or cfg.replicas) * WORKER_CAPACITY

    def stream(
        self, text: str, engine: str | None = None, *, cache: bool | None = None, **options: Any
    ) -> Generator[Chunk, None, None]:
        import ray
        from ray.serve.exceptions import BackPressureError

        name = engine or self.pick_engine(text)
        self.config.get(name)
        handle = self.handles[name].options(
            stream=True, multiplexed_model_id=model_id(self.voices, options.get("voice")) or ""
        )
        replies = handle.speak.remote(text, options, cache)
        finished = False
        try:
            for item in replies:  # lists of chunks, the last marked, or an error (messages.coalesce)
                if isinstance(item, dict):
                    if "error" in item:
                        raise _rebuild_error(item["error"])
                    yield from item["last"]
                    finished = True
                    _DRAIN.submit(_drain, replies)  # Serve's end-of-stream: not worth waiting for
                    return
                yield from item
            finished = True
        except FanrenTTSError:
            raise
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as exc:
            raise WorkerCrashed(
                f"engine {name!r}: its Ray Serve replica was lost during the request "
                f"({type(exc).__name__}); retry: Serve routes to a live replica or starts a new one",
                engine=name,
            ) from None
        except BackPressureError as exc:
            raise WorkerCrashed(f"engine {name!r}: every replica is busy ({exc}); retry", engine=name) from None
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(getattr(exc, "cause", None), FanrenTTSError) else None
            if cause is not None:
                raise cause from None
            raise FanrenTTSError(f"engine {name!r}: {str(exc).splitlines()[0]}") from None
        finally:
            if not finished:
                replies.cancel()  # the replica stops its engine after the current piece
