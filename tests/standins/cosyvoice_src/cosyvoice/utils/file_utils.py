import torch

from standin_log import log


def load_wav(wav, target_sr):
    log("load_wav", wav=wav, target_sr=target_sr)
    return torch.zeros(1, target_sr)
