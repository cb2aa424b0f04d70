"""The wire protocol and the worker runtime's own pieces."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
import wave
from importlib import metadata
from pathlib import Path

import msgpack
import pytest

from conftest import wait_gone
from fanren_tts import TTSGenerator
from fanren_tts._runtime import fanren_worker as wire
from fanren_tts._transport import Pipe


def test_round_trip_of_every_value_kind() -> None:
    audio = wire.Audio(b"\x01\x00\xff\x7f", 24000)
    msg = {"kind": "result", "id": 7, "value": {"text": "你好", "n": [1, 2.5, None, True], "raw": b"\x00", "a": audio}}
    back = wire.unpack(wire.pack(msg))
    got = back["value"].pop("a")
    assert back == {"kind": "result", "id": 7, "value": {"text": "你好", "n": [1, 2.5, None, True], "raw": b"\x00"}}
    assert (got.pcm, got.sample_rate, got.sample_format, got.channels) == (audio.pcm, 24000, "s16", 1)


def test_audio_travels_as_raw_bytes_not_base64() -> None:
    pcm = os.urandom(48000 * 4)
    frame = wire.encode_frame({"kind": "result", "id": 1, "value": wire.Audio(pcm, 24000, "f32")})
    assert len(frame) < len(pcm) + 64  # base64 would add a third


def test_frames_are_length_prefixed_big_endian() -> None:
    frame = wire.encode_frame({"kind": "ping", "id": 1})
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert wire.decode_body(frame[4:]) == {"kind": "ping", "id": 1}


def test_size_cap_on_send() -> None:
    with pytest.raises(wire.ProtocolError, match="limit is 100 bytes"):
        wire.encode_frame({"kind": "result", "id": 1, "value": b"x" * 200}, limit=100)


def test_oversize_length_shows_the_bytes_and_names_the_likely_cause() -> None:
    with pytest.raises(wire.ProtocolError) as info:
        wire.decode_length(b"Erro")
    assert "b'Erro'" in str(info.value) and "printed to the protocol stream" in str(info.value)


def test_garbled_body_and_unknown_kinds_are_rejected() -> None:
    with pytest.raises(wire.ProtocolError, match="garbled"):
        wire.decode_body(b"\xc1")
    with pytest.raises(wire.ProtocolError, match="not a protocol message"):
        wire.decode_body(wire.pack({"kind": "launch-missiles"}))


def test_every_message_kind_has_a_direction_and_fields() -> None:
    for kind, (direction, fields) in wire.MESSAGES.items():
        assert direction in ("h->w", "w->h"), kind
        assert all(isinstance(f, str) for f in fields)
        assert f"    {kind} " in wire.__doc__, f"{kind} missing from the protocol table"


def test_the_worker_dispatches_every_host_message_and_only_those() -> None:
    """``serve`` looks each host frame up in HANDLERS, keyed like MESSAGES (execnet's way)."""
    host_kinds = {kind for kind, (direction, _) in wire.MESSAGES.items() if direction == "h->w"}
    assert set(wire.HANDLERS) == host_kinds


def test_runtime_modules_import_nothing_but_the_stdlib_msgpack_and_each_other() -> None:
    """At module level: an engine's own libraries are looked up inside functions, only where present."""
    import ast

    def module_level(tree: ast.Module) -> list[ast.AST]:
        out: list[ast.AST] = []
        todo: list[ast.AST] = list(tree.body)
        while todo:
            node = todo.pop()
            out.append(node)
            if isinstance(node, (ast.Try, ast.If)):
                todo += [*node.body, *node.orelse, *getattr(node, "finalbody", [])]
                todo += [s for h in getattr(node, "handlers", []) for s in h.body]
        return out

    allowed = set(sys.stdlib_module_names) | {"msgpack"}
    folder = Path(wire.__file__).parent
    siblings = {p.stem for p in folder.glob("*.py")}
    for path in folder.glob("*.py"):
        for node in module_level(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            for name in names:
                top = name.split(".")[0]
                assert top in allowed or top in siblings, f"{path.name} imports {name}"
        assert len(path.read_text(encoding="utf-8").splitlines()) < 420, f"{path.name} is too long"


def test_audio_validation_and_helpers() -> None:
    with pytest.raises(ValueError, match="sample_format"):
        wire.Audio(b"", 16000, "mp3")
    with pytest.raises(ValueError, match="whole number"):
        wire.Audio(b"\x00\x00\x00", 16000)
    with pytest.raises(ValueError, match="sample_rate"):
        wire.Audio(b"", 0)
    a = wire.Audio(b"\x00\x40" * 16000, 16000)
    assert a.duration == 1.0 and a.frames == 16000 and a.peak() == 0.5
    joined = wire.Audio.concat([a, a])
    assert joined.duration == 2.0
    with pytest.raises(ValueError, match="differ"):
        wire.Audio.concat([a, wire.Audio(b"", 22050)])


def test_float_audio_is_converted_to_pcm16_with_clipping() -> None:
    import struct

    f32 = wire.Audio(struct.pack("<4f", 0.0, 0.5, -1.0, 3.0), 8000, "f32")
    assert struct.unpack("<4h", f32.to_s16()) == (0, 16383, -32767, 32767)


def test_write_wav_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "out.wav"
    target.write_bytes(b"previous take")

    class Broken(wire.Audio):
        def to_s16(self) -> bytes:
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        wire.write_wav(target, Broken(b"\x00\x00" * 10, 16000))
    assert target.read_bytes() == b"previous take"
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"], "no temp file may remain"
    wire.write_wav(target, wire.Audio(b"\x01\x00" * 1600, 16000))
    with wave.open(str(target)) as w:
        assert (w.getframerate(), w.getnframes(), w.getsampwidth(), w.getnchannels()) == (16000, 1600, 2, 1)


def test_wrapper_must_define_exactly_one_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "fanren_worker", wire)  # as a worker sees it
    two = tmp_path / "two_wrapper.py"
    two.write_text("from fanren_worker import Engine\nclass A(Engine): pass\nclass B(Engine): pass\n")
    with pytest.raises(TypeError, match="exactly one"):
        wire.load_engine_class(str(two))
    with pytest.raises(FileNotFoundError, match="wrapper script not found"):
        wire.load_engine_class(str(tmp_path / "missing.py"))


def test_resolve_device_without_torch_or_gpu_is_cpu() -> None:
    assert wire.resolve_device("auto") in ("cpu", "cuda", "mps")
    assert wire.resolve_device("cuda:1") == "cuda:1"


def test_local_path_names_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    assert wire.local_path(tmp_path / "ckpt", "checkpoint", contains="config.json") == str(tmp_path / "ckpt")
    with pytest.raises(FileNotFoundError, match=f"voice prompt not found: {tmp_path}/nope.wav"):
        wire.local_path(tmp_path / "nope.wav", "voice prompt")
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*ckpt \(model.safetensors missing\)"):
        wire.local_path(tmp_path / "ckpt", "checkpoint", contains="model.safetensors")


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str() of this exception fails")


@pytest.mark.parametrize(
    "exc,expected",
    [
        (_Unprintable("x"), "str() raised RuntimeError"),
        (ValueError("cannot open /models/caf\udce9/voice.onnx"), "cannot open /models/caf\\xe9/voice.onnx"),
        (ValueError("lone \ud800 surrogate"), "lone \\ud800 surrogate"),
    ],
)
def test_error_frames_always_encode(exc: BaseException, expected: str) -> None:
    """An exception whose str() raises, or whose text holds surrogates, still becomes a frame."""
    try:
        raise exc
    except BaseException as caught:
        frame = wire._error_frame(3, "call", caught)
    back = wire.decode_body(wire.encode_frame(frame)[wire.HEADER.size :])
    assert expected in back["message"], back["message"]
    assert back["type"] == type(exc).__qualname__ and back["id"] == 3
    assert "Traceback" in back["traceback"]


# --------------------------------------------------------------------------- large audio, by reference


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _large_result(*audios: wire.Audio) -> dict:
    return {"kind": "result", "id": 1, "value": {"audio": list(audios), "words": [{"text": "a", "start": 0.0}]}}


def test_large_audio_is_sent_from_the_callers_own_bytes() -> None:
    """No copy of the PCM is made to send it: the frame's buffers include ``Audio.pcm`` itself."""
    audio = wire.Audio(os.urandom(240000 * 4), 24000, "f32")
    parts = wire.frame_parts(_large_result(audio))
    assert any(part is audio.pcm for part in parts)
    tracemalloc.start()
    try:
        wire.frame_parts(_large_result(audio))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(audio.pcm) // 2  # msgpack's own 256 KiB packing buffer, no copy of the PCM


def test_large_audio_round_trips_among_other_values() -> None:
    big = wire.Audio(os.urandom(70000 * 4), 16000, "s16", 2)
    small = wire.Audio(b"\x01\x00" * 10, 8000)
    huge = wire.Audio(os.urandom(240000 * 4), 24000, "f32")
    frame = wire.encode_frame(_large_result(big, small, huge))
    back = wire.decode_body(frame[wire.HEADER.size :])
    assert wire.PCM_KEY not in back and back["value"]["words"] == [{"text": "a", "start": 0.0}]
    got = back["value"]["audio"]
    for sent, received in zip((big, small, huge), got, strict=True):
        assert (received.pcm, received.sample_rate, received.sample_format, received.channels) == (
            sent.pcm,
            sent.sample_rate,
            sent.sample_format,
            sent.channels,
        )
        assert type(received.pcm) is bytes


def test_large_audio_counts_against_the_frame_limit() -> None:
    audio = wire.Audio(os.urandom(100000 * 4), 24000, "f32")
    with pytest.raises(wire.ProtocolError, match="limit is 300000 bytes"):
        wire.frame_parts(_large_result(audio), limit=300000)
    frame = wire.encode_frame(_large_result(audio))
    with pytest.raises(wire.ProtocolError, match="exceeds the limit"):
        wire.decode_length(frame[: wire.HEADER.size], limit=len(frame) - wire.HEADER.size - 1)


def _with_refs(value: object, pcm: object) -> bytes:
    """A frame body with hand-made audio references and ``PCM_KEY`` entry."""
    return wire.pack({"kind": "result", "id": 1, "value": value, wire.PCM_KEY: pcm})


def _ref(index: int, length: int, fmt: bytes = b"f4", rate: int = 24000) -> msgpack.ExtType:
    return msgpack.ExtType(wire.EXT_AUDIO_REF, struct.pack(">IH2sII", rate, 1, fmt, index, length))


@pytest.mark.parametrize(
    ("value", "pcm", "expected"),
    [
        ([_ref(0, 8)], None, "audio references"),  # the PCM list is missing
        ([_ref(0, 8)], b"\x00" * 8, "audio references"),  # not a list
        ([_ref(0, 8), _ref(1, 8)], [b"\x00" * 8], "audio references"),  # one short
        ([], [b"\x00" * 8], "audio references"),  # PCM without a reference
        ([_ref(1, 8)], [b"\x00" * 8], "out of order"),
        ([_ref(0, 8)], [b"\x00" * 4], "announces 8 bytes"),  # shorter than announced
        ([_ref(0, 6)], [b"\x00" * 6], "announces 6 bytes"),  # not whole f32 frames
        ([_ref(0, 8)], ["text"], "announces 8 bytes"),
        ([_ref(0, 8, fmt=b"zz")], [b"\x00" * 8], "unknown audio sample format"),
        ([_ref(0, 8, rate=0)], [b"\x00" * 8], "sample_rate must be positive"),
        ([msgpack.ExtType(wire.EXT_AUDIO_REF, b"\x00" * 3)], [b""], "audio reference of 3 bytes"),
    ],
)
def test_malformed_audio_references_are_protocol_errors(value: object, pcm: object, expected: str) -> None:
    with pytest.raises(wire.ProtocolError, match=expected):
        wire.decode_body(_with_refs(value, pcm))


def test_worker_channel_reads_large_frames_into_one_reused_buffer() -> None:
    """The worker's reader: a large body lands in a buffer kept for the next one, and
    what was decoded from it stays intact when the next frame overwrites it."""
    audio_a = wire.Audio(os.urandom(200000 * 4), 24000, "f32")
    audio_b = wire.Audio(os.urandom(200000 * 4), 24000, "f32")
    r_host, w_worker = os.pipe()
    r_worker, w_host = os.pipe()
    try:
        channel = wire._Channel(r_worker, w_worker)
        got = []
        for audio in (audio_a, audio_b):
            writer = threading.Thread(target=_write_all, args=(w_host, wire.encode_frame(_large_result(audio))))
            writer.start()
            tracemalloc.start()
            try:
                got.append(channel.receive())
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            writer.join(10)
        assert got[0] is not None and got[1] is not None
        assert got[0]["value"]["audio"][0].pcm == audio_a.pcm
        assert got[1]["value"]["audio"][0].pcm == audio_b.pcm
        assert peak < 1.5 * len(audio_b.pcm)  # the decoded PCM, and no fresh body buffer
        writer = threading.Thread(target=channel.send, args=({"kind": "chunk", "id": 2, "value": audio_a},))
        writer.start()
        host = Pipe.__new__(Pipe)
        host.rfd, host.buf = r_host, bytearray()
        back = host.receive(time.monotonic() + 10)
        writer.join(10)
        assert back is not None and back["value"].pcm == audio_a.pcm
    finally:
        for fd in (r_host, w_worker, r_worker, w_host):
            os.close(fd)


# --------------------------------------------------------------------------- start and exit


def test_package_versions_read_folder_names_not_importlib_metadata() -> None:
    """The hello's package list costs a directory listing, not the import of
    importlib.metadata (and everything it imports) on every worker start."""
    names = ["msgpack", "pytest", "PyYAML", "pydantic-core", "typing_extensions", "not-installed-here"]
    script = (
        "import json, sys; import fanren_worker; "
        f"v = fanren_worker.package_versions({names!r}); "
        "print(json.dumps([v, 'importlib.metadata' in sys.modules]))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(wire.__file__).parent)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    versions, imported = json.loads(out.stdout)
    expected: dict[str, str | None] = {}
    for name in names:
        try:
            expected[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            expected[name] = None
    assert versions == expected and expected["msgpack"] is not None and expected["not-installed-here"] is None
    assert not imported


def test_worker_exits_without_interpreter_teardown_but_runs_atexit(echo_config, tmp_path: Path) -> None:
    """After ``bye`` the worker skips freeing every object one by one (120-250 ms with
    a model loaded, while the host waits); atexit clean-ups still run."""
    marks = str(tmp_path / "exit")
    with TTSGenerator(echo_config(echo={"exit_marks": marks})) as gen:
        worker = gen.worker("echo")
        worker.start()
        pid = worker.pid
        assert pid is not None
    assert wait_gone(pid, 10)
    assert os.path.exists(marks + ".atexit")
    assert not os.path.exists(marks + ".teardown")


def test_join_pieces_moves_each_pieces_words_to_where_it_starts() -> None:
    Audio, join_pieces = wire.Audio, wire.join_pieces
    one = Audio(b"\x00\x00" * 100, 100)  # 1 s
    half = Audio(b"\x00\x00" * 50, 100)
    silent = Audio(b"", 100)
    took = join_pieces(
        [
            {"audio": one, "words": [{"text": "a", "start": 0.2, "end": 0.8}]},
            {"audio": silent, "words": []},  # a piece with nothing to say needs no words
            {"audio": half, "words": [{"text": "b", "start": 0.1, "end": 0.4}]},
        ],
        silent,
    )
    assert took["audio"].frames == 150
    assert took["words"] == [{"text": "a", "start": 0.2, "end": 0.8}, {"text": "b", "start": 1.1, "end": 1.4}]
    # a spoken piece without words: no words at all (the host estimates them all, consistently)
    untimed = join_pieces([{"audio": one, "words": [{"text": "a", "start": 0, "end": 1}]}, {"audio": half}], silent)
    assert untimed["words"] == [] and untimed["audio"].frames == 150
    assert join_pieces([], silent)["audio"] is silent
