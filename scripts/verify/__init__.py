"""Real upstream engine code on tiny random checkpoints: one module per engine.

``scripts/verify_engines.py`` is the entry point. Each engine module here builds a
tiny random-weight checkpoint laid out like the released model folder (no weights
are downloaded; nothing upstream is committed: only these builders), then runs every
mode through ``TTSGenerator`` and the real wrapper. See ``_common`` for the contract.
"""
