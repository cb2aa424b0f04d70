"""Build a tiny random-weight F5-TTS checkpoint and Vocos vocoder laid out like the releases.

    envs/f5tts/.venv/bin/python scripts/verify/f5tts_tiny.py OUT_DIR

Runs inside the f5tts env (it needs torch, vocos and f5_tts). Writes:

* OUT_DIR/F5TTS_v1_Base/model_1250000.safetensors and vocab.txt: like SWivid/F5-TTS's
  ``F5TTS_v1_Base/`` (EMA weights under ``ema_model.``, as ``load_checkpoint`` reads them);
  the vocab is the one the f5-tts wheel ships, copied at build time;
* OUT_DIR/tiny.yaml: the wheel's ``configs/F5TTS_v1_Base.yaml`` with a narrow, shallow DiT
  (the wrapper's ``model_cfg``, as upstream's ``infer_cli --model_cfg``);
* OUT_DIR/vocos/config.yaml and pytorch_model.bin: like charactr/vocos-mel-24khz, with the
  release's 24 kHz mel front end (100 bins, hop 256) and a one-layer narrow backbone;
* OUT_DIR/ref.wav: two seconds of a tone with a little noise, for cloning.

Every module is the upstream class (CFM + DiT, Vocos) built from these configs.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

ARCH = {"dim": 64, "depth": 2, "heads": 2, "ff_mult": 2, "text_dim": 32, "conv_layers": 1}
VOCOS = """\
feature_extractor:
  class_path: vocos.feature_extractors.MelSpectrogramFeatures
  init_args:
    sample_rate: 24000
    n_fft: 1024
    hop_length: 256
    n_mels: 100
    padding: center
backbone:
  class_path: vocos.models.VocosBackbone
  init_args:
    input_channels: 100
    dim: 64
    intermediate_dim: 128
    num_layers: 1
head:
  class_path: vocos.heads.ISTFTHead
  init_args:
    dim: 64
    n_fft: 1024
    hop_length: 256
    padding: center
"""


def build(out: Path) -> None:
    from importlib.resources import files

    import numpy as np
    import soundfile as sf
    import torch
    from f5_tts.model import CFM
    from f5_tts.model.utils import get_tokenizer
    from hydra.utils import get_class
    from omegaconf import OmegaConf
    from safetensors.torch import save_file
    from vocos import Vocos

    torch.manual_seed(0)
    folder = out / "F5TTS_v1_Base"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(str(files("f5_tts").joinpath("infer/examples/vocab.txt")), folder / "vocab.txt")
    cfg = OmegaConf.load(str(files("f5_tts").joinpath("configs/F5TTS_v1_Base.yaml")))
    for key, value in ARCH.items():
        cfg.model.arch[key] = value
    OmegaConf.save(cfg, out / "tiny.yaml")

    _, vocab_size = get_tokenizer(str(folder / "vocab.txt"), "custom")
    mel = cfg.model.mel_spec
    model = CFM(
        transformer=get_class(f"f5_tts.model.{cfg.model.backbone}")(
            **cfg.model.arch, text_num_embeds=vocab_size, mel_dim=mel.n_mel_channels
        ),
        mel_spec_kwargs={
            "n_fft": mel.n_fft,
            "hop_length": mel.hop_length,
            "win_length": mel.win_length,
            "n_mel_channels": mel.n_mel_channels,
            "target_sample_rate": mel.target_sample_rate,
            "mel_spec_type": mel.mel_spec_type,
        },
    )
    state = {f"ema_model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model_1250000.safetensors"))

    (out / "vocos").mkdir(exist_ok=True)
    (out / "vocos" / "config.yaml").write_text(VOCOS)
    vocos = Vocos.from_hparams(str(out / "vocos" / "config.yaml"))
    torch.save(vocos.state_dict(), out / "vocos" / "pytorch_model.bin")

    t = np.arange(2 * 24000) / 24000
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.02 * np.random.default_rng(0).standard_normal(t.size)
    sf.write(out / "ref.wav", wave.astype(np.float32), 24000)


if __name__ == "__main__":
    build(Path(sys.argv[1]))
