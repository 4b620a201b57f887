"""The footer line: what is loaded, where it runs."""

from __future__ import annotations

from pipeline import ModelInfo


def footer_text(info: ModelInfo) -> str:
    """Model, device, dtype and memory mode, as one Markdown line."""
    return (
        f"**Model** {info.model} · **Device** {info.device} · **dtype** {info.dtype} · "
        f"**Memory mode** {info.memory_mode}"
    )
