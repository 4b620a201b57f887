"""The progress of a run told from the engine's events, when a comparison's batches run one after
the other (the local engine) and when they run at once and their previews interleave (Ray)."""

import re

from PIL import Image

from pipeline import Finished, GenerationRequest, Preview
from pipeline.events import GeneratedImage
from ui.runs import RunProgress, Underway

# Two batches of a comparison: four images of 3 steps, and two of 1 step (14 image-steps in all).
FIRST = [GenerationRequest(prompt="a fox", seed=seed, steps=3) for seed in range(4)]
SECOND = [GenerationRequest(prompt="a fox", seed=seed, steps=1) for seed in range(4, 6)]
PICTURE = Image.new("RGB", (8, 8))


def preview(requests, indices, step):
    return Preview(step, requests[0].steps, [PICTURE] * len(requests), requests, indices)


def finished(requests, indices):
    return Finished([GeneratedImage(PICTURE, request, "tiny") for request in requests], indices)


def told(events):
    """The (fraction, text) of every step, and what the `gr.Progress` stand-in was told."""
    reported = []
    tracker = RunProgress(lambda fraction, desc: reported.append((fraction, desc)), images=6, steps_per_image=14 / 6)
    steps = []
    for event in events:
        if isinstance(event, Preview):
            step = tracker.preview(event)
            steps.append((step.fraction, re.sub(r"\d+\.\d s left", "… s left", step.text)))
        else:
            tracker.finished(event)
    return steps, reported


def test_batches_one_after_the_other_count_images_in_order():
    a, b = (0, 1, 2, 3), (4, 5)
    events = [preview(FIRST, a, 1), preview(FIRST, a, 2), preview(FIRST, a, 3), finished(FIRST, a)]
    steps, reported = told(events + [preview(SECOND, b, 1), finished(SECOND, b)])
    assert steps == [
        (4 / 14, "Images 1–4 of 6 · step 1 of 3 · … s left"),
        (8 / 14, "Images 1–4 of 6 · step 2 of 3 · … s left"),
        (12 / 14, "Decoding images 1–4 of 6…"),
        (1.0, "Decoding images 5–6 of 6…"),
    ]
    assert reported[0] == (0, "Starting") and [fraction for fraction, _ in reported[1:]] == [f for f, _ in steps]


def test_interleaved_batches_each_keep_their_images_and_the_whole_run_moves_forward():
    # On Ray the small batch runs on the other replica at once; its Finished waits for the first's
    # (RemoteEngine hands them over in plan order).
    a, b = (0, 1, 2, 3), (4, 5)
    steps, _ = told([
        preview(FIRST, a, 1), preview(SECOND, b, 1), preview(FIRST, a, 2), preview(FIRST, a, 3),
        finished(FIRST, a), finished(SECOND, b),
    ])
    assert steps == [
        (4 / 14, "Images 1–4 of 6 · step 1 of 3 · … s left"),
        (6 / 14, "Decoding images 5–6 of 6…"),
        (10 / 14, "Images 1–4 of 6 · step 2 of 3 · … s left"),
        (1.0, "Decoding images 1–4 of 6…"),
    ]


def test_the_batch_that_starts_first_gets_the_first_numbers():
    a, b = (0, 1, 2, 3), (4, 5)
    steps, _ = told([preview(SECOND, b, 1), preview(FIRST, a, 1), preview(FIRST, a, 2)])
    assert [text for _, text in steps] == [
        "Decoding images 1–2 of 6…",
        "Images 3–6 of 6 · step 1 of 3 · … s left",
        "Images 3–6 of 6 · step 2 of 3 · … s left",
    ]
    assert [fraction for fraction, _ in steps] == [2 / 14, 6 / 14, 10 / 14]


def test_the_runs_underway_tell_their_own_time_left_until_they_end(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("ui.runs.time.perf_counter", lambda: now[0])
    underway = Underway()
    first = RunProgress(lambda fraction, desc: None, images=1, steps_per_image=3, underway=underway)
    second = RunProgress(lambda fraction, desc: None, images=1, steps_per_image=3, underway=underway)
    assert underway.seconds_left() == [None, None]  # started, no step done: no estimate yet
    now[0] = 102.0
    assert first.preview(preview(FIRST[:1], (0,), 1)).text == "Step 1 of 3 · 4.0 s left"  # 2 s a step
    now[0] = 103.0
    assert underway.seconds_left() == [3.0, None]  # the run's own estimate, counting down
    first.close()
    assert underway.seconds_left() == [None]
    second.close()
    assert underway.seconds_left() == []
