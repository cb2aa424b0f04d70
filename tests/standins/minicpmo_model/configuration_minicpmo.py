"""Stand-in for MiniCPM-o 4.5's configuration_minicpmo.py (trust_remote_code, loaded by real transformers)."""

from transformers import PretrainedConfig


class MiniCPMOConfig(PretrainedConfig):
    model_type = "minicpmo"

    def __init__(self, init_vision=True, init_audio=True, init_tts=True, **kwargs):
        self.init_vision = init_vision
        self.init_audio = init_audio
        self.init_tts = init_tts
        super().__init__(**kwargs)
