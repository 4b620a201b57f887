"""Comparison grids as PNG files that explain themselves: headers, settings and every cell's request.

The picture has the prompt and the base settings on top, column headers (the axis values) and
row headers (the seeds); without an axis the seeds are laid out in a square with a caption over
each. The file carries two text chunks: `parameters`, the infotext of the base settings with a
`Grid` entry naming the seeds and the axis values (so `read_request` gives the base request),
and `turbo_studio_grid`, JSON of the comparison with every cell's exact request, which
`read_grid` reads back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from pipeline.comparison import NO_AXIS, Comparison
from pipeline.errors import RequestError
from pipeline.metadata import INFOTEXT_KEY, Source, encode_png, format_infotext, read_text_chunks
from pipeline.request import GenerationRequest

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

GRID_KEY = "turbo_studio_grid"
GRID_FORMAT = 1
# Every cell of a 256-cell comparison with two 4,000-character prompts fits.
MAX_GRID_CHARS = 4 * 1024 * 1024
# Lines kept of the prompt, the negative prompt, the grid's description and each column header.
MAX_LINES = 4
PENDING_LABEL = "not generated"

BACKGROUND = "white"
TEXT_COLOR = "black"
PENDING_FILL = (228, 228, 228)
PENDING_TEXT = (110, 110, 110)
MIN_FONT_SIZE = 14
# The longest side of a cell in the grid picture: a contact sheet, not the images themselves (each
# cell's full PNG is served beside it). At full size, 8 seeds at 1024² made a 33 MB grid (noise-like
# cells) that took 413 ms to draw and encode on the 2-core EPYC, and every API client downloaded it.
MAX_CELL_SIDE = 512
# Found in the system's font folders by Pillow (Debian: fonts-dejavu-core).
SYSTEM_FONT = "DejaVuSans.ttf"
# The infotext key of the setting each axis varies: the heading leaves it out, as it leaves out the
# seed (the rows'), since the headers give each cell's value ("Steps: 4" over 2 and 4 steps misled).
VARIED_KEYS = {
    "steps": "Steps",
    "guidance_scale": "CFG scale",
    "variation_seed": "Variation seed",
    "variation_strength": "Variation seed strength",
}


@dataclass(frozen=True)
class GridFile:
    """What a grid PNG says about itself.

    Attributes:
        comparison: the seeds, the axis, its values and every cell's exact request.
        model: the label of the model that made the cells.
        finished: per cell (row by row), whether it holds an image; False for cells a Stop left out.
    """

    comparison: Comparison
    model: str
    finished: tuple[bool, ...]


def grid_infotext(comparison: Comparison, model: str) -> str:
    """The `parameters` text: the infotext of the base settings plus `Grid: "seeds 1, 7 × steps 1, 2"`."""
    return f"{format_infotext(comparison.base, model)}, Grid: {json.dumps(comparison.description, ensure_ascii=False)}"


def draw_grid(comparison: Comparison, images: Sequence[Image.Image | None], model: str) -> Image.Image:
    """The labelled grid of `images`, one per cell of `comparison` (row by row), made with `model`.

    A None image is a cell not generated (after Stop): it is drawn grey and marked. Every cell
    has the base request's shape, at its size or scaled down to `MAX_CELL_SIDE` on its longest side.
    """
    cells = comparison.cells
    if len(images) != len(cells):
        raise ValueError(f"The comparison has {len(cells)} cells; {len(images)} images were given.")
    width, height = cell_size(comparison.base)
    size = max(MIN_FONT_SIZE, width // 24)
    font, pad, line = _font(size), size // 2, round(size * 1.3)
    table = comparison.axis != NO_AXIS
    columns = comparison.columns if table else math.ceil(math.sqrt(len(cells)))
    rows = math.ceil(len(cells) / columns)
    row_header = math.ceil(max(map(font.getlength, comparison.row_labels))) + 2 * pad if table else 0
    column_labels = [_wrap(label, font, width - 2 * pad, MAX_LINES) for label in comparison.column_labels]
    column_header = max(map(len, column_labels)) * line + 2 * pad if table else 0
    caption = 0 if table else line + 2 * pad
    heading = heading_lines(comparison, model, font, row_header + columns * width - 2 * pad)
    top = len(heading) * line + 2 * pad + column_header

    grid = Image.new("RGB", (row_header + columns * width, top + rows * (caption + height)), BACKGROUND)
    draw = ImageDraw.Draw(grid)

    def write(lines: list[str], x: float, y: float, anchor: str, fill=TEXT_COLOR) -> None:
        """`lines` one under the other, their block anchored at (x, y) like `anchor`'s first line."""
        for number, text in enumerate(lines):
            draw.text((x, y + number * line), text, fill=fill, font=font, anchor=anchor)

    write(heading, pad, pad + line / 2, "lm")
    for column, lines in enumerate(column_labels):
        write(lines, row_header + (column + 0.5) * width, top - column_header / 2 - (len(lines) - 1) * line / 2, "mm")
    for row, label in enumerate(comparison.row_labels if table else ()):
        write([label], pad, top + (row + 0.5) * height, "lm")
    for index, (cell, image) in enumerate(zip(cells, images)):
        row, column = (cell.row, cell.column) if table else divmod(index, columns)
        left, upper = row_header + column * width, top + row * (caption + height) + caption
        if not table:
            write([cell.caption], left + width / 2, upper - caption / 2, "mm")
        if image is None:
            draw.rectangle((left, upper, left + width - 1, upper + height - 1), fill=PENDING_FILL, outline=BACKGROUND)
            write([PENDING_LABEL], left + width / 2, upper + height / 2, "mm", PENDING_TEXT)
        else:
            grid.paste(grid_cell(image, comparison.base), (left, upper))
    return grid


