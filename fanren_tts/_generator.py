"""TTSGenerator: the one object a video pipeline holds.

It is the ``Narrator`` (``_narrator``: pools, ``generate``, ``stream``) with the batch
methods on top: a whole script goes through ``_batch`` to a runner (``_runners``: on
this machine's pools, or on a Ray cluster, ``_ray``), and the runners use the narrator
below them. This module sits above them all, so every call goes down, never back up.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from . import _batch
from ._batch import BatchResult, Line
from ._narrator import Narrator
from ._result import GenerateResult, Segment
from ._runners import runner

__all__ = ["GenerateResult", "Segment", "TTSGenerator"]


class TTSGenerator(Narrator):
    """Speech from config.yaml's engines, each in its own env behind a persistent worker.

    ``engine`` and ``device`` override config.yaml and FANREN_TTS_* variables for
    every call of this generator. The default engine is checked when the generator is
    made (env, wrapper, model folder, device: files only, no process) and raises what its
    first call would; ``lazy=True`` leaves every check to first use (a Ray driver whose
    engines run on other machines).
    """

    def batch_generate(
        self, texts: Iterable[str], output_dir: str | os.PathLike[str], prefix: str = "audio", **options: Any
    ) -> list[str]:
        """The old pipeline's call: ``{prefix}_{i:03d}.wav`` per text; failed lines are logged and skipped."""
        return _batch.batch_generate(self, texts, output_dir, prefix, **options)

    def generate_many(
        self,
        items: Iterable[Line | dict[str, Any] | str],
        output_dir: str | os.PathLike[str],
        *,
        cache: bool | None = None,
        subtitles: bool | Sequence[str] = True,
        progress: bool = False,
        backend: str = "local",
        ray_address: str | None = None,
    ) -> BatchResult:
        """Narrate a whole script into ``output_dir``; see ``fanren_tts._batch``.

        Keeps going past failed lines, reports them all in the result and in
        ``manifest.json``. ``backend="ray"`` narrates it across a Ray cluster
        (``ray_address``; see ``fanren_tts._ray``), with the same files and manifest.
        """
        chosen = runner(backend, ray_address=ray_address)
        return _batch.run_script(self, chosen, items, output_dir, cache=cache, subtitles=subtitles, progress=progress)
