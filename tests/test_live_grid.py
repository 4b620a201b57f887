"""The live grid of a running comparison: pending cells, previews, and finished cells sent inline
while it runs and as their PNG files at the end."""

import base64
import io

import numpy as np
from PIL import Image

from pipeline import GenerationRequest
from pipeline.comparison import plan_comparison
from pipeline.grid import grid_png
from pipeline.tokens import DroppedWords
from ui.components import GRID_THUMBNAIL_SIZE, PreviewGallery
from ui.live_grid import LiveGrid
from ui.runs import SavedBatch, SavedImage, Step

THUMBNAIL = Image.new("RGB", (128, 64), "blue")


def noise(width: int, height: int, seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def grid_of_two_seeds_by_two_step_counts() -> LiveGrid:
    base = GenerationRequest(prompt="a fox", width=1024, height=512, steps=2)
    return LiveGrid(plan_comparison(base, "1, 2", "steps", "1, 2"))


def step(grid: LiveGrid, indices: tuple[int, ...]) -> Step:
    previews = [Image.new("RGB", (128, 64), "red") for _ in indices]
    return Step(previews, indices, 1, 2, 0.25, "Step 1 of 2", "25%")


def finished(grid: LiveGrid, indices: tuple[int, ...]) -> SavedBatch:
    requests = grid.comparison.requests
    saved = [SavedImage(f"/cache/{index}.png", requests[index], THUMBNAIL, 1.0) for index in indices]
    return SavedBatch(indices, saved, [Image.new("RGB", (1024, 512), "blue") for _ in indices])


def sent(grid: LiveGrid, final: bool = False) -> list[dict]:
    """The gallery as Gradio sends it: what each cell's image is, and its caption."""
    return PreviewGallery().postprocess(grid.gallery(final=final)).model_dump()


def test_cells_wait_then_show_their_previews_then_their_thumbnails_then_their_files():
    grid = grid_of_two_seeds_by_two_step_counts()
    assert grid.columns == 2
    waiting = sent(grid)
    assert [cell["caption"] for cell in waiting] == [
        "seed 1 · 1 step · waiting", "seed 1 · 2 steps · waiting", "seed 2 · 1 step · waiting",
        "seed 2 · 2 steps · waiting",
    ]
    assert all(cell["image"]["url"].startswith("data:image/jpeg") for cell in waiting)

    grid.update(step(grid, (0, 2)))  # one step of the 1-step batch: seeds 1 and 2
    previewing = sent(grid)
    assert [cell["caption"] for cell in previewing][::2] == ["seed 1 · 1 step · step 1/2", "seed 2 · 1 step · step 1/2"]

    grid.update(finished(grid, (0, 2)))
    running = sent(grid)
    assert [cell["caption"] for cell in running][::2] == ["seed 1 · 1 step", "seed 2 · 1 step"]
    # While it runs, a finished cell is an inline thumbnail, not a file a client would fetch again.
    thumbnail = running[0]["image"]
    assert thumbnail["path"] is None and thumbnail["url"].startswith("data:image/jpeg;base64,")
    assert running[0] == sent(grid)[0]  # the same bytes every time: a streamed diff leaves it out
    assert grid.saved[0].path == "/cache/0.png" and grid.saved[1] is None

    final = sent(grid, final=True)
    assert [cell["image"]["path"] for cell in final][::2] == ["/cache/0.png", "/cache/2.png"]
    assert final[1]["caption"] == "seed 1 · 2 steps · not generated (stopped)"  # after a Stop: said so


def test_a_thumbnail_fits_the_gallery_cell_and_keeps_the_shape():
    grid = grid_of_two_seeds_by_two_step_counts()
    grid.update(finished(grid, (0,)))
    value = grid.gallery()[0][0]
    with Image.open(io.BytesIO(base64.b64decode(value.url.split(",", 1)[1]))) as thumbnail:
        assert thumbnail.size == (GRID_THUMBNAIL_SIZE, GRID_THUMBNAIL_SIZE // 2)


def test_headers_carry_the_columns_and_the_seeds_and_axis_values_for_the_page():
    grid = grid_of_two_seeds_by_two_step_counts()
    assert grid.headers() == (
        '<div class="grid-headers" data-count="2" data-rows="[&quot;seed 1&quot;, &quot;seed 2&quot;]" '
        'data-columns="[&quot;1 step&quot;, &quot;2 steps&quot;]"></div>'
    )
    base = GenerationRequest(prompt='a "fox" <b>', width=256, height=256)
    sr = LiveGrid(plan_comparison(base, "3", "prompt_sr", 'fox, "<owl>"'))
    assert "&lt;owl&gt;" in sr.headers() and "<owl>" not in sr.headers()  # text, never markup
    # Without an axis: seeds four to a row, no headers (captions say the seed).
    assert LiveGrid(plan_comparison(base, "1-6")).headers() == (
        '<div class="grid-headers" data-count="4" data-rows="[]" data-columns="[]"></div>'
    )


def test_the_grid_png_is_drawn_from_the_images_in_memory_not_read_back(monkeypatch):
    grid = grid_of_two_seeds_by_two_step_counts()
    pictures = {index: noise(1024, 512, index) for index in (0, 2)}
    requests = grid.comparison.requests
    saved = [SavedImage(f"/cache/{index}.png", requests[index], THUMBNAIL, 1.0) for index in pictures]  # no such files
    grid.update(SavedBatch((0, 2), saved, list(pictures.values())))
    opened = []
    monkeypatch.setattr(Image, "open", lambda *args, **kwargs: opened.append(args))
    png = grid.png("tiny")
    assert opened == []
    monkeypatch.undo()
    assert png == grid_png(grid.comparison, [pictures[0], None, pictures[2], None], "tiny")  # the same pixels


def test_the_run_s_time_and_the_base_prompt_s_dropped_words_come_from_the_finished_cells():
    grid = LiveGrid(plan_comparison(GenerationRequest(prompt="a fox in snow", width=256, height=256), "1", "prompt_sr",
                                    "fox, owl"))
    fox, owl = (DroppedWords("CLIP", 77, "snow"),), (DroppedWords("CLIP", 77, "in snow"),)
    fox_request, owl_request = grid.comparison.requests
    assert fox_request.prompt == "a fox in snow" and owl_request.prompt == "a owl in snow"
    grid.update(SavedBatch((1,), [SavedImage("/cache/1.png", owl_request, THUMBNAIL, 2.5, owl)], [THUMBNAIL]))
    assert grid.dropped == () and grid.seconds == 2.5  # only another prompt's cell is done
    grid.update(SavedBatch((0,), [SavedImage("/cache/0.png", fox_request, THUMBNAIL, 4.0, fox)], [THUMBNAIL]))
    assert grid.dropped == fox and grid.seconds == 4.0
