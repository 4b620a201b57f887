"""From a handler's named parameters to its inputs and its `GenerationRequest`, so the field list
of a request is written once: in the handler's signature, which is also the public API's."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

import gradio as gr

from pipeline import GenerationRequest

RANDOMIZE_SEED = "randomize_seed"
REQUEST_FIELDS = tuple(field.name for field in fields(GenerationRequest))


def parameter_names(handler: Callable) -> list[str]:
    """The handler's parameters that take a component's value (all but the `gr.Progress` tracker)."""
    return [
        name
        for name, parameter in inspect.signature(handler).parameters.items()
        if not isinstance(parameter.default, gr.Progress)
    ]


def inputs_for(handler: Callable, components: Mapping[str, gr.components.Component]) -> list:
    """The components feeding `handler`, in the order of its parameters, found by parameter name."""
    missing = [name for name in parameter_names(handler) if name not in components]
    if missing:
        raise KeyError(f"No component for the parameter(s) {', '.join(missing)} of {handler.__name__}.")
    return [components[name] for name in parameter_names(handler)]


def request_from(arguments: Mapping[str, Any], **overrides: Any) -> GenerationRequest:
    """The validated request of a handler's arguments (its request fields, `randomize_seed`).

    Args:
        arguments: the handler's arguments by name, e.g. its `locals()` on entry.
        overrides: fields set by the handler itself (e.g. the first seed of a comparison).
    """
    values = {name: arguments[name] for name in REQUEST_FIELDS if name in arguments}
    values["negative_prompt"] = values.get("negative_prompt") or ""
    if arguments.get(RANDOMIZE_SEED):
        values["seed"] = None
    return GenerationRequest.create(**{**values, **overrides})
