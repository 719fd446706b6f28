"""``python -m assistant.cli …`` runs the ``pricing`` command."""
from assistant.cli.main import app

app()
