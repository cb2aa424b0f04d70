import random

import numpy as np

from standin_log import log


def speech(rate, text, duration_factor=1.0):
    """int16 (N, 1), as upstream returns without an output_path: 0.05 s per character
    (times IndexTTS 2.5's duration_factor, which scales the semantic length).

    The samples draw on python ``random``, numpy and torch, the RNGs upstream samples
    from, so two takes are identical only when all three were seeded alike.
    """
    import torch

    n = max(1, int(rate * 0.05 * len(text) * duration_factor))
    jitter = np.random.randint(0, 100, size=(n, 1)) + random.randint(0, 100) + int(torch.randint(0, 100, (1,)))
    return rate, (8000 + jitter).astype(np.int16)


def stream_pieces(rate, text, interval_silence):
    """As upstream's stream_return: a float tensor [1, n] in the int16 range per text
    segment (here: per sentence), each followed by its interval silence."""
    import torch

    for sentence in [s for s in text.replace("。", "。|").split("|") if s]:
        _, wav = speech(rate, sentence)
        yield torch.tensor(wav.T, dtype=torch.float32)
        yield torch.zeros(1, int(rate * interval_silence / 1000))


def record(event, **fields):
    log(event, **fields)
