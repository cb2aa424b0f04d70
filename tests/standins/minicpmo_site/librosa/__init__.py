"""Stand-in for librosa.load (the vits env that runs the wrapper tests has no librosa)."""

import numpy as np
import soundfile as sf

from standin_log import log


def load(path, sr=22050, mono=True, **kwargs):
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    data = data.mean(axis=1) if mono else data.T
    if rate != sr:
        idx = np.linspace(0, len(data) - 1, int(len(data) * sr / rate)).astype(int)
        data = data[idx]
    log("librosa.load", path=path, sr=sr, mono=mono)
    return data.astype(np.float32), sr