def cell_size(base: GenerationRequest) -> tuple[int, int]:
    """The size of a grid's cells for images of `base`'s size: the same, or scaled down to fit `MAX_CELL_SIDE`."""
    scale = min(1.0, MAX_CELL_SIDE / max(base.width, base.height))
    return round(base.width * scale), round(base.height * scale)


def grid_cell(image: Image.Image, base: GenerationRequest) -> Image.Image:
    """`image` as a cell of the grid of `base`'s comparison: RGB, at `cell_size` (a cell already
    that size is drawn as it is, so a caller may shrink its images as they come)."""
    size = cell_size(base)
    if image.mode == "RGB" and image.size == size:
        return image
    # A box reduction, then bicubic: 2 ms for 1024² to 512² instead of 10 (2-core EPYC).
    return image.convert("RGB").resize(size, reducing_gap=1.0)


def grid_png(comparison: Comparison, images: Sequence[Image.Image | None], model: str) -> bytes:
    """The grid of `draw_grid` as PNG bytes, with the `parameters` and `turbo_studio_grid` chunks.

    Args:
        comparison: the plan the images were made from.
        images: one per cell, row by row; None for a cell not generated.
        model: the label of the model, as in the images' own metadata.
    """
    return encode_png(draw_grid(comparison, images, model), {
        INFOTEXT_KEY: grid_infotext(comparison, model),
        GRID_KEY: json.dumps(_grid_json(comparison, model, images), ensure_ascii=False),
    })


