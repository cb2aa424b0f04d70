"""fanren_tts: every TTS engine in its own env, behind a persistent worker.

Public API; everything else lives in private modules.
"""

from ._batch import BatchResult as BatchResult
from ._batch import Line as Line
from ._batch import load_script as load_script
from ._cache import SegmentCache as SegmentCache
from ._envs import EnvStatus as EnvStatus
from ._envs import env_status as env_status
from ._envs import sync_env as sync_env
from ._exceptions import ConfigError as ConfigError
from ._exceptions import EnvError as EnvError
from ._exceptions import EnvNotReady as EnvNotReady
from ._exceptions import FanrenTTSError as FanrenTTSError
from ._exceptions import LanguageError as LanguageError
from ._exceptions import ModelNotFound as ModelNotFound
from ._exceptions import OutputError as OutputError
from ._exceptions import PlacementError as PlacementError
from ._exceptions import ProtocolError as ProtocolError
from ._exceptions import QueueFull as QueueFull
from ._exceptions import QueueTimeout as QueueTimeout
from ._exceptions import RayConnectError as RayConnectError
from ._exceptions import RemoteEngineError as RemoteEngineError
from ._exceptions import RemoteError as RemoteError
from ._exceptions import RemoteFailed as RemoteFailed
from ._exceptions import RemoteRejected as RemoteRejected
from ._exceptions import RemoteUnreachable as RemoteUnreachable
from ._exceptions import WorkerCrashed as WorkerCrashed
from ._exceptions import WorkerError as WorkerError
from ._exceptions import WorkerStartupError as WorkerStartupError
from ._exceptions import WorkerTimeout as WorkerTimeout
from ._exceptions import WorkerUnavailable as WorkerUnavailable
from ._generator import TTSGenerator as TTSGenerator
from ._language import detect_language as detect_language
from ._result import GenerateResult as GenerateResult
from ._result import Segment as Segment
from ._runtime.fanren_worker import PROTOCOL_VERSION as PROTOCOL_VERSION
from ._runtime.fanren_worker import Audio as Audio
from ._voices import Voice as Voice
from ._voices import VoiceStore as VoiceStore
from .config import Config as Config
from .config import EngineConfig as EngineConfig
from .config import Timeouts as Timeouts
from .config import load_config as load_config

__version__ = "0.1.0"

__all__ = [
    "PROTOCOL_VERSION",
    "Audio",
    "BatchResult",
    "Config",
    "ConfigError",
    "EngineConfig",
    "EnvError",
    "EnvNotReady",
    "EnvStatus",
    "FanrenTTSError",
    "GenerateResult",
    "LanguageError",
    "Line",
    "ModelNotFound",
    "OutputError",
    "PlacementError",
    "ProtocolError",
    "QueueFull",
    "QueueTimeout",
    "RayConnectError",
    "RemoteEngineError",
    "RemoteError",
    "RemoteFailed",
    "RemoteRejected",
    "RemoteUnreachable",
    "Segment",
    "SegmentCache",
    "TTSGenerator",
    "Timeouts",
    "Voice",
    "VoiceStore",
    "WorkerCrashed",
    "WorkerError",
    "WorkerStartupError",
    "WorkerTimeout",
    "WorkerUnavailable",
    "detect_language",
    "env_status",
    "load_config",
    "load_script",
    "sync_env",
]
