"""What OpenAI clients send by default, made to work here.

Open WebUI, SillyTavern and the openai package's examples send ``model: "tts-1"`` and
``voice: "alloy"``, names that mean nothing to a local engine. ``tts.server.model_aliases``
maps such model names to an engine (null: the engine the text routes to, as the library
picks it), and ``tts.server.voice_aliases`` maps voice names to a voice of that engine
(``default``: the engine's configured voice). Real names always win: an engine called
``tts-1`` is that engine, a stored voice called ``alloy`` is that voice.

``instructions`` (gpt-4o-mini-tts) goes to the engines that take a spoken instruction:
CosyVoice's ``instruct_text`` (used in its instruct and instruct2 modes) and Qwen3's
``instruct``. Other engines have nothing to give it to, and ignore it, as OpenAI's own
``tts-1`` does.
"""

from __future__ import annotations

from typing import Any

from .._generator import TTSGenerator
from ..engines import BUILTIN
from .errors import ApiError

__all__ = ["INSTRUCTION_OPTION", "instruction_options", "resolve_model", "resolve_voice"]

#: Engine kind -> the call option that carries an instruction (its registry row's ``instruct``).
INSTRUCTION_OPTION = {name: row.instruct for name, row in BUILTIN.items() if row.instruct}


def resolve_model(tts: TTSGenerator, model: str, text: str) -> str:
    """The engine that serves ``model``: an engine of that name, else its alias."""
    if model in tts.engines:
        return model
    aliases = tts.config.server.model_aliases
    if model in aliases:
        target = aliases[model]
        engine = target if target is not None else tts.pick_engine(text)
        if engine not in tts.engines:
            raise ApiError(
                404,
                f"model {model!r} is an alias of engine {engine!r}, which is not configured here "
                f"(engines: {', '.join(tts.engines)}); fix tts.server.model_aliases",
                param="model",
                code="model_not_found",
            )
        return engine
    known = [*tts.engines, *aliases]
    raise ApiError(
        404,
        f"no model {model!r}: models here are the configured engines and their aliases ({', '.join(known)}); "
        "see GET /v1/models, or add it to tts.server.model_aliases",
        param="model",
        code="model_not_found",
    )


def resolve_voice(tts: TTSGenerator, engine: str, voice: str) -> str:
    """The voice ``engine`` is given for ``voice``: a stored voice or anything not aliased
    passes unchanged; an alias becomes its target (per engine, when it names engines)."""
    aliases = tts.config.server.voice_aliases
    if voice not in aliases or voice == "default":
        return voice
    try:
        if tts.voices.get(voice) is not None:
            return voice
    except Exception:  # a name the store refuses (it checks names): not a stored voice
        pass
    target = aliases[voice]
    if isinstance(target, dict):
        return target.get(engine, "default")
    return target


def instruction_options(tts: TTSGenerator, engine: str, instructions: str | None) -> dict[str, Any]:
    """The call option carrying ``instructions`` for ``engine``, if it takes one."""
    if not instructions or not instructions.strip():
        return {}
    option = INSTRUCTION_OPTION.get(tts.config.get(engine).kind)
    return {option: instructions} if option else {}
