"""The validation table: every bound of a request, on both sides, and the error it gives."""

import pytest

from helpers.bad_inputs import REQUEST_CASES
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
    ("variation_seed", SEED_MAX),
    ("variation_strength", 0.0),
    ("variation_strength", 1),
    ("variation_strength", 0.15),
]

# The refused values come from the one table of bad inputs (tests/helpers/bad_inputs.py).
INVALID = [(case.field, case.value, case.message) for case in REQUEST_CASES]


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
    assert (request.variation_seed, request.variation_strength) == (0, 0.0)
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


def test_batch_key_holds_what_one_batch_shares_and_not_what_differs_per_image():
    request = GenerationRequest.create(prompt="a cat", seed=1, negative_prompt="blurry", guidance_scale=2.0)
    assert request.batch_key == ("a cat", "blurry", 1024, 1024, 4, 2.0, 256)
    per_image = {"seed": 2, "variation_seed": 3, "variation_strength": 0.5}
    assert GenerationRequest.create(**{**request.to_dict(), **per_image}).batch_key == request.batch_key


def test_batch_key_ignores_the_negative_prompt_when_guidance_does_not_use_it():
    unguided = GenerationRequest.create(prompt="a cat", seed=1, negative_prompt="blurry")
    assert unguided.batch_key.negative_prompt == ""
    assert unguided.batch_key == GenerationRequest.create(prompt="a cat", seed=1).batch_key
