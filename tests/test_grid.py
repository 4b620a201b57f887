"""The labelled grid PNG: its layout, headers and pending cells, its metadata, and reading it back."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageFont

from pipeline.comparison import plan_comparison
from pipeline.errors import RequestError
from pipeline.grid import (
    GRID_KEY,
    MAX_CELL_SIDE,
    PENDING_FILL,
    cell_size,
    draw_grid,
    fixed_settings,
    grid_infotext,
    grid_png,
    heading_lines,
    read_grid,
)
from pipeline.metadata import format_infotext, png_bytes, read_request
from pipeline.request import GenerationRequest

SIZE = 256
MODEL = "tiny-sd3"
BASE = GenerationRequest(prompt="a red fox in snow", width=SIZE, height=SIZE, steps=2)
WHITE = (255, 255, 255)


def colored(count: int, size: tuple[int, int] = (SIZE, SIZE)) -> list[Image.Image]:
    """One image per cell, each of its own flat colour."""
    return [Image.new("RGB", size, (10 + 20 * index, 200 - 10 * index, 90)) for index in range(count)]


def boxes(grid: Image.Image, images: list[Image.Image | None]) -> list[tuple[int, int, int, int] | None]:
    """Where each image's colour lies in the grid: (left, top, right, bottom), exclusive."""
    pixels = np.asarray(grid)
    found = []
    for image in images:
        if image is None:
            found.append(None)
            continue
        ys, xs = np.nonzero((pixels == image.getpixel((0, 0))).all(axis=2))
        found.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
    return found


def inked(grid: Image.Image, box) -> bool:
    """True when the area holds something other than white: text, here."""
    return grid.crop(tuple(int(value) for value in box)).getextrema() != ((255, 255),) * 3


def test_cells_are_placed_row_by_row_under_column_headers_and_beside_row_headers():
    comparison = plan_comparison(BASE, "1, 7, 42", "steps", "1, 2")
    images = colored(6)
    grid = draw_grid(comparison, images, MODEL)
    found = boxes(grid, images)
    left, top = found[0][:2]
    assert found == [
        (left + column * SIZE, top + row * SIZE, left + (column + 1) * SIZE, top + (row + 1) * SIZE)
        for row in range(3) for column in range(2)
    ]
    assert grid.size == (left + 2 * SIZE, top + 3 * SIZE)
    for row in range(3):
        assert inked(grid, (0, top + row * SIZE, left, top + (row + 1) * SIZE)), f"row header {row}"
    for column in range(2):
        header = (left + column * SIZE, top - 30, left + (column + 1) * SIZE, top)
        assert inked(grid, header), f"column header {column}"
    assert not inked(grid, (0, top - 30, left, top))  # the corner stays empty
    assert inked(grid, (0, 0, grid.width, 20))  # the prompt, on top


