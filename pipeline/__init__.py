"""Turbo Studio's generation engine: everything about the model, nothing about the UI.

    from pipeline import Engine, LoadOptions, GenerationRequest
    engine = Engine.load(LoadOptions(model="tiny"))
    for event in engine.generate(GenerationRequest.create(prompt="a lighthouse at dusk", seed=7)):
        ...  # Preview after each step, then Finished with the images
"""

from pipeline.engine import Engine
from pipeline.events import Finished, GeneratedImage, Preview
from pipeline.loader import DEFAULT_MODEL, LoadOptions, ModelInfo
from pipeline.request import GenerationRequest

__all__ = [
    "DEFAULT_MODEL",
    "Engine",
    "Finished",
    "GeneratedImage",
    "GenerationRequest",
    "LoadOptions",
    "ModelInfo",
    "Preview",
]
