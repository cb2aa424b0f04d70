"""Audio output: from an engine's samples to the bytes of a file or a response.

One concept per module, bottom up:

- ``convert``: an engine's ``Audio`` to float frames at the output rate and channels;
- ``wav``: PCM encoding and the WAV writer (bounded memory, atomic, RF64), the spool and
  the streaming loudness meter;
- ``loudness``: loudness normalization and the true-peak limiter;
- ``assemble``: chunks in, one output file out (loudness in a second pass);
- ``encode``: ``Encoder``, every response format (wav, pcm, flac, mp3, opus), streamed or whole;
- ``paths``: checking an output path before any work is spent on it.

Nothing here imports the generator or the server.
"""
