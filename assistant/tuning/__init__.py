"""Tuning SmolLM2-135M-Instruct to word explanations: the corpus (corpus.py), LoRA training and
GGUF export (lora.py), and the shipped adapter (smollm2-explainer-v1/). Run it with
``pricing tune-explainer`` (assistant/cli/tune.py)."""
