"""``python -m fanren_tts``: the command line (``fanren_tts.cli.commands``); the
``fanren-tts`` script's entry point is ``main`` here too."""

from __future__ import annotations

import sys

from .cli.commands import _count as _count
from .cli.commands import build_parser as build_parser
from .cli.commands import main as main

if __name__ == "__main__":
    sys.exit(main())
