"""Home of ``fanren_worker``, the worker runtime, and ``fanren_watchdog`` (both stdlib + msgpack at most).

The host puts this directory (and nothing else) on a worker's PYTHONPATH, so an
engine env imports ``fanren_worker`` without seeing the rest of fanren_tts.
"""

from pathlib import Path

RUNTIME_DIR = Path(__file__).resolve().parent
