"""Grouping requests into transformer batches: each batch shares one `GenerationRequest.batch_key`."""

from __future__ import annotations

import reprlib
from collections.abc import Sequence

from pipeline.errors import RequestError
from pipeline.request import BatchKey, GenerationRequest


def plan_batches(requests: Sequence[GenerationRequest], max_batch_size: int) -> list[list[int]]:
    """The batches to run `requests` in, as lists of indices into `requests`.

    Requests are grouped by `batch_key`, groups in the order of their first request and requests
    in their given order inside a group; each group is cut into chunks of at most `max_batch_size`.
    """
    if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int) or max_batch_size < 1:
        raise ValueError(f"max_batch_size must be a whole number of at least 1, got {max_batch_size!r}.")
    groups: dict[BatchKey, list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(request.batch_key, []).append(index)
    return [
        group[start : start + max_batch_size]
        for group in groups.values()
        for start in range(0, len(group), max_batch_size)
    ]


def check_batch(requests: Sequence[GenerationRequest]) -> None:
    """Raise `RequestError` unless `requests` is one batch: at least one request, one `batch_key`."""
    if not requests:
        raise RequestError("A batch needs at least one request.")
    first = requests[0].batch_key
    for position, request in enumerate(requests[1:], start=2):
        key = request.batch_key
        if key != first:
            differences = ", ".join(
                f"{field} {reprlib.repr(getattr(key, field))} instead of {reprlib.repr(getattr(first, field))}"
                for field in BatchKey._fields
                if getattr(key, field) != getattr(first, field)
            )
            raise RequestError(
                f"Request {position} of the batch differs from the first in {differences}; the requests of a batch "
                f"share their {', '.join(BatchKey._fields)}. Split them with plan_batches (Engine.compare does)."
            )