def test_without_an_axis_the_seeds_are_laid_out_in_a_square_each_under_its_caption():
    comparison = plan_comparison(BASE, "1-5")
    images = colored(5)
    grid = draw_grid(comparison, images, MODEL)
    found = boxes(grid, images)
    lefts, tops = sorted({box[0] for box in found}), sorted({box[1] for box in found})
    assert lefts == [0, SIZE, 2 * SIZE] and len(tops) == 2
    assert [(box[0], box[1]) for box in found] == [(lefts[index % 3], tops[index // 3]) for index in range(5)]
    assert grid.size == (3 * SIZE, tops[1] + SIZE)
    for left, top, right, _ in found:
        assert inked(grid, (left, top - 20, right, top)), "caption"
    assert not inked(grid, (2 * SIZE, tops[1], 3 * SIZE, tops[1] + SIZE))  # no sixth cell


def test_cells_not_generated_are_grey_and_marked():
    comparison = plan_comparison(BASE, "1, 2", "guidance_scale", "0, 2")
    images = colored(4)
    partial = [images[0], None, None, images[3]]
    grid = draw_grid(comparison, partial, MODEL)
    first, _, _, last = boxes(grid, partial)
    pending = (last[0], first[1], last[2], first[3])  # row 0, column 1
    assert grid.getpixel((pending[0] + 5, pending[1] + 5)) == PENDING_FILL
    center = grid.crop(pending).crop((0, SIZE // 2 - 10, SIZE, SIZE // 2 + 10))
    assert min(center.getdata()) < PENDING_FILL  # the "not generated" mark
    nothing = draw_grid(comparison, [None] * 4, MODEL)
    assert nothing.size == grid.size


def test_images_of_another_size_are_scaled_to_the_cell():
    comparison = plan_comparison(BASE, "1", "steps", "1, 2")
    images = colored(2, size=(32, 32))
    found = boxes(draw_grid(comparison, images, MODEL), images)
    assert [(right - left, bottom - top) for left, top, right, bottom in found] == [(SIZE, SIZE)] * 2


def test_headers_scale_with_the_cells_and_long_labels_wrap():
    def header_height(base, values):
        comparison = plan_comparison(base, "1", "prompt_sr", values)
        images = colored(comparison.columns, (base.width, base.height))
        return boxes(draw_grid(comparison, images, MODEL), images)[0][1]

    big = replace(BASE, width=1024, height=256)  # cells of 512 × 128: a font of 21 px, not the 14 px minimum
    assert header_height(big, "fox, cat") > 1.2 * header_height(BASE, "fox, cat")  # though it wraps less
    long = "cat " + "with a very long and winding description " * 3
    assert header_height(BASE, f"fox, {long}") >= header_height(BASE, "fox, cat") + 3 * 14
    # Uncut, this label would take some 60 lines, in its header and in the description on top.
    assert header_height(BASE, f"fox, {long * 20}") < header_height(BASE, f"fox, {long}") + 3 * 18


def test_a_long_prompt_is_cut_to_a_few_lines():
    long = replace(BASE, prompt="fox " + "lorem ipsum dolor sit amet " * 140, negative_prompt="blur " * 790)
    short = draw_grid(plan_comparison(BASE, "1"), [None], MODEL)
    cut = draw_grid(plan_comparison(long, "1"), [None], MODEL)
    assert cut.height - short.height <= 7 * 18  # 4 lines of each prompt instead of 1 and 0, uncut some 130


@pytest.mark.parametrize(
    ("axis", "values", "varied"),
    [
        ("steps", "2, 4", "Steps"),
        ("guidance_scale", "0, 1.5", "CFG scale"),
        ("variation_seed", "5, 6", "Variation seed"),
        ("variation_strength", "0.1, 0.2", "Variation seed strength"),
    ],
)
def test_the_heading_names_no_setting_the_grid_varies(axis, values, varied):
    base = replace(BASE, variation_seed=3, variation_strength=0.3)
    settings = fixed_settings(plan_comparison(base, "1, 2", axis, values), MODEL)
    keys = [part.split(": ")[0] for part in settings.split(", ")]
    assert varied not in keys and "Seed" not in keys  # the columns' and the rows' settings
    assert {"Sampler", "Size", "Model"} <= set(keys) and len(keys) == 7  # the infotext's 9, less those two


def test_a_steps_grid_is_headed_by_its_columns_steps_not_by_the_base_requests():
    comparison = plan_comparison(BASE, "1", "steps", "2, 4")  # BASE has 2 steps
    heading = heading_lines(comparison, MODEL, ImageFont.load_default(14), 2000)
    assert not any("Steps: " in line for line in heading)
    assert heading[-1] == "Grid: seeds 1 × steps 2, 4"
    assert comparison.column_labels == ("2 steps", "4 steps")


def test_the_number_of_images_must_match_the_cells():
    with pytest.raises(ValueError, match="The comparison has 2 cells; 1 images were given"):
        draw_grid(plan_comparison(BASE, "1, 2"), [None], MODEL)


def test_the_png_carries_the_infotext_and_every_cells_request():
    comparison = plan_comparison(replace(BASE, negative_prompt="blur"), "1, 7, 42", "steps", "1, 2, 4")
    data = grid_png(comparison, colored(9), MODEL)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        chunks = image.text
    expected = format_infotext(comparison.base, MODEL) + ', Grid: "seeds 1, 7, 42 × steps 1, 2, 4"'
    assert chunks["parameters"] == grid_infotext(comparison, MODEL) == expected
    stored = json.loads(chunks[GRID_KEY])
    assert stored["axis"] == "steps" and stored["model"] == MODEL
    assert stored["row_labels"] == ["seed 1", "seed 7", "seed 42"]
    assert stored["column_labels"] == ["1 step", "2 steps", "4 steps"]
    assert stored["base"] == comparison.base.to_dict()
    assert [cell["request"] for cell in stored["cells"]] == [request.to_dict() for request in comparison.requests]
    assert [cell["caption"] for cell in stored["cells"]] == [cell.caption for cell in comparison.cells]


@pytest.mark.parametrize(
    "axis, values",
    [("none", ""), ("steps", "1, 2"), ("guidance_scale", "0, 1.5"), ("prompt_sr", 'fox, "cat, owl"'),
     ("variation_strength", "0, 0.2")],
)
def test_reading_a_grid_gives_back_every_cell(tmp_path, axis, values):
    comparison = plan_comparison(replace(BASE, prompt="a red fox in snow ✨ 雪"), "3, 4", axis, values)
    images = colored(len(comparison.requests))
    images[-1] = None  # stopped before the last cell
    data = grid_png(comparison, images, MODEL)
    path = tmp_path / "grid.png"
    path.write_bytes(data)
    for source in (data, path, str(path)):
        grid = read_grid(source)
        assert grid.comparison == comparison
        assert grid.model == MODEL
        assert grid.finished == (True,) * (len(images) - 1) + (False,)
    with Image.open(path) as image:
        assert read_grid(image).comparison == comparison


def test_a_grid_read_as_an_image_gives_its_base_request():
    base = replace(BASE, guidance_scale=1.5, negative_prompt="blur", variation_seed=3, variation_strength=0.25)
    comparison = plan_comparison(base, "7, 8", "steps", "1, 2")
    assert read_request(grid_png(comparison, colored(4), MODEL)) == (comparison.base, MODEL)


def grid_with(chunk: str) -> bytes:
    """A PNG whose grid chunk holds `chunk`."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(GRID_KEY, chunk)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def stored_grid(**changes) -> str:
    png = grid_png(plan_comparison(BASE, "1, 2"), [None, None], MODEL)
    data = json.loads(Image.open(io.BytesIO(png)).text[GRID_KEY])
    return json.dumps({**data, **changes})


@pytest.mark.parametrize(
    "source, message",
    [
        (png_bytes(Image.new("RGB", (8, 8)), BASE, MODEL), "not a Turbo Studio comparison grid"),
        (b"not an image", "This is not a PNG image"),
        (grid_with("{"), r"The grid metadata of this image is damaged \(JSONDecodeError"),
        (grid_with("[]"), "damaged"),
        (grid_with(stored_grid(cells=None)), "damaged"),
        (grid_with(stored_grid(base={"prompt": "x", "colour": 1})), "damaged"),
        (grid_with(stored_grid(base={"prompt": "x", "steps": 99})), "Steps must be between 1 and 12, got 99"),
        (grid_with(stored_grid(axis="zoom")), "Unknown comparison axis 'zoom'"),
        (grid_with(stored_grid(format=2)), "in format 2; this Turbo Studio reads format 1"),
        (grid_with(stored_grid(seeds=[1])), "needs 1 requests, not 2"),
        (grid_with(" " * 5_000_000), "at most 4,194,304 are read"),
    ],
)
def test_what_is_not_a_readable_grid_is_named(source, message):
    with pytest.raises(RequestError, match=message):
        read_grid(source)


def test_large_images_are_drawn_at_half_size_or_less_in_the_grid():
    base = replace(BASE, width=1024, height=768)
    assert cell_size(base) == (MAX_CELL_SIDE, 384) and cell_size(BASE) == (SIZE, SIZE)
    comparison = plan_comparison(base, "1, 2")
    images = colored(2, (1024, 768))
    found = boxes(draw_grid(comparison, images, MODEL), images)
    assert [(right - left, bottom - top) for left, top, right, bottom in found] == [(512, 384)] * 2
