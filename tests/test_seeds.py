"""Seed lists typed by the user."""

from __future__ import annotations

import time

import pytest

from pipeline.errors import RequestError
from pipeline.request import SEED_MAX
from pipeline.seeds import DEFAULT_MAX_SEEDS, parse_seed_list, repeated_seeds, seed_range


@pytest.mark.parametrize(
    "text, seeds",
    [
        ("42", [42]),
        ("1, 7, 42", [1, 7, 42]),
        ("100-107", list(range(100, 108))),
        ("1, 5-8, 42", [1, 5, 6, 7, 8, 42]),
        ("1 2\n3;4 ; 5,\n6", [1, 2, 3, 4, 5, 6]),
        ("  5 - 7  ", [5, 6, 7]),
        ("3, 1, 3, 2-4, 1", [3, 1, 2, 4]),
        ("7-7", [7]),
        ("0, 007", [0, 7]),
        (f"{SEED_MAX - 1}-{SEED_MAX}", [SEED_MAX - 1, SEED_MAX]),
        ("1-64", list(range(1, 65))),
        ("1-64, 64, 1-10", list(range(1, 65))),
    ],
)
def test_valid_seed_lists(text, seeds):
    assert parse_seed_list(text) == seeds


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "seed list is empty"),
        ("  \n ", "seed list is empty"),
        ("1,,2", "an entry is empty"),
        ("1, 2,", "an entry is empty"),
        (";1", "an entry is empty"),
        ("5-1", "range 5-1 goes backwards; write it as 1-5"),
        ("1-", "'1-' is neither a whole number nor a range"),
        ("-1", "'-1' is neither a whole number nor a range"),
        ("abc", "'abc' is neither"),
        ("1.5", "'1.5' is neither"),
        ("1-2-3", "'1-2-3' is neither"),
        ("٣", "is neither"),
        (str(SEED_MAX + 1), f"Seed {SEED_MAX + 1} is out of range: seeds are whole numbers from 0 to {SEED_MAX}"),
        ("9" * 5000, r"Seed 9{20}\.\.\. \(5000 digits\) is out of range"),
        ("1-1000000000", "range 1-1000000000 has 1000000000 seeds; at most 64 are allowed"),
        (", ".join(str(seed) for seed in range(65)), "more than 64 different seeds"),
        ("1-60, 100-110", "more than 64 different seeds"),
    ],
)
def test_invalid_seed_lists(text, message):
    with pytest.raises(RequestError, match=message):
        parse_seed_list(text)


def test_the_maximum_count_is_configurable():
    assert parse_seed_list("1-3", max_count=3) == [1, 2, 3]
    with pytest.raises(RequestError, match="at most 3 are allowed"):
        parse_seed_list("1-3, 9", max_count=3)


def test_huge_ranges_are_refused_without_expanding_them():
    started = time.perf_counter()
    for text in (f"0-{SEED_MAX}", ", ".join(["1-1000000000"] * 1000)):
        with pytest.raises(RequestError, match="at most"):
            parse_seed_list(text)
    assert time.perf_counter() - started < 1


def test_seed_range():
    assert seed_range(42, 3) == [42, 43, 44]
    assert seed_range(SEED_MAX, 1) == [SEED_MAX]
    assert seed_range(0, DEFAULT_MAX_SEEDS) == list(range(DEFAULT_MAX_SEEDS))


@pytest.mark.parametrize(
    "start, count, message",
    [
        (-1, 2, "first seed must be a whole number from 0"),
        (SEED_MAX + 1, 1, "first seed must be"),
        (1.5, 2, "first seed must be"),
        (True, 2, "first seed must be"),
        (SEED_MAX, 2, f"last seed would be {SEED_MAX + 1}, out of range"),
        (0, 0, "number of seeds must be from 1 to 64, got 0"),
        (0, DEFAULT_MAX_SEEDS + 1, "number of seeds must be from 1 to 64"),
        (0, "3", "number of seeds must be"),
    ],
)
def test_invalid_seed_ranges(start, count, message):
    with pytest.raises(RequestError, match=message):
        seed_range(start, count)


@pytest.mark.parametrize(
    "text, repeated", [("1, 2, 2", [2]), ("3, 1, 3, 2-4, 1", [3, 1]), ("1-5", []), ("1, x", [])]
)
def test_repeated_seeds_are_named_once_each(text, repeated):
    assert repeated_seeds(text) == repeated
