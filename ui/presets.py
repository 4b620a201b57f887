"""Image sizes: aspect-ratio presets around one megapixel, the sizes SD3 was trained at."""

from __future__ import annotations

from dataclasses import dataclass

CUSTOM = "Custom"


@dataclass(frozen=True)
class AspectPreset:
    """A named aspect ratio and its size, both sides multiples of 64."""

    ratio: str
    width: int
    height: int


PRESETS = (
    AspectPreset("1:1", 1024, 1024),
    AspectPreset("4:3", 1152, 896),
    AspectPreset("3:4", 896, 1152),
    AspectPreset("3:2", 1216, 832),
    AspectPreset("2:3", 832, 1216),
    AspectPreset("16:9", 1344, 768),
    AspectPreset("9:16", 768, 1344),
    AspectPreset("21:9", 1536, 640),
    AspectPreset("9:21", 640, 1536),
)
CHOICES = [preset.ratio for preset in PRESETS] + [CUSTOM]


def preset_size(ratio: str, width: int, height: int) -> tuple[int, int]:
    """The size of the preset named `ratio`; `width` and `height` unchanged for Custom."""
    for preset in PRESETS:
        if preset.ratio == ratio:
            return preset.width, preset.height
    return width, height


def preset_for(width: int, height: int) -> str:
    """The name of the preset of exactly this size, or Custom."""
    for preset in PRESETS:
        if (preset.width, preset.height) == (width, height):
            return preset.ratio
    return CUSTOM
