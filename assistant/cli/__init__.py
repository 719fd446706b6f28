"""The ``pricing`` command line: ``pricing --help`` (or ``python -m assistant.cli --help``).

One module per command group (``graph``, ``model``, ``serve``, ``reprice``, ``match``), registered by
:mod:`assistant.cli.main`. The CLI builds the settings and the service and passes them down.
"""
from assistant.cli.main import app

__all__ = ["app"]
