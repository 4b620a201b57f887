"""Both engines keep the one contract `ui/` is written against (pipeline/interface.py)."""

import inspect

import pytest

from pipeline import Engine
from pipeline.interface import ImageEngine
from pipeline.serve import RemoteEngine

MEMBERS = ("info", "tokens", "max_batch_size", "concurrency", "status", "generate", "compare")


def test_the_protocol_has_what_the_interface_uses():
    assert set(MEMBERS) <= set(dir(ImageEngine)) | set(ImageEngine.__annotations__)


@pytest.mark.parametrize("engine_class", [Engine, RemoteEngine])
@pytest.mark.parametrize("method", ["status", "generate", "compare"])
def test_each_engine_takes_the_protocols_arguments(engine_class, method):
    wanted = inspect.signature(getattr(ImageEngine, method)).parameters
    given = inspect.signature(getattr(engine_class, method)).parameters
    assert [(p.name, p.kind, p.default) for p in given.values()] == [
        (p.name, p.kind, p.default) for p in wanted.values()
    ]


@pytest.mark.parametrize("engine_class", [Engine, RemoteEngine])
def test_concurrency_is_a_read_only_number_on_each_engine(engine_class):
    assert isinstance(inspect.getattr_static(engine_class, "concurrency"), (int, property))


def test_the_loaded_local_engine_is_an_image_engine(engine):
    assert isinstance(engine, ImageEngine)
    assert isinstance(engine.concurrency, int) and engine.concurrency >= 1
