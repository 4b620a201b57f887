"""The labelled comparison grid."""

from __future__ import annotations

import pytest
from PIL import Image

from pipeline.grid import make_grid

WIDTH, HEIGHT = 64, 48


def cells(count: int, label: str = "seed {} · 4 steps") -> list[tuple[Image.Image, str]]:
    return [(Image.new("RGB", (WIDTH, HEIGHT), (0, 40 * index, 200)), label.format(index)) for index in range(count)]


def band_height(grid: Image.Image, rows: int) -> int:
    return grid.height // rows - HEIGHT


@pytest.mark.parametrize(
    "count, columns, shape",
    [(1, None, (1, 1)), (4, None, (2, 2)), (5, None, (3, 2)), (9, None, (3, 3)), (6, 6, (6, 1)), (5, 2, (2, 3)),
     (3, 10, (3, 1))],
)
def test_grid_size(count, columns, shape):
    grid = make_grid(cells(count), columns)
    band = band_height(grid, shape[1])
    assert band > 0
    assert grid.size == (shape[0] * WIDTH, shape[1] * (HEIGHT + band))
    assert grid.mode == "RGB"


def test_images_are_placed_in_reading_order():
    grid = make_grid(cells(5))  # three columns, two rows
    band = band_height(grid, 2)
    for index in range(5):
        left, top = (index % 3) * WIDTH, (index // 3) * (HEIGHT + band)
        assert grid.getpixel((left + WIDTH // 2, top + HEIGHT // 2)) == (0, 40 * index, 200)
    assert grid.getpixel((2 * WIDTH + WIDTH // 2, HEIGHT + band + HEIGHT // 2)) == (255, 255, 255)


def test_labels_are_drawn_in_the_band_under_each_image():
    labelled, blank = make_grid(cells(4)), make_grid(cells(4, label=""))
    band = band_height(labelled, 2)
    for index in range(4):
        left, top = (index % 2) * WIDTH, (index // 2) * (HEIGHT + band) + HEIGHT
        box = (left, top, left + WIDTH, top + band)
        assert labelled.crop(box).getextrema() != ((255, 255), (255, 255), (255, 255))
        assert blank.crop(box).getextrema() == ((255, 255), (255, 255), (255, 255))


def test_other_modes_are_converted():
    grid = make_grid([(Image.new("L", (WIDTH, HEIGHT), 0), "a"), (Image.new("RGBA", (WIDTH, HEIGHT)), "b")])
    assert grid.mode == "RGB"


@pytest.mark.parametrize("arguments", [([],), (cells(2), 0), (cells(2), -1)])
def test_invalid_arguments(arguments):
    with pytest.raises(ValueError):
        make_grid(*arguments)
