"""A labelled contact sheet of images, for the seed comparison."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

BACKGROUND = "white"
TEXT_COLOR = "black"
MIN_FONT_SIZE = 12


def make_grid(cells: Sequence[tuple[Image.Image, str]], columns: int | None = None) -> Image.Image:
    """The images laid out in rows of `columns` (default: about the square root of their number),
    each with its label (e.g. "seed 42 · 4 steps") in a white band underneath.

    Every cell has the size of the first image plus the band; the grid is an RGB image of
    `columns * width` by `rows * (height + band)` pixels.
    """
    if not cells:
        raise ValueError("make_grid needs at least one image.")
    if columns is not None and columns < 1:
        raise ValueError(f"make_grid needs at least one column, got {columns}.")
    columns = min(columns or math.ceil(math.sqrt(len(cells))), len(cells))
    rows = math.ceil(len(cells) / columns)
    width, height = cells[0][0].size
    font_size = max(MIN_FONT_SIZE, width // 32)
    font = ImageFont.load_default(size=font_size)
    band = font_size * 2
    grid = Image.new("RGB", (columns * width, rows * (height + band)), BACKGROUND)
    draw = ImageDraw.Draw(grid)
    for index, (image, label) in enumerate(cells):
        left, top = (index % columns) * width, (index // columns) * (height + band)
        grid.paste(image.convert("RGB"), (left, top))
        text_left = left + (width - draw.textlength(label, font=font)) / 2
        draw.text((text_left, top + height + band / 2), label, fill=TEXT_COLOR, font=font, anchor="lm")
    return grid
