"""Comparison plans (seeds × one axis) and the exactness of every cell, whatever its batch."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pipeline import Finished
from pipeline.comparison import AXES, NO_AXIS, Comparison, plan_comparison
from pipeline.errors import RequestError
from pipeline.request import GenerationRequest
from pipeline.seeds import seed_range

BASE = GenerationRequest(prompt="a red fox in snow", negative_prompt="a blurry fox", width=256, height=256, steps=2)


@pytest.mark.parametrize(
    "axis, values, columns, labels, changed",
    [
        ("steps", "1, 2, 4", ["1", "2", "4"], ["1 step", "2 steps", "4 steps"],
         [{"steps": 1}, {"steps": 2}, {"steps": 4}]),
        ("steps", "3-5, 4, 1", ["3", "4", "5", "1"], ["3 steps", "4 steps", "5 steps", "1 step"],
         [{"steps": 3}, {"steps": 4}, {"steps": 5}, {"steps": 1}]),
        ("guidance_scale", "0, 1.5, 3.0", ["0", "1.5", "3"], ["guidance 0", "guidance 1.5", "guidance 3"],
         [{"guidance_scale": 0.0}, {"guidance_scale": 1.5}, {"guidance_scale": 3.0}]),
        ("prompt_sr", "fox, cat, snowy owl", ["fox", "cat", "snowy owl"], ["fox", "cat", "snowy owl"],
         [{}, {"prompt": "a red cat in snow", "negative_prompt": "a blurry cat"},
          {"prompt": "a red snowy owl in snow", "negative_prompt": "a blurry snowy owl"}]),
        ("variation_strength", "0, 0.1, .25", ["0", "0.1", "0.25"], ["variation 0", "variation 0.1", "variation 0.25"],
         [{"variation_strength": 0.0}, {"variation_strength": 0.1}, {"variation_strength": 0.25}]),
        ("variation_seed", "11-12, 40", ["11", "12", "40"],
         ["variation seed 11", "variation seed 12", "variation seed 40"],
         [{"variation_seed": 11}, {"variation_seed": 12}, {"variation_seed": 40}]),
    ],
)
def test_cells_are_the_base_request_over_seeds_and_axis_values(axis, values, columns, labels, changed):
    comparison = plan_comparison(BASE, "7, 1", axis, values)
    assert (comparison.axis, comparison.seeds, comparison.values) == (axis, (7, 1), tuple(columns))
    assert comparison.row_labels == ("seed 7", "seed 1")
    assert comparison.column_labels == tuple(labels)
    assert comparison.base == BASE.with_seed(7)
    expected = [replace(BASE, seed=seed, **fields) for seed in (7, 1) for fields in changed]
    assert list(comparison.requests) == expected
    assert [cell.request for cell in comparison.cells] == expected
    places = [(row, column) for row in (0, 1) for column in range(len(columns))]
    assert [(cell.row, cell.column) for cell in comparison.cells] == places
    captions = [f"seed {seed} · {label}" for seed in (7, 1) for label in labels]
    assert [cell.caption for cell in comparison.cells] == captions


@pytest.mark.parametrize("seeds", ["2, 1, 2, 3, 1", [2, 1, 2, 3, 1]])
def test_the_plan_names_the_seeds_listed_more_than_once(seeds):
    comparison = plan_comparison(BASE, seeds, "steps", "2, 4")
    assert comparison.seeds == (2, 1, 3)
    assert comparison.repeated == (2, 1)
    assert plan_comparison(BASE, "1-3").repeated == ()


def test_without_an_axis_each_seed_is_one_cell_and_values_are_ignored():
    comparison = plan_comparison(BASE, "3, 5-6", NO_AXIS, "ignored, 1, 2")
    assert comparison.requests == tuple(BASE.with_seed(seed) for seed in (3, 5, 6))
    assert (comparison.values, comparison.column_labels, comparison.columns) == ((), (), 1)
    assert [cell.caption for cell in comparison.cells] == ["seed 3", "seed 5", "seed 6"]
    assert comparison.description == "seeds 3, 5, 6"


def test_seeds_are_a_list_a_range_or_the_seeds_themselves():
    assert plan_comparison(BASE, "100-103").seeds == (100, 101, 102, 103)
    assert plan_comparison(BASE, "1, 7, 42, 7").seeds == (1, 7, 42)
    assert plan_comparison(BASE, seed_range(42, 3)).seeds == (42, 43, 44)
    assert plan_comparison(BASE, [9, 2, 9]).seeds == (9, 2)


def test_prompt_sr_replaces_every_occurrence_and_reads_quoted_values():
    base = replace(BASE, prompt="fox, fox, fox")
    comparison = plan_comparison(base, "1", "prompt_sr", 'fox, "cat, dog", "say ""hi"""')
    assert [request.prompt for request in comparison.requests] == [
        "fox, fox, fox", "cat, dog, cat, dog, cat, dog", 'say "hi", say "hi", say "hi"'
    ]
    assert comparison.column_labels == ("fox", "cat, dog", 'say "hi"')
    assert comparison.description == 'seeds 1 × prompt_sr fox, "cat, dog", "say ""hi"""'


