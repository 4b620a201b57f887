"""Comparison plans: a base request over rows of seeds and one optional column axis, as grid cells.

Axis values are typed comma-separated (`1, 2, 4, 8`; quote a Prompt S/R value that holds a
comma: `"red, fox", cat`). Every cell's request is built with `dataclasses.replace`, so
`GenerationRequest` validates each one and its messages name any value out of bounds.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from pipeline.errors import RequestError
from pipeline.request import GenerationRequest
from pipeline.seeds import DEFAULT_MAX_SEEDS, parse_seed_list, repeated_seeds

NO_AXIS = "none"

_INTEGER = re.compile(r"[+-]?[0-9]{1,9}")
_INTEGER_RANGE = re.compile(r"([0-9]{1,9})\s*-\s*([0-9]{1,9})")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SHOWN_CHARS = 40


@dataclass(frozen=True)
class Axis:
    """A column axis: its `name` (in the API and in files), `title` (for people) and an `example` of values."""

    name: str
    title: str
    example: str


AXES: dict[str, Axis] = {
    axis.name: axis
    for axis in (
        Axis(NO_AXIS, "None", ""),
        Axis("steps", "Steps", "1, 2, 4, 8"),
        Axis("guidance_scale", "Guidance scale", "0, 1.5, 3"),
        Axis("prompt_sr", "Prompt S/R", "fox, cat, owl"),
        Axis("variation_strength", "Variation strength", "0, 0.1, 0.2, 0.4"),
        Axis("variation_seed", "Variation seed", "1, 2, 3, 4"),
    )
}


@dataclass(frozen=True)
class Cell:
    """One image of a comparison: its exact request, its caption and its place in the grid."""

    request: GenerationRequest
    caption: str
    row: int
    column: int


@dataclass(frozen=True)
class Comparison:
    """Seeds (rows) × the values of one axis (columns); build it with `plan_comparison`.

    Attributes:
        base: the settings every cell starts from, with the first seed.
        axis: a key of `AXES`.
        seeds: the row seeds, top to bottom.
        values: the axis values as text, left to right (`3`, `1.5`, `cat`); empty without an axis.
        requests: every cell's exact request, row by row.
        repeated: the seeds the list named more than once (each made once), for a note.
    """

    base: GenerationRequest
    axis: str
    seeds: tuple[int, ...]
    values: tuple[str, ...]
    requests: tuple[GenerationRequest, ...]
    repeated: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _check_axis(self.axis)
        if (self.axis == NO_AXIS) != (not self.values):
            raise RequestError(f"A comparison over {self.axis!r} cannot have the values {list(self.values)}.")
        if not self.seeds or len(self.requests) != len(self.seeds) * self.columns:
            raise RequestError(
                f"A comparison of {len(self.seeds)} seeds × {self.columns} values needs "
                f"{len(self.seeds) * self.columns} requests, not {len(self.requests)}."
            )
        for index, request in enumerate(self.requests):
            if request.seed != self.seeds[index // self.columns]:
                raise RequestError(
                    f"Cell {index + 1} has seed {request.seed}, but its row is seed "
                    f"{self.seeds[index // self.columns]}."
                )

    @property
    def columns(self) -> int:
        """The number of columns: one without an axis."""
        return len(self.values) or 1

    @property
    def row_labels(self) -> tuple[str, ...]:
        """The row headers: `seed 7`."""
        return tuple(f"seed {seed}" for seed in self.seeds)

    @property
    def column_labels(self) -> tuple[str, ...]:
        """The column headers as people read them: `2 steps`, `guidance 1.5`, `cat`, `variation 0.1`."""
        return tuple(_LABELS[self.axis](value) for value in self.values)

    @property
    def cells(self) -> tuple[Cell, ...]:
        """Every cell, row by row, captioned like `seed 7 · 2 steps` (`seed 7` without an axis)."""
        rows, columns = self.row_labels, self.column_labels or ("",)
        cells = []
        for index, request in enumerate(self.requests):
            row, column = divmod(index, self.columns)
            cells.append(Cell(request, " · ".join(filter(None, (rows[row], columns[column]))), row, column))
        return tuple(cells)

    @property
    def description(self) -> str:
        """Its seeds and axis values, as typed: `seeds 1, 7, 42 × steps 1, 2, 4`."""
        seeds = f"seeds {_seed_runs(self.seeds)}"
        if self.axis == NO_AXIS:
            return seeds
        return f"{seeds} × {self.axis} {', '.join(_quoted(value) for value in self.values)}"


def plan_comparison(
    base: GenerationRequest,
    seeds: str | Sequence[int],
    axis: str = NO_AXIS,
    values: str = "",
    *,
    max_cells: int = DEFAULT_MAX_SEEDS,
) -> Comparison:
    """The cells of `base` over `seeds` × the `values` of `axis`.

    Args:
        base: the settings of every cell but the seed and the axis value.
        seeds: a seed list like `1, 7, 42` or `100-107`, or the seeds themselves
            (e.g. `seed_range(first, count)`); duplicates are dropped, keeping the first.
        axis: a key of `AXES`.
        values: the axis values, comma-separated; ignored without an axis. Steps take
            whole numbers or ranges (`1-4`), variation seeds a seed list (`1-8`, explored at the
            base's variation strength); guidance and variation strength take numbers;
            Prompt S/R takes texts, the first of which is searched in the prompt and the
            negative prompt and replaced by each value (the first gives them unchanged).
            Duplicates are dropped, keeping the first.
        max_cells: the most images the comparison may have.

    Raises:
        RequestError: a seed or value is not understood or out of bounds, the S/R text is
            not in the prompt, or there are more than `max_cells` images.
    """
    _check_axis(axis)
    rows = _seeds(seeds, max_cells)
    parsed = _values(base, axis, values, max_cells)
    if len(rows) * max(1, len(parsed)) > max_cells:
        raise RequestError(
            f"This comparison asks for {len(rows)} seeds × {len(parsed)} values of {AXES[axis].title.lower()} = "
            f"{len(rows) * len(parsed)} images; at most {max_cells} are allowed per comparison. "
            "Use fewer seeds or fewer values."
        )
    variants = _variants(base, axis, parsed)
    requests = tuple(variant.with_seed(seed) for seed in rows for variant in variants)
    repeated = repeated_seeds(seeds, max_cells) if isinstance(seeds, str) else _repeated(seeds)
    return Comparison(
        base.with_seed(rows[0]), axis, tuple(rows), tuple(map(_text, parsed)), requests, tuple(repeated)
    )


def _check_axis(axis: str) -> None:
    if axis not in AXES:
        raise RequestError(f"Unknown comparison axis {axis!r}; choose one of {', '.join(AXES)}.")


def _seeds(seeds: str | Sequence[int], max_cells: int) -> list[int]:
    if isinstance(seeds, str):
        return parse_seed_list(seeds, max_cells)
    unique = list(dict.fromkeys(seeds))
    if not unique:
        raise RequestError("The comparison has no seeds: give at least one.")
    if len(unique) > max_cells:
        raise RequestError(f"{len(unique)} seeds were given; at most {max_cells} are allowed per comparison.")
    return unique


def _repeated(seeds: Sequence[int]) -> list[int]:
    """The seeds listed more than once, each once, in order."""
    counts = Counter(seeds)
    return [seed for seed in dict.fromkeys(seeds) if counts[seed] > 1]


def _values(base: GenerationRequest, axis: str, text: str, max_cells: int) -> list[int | float | str]:
    """The values typed for `axis`, without duplicates; none without an axis."""
    if axis == NO_AXIS:
        return []
    if axis == "variation_seed":
        return parse_seed_list(text, max_cells)
    entries = _entries(text, AXES[axis])
    if axis == "prompt_sr":
        return list(dict.fromkeys(entries))
    parse = _steps if axis == "steps" else _numbers
    return list(dict.fromkeys(value for entry in entries for value in parse(base, entry, AXES[axis])))


def _variants(base: GenerationRequest, axis: str, values: list) -> list[GenerationRequest]:
    """The request of each column, seed aside, validated by `GenerationRequest`."""
    if axis == NO_AXIS:
        return [base]
    if axis == "prompt_sr":
        return _replacements(base, values)
    return [replace(base, **{axis: value}) for value in values]


def _entries(text: str, axis: Axis) -> list[str]:
    """The comma-separated entries of `text` (CSV quoting allowed), stripped; none may be empty."""
    try:
        entries = [entry.strip() for row in csv.reader(io.StringIO(text), skipinitialspace=True) for entry in row]
    except csv.Error as error:
        raise RequestError(f"The {axis.title.lower()} values could not be read ({error}).") from None
    if not entries:
        raise RequestError(f"The {axis.title.lower()} values are empty: enter values like {axis.example}.")
    if not all(entries):
        raise _misread(axis, "an entry is empty (two commas in a row, or one at the start or end)")
    return entries


def _steps(base: GenerationRequest, entry: str, axis: Axis) -> list[int]:
    """A whole number, or an inclusive range whose ends the request accepts."""
    if _INTEGER.fullmatch(entry):
        return [int(entry)]
    bounds = _INTEGER_RANGE.fullmatch(entry)
    if bounds is None:
        raise _misread(axis, f"{_shown(entry)} is neither a whole number nor a range like 1-4")
    start, end = (base.with_steps(int(bound)).steps for bound in bounds.groups())
    if end < start:
        raise _misread(axis, f"the range {start}-{end} goes backwards; write it as {end}-{start}")
    return list(range(start, end + 1))


def _numbers(base: GenerationRequest, entry: str, axis: Axis) -> list[float]:
    if _NUMBER.fullmatch(entry) is None:
        raise _misread(axis, f"{_shown(entry)} is not a number")
    return [float(entry)]


def _replacements(base: GenerationRequest, values: list[str]) -> list[GenerationRequest]:
    """Prompt S/R: the first value replaced by each value, everywhere in both prompts."""
    search = values[0]
    if search not in base.prompt and search not in base.negative_prompt:
        raise RequestError(
            f"Prompt S/R: {search!r} is not in the prompt or the negative prompt. The first value is the "
            "text that each value replaces: make it a word or phrase of the prompt."
        )
    return [
        replace(
            base, prompt=base.prompt.replace(search, value),
            negative_prompt=base.negative_prompt.replace(search, value),
        )
        for value in values
    ]


def _misread(axis: Axis, problem: str) -> RequestError:
    return RequestError(
        f"In the {axis.title.lower()} values, {problem}; write values like {axis.example}, separated by commas."
    )


def _shown(entry: str) -> str:
    return repr(entry if len(entry) <= _SHOWN_CHARS else f"{entry[:_SHOWN_CHARS]}...")


def _text(value: int | float | str) -> str:
    """A value as it is typed: `2`, `1.5`, `3` (not `3.0`), `cat`."""
    return value if isinstance(value, str) else repr(value).removesuffix(".0")


def _quoted(value: str) -> str:
    """A value as a CSV entry: quoted when it holds a comma or a quote, or starts or ends with a space."""
    if any(character in value for character in ',"') or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


def _seed_runs(seeds: Sequence[int]) -> str:
    """`1, 7, 100-107`: runs of three or more consecutive seeds written as ranges."""
    runs: list[list[int]] = []
    for seed in seeds:
        if runs and seed == runs[-1][-1] + 1:
            runs[-1].append(seed)
        else:
            runs.append([seed])
    return ", ".join(
        f"{run[0]}-{run[-1]}" if len(run) >= 3 else ", ".join(map(str, run)) for run in runs
    )


def _step_label(value: str) -> str:
    return f"{value} step" if value == "1" else f"{value} steps"


_LABELS: dict[str, Callable[[str], str]] = {
    NO_AXIS: str,
    "steps": _step_label,
    "guidance_scale": "guidance {}".format,
    "prompt_sr": str,
    "variation_strength": "variation {}".format,
    "variation_seed": "variation seed {}".format,
}
