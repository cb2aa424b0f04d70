import random

import numpy as np

from standin_log import log


def speech(rate, text):
    """int16 (N, 1), as upstream returns without an output_path: 0.05 s per character.

    The samples draw on python ``random``, numpy and torch, the RNGs upstream samples
    from, so two takes are identical only when all three were seeded alike.
    """
    import torch

    n = max(1, int(rate * 0.05 * len(text)))
    jitter = np.random.randint(0, 100, size=(n, 1)) + random.randint(0, 100) + int(torch.randint(0, 100, (1,)))
    return rate, (8000 + jitter).astype(np.int16)


def record(event, **fields):
    log(event, **fields)