def test_prompt_sr_finds_its_text_in_the_negative_prompt_alone():
    comparison = plan_comparison(BASE, "1", "prompt_sr", "blurry, sharp")
    assert [(request.prompt, request.negative_prompt) for request in comparison.requests] == [
        (BASE.prompt, "a blurry fox"), (BASE.prompt, "a sharp fox")
    ]


@pytest.mark.parametrize(
    "axis, values",
    [("steps", "1, 2, 4"), ("guidance_scale", "0, 1.5, 3"), ("prompt_sr", 'fox, "cat, owl"'), (NO_AXIS, "")],
)
def test_the_description_is_what_a_user_would_type(axis, values):
    comparison = plan_comparison(BASE, "1, 7, 100-107", axis, values)
    seeds, _, typed = comparison.description.partition(" × ")
    assert seeds == "seeds 1, 7, 100-107"
    again = plan_comparison(BASE, seeds.removeprefix("seeds "), axis, typed.removeprefix(f"{axis} "))
    assert again == comparison


def test_axes_have_titles_and_examples_that_plan():
    assert list(AXES) == [NO_AXIS, "steps", "guidance_scale", "prompt_sr", "variation_strength", "variation_seed"]
    for axis in AXES.values():
        base = replace(BASE, prompt="a fox, a cat, an owl")
        assert plan_comparison(base, "1", axis.name, axis.example).columns == max(1, len(axis.example.split(",")))


@pytest.mark.parametrize(
    "axis, values, message",
    [
        ("steps", "1, 20", "Steps must be between 1 and 12, got 20"),
        ("steps", "0-4", "Steps must be between 1 and 12, got 0"),
        ("steps", "1-1000000", "Steps must be between 1 and 12, got 1000000"),
        ("steps", "4-2", "In the steps values, the range 4-2 goes backwards; write it as 2-4"),
        ("steps", "1, four",
         r"In the steps values, 'four' is neither a whole number nor a range like 1-4; write values like 1, 2, 4, 8"),
        ("steps", "2.5", "'2.5' is neither a whole number"),
        ("steps", "9" * 5000, r"'9{40}\.\.\.' is neither a whole number"),
        ("steps", "", "The steps values are empty: enter values like 1, 2, 4, 8"),
        ("steps", "1,,2", "In the steps values, an entry is empty"),
        ("steps", "1, 2,", "an entry is empty"),
        ("guidance_scale", "0, 11", "Guidance scale must be between 0 and 10, got 11"),
        ("guidance_scale", "-1", "Guidance scale must be between 0 and 10, got -1"),
        ("guidance_scale", "1e999", "Guidance scale must be a finite number, got inf"),
        ("guidance_scale", "nan", r"In the guidance scale values, 'nan' is not a number; write values like 0, 1.5, 3"),
        ("guidance_scale", "1,5", None),  # two values: 1 and 5
        ("prompt_sr", "dog, cat", r"Prompt S/R: 'dog' is not in the prompt or the negative prompt"),
        ("prompt_sr", "Fox, cat", r"Prompt S/R: 'Fox' is not in the prompt"),
        ("prompt_sr", "a red fox in snow, ", "an entry is empty"),
        ("variation_strength", "0, 1.5", "Variation strength must be between 0 and 1, got 1.5"),
        ("variation_strength", "0.1 0.2", r"'0.1 0.2' is not a number"),
        ("sideways", "1", "Unknown comparison axis 'sideways'; choose one of none, steps, guidance_scale, prompt_sr"),
    ],
)
def test_bad_axis_values_are_named(axis, values, message):
    if message is None:
        assert plan_comparison(BASE, "1", axis, values).values == ("1", "5")
        return
    with pytest.raises(RequestError, match=message):
        plan_comparison(BASE, "1", axis, values)


