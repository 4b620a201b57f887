"""The validation table: every bound of a request, on both sides, and the error it gives."""

import math

import pytest

from pipeline.errors import RequestError
from pipeline.request import (
    GUIDANCE_MAX,
    PROMPT_MAX_CHARS,
    SEED_MAX,
    SEQUENCE_MAX,
    SEQUENCE_MIN,
    SIZE_MAX,
    SIZE_MIN,
    STEPS_MAX,
    GenerationRequest,
    nearest_sizes,
)

VALID = [
    ("width", SIZE_MIN),
    ("width", SIZE_MAX),
    ("height", SIZE_MIN),
    ("height", SIZE_MAX),
    ("width", 1024.0),
    ("steps", 1),
    ("steps", STEPS_MAX),
    ("guidance_scale", 0.0),
    ("guidance_scale", GUIDANCE_MAX),
    ("guidance_scale", 3),
    ("seed", 0),
    ("seed", SEED_MAX),
    ("max_sequence_length", SEQUENCE_MIN),
    ("max_sequence_length", SEQUENCE_MAX),
    ("prompt", "x" * PROMPT_MAX_CHARS),
    ("prompt", "مرحبا 🌅 猫, \"quoted\"\nnew line"),
    ("negative_prompt", ""),
]

INVALID = [
    ("width", SIZE_MIN - 16, "Width must be a multiple of 16 from 256 to 1536, got 240; the nearest valid width is 256"),
    ("width", SIZE_MAX + 16, "got 1552; the nearest valid width is 1536"),
    ("height", 1000, "Height must be a multiple of 16 from 256 to 1536, got 1000; the nearest valid height is 992 or 1008"),
    ("height", 0, "got 0; the nearest valid height is 256"),
    ("width", -64, "got -64"),
    ("width", 100_000, "got 100000; the nearest valid width is 1536"),
    ("width", "1024", "Width must be a whole number, got '1024'"),
    ("width", None, "Width must be a whole number, got None"),
    ("width", 1024.5, "Width must be a whole number, got 1024.5"),
    ("steps", 0, "Steps must be between 1 and 12, got 0"),
    ("steps", STEPS_MAX + 1, "Steps must be between 1 and 12, got 13"),
    ("steps", -1, "got -1"),
    ("steps", 10**6, "got 1000000"),
    ("guidance_scale", -0.1, "Guidance scale must be between 0 and 10, got -0.1"),
    ("guidance_scale", GUIDANCE_MAX + 0.1, "got 10.1"),
    ("guidance_scale", 1000, "got 1000"),
    ("guidance_scale", math.nan, "Guidance scale must be a finite number, got nan"),
    ("guidance_scale", math.inf, "finite number, got inf"),
    ("guidance_scale", -math.inf, "finite number, got -inf"),
    ("guidance_scale", "high", "finite number, got 'high'"),
    ("seed", -1, "Seed must be between 0 and 4294967295, got -1; ask for a random seed"),
    ("seed", SEED_MAX + 1, "got 4294967296"),
    ("seed", 2**64, "got 18446744073709551616"),
    ("seed", 10**100, "Seed must be between 0 and 4294967295"),
    ("seed", "abc", "Seed must be a whole number, got 'abc'"),
    ("seed", True, "Seed must be a whole number, got True"),
    ("max_sequence_length", SEQUENCE_MIN - 1, "T5 sequence length must be between 77 and 512, got 76"),
    ("max_sequence_length", SEQUENCE_MAX + 1, "got 513"),
    ("prompt", "", "Prompt is empty: describe the image you want"),
    ("prompt", " \n\t ", "Prompt is empty"),
    ("prompt", "x" * (PROMPT_MAX_CHARS + 1), "Prompt is 4001 characters long; the limit is 4000"),
    ("prompt", "x" * 100_000, "Prompt is 100000 characters long"),
    ("prompt", "a\x00b", "Prompt contains a NUL character"),
    ("prompt", "a\ud800b", "Prompt contains invalid Unicode at position 1"),
    ("prompt", None, "Prompt must be text, got NoneType"),
    ("negative_prompt", "y" * (PROMPT_MAX_CHARS + 1), "Negative prompt is 4001 characters long"),
]


@pytest.mark.parametrize(("field", "value"), VALID)
def test_valid_values_are_kept_as_given(field, value):
    request = GenerationRequest.create(**{"prompt": "a cat", "seed": 1, field: value})
    assert getattr(request, field) == value


@pytest.mark.parametrize(("field", "value", "message"), INVALID)
def test_invalid_values_say_what_is_wrong_and_what_is_allowed(field, value, message):
    with pytest.raises(RequestError) as raised:
        GenerationRequest.create(**{"prompt": "a cat", "seed": 1, field: value})
    assert message in str(raised.value)


def test_defaults_are_the_turbo_ones():
    request = GenerationRequest.create(prompt="a cat", seed=3)
    assert (request.width, request.height, request.steps, request.guidance_scale) == (1024, 1024, 4, 0.0)
    assert not request.uses_negative_prompt
    assert GenerationRequest.create(prompt="a cat", seed=3, guidance_scale=1.5).uses_negative_prompt


def test_missing_seed_draws_a_random_one_in_range():
    seeds = {GenerationRequest.create(prompt="a cat").seed for _ in range(20)}
    assert len(seeds) > 1 and all(0 <= seed <= SEED_MAX for seed in seeds)


def test_integral_floats_become_ints():
    request = GenerationRequest.create(prompt="a cat", seed=7.0, width=512.0, steps=2.0)
    assert (type(request.seed), type(request.width), type(request.steps)) == (int, int, int)


def test_unknown_fields_are_rejected():
    with pytest.raises(RequestError, match="Unknown request fields: sampler"):
        GenerationRequest.create(prompt="a cat", sampler="euler")


@pytest.mark.parametrize(("value", "expected"), [(1000, (992, 1008)), (1024, (1024,)), (10, (256,)), (9999, (1536,))])
def test_nearest_sizes(value, expected):
    assert nearest_sizes(value) == expected
