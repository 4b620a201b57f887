"""Turbo Studio's Gradio interface: it drives the model only through `pipeline`, never torch or diffusers."""
