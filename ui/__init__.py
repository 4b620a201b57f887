"""Turbo Studio's Gradio interface. It uses only the public API of the `pipeline` package."""
