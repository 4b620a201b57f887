"""The engine's status line on the page: the local engine has nothing to say, a remote one's line
(replicas starting, a lost cluster) shows while it has one, asked once per refresh for every page."""

import threading

import pytest

from ui.studio import REFRESH_S, EngineStatus, build_app

STARTING = "Ray: 2 replicas: 1 running, 1 starting"


class StandIn:
    """An engine whose `status()` says the next of `lines` (then the last again), counting the questions."""

    def __init__(self, *lines: str):
        self.lines = list(lines)
        self.asked = 0

    def status(self) -> str:
        self.asked += 1
        return self.lines.pop(0) if len(self.lines) > 1 else self.lines[0]


def shown(status: EngineStatus) -> tuple[str, bool]:
    update = status.shown()
    return update.value, update.visible


def test_the_line_follows_the_engine_and_hides_when_it_has_nothing_to_say():
    status = EngineStatus(StandIn("", STARTING, "Ray: 2 replicas: 2 running", ""), max_age=0)
    assert [shown(status) for _ in range(4)] == [
        ("", False), (STARTING, True), ("Ray: 2 replicas: 2 running", True), ("", False)
    ]


def test_every_page_shares_one_question_per_refresh():
    engine = StandIn(STARTING, "")
    status = EngineStatus(engine, max_age=60)
    assert {status.line() for _ in range(100)} == {STARTING} and engine.asked == 1


def test_no_page_waits_while_the_engine_is_slow_to_answer():
    answering, release = threading.Event(), threading.Event()

    class Slow(StandIn):
        def status(self) -> str:
            answering.set()
            release.wait(10)
            return super().status()

    status = EngineStatus(Slow(STARTING), max_age=0)
    asker = threading.Thread(target=status.line)
    asker.start()
    assert answering.wait(10)
    assert status.line() == ""  # the last answer (none yet), at once
    release.set()
    asker.join(10)
    assert status.line() == STARTING


@pytest.mark.parametrize("line", ["", STARTING])
def test_the_page_has_the_line_refreshed_by_a_timer_outside_the_queue_and_the_api(engine, monkeypatch, line):
    monkeypatch.setattr(engine, "status", lambda: line)
    app = build_app(engine)
    (refresh,) = [fn for fn in app.fns.values() if any(out.elem_id == "engine-status" for out in fn.outputs)]
    ((timer_id, event),) = refresh.targets
    assert (type(app.blocks[timer_id]).__name__, app.blocks[timer_id].value, event) == ("Timer", REFRESH_S, "tick")
    assert (refresh.queue, refresh.api_visibility) == (False, "private")
    (component,) = refresh.outputs
    assert (component.value, component.visible) == (line, bool(line))
    assert shown(refresh.fn.__self__) == (line, bool(line))


def test_the_local_engine_has_nothing_to_say(engine):
    assert engine.status() == ""
