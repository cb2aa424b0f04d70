"""fanren_tts's command line: ``fanren-tts`` and ``python -m fanren_tts``.

- ``commands``: the program (``say``, ``text``, ``batch``, ``cache``, ``init``, ``serve``,
  and ``envs``/``check-envs`` handed to their own programs); the top layer of the package.
- ``init``: ``fanren-tts init``, the commented config.yaml copied out.
- ``support``: what every entry point shares (logging, error -> exit code, the program's
  name as typed); low in the layers, since ``envs``, ``check-envs`` and ``serve`` use it too.

``python -m fanren_tts.envs`` and ``python -m fanren_tts.check-envs`` stay where users
type them, at the package's root. Nothing is imported here, so ``support`` stays light.
"""
