"""The engine on the tiny SD3: determinism, exact seed comparison, previews, cancel, concurrency, faults."""

import threading

import numpy as np
import pytest
import torch

from pipeline import Finished, GenerationRequest, Preview
from pipeline.errors import GenerationCancelled, GenerationError
from pipeline.previews import estimate_clean_latents

SIZE = 256


def request(seed=1, **values):
    """A small request; `values` override the defaults."""
    return GenerationRequest.create(**{"prompt": "a red fox in snow", "width": SIZE, "height": SIZE, "seed": seed, **values})


def pixels(image):
    return np.asarray(image, dtype=np.int16)


def single_image(engine, req):
    (image,) = engine.generate_images(req)
    return image


def test_same_request_gives_identical_pixels(engine):
    first, second = (single_image(engine, request(seed=11)).image for _ in range(2))
    assert np.array_equal(pixels(first), pixels(second))


def test_different_seeds_give_different_images(engine):
    first, second = (single_image(engine, request(seed=seed)).image for seed in (1, 2))
    assert not np.array_equal(pixels(first), pixels(second))


def test_stream_is_one_preview_per_step_then_the_final_image(engine):
    req = request(seed=5, steps=3, width=320, height=256)
    events = list(engine.generate(req))
    previews, final = events[:-1], events[-1]
    assert [type(event) for event in previews] == [Preview] * 3
    assert [event.step for event in previews] == [1, 2, 3]
    assert all(event.images[0].size == (320 // 8, 256 // 8) for event in previews)
    assert isinstance(final, Finished)
    assert final.images[0].image.size == (320, 256)
    assert final.images[0].request == req


def test_previews_can_be_turned_off(engine):
    assert [type(event) for event in engine.generate(request(), previews=False)] == [Finished]


def test_comparison_image_for_each_seed_equals_its_single_image(engine):
    seeds = [40, 41, 7, 9, 1000]  # five seeds: one full batch of four, then a batch of one
    finished = [event for event in engine.compare(request(), seeds) if isinstance(event, Finished)]
    assert [len(event.images) for event in finished] == [4, 1]
    images = [image for event in finished for image in event.images]
    assert [image.request.seed for image in images] == seeds
    for image in images:
        alone = single_image(engine, request(seed=image.request.seed))
        assert np.abs(pixels(image.image) - pixels(alone.image)).max() <= 2


def test_comparison_with_a_steps_axis(engine):
    events = list(engine.compare(request(), [3, 4], steps=[1, 2]))
    images = [image for event in events if isinstance(event, Finished) for image in event.images]
    assert [(image.request.steps, image.request.seed) for image in images] == [(1, 3), (1, 4), (2, 3), (2, 4)]
    assert sum(isinstance(event, Preview) for event in events) == 1 + 2


def test_clean_latent_estimate_recovers_x0_from_one_flow_matching_step():
    generator = torch.Generator().manual_seed(0)
    clean, noise = torch.randn(2, 1, 16, 8, 8, generator=generator)
    sigma, sigma_next = 0.9, 0.6
    before = (1 - sigma) * clean + sigma * noise
    after = (1 - sigma_next) * clean + sigma_next * noise
    assert torch.allclose(estimate_clean_latents(before, after, sigma, sigma_next), clean, atol=1e-5)


def test_cancel_stops_between_steps_and_another_caller_is_unaffected(engine):
    expected = single_image(engine, request(seed=21, steps=6)).image
    cancel = threading.Event()
    seen_steps = []
    results = {}

    def other_caller():
        results["other"] = single_image(engine, request(seed=21, steps=6)).image

    with pytest.raises(GenerationCancelled):
        for event in engine.generate(request(seed=20, steps=6), cancel=cancel):
            seen_steps.append(event.step)
            if event.step == 2:
                thread = threading.Thread(target=other_caller)
                thread.start()
                cancel.set()
    thread.join()
    assert seen_steps[-1] < 6
    assert np.array_equal(pixels(results["other"]), pixels(expected))


def test_closing_the_stream_frees_the_pipeline_at_once(engine):
    stream = engine.generate(request(seed=3, steps=8))
    assert isinstance(next(stream), Preview)
    stream.close()
    assert not engine._lock.locked()
    assert single_image(engine, request(seed=3, steps=1)).image.size == (SIZE, SIZE)


def test_concurrent_callers_get_their_sequential_results(engine):
    requests = [request(seed=seed, steps=2) for seed in (100, 101, 102, 103)]
    expected = [single_image(engine, req).image for req in requests]
    results = [None] * len(requests)

    def run(index):
        results[index] = single_image(engine, requests[index]).image

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got, want in zip(results, expected):
        assert np.array_equal(pixels(got), pixels(want))


class _EncoderCalls:
    """Counts forward calls of the three text encoders."""

    def __init__(self, pipeline):
        self.count = 0
        encoders = [pipeline.text_encoder, pipeline.text_encoder_2, pipeline.text_encoder_3]
        self._handles = [encoder.register_forward_hook(self._called) for encoder in encoders]

    def _called(self, *args):
        self.count += 1

    def remove(self):
        for handle in self._handles:
            handle.remove()


def test_prompt_embedding_cache_skips_the_text_encoders(engine):
    calls = _EncoderCalls(engine.pipeline)
    try:
        req = request(prompt="a prompt seen only by this test", seed=1, steps=1)
        engine.generate_images(req)
        assert calls.count == 3
        engine.generate_images(req.with_seed(2))
        list(engine.compare(req, [5, 6, 7, 8, 9]))
        assert calls.count == 3
        engine.generate_images(req.with_steps(2))  # a rerun with other settings still reuses it
        assert calls.count == 3
    finally:
        calls.remove()


def test_cached_prompt_embeddings_hold_no_autograd_graph(engine):
    embedding = engine.prompts.encode("an embedding kept in the cache", 256)
    assert embedding.tokens.grad_fn is None and not embedding.tokens.requires_grad
    assert embedding.pooled.grad_fn is None and not embedding.pooled.requires_grad


def test_guidance_above_one_encodes_and_uses_the_negative_prompt(engine):
    base = request(seed=8, guidance_scale=3.0)
    with_negative = single_image(engine, GenerationRequest.create(**{**base.to_dict(), "negative_prompt": "blurry"}))
    without = single_image(engine, base)
    assert not np.array_equal(pixels(with_negative.image), pixels(without.image))


def test_long_prompts_report_the_words_each_encoder_dropped(engine):
    words = " ".join(["lighthouse"] * 10 + ["zebra"])
    (finished,) = [event for event in engine.generate(request(prompt=words, steps=1), previews=False)]
    assert any(note.startswith("CLIP reads 77 tokens and ignored:") and note.endswith("zebra") for note in finished.warnings)
    short = list(engine.generate(request(steps=1), previews=False))[-1]
    assert short.warnings == []


class _FailOnce:
    """A forward pre-hook that raises `error` on the transformer's next call, then removes itself."""

    def __init__(self, module, error):
        self.error = error
        self.handle = module.register_forward_pre_hook(self)

    def __call__(self, module, args):
        self.handle.remove()
        raise self.error


def test_out_of_memory_error_is_clear_and_the_engine_keeps_working(engine):
    expected = single_image(engine, request(seed=31, steps=2)).image
    _FailOnce(engine.pipeline.transformer, torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20 GiB"))
    with pytest.raises(GenerationError, match=r"Out of GPU memory generating 1 image\(s\) at 256x256"):
        engine.generate_images(request(seed=31, steps=2))
    assert not engine._lock.locked()
    assert np.array_equal(pixels(single_image(engine, request(seed=31, steps=2)).image), pixels(expected))


def test_non_finite_values_become_a_clear_error(engine):
    handle = engine.pipeline.transformer.register_forward_hook(
        lambda module, args, output: (torch.full_like(output[0], float("nan")),)
    )
    try:
        with pytest.raises(GenerationError, match="invalid values \\(NaN or infinity\\)"):
            engine.generate_images(request(seed=2, steps=2))
    finally:
        handle.remove()
    assert single_image(engine, request(seed=2, steps=1)).image.size == (SIZE, SIZE)


def test_an_unexpected_exception_is_reported_to_its_caller_only(engine):
    _FailOnce(engine.pipeline.transformer, RuntimeError("boom"))
    with pytest.raises(GenerationError, match="Generation failed: RuntimeError: boom"):
        engine.generate_images(request(seed=4))
    assert len(engine.generate_images(request(seed=4))) == 1


def test_a_caller_waiting_for_the_pipeline_can_leave_without_waiting_for_the_running_job(engine):
    running = engine.generate(request(seed=50, steps=12))
    next(running)  # the first job now holds the pipeline
    waiting_cancel = threading.Event()
    waiting = engine.generate(request(seed=51), cancel=waiting_cancel)
    outcome = {}

    def wait_in_line():
        try:
            list(waiting)
        except GenerationCancelled as error:
            outcome["error"] = error

    thread = threading.Thread(target=wait_in_line)
    thread.start()
    waiting_cancel.set()
    thread.join(timeout=5)
    assert not thread.is_alive() and "error" in outcome
    assert isinstance(list(running)[-1], Finished)  # the running job was not disturbed