@pytest.mark.parametrize(
    "seeds, message",
    [
        ("", "The seed list is empty"),
        ("1, x", "'x' is neither a whole number nor a range"),
        ("1-65", "The range 1-65 has 65 seeds; at most 64 are allowed per comparison"),
        ([], "The comparison has no seeds"),
        ([-1], "Seed must be between 0 and"),
        (list(range(65)), "65 seeds were given; at most 64 are allowed per comparison"),
    ],
)
def test_bad_seeds_are_named(seeds, message):
    with pytest.raises(RequestError, match=message):
        plan_comparison(BASE, seeds)


def test_the_number_of_cells_is_bounded():
    assert len(plan_comparison(BASE, "1-3", "steps", "1, 2", max_cells=6).requests) == 6
    message = (
        r"This comparison asks for 3 seeds × 3 values of steps = 9 images; at most 8 are allowed per comparison\. "
        r"Use fewer seeds or fewer values\."
    )
    with pytest.raises(RequestError, match=message):
        plan_comparison(BASE, "1-3", "steps", "1, 2, 4", max_cells=8)
    with pytest.raises(RequestError, match="at most 2 are allowed"):
        plan_comparison(BASE, "1-3", max_cells=2)


def test_a_comparison_checks_its_shape():
    comparison = plan_comparison(BASE, "1, 2", "steps", "1, 2")
    with pytest.raises(RequestError, match="needs 4 requests, not 3"):
        replace(comparison, requests=comparison.requests[:3])
    with pytest.raises(RequestError, match="Cell 3 has seed 2, but its row is seed 5"):
        replace(comparison, seeds=(1, 5))
    with pytest.raises(RequestError, match="cannot have the values"):
        replace(comparison, axis=NO_AXIS)
    with pytest.raises(RequestError, match="Unknown comparison axis"):
        Comparison(BASE, "zoom", (0,), (), (BASE,))


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


@pytest.mark.parametrize(
    "axis, values, batch_sizes",
    [
        (NO_AXIS, "", [3]),
        ("steps", "1, 2", [3, 3]),
        ("guidance_scale", "0, 1.5", [3, 3]),
        ("prompt_sr", "fox, owl", [3, 3]),
        ("variation_strength", "0, 0.3", [4, 2]),  # one batch_key: a full batch of four, then two
        ("variation_seed", "1, 2", [4, 2]),
    ],
)
def test_every_cell_is_the_image_of_its_request_alone(engine, axis, values, batch_sizes):
    strength = 0.3 if axis == "variation_seed" else 0.0  # the variation seeds matter only above 0
    base = replace(BASE, steps=1, negative_prompt="a blurry fox", variation_seed=99, variation_strength=strength)
    comparison = plan_comparison(base, "5, 6, 7", axis, values)
    images = [None] * len(comparison.requests)
    finished = [event for event in engine.compare(comparison.requests, previews=False) if isinstance(event, Finished)]
    assert sorted(len(event.images) for event in finished) == sorted(batch_sizes)
    for event in finished:
        for index, generated in zip(event.indices, event.images):
            assert images[index] is None and generated.request == comparison.requests[index]
            images[index] = generated.image
    for cell, image in zip(comparison.cells, images):
        (alone,) = engine.generate_images(cell.request)
        assert np.abs(pixels(image) - pixels(alone.image)).max() <= 2, cell.caption
    if axis != NO_AXIS:  # the axis changes the picture
        assert np.abs(pixels(images[0]) - pixels(images[1])).max() > 2
