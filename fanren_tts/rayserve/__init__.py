"""The speech server past one machine: the same OpenAI-compatible app on Ray Serve.

``app`` holds the Serve application (``build`` for ``serve run fanren_tts.rayserve.app:build``
and a RayService), ``remote`` the ingress's generator whose engines are Serve deployments,
``voices`` the named voices shared by every node and their multiplexing key, ``cli`` the
``fanren-tts serve --ray`` entry point. Needs the ``[ray]`` and ``[server]`` extras; nothing
here is imported by the rest of the package except ``serve --ray``'s few lines.
"""
