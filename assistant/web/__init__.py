"""The Gradio UI: ``build_ui``/``mount`` in :mod:`assistant.web.app`, one module per tab, plots."""
