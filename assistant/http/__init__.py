"""The REST API (FastAPI): ``create_app(service, settings)`` in :mod:`assistant.http.app`.

One router module per resource; the edges (``http``, ``web``, ``cli``) never import each other.
"""
