"""The old pipeline's call shapes and engine keys, mapped onto the engines' own options.

Why: the video pipeline that fanren_tts replaces called ``generate(text, path,
temperature=None, speed=None, pitch=None)`` and kept ``instruction`` and
``default_emotion`` in its engine blocks. Code written for it must keep working
without edits, and each of those must mean what it meant there:

* ``temperature``, ``speed`` or ``pitch`` given as None mean "unset": dropped.
* ``speed`` and ``pitch`` are ratios where 1.0 is unchanged. A ratio of 1.0 is dropped
  for an engine that has no such control (nothing to change); any other value reaches
  the engines that have it, and any other engine names it in its error.
* eSpeak NG's own ``pitch`` is 0..100 (50 by default). A pitch in (0, 4] is the old
  ratio and scales the configured pitch (1.2 -> 60); a larger value is eSpeak's own.
* ``instruction`` is CosyVoice's ``instruct_text`` and Qwen3-TTS's ``instruct``.
* ``default_emotion`` (engine block): the old class's exact mapping is not known (its
  source is not available to this project), so it maps onto each engine's own emotion
  or instruction control: CosyVoice ``instruct_text``, Qwen3-TTS ``instruct``, IndexTTS
  ``emo_text`` with ``use_emo_text: true``. "neutral" (or empty) leaves the voice as is.
  An engine with no such control ignores it (named in the config's INFO log line).
"""

from __future__ import annotations

from typing import Any

from .engines import BUILTIN, options_model

__all__ = ["call_options", "engine_block_keys"]

_UNSET_WHEN_NONE = ("temperature", "speed", "pitch")
_NEUTRAL_EMOTIONS = ("", "neutral", "none", "default", "normal")


def _instruction_key(kind: str) -> str | None:
    found = BUILTIN.get(kind)
    return found.instruct if found is not None else None


def call_options(kind: str, configured: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """A call's ``options`` for an engine of ``kind`` (``configured``: its block's options),
    with the old call shapes mapped as the module docstring says."""
    out = {k: v for k, v in options.items() if not (k in _UNSET_WHEN_NONE and v is None)}
    model = options_model(kind)
    if model is None:
        return out
    fields = model.model_fields
    if "instruction" in out and "instruction" not in fields:
        target = _instruction_key(kind)
        if target is not None:
            instruction = out.pop("instruction")
            out.setdefault(target, instruction)
    pitch = out.get("pitch")
    if kind == "espeak" and isinstance(pitch, (int, float)) and not isinstance(pitch, bool) and 0 < pitch <= 4:
        out["pitch"] = max(0, min(100, round(int(configured.get("pitch", 50)) * float(pitch))))
    for key in ("speed", "pitch"):
        if key in out and key not in fields and out[key] == 1.0:
            del out[key]
    return out


def engine_block_keys(kind: str, rest: dict[str, Any]) -> None:
    """Map the pipeline's ``instruction`` and ``default_emotion`` in an engine block onto the
    engine's own options, in place; they stay where no engine option takes them."""
    model = options_model(kind)
    if model is None:
        return
    target = _instruction_key(kind)
    if "instruction" in rest and target is not None and "instruction" not in model.model_fields:
        instruction = rest.pop("instruction")
        if instruction:
            rest.setdefault(target, instruction)
    emotion = rest.get("default_emotion")
    if not isinstance(emotion, str) or emotion.strip().lower() in _NEUTRAL_EMOTIONS:
        return
    if target is not None:
        rest.setdefault(target, emotion)
    elif kind == "indextts":
        rest.setdefault("emo_text", emotion)
        rest.setdefault("use_emo_text", True)
    else:
        return
    del rest["default_emotion"]
