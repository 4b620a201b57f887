"""Seed lists for comparisons, parsed from what the user types.

Entries are whole numbers (`42`) or inclusive ranges (`100-107`), separated by commas,
semicolons, spaces or newlines. Duplicates are dropped, keeping the first occurrence
(`repeated_seeds` names them, for a note).
Every problem raises `RequestError` saying what was wrong and what is allowed.
"""

from __future__ import annotations

import re

from pipeline.errors import RequestError
from pipeline.request import SEED_MAX, SEED_MIN

DEFAULT_MAX_SEEDS = 64

_SEPARATOR = re.compile(r"\s*[,;]\s*|\s+")
_DASH = re.compile(r"\s*-\s*")
_ENTRY = re.compile(r"([0-9]+)(?:-([0-9]+))?")
_ALLOWED = f"seeds are whole numbers from {SEED_MIN} to {SEED_MAX}"


def parse_seed_list(text: str, max_count: int = DEFAULT_MAX_SEEDS) -> list[int]:
    """The seeds in `text`, e.g. "1, 5-8, 42", in order and without duplicates."""
    if not text.strip():
        raise RequestError("The seed list is empty: enter seeds like 1, 7, 42 or a range like 100-107.")
    entries = _SEPARATOR.split(_DASH.sub("-", text.strip()))
    return _expand([_entry(entry, max_count) for entry in entries], max_count)


def repeated_seeds(text: str, max_count: int = DEFAULT_MAX_SEEDS) -> list[int]:
    """The seeds `text` lists more than once (each once, in order); none where it does not parse."""
    try:
        spans = [_entry(entry, max_count) for entry in _SEPARATOR.split(_DASH.sub("-", text.strip()))]
    except RequestError:
        return []
    seen: set[int] = set()
    repeated: dict[int, None] = {}
    for seed in (seed for span in spans for seed in span):
        if seed in seen:
            repeated[seed] = None
        seen.add(seed)
    return list(repeated)


def seed_range(start: int, count: int, max_count: int = DEFAULT_MAX_SEEDS) -> list[int]:
    """`count` consecutive seeds from `start`: start, start + 1, ..., all of them valid seeds."""
    if not _whole_between(start, SEED_MIN, SEED_MAX):
        raise RequestError(f"The first seed must be a whole number from {SEED_MIN} to {SEED_MAX}, got {start!r}.")
    if not _whole_between(count, 1, max_count):
        raise RequestError(f"The number of seeds must be from 1 to {max_count}, got {count!r}.")
    return list(_span(start, start + count - 1, max_count))


def _whole_between(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _entry(entry: str, max_count: int) -> range:
    """The seeds of one entry, checked, its size bounded before it is expanded."""
    match = _ENTRY.fullmatch(entry)
    if match is None:
        problem = (
            f"{entry!r} is neither a whole number nor a range"
            if entry
            else "an entry is empty (two separators in a row, or one at the start or end)"
        )
        raise RequestError(
            f"In the seed list, {problem}; write numbers like 42 or ranges like 100-107, "
            f"separated by commas ({_ALLOWED})."
        )
    start = _value(match[1])
    end = start if match[2] is None else _value(match[2])
    return _span(start, end, max_count)


def _value(digits: str) -> int:
    significant = digits.lstrip("0") or "0"
    # Checking the length first keeps int() away from numbers with thousands of digits.
    if len(significant) > len(str(SEED_MAX)) or not SEED_MIN <= int(significant) <= SEED_MAX:
        shown = digits if len(digits) <= 20 else f"{digits[:20]}... ({len(digits)} digits)"
        raise RequestError(f"Seed {shown} is out of range: {_ALLOWED}.")
    return int(significant)


def _span(start: int, end: int, max_count: int) -> range:
    """The inclusive range start..end, refused when backwards or longer than `max_count`."""
    if end > SEED_MAX:
        raise RequestError(f"The last seed would be {end}, out of range: {_ALLOWED}.")
    if end < start:
        raise RequestError(f"The range {start}-{end} goes backwards; write it as {end}-{start}.")
    if end - start + 1 > max_count:
        raise _too_many(f"The range {start}-{end} has {end - start + 1} seeds", max_count)
    return range(start, end + 1)


def _expand(spans: list[range], max_count: int) -> list[int]:
    """The seeds of `spans` in order without duplicates, refused beyond `max_count`."""
    values: dict[int, None] = {}
    for span in spans:
        values.update(dict.fromkeys(span))
        if len(values) > max_count:
            raise _too_many(f"The seed list has more than {max_count} different seeds", max_count)
    return list(values)


def _too_many(problem: str, max_count: int) -> RequestError:
    return RequestError(f"{problem}; at most {max_count} are allowed per comparison.")
