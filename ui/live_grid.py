"""A comparison as it runs: every cell pending, previewing or finished, as gallery values."""

from __future__ import annotations

import html
import json

from gradio.data_classes import ImageData
from PIL import Image

from pipeline.comparison import NO_AXIS, Comparison
from pipeline.grid import grid_cell, grid_png
from pipeline.tokens import DroppedWords
from ui.components import Step, inline_jpeg, inline_thumbnail
from ui.runs import SavedBatch, SavedImage

# What a cell not started yet shows: a flat grey square (the gallery scales it to the cell).
NOT_GENERATED = "not generated (stopped)"  # an unfinished cell's state in the final gallery, after Stop
PENDING = inline_jpeg(Image.new("RGB", (8, 8), (200, 200, 200)))
MAX_SEED_COLUMNS = 4


class LiveGrid:
    """The cells of `comparison`, row by row: each shows its image, its latest preview, or PENDING.

    While the comparison runs, a finished cell shows an inline thumbnail, sent once (Gradio sends a
    streamed output as a diff of the previous one); its PNG file goes out only in the `final`
    gallery. As a file in every streamed gallery, gradio_client downloaded each finished cell again
    with every later step: 46 downloads for 8 seeds, which made `/compare` slower than 8 `/generate`
    calls (benchmarks/server_cpu.py, figure 5a).
    """

    def __init__(self, comparison: Comparison):
        self.comparison = comparison
        self.saved: list[SavedImage | None] = [None] * len(comparison.requests)
        self._thumbnails: dict[int, ImageData] = {}  # cell -> its finished image, as an inline thumbnail
        # cell -> its finished image at the grid PNG's cell size (at most 512², not the PNG read back)
        self._cells: dict[int, Image.Image] = {}
        self._previews: dict[int, tuple[Image.Image, str]] = {}  # cell -> its latest preview, "step 2/4"

    @property
    def columns(self) -> int:
        """Gallery columns: one per axis value, or up to 4 seeds a row without an axis."""
        comparison = self.comparison
        return comparison.columns if comparison.axis != NO_AXIS else min(MAX_SEED_COLUMNS, len(comparison.seeds))

    def headers(self) -> str:
        """The layout for the page (assets/page.js): the number of columns, and the row headers
        (seeds) and column headers (axis values), none without an axis, where captions say it."""
        comparison = self.comparison
        labelled = comparison.axis != NO_AXIS
        labels = (comparison.row_labels, comparison.column_labels) if labelled else ((), ())
        rows, columns = (html.escape(json.dumps(texts)) for texts in labels)
        return (
            f'<div class="grid-headers" data-count="{self.columns}" data-rows="{rows}" data-columns="{columns}"></div>'
        )

    def update(self, frame: Step | SavedBatch) -> None:
        """Show a step's previews, or a finished batch's images, in their cells."""
        if isinstance(frame, Step):
            for index, preview in zip(frame.indices, frame.previews):
                self._previews[index] = (preview, f"step {frame.step}/{frame.total_steps}")
            return
        for index, saved, picture in zip(frame.indices, frame.images, frame.pictures):
            self.saved[index] = saved
            self._thumbnails[index] = inline_thumbnail(picture)
            self._cells[index] = grid_cell(picture, self.comparison.base)
            self._previews.pop(index, None)

    def gallery(self, final: bool = False) -> list[tuple]:
        """Gallery values, row by row: (image, caption) with the cell's state in the caption; the
        finished cells as thumbnails, or as their PNG files when `final`, where a cell not finished
        (the run was stopped) says it was not generated."""
        values = []
        for index, cell in enumerate(self.comparison.cells):
            if self.saved[index] is not None:
                values.append((self.saved[index].path if final else self._thumbnails[index], cell.caption))
            elif index in self._previews:
                preview, step = self._previews[index]
                values.append((preview, f"{cell.caption} · {NOT_GENERATED if final else step}"))
            else:
                values.append((PENDING, f"{cell.caption} · {NOT_GENERATED if final else 'waiting'}"))
        return values

    @property
    def seconds(self) -> float:
        """The run's time until its last finished cell was saved: the whole run's, once all are."""
        return max((saved.seconds for saved in self.saved if saved is not None), default=0.0)

    @property
    def dropped(self) -> tuple[DroppedWords, ...]:
        """The words of the base prompt that a text encoder dropped, as the engine found them for
        the finished cells of that prompt (every comparison has some: other prompts only add columns)."""
        base = self.comparison.base
        return next((saved.dropped for saved in self.saved if saved is not None and saved.request.prompt == base.prompt
                     and saved.request.max_sequence_length == base.max_sequence_length), ())

    def png(self, model: str) -> bytes:
        """The labelled grid PNG of the finished cells (cells not finished are marked so), drawn
        from the images kept as they finished."""
        return grid_png(self.comparison, [self._cells.get(index) for index in range(len(self.saved))], model)