def read_grid(source: Source) -> GridFile:
    """The comparison a grid PNG (a path, PNG bytes or a PIL image) was made from.

    Raises:
        RequestError: the source is not a readable PNG, is not a Turbo Studio grid, or its
            grid metadata is damaged or holds an invalid request.
    """
    text = read_text_chunks(source).get(GRID_KEY)
    if not isinstance(text, str):
        raise RequestError(
            "This image is not a Turbo Studio comparison grid (it has no grid metadata); "
            "read a single image's parameters with PNG info instead."
        )
    if len(text) > MAX_GRID_CHARS:
        raise RequestError(f"The grid metadata is {len(text):,} characters long; at most {MAX_GRID_CHARS:,} are read.")
    try:
        data = json.loads(text)
        if data["format"] != GRID_FORMAT:
            raise RequestError(
                f"This grid's metadata is in format {data['format']!r}; this Turbo Studio reads format {GRID_FORMAT}."
            )
        cells = data["cells"]
        comparison = Comparison(
            base=_request(data["base"]),
            axis=data["axis"],
            seeds=tuple(data["seeds"]),
            values=tuple(data["values"]),
            requests=tuple(_request(cell["request"]) for cell in cells),
        )
        return GridFile(comparison, str(data.get("model", "")), tuple(cell["finished"] is True for cell in cells))
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
        raise RequestError(f"The grid metadata of this image is damaged ({type(error).__name__}: {error}).") from None


def _grid_json(comparison: Comparison, model: str, images: Sequence[Image.Image | None]) -> dict:
    return {
        "format": GRID_FORMAT,
        "model": model,
        "axis": comparison.axis,
        "seeds": list(comparison.seeds),
        "values": list(comparison.values),
        "row_labels": list(comparison.row_labels),
        "column_labels": list(comparison.column_labels),
        "base": comparison.base.to_dict(),
        "cells": [
            {
                "row": cell.row,
                "column": cell.column,
                "caption": cell.caption,
                "finished": image is not None,
                "request": cell.request.to_dict(),
            }
            for cell, image in zip(comparison.cells, images)
        ],
    }


def _request(data: dict) -> GenerationRequest:
    """A request from the grid's JSON; `GenerationRequest` checks every field."""
    return GenerationRequest(**data)


def _font(size: int) -> Font:
    """DejaVu Sans from the system when it is there (it covers more scripts and signs, `×` among
    them), else the font that ships with Pillow."""
    try:
        return ImageFont.truetype(SYSTEM_FONT, size)
    except OSError:
        return ImageFont.load_default(size=size)


def fixed_settings(comparison: Comparison, model: str) -> str:
    """The settings every cell shares, as in the infotext: without the seed or the axis's setting."""
    varied = {"Seed", VARIED_KEYS.get(comparison.axis)}
    parts = format_infotext(comparison.base, model).rsplit("\n", 1)[-1].split(", ")
    return ", ".join(part for part in parts if part.split(": ", 1)[0] not in varied)


def heading_lines(comparison: Comparison, model: str, font: Font, width: float) -> list[str]:
    """The lines above the grid: prompt, negative prompt, the settings shared and what the grid varies."""
    base = comparison.base
    lines = _wrap(base.prompt, font, width, MAX_LINES)
    if base.negative_prompt:
        lines += _wrap(f"Negative prompt: {base.negative_prompt}", font, width, MAX_LINES)
    settings = _wrap(fixed_settings(comparison, model), font, width)
    return lines + settings + _wrap(f"Grid: {comparison.description}", font, width, MAX_LINES)


def _wrap(text: str, font: Font, width: float, max_lines: int | None = None) -> list[str]:
    """`text` in lines no wider than `width`, broken between words, or inside a word too long for
    a line; beyond `max_lines`, the last line kept ends with an ellipsis."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split(" "):
            joined = f"{line} {word}" if line else word
            if font.getlength(joined) <= width:
                line = joined
                continue
            if line:
                lines.append(line)
            while len(word) > 1 and font.getlength(word) > width:
                cut = _fitting(word, font, width)
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        while lines[-1] and font.getlength(f"{lines[-1]}…") > width:
            lines[-1] = lines[-1][:-1]
        lines[-1] += "…"
    return lines


def _fitting(text: str, font: Font, width: float) -> int:
    """How many leading characters of `text` fit in `width` (at least one)."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if font.getlength(text[:middle]) <= width:
            low = middle
        else:
            high = middle - 1
    return low
