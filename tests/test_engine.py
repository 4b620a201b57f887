"""The engine on the tiny SD3: determinism, batch planning, exact comparisons, variation seeds,
previews, cancel (also under model offload), concurrency, faults."""

import math
import threading

import numpy as np
import pytest
import torch
from accelerate.hooks import CpuOffload
from diffusers import StableDiffusion3Pipeline

from pipeline import Engine, Finished, GenerationRequest, ModelInfo, Preview
from pipeline.batching import plan_batches
from pipeline.errors import GenerationCancelled, GenerationError, RequestError
from pipeline.noise import initial_noise, slerp
from pipeline.previews import estimate_clean_latents, start_preview

SIZE = 256


def request(seed=1, **values):
    """A small request; `values` override the defaults."""
    values = {"prompt": "a red fox in snow", "width": SIZE, "height": SIZE, "seed": seed, **values}
    return GenerationRequest.create(**values)


def pixels(image):
    return np.asarray(image, dtype=np.int16)


def single_image(engine, req):
    (image,) = engine.generate_images(req)
    return image


def nearly_equal(first, second):
    """Whether two images differ by at most 2/255 in every pixel (float noise across batch sizes)."""
    return np.abs(pixels(first) - pixels(second)).max() <= 2


def assert_each_image_is_its_single_image(engine, images):
    """Every generated image is what `generate` alone makes of its request."""
    for image in images:
        assert nearly_equal(image.image, single_image(engine, image.request).image), image.request


def test_same_request_gives_identical_pixels(engine):
    first, second = (single_image(engine, request(seed=11)).image for _ in range(2))
    assert np.array_equal(pixels(first), pixels(second))


def test_different_seeds_give_different_images(engine):
    first, second = (single_image(engine, request(seed=seed)).image for seed in (1, 2))
    assert not np.array_equal(pixels(first), pixels(second))


def test_stream_is_one_preview_per_step_then_the_final_image(engine):
    """A caller that keeps up gets every step's preview. Previews a busy caller did not take are
    skipped, so each step here starts only once the caller holds the last one: a loaded machine
    that leaves the caller's thread waiting a whole step cannot skip one."""
    req = request(seed=5, steps=3, width=320, height=256)
    taken, forwards = threading.Semaphore(0), []

    def once_the_caller_has_the_last_preview(module, args):
        if forwards:
            assert taken.acquire(timeout=30)
        forwards.append(module)

    hook = engine.pipeline.transformer.register_forward_pre_hook(once_the_caller_has_the_last_preview)
    events = []
    try:
        for event in engine.generate(req):
            events.append(event)
            if isinstance(event, Preview):
                taken.release()
    finally:
        hook.remove()
    previews, final = events[:-1], events[-1]
    assert [type(event) for event in previews] == [Preview] * 3
    assert [event.step for event in previews] == [1, 2, 3]
    assert all(event.images[0].size == (320 // 8, 256 // 8) for event in previews)
    assert isinstance(final, Finished)
    assert final.images[0].image.size == (320, 256)
    assert final.images[0].request == req


@pytest.mark.parametrize("slow_in", ["decoding", "between_events"])
def test_a_step_never_waits_for_a_slow_preview_consumer(engine, monkeypatch, slow_in):
    """The caller holds its first preview, in its decode or before asking for the next event, until
    the VAE decode has begun: every step ran meanwhile. It then gets the last step's preview (those
    it was too busy for are skipped, not queued up) and the very image a run without previews makes."""
    decoding, held = threading.Event(), []
    hook = engine.pipeline.vae.decoder.register_forward_pre_hook(lambda module, args: decoding.set())
    previewer = engine.previewer

    def slow_first_decode(latents):  # wait for the steps to end; 30 s only if they never do
        if not held:
            held.append(decoding.wait(timeout=30))
        return previewer(latents)

    if slow_in == "decoding":
        monkeypatch.setattr(engine, "previewer", slow_first_decode)
    req = request(seed=8, steps=4)
    try:
        stream = engine.generate(req)
        first = next(stream)
        if slow_in == "between_events":
            held.append(decoding.wait(timeout=30))
        rest = list(stream)
    finally:
        hook.remove()
    assert held == [True]  # the steps and the VAE decode went on while the caller was busy
    assert [(type(event), event.step) for event in [first, *rest[:-1]]] == [(Preview, 1), (Preview, 4)]
    assert np.array_equal(pixels(rest[-1].images[0].image), pixels(single_image(engine, req).image))


def test_a_started_preview_does_its_work_in_the_thread_that_finishes_it(engine):
    """On a CPU, starting a preview (in the step loop) computes nothing: the estimate and the decode
    run when the caller's thread finishes it."""
    calls = []
    latents = torch.randn(1, 16, 4, 5)

    def estimate():
        calls.append("estimate")
        return latents

    def previewer(clean):
        calls.append("decode")
        return engine.previewer(clean)

    finish = start_preview(previewer, estimate)
    assert calls == []
    (image,) = finish()
    assert calls == ["estimate", "decode"] and image.size == (5, 4)


def test_previews_can_be_turned_off(engine):
    assert [type(event) for event in engine.generate(request(), previews=False)] == [Finished]


def test_plan_batches_groups_by_batch_key_in_order_of_first_appearance():
    keys = ["a", "b", "a", "a", "c", "a", "b", "a", "a"]
    requests = [GenerationRequest(prompt=key, seed=index) for index, key in enumerate(keys)]
    assert plan_batches(requests, 3) == [[0, 2, 3], [5, 7, 8], [1, 6], [4]]
    assert plan_batches(requests, 1) == [[0], [2], [3], [5], [7], [8], [1], [6], [4]]
    assert plan_batches([], 4) == []


def test_plan_batches_separates_every_field_of_the_batch_key_and_nothing_else():
    base = GenerationRequest(prompt="a fox", guidance_scale=0.0, negative_prompt="blurry")
    same_batch = [base.with_seed(9), GenerationRequest(**{**base.to_dict(), "variation_seed": 3,
                                                          "variation_strength": 0.5, "negative_prompt": ""})]
    other_batches = [
        GenerationRequest(**{**base.to_dict(), field: value})
        for field, value in [("prompt", "a cat"), ("width", 512), ("height", 768), ("steps", 2),
                             ("guidance_scale", 1.5), ("max_sequence_length", 77)]
    ]
    with_guidance = GenerationRequest(**{**base.to_dict(), "guidance_scale": 1.5, "negative_prompt": ""})
    batches = plan_batches([base, *same_batch, *other_batches, with_guidance], 8)
    assert batches == [[0, 1, 2], [3], [4], [5], [6], [7], [8], [9]]


@pytest.mark.parametrize("size", [0, -1, 2.0, True])
def test_plan_batches_refuses_a_batch_size_that_is_not_a_positive_whole_number(size):
    with pytest.raises(ValueError, match="max_batch_size must be a whole number of at least 1"):
        plan_batches([request()], size)


def test_comparison_image_for_each_seed_equals_its_single_image(engine):
    seeds = [40, 41, 7, 9, 1000]  # five seeds: one full batch of four, then a batch of one
    requests = [request(seed=seed) for seed in seeds]
    finished = [event for event in engine.compare(requests) if isinstance(event, Finished)]
    assert [event.indices for event in finished] == [(0, 1, 2, 3), (4,)]
    images = [image for event in finished for image in event.images]
    assert [image.request for image in images] == requests
    assert_each_image_is_its_single_image(engine, images)


def test_comparison_with_a_steps_axis(engine):
    requests = [request(seed=seed, steps=steps) for steps in (1, 2) for seed in (3, 4)]
    events = list(engine.compare(requests))
    images = [image for event in events if isinstance(event, Finished) for image in event.images]
    assert [(image.request.steps, image.request.seed) for image in images] == [(1, 3), (1, 4), (2, 3), (2, 4)]
    assert sum(isinstance(event, Preview) for event in events) == 1 + 2


def test_a_comparison_mixing_steps_and_guidance_splits_them_and_every_image_is_exact(engine):
    settings = [(1, 0.0), (2, 0.0), (1, 3.0), (2, 0.0), (1, 0.0), (1, 3.0), (2, 1.5)]
    requests = [
        request(seed=60 + index, steps=steps, guidance_scale=guidance, negative_prompt="blurry")
        for index, (steps, guidance) in enumerate(settings)
    ]
    events = list(engine.compare(requests))
    finished = [event for event in events if isinstance(event, Finished)]
    assert [event.indices for event in finished] == [(0, 4), (1, 3), (2, 5), (6,)]
    for event in finished:
        assert [image.request for image in event.images] == [requests[index] for index in event.indices]
    previews = [event for event in events if isinstance(event, Preview)]
    assert [(event.indices, event.step) for event in previews] == [
        ((0, 4), 1), ((1, 3), 1), ((1, 3), 2), ((2, 5), 1), ((6,), 1), ((6,), 2)
    ]
    assert_each_image_is_its_single_image(engine, [image for event in finished for image in event.images])


def test_a_single_generation_reports_index_zero(engine):
    events = list(engine.generate(request(steps=2)))
    assert [event.indices for event in events] == [(0,)] * 3


def test_run_batch_reports_the_indices_it_is_given(engine):
    requests = [request(seed=seed, steps=1) for seed in (70, 71)]
    events = list(engine.run_batch(requests, indices=[5, 2]))
    assert [event.indices for event in events] == [(5, 2), (5, 2)]
    assert [image.request for image in events[-1].images] == requests
    with pytest.raises(ValueError, match="run_batch got 2 requests but 1 indices"):
        engine.run_batch(requests, indices=[5])


def test_run_batch_refuses_requests_that_cannot_share_a_batch_before_running_anything(engine):
    with pytest.raises(RequestError, match="Request 3 of the batch differs from the first in steps 2 instead of 4"):
        engine.run_batch([request(seed=1), request(seed=2), request(seed=3, steps=2)])
    with pytest.raises(RequestError, match="guidance_scale 3.0 instead of 0.0.*Split them with plan_batches"):
        engine.run_batch([request(), request(guidance_scale=3.0)])
    with pytest.raises(RequestError, match="A batch needs at least one request"):
        engine.run_batch([])
    assert not engine._lock.locked()


def test_initial_noise_without_variation_is_what_diffusers_draws_for_each_seed(engine):
    pipe = engine.pipeline
    seeds = [3, 1234567]
    shape = (pipe.transformer.config.in_channels, 256 // pipe.vae_scale_factor, 320 // pipe.vae_scale_factor)
    generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
    expected = pipe.prepare_latents(len(seeds), shape[0], 256, 320, torch.float32, "cpu", generators)
    requests = [request(seed=seed, variation_seed=99, variation_strength=0.0) for seed in seeds]
    assert torch.equal(initial_noise(requests, shape, torch.float32), expected)


def test_slerp_returns_its_ends_exactly_and_mixes_parallel_noise_linearly():
    generator = torch.Generator().manual_seed(0)
    low, high = torch.randn(2, 2, 16, 5, 7, generator=generator)
    assert torch.equal(slerp(0.0, low, high), low)
    assert torch.equal(slerp(1.0, low, high), high)
    middle = slerp(0.5, low, high)
    assert torch.isfinite(middle).all() and not torch.allclose(middle, low) and not torch.allclose(middle, high)
    # Orthonormal per position: the result stays on the unit sphere, at the requested angle.
    unit_low, unit_high = torch.zeros(1, 2, 1, 1), torch.zeros(1, 2, 1, 1)
    unit_low[0, 0], unit_high[0, 1] = 1.0, 1.0
    turned = slerp(1 / 3, unit_low, unit_high).flatten()
    assert torch.allclose(turned, torch.tensor([math.cos(math.pi / 6), math.sin(math.pi / 6)]))
    same = slerp(0.3, low, low)  # the same seed twice: a linear mix, no division by sin(0)
    assert torch.isfinite(same).all() and torch.allclose(same, low)


def test_variation_strength_0_and_1_give_the_seed_and_the_variation_seed_images(engine):
    size = {"width": 320, "height": 256}
    seed_image = single_image(engine, request(seed=5, **size)).image
    variation_image = single_image(engine, request(seed=9, **size)).image
    at_zero = single_image(engine, request(seed=5, variation_seed=9, variation_strength=0.0, **size)).image
    at_one = single_image(engine, request(seed=5, variation_seed=9, variation_strength=1.0, **size)).image
    between = single_image(engine, request(seed=5, variation_seed=9, variation_strength=0.4, **size)).image
    assert nearly_equal(at_zero, seed_image)
    assert nearly_equal(at_one, variation_image)
    assert not np.array_equal(pixels(between), pixels(seed_image))
    assert not np.array_equal(pixels(between), pixels(variation_image))


def test_a_batch_mixing_variation_strengths_gives_each_image_exactly(engine):
    size = {"width": 256, "height": 320}
    requests = [
        request(seed=5, variation_seed=variation, variation_strength=strength, **size)
        for variation, strength in [(9, 0.0), (9, 0.15), (9, 1.0), (11, 0.5)]
    ]
    finished = [event for event in engine.compare(requests) if isinstance(event, Finished)]
    assert [event.indices for event in finished] == [(0, 1, 2, 3)]  # one batch: variations are per image
    images = [image.image for image in finished[0].images]
    assert_each_image_is_its_single_image(engine, finished[0].images)
    assert nearly_equal(images[0], single_image(engine, request(seed=5, **size)).image)
    assert nearly_equal(images[2], single_image(engine, request(seed=9, **size)).image)


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
            if event.step >= 2:  # a busy caller may be handed step 3's preview instead of step 2's
                thread = threading.Thread(target=other_caller)
                thread.start()
                cancel.set()
    thread.join()
    assert seen_steps[-1] < 6
    assert np.array_equal(pixels(results["other"]), pixels(expected))


def test_cancelling_a_comparison_keeps_the_batches_already_finished(engine):
    requests = [request(seed=seed, steps=steps) for seed, steps in [(80, 1), (81, 6)]]
    cancel = threading.Event()
    seen = []
    with pytest.raises(GenerationCancelled):
        for event in engine.compare(requests, cancel=cancel):
            seen.append((type(event), event.indices))
            if isinstance(event, Preview) and event.indices == (1,) and event.step >= 2:  # or a later one
                cancel.set()
    assert seen[:2] == [(Preview, (0,)), (Finished, (0,))]
    assert set(seen[2:]) == {(Preview, (1,))} and len(seen[2:]) < 6  # stopped before its last step
    assert not engine._lock.locked()


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
        list(engine.compare([req.with_seed(seed) for seed in (5, 6, 7, 8, 9)]))
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
    notes = [str(words) for words in finished.dropped]
    assert any(note.startswith("CLIP reads 77 tokens and ignored:") and note.endswith("zebra") for note in notes)
    short = list(engine.generate(request(steps=1), previews=False))[-1]
    assert short.dropped == ()


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


class _OffloadPlacements:
    """Where accelerate's model-offload hooks last put each model of `pipe`: "accelerator" when a
    forward moved it to the execution device, "cpu" when a hook sent it back (or was attached anew).

    On this CPU-only machine the execution device is cpu:0, standing in for cuda:0: the hooks and
    their calls are the real ones, only no memory is actually moved. (Stricter
    than a GPU: tensors on cpu:0 report `cpu`, so a hook never offloads the previous model of the
    chain; only the release at the end of a generation puts models back.)
    """

    def __init__(self, pipe, monkeypatch):
        modules = pipe.components.items()
        self._names = {id(module): name for name, module in modules if isinstance(module, torch.nn.Module)}
        self.last = {}
        pre_forward, init_hook = CpuOffload.pre_forward, CpuOffload.init_hook

        def on_pre_forward(hook, module, *args, **kwargs):
            self._record(module, "accelerator")
            return pre_forward(hook, module, *args, **kwargs)

        def on_init_hook(hook, module):
            self._record(module, "cpu")
            return init_hook(hook, module)

        monkeypatch.setattr(CpuOffload, "pre_forward", on_pre_forward)
        monkeypatch.setattr(CpuOffload, "init_hook", on_init_hook)

    def _record(self, module, place):
        if id(module) in self._names:
            self.last[self._names[id(module)]] = place


def test_cancel_under_model_offload_sends_every_model_back_to_the_cpu(engine, tiny_model_dir, monkeypatch):
    pipe = StableDiffusion3Pipeline.from_pretrained(tiny_model_dir)  # a copy: the session engine is left as it is
    placements = _OffloadPlacements(pipe, monkeypatch)
    pipe.enable_model_cpu_offload(device="cpu")
    offloaded = Engine(pipe, ModelInfo(model="tiny", device="cpu", dtype="float32", memory_mode="model-offload"))
    cancel = threading.Event()
    with pytest.raises(GenerationCancelled):
        for event in offloaded.generate(request(seed=20, steps=6), cancel=cancel):
            if event.step >= 2:  # a busy caller may be handed step 3's preview instead of step 2's
                assert placements.last["transformer"] == "accelerator"
                cancel.set()
    models = ["text_encoder", "text_encoder_2", "text_encoder_3", "transformer", "vae"]
    assert placements.last == dict.fromkeys(models, "cpu")
    after = single_image(offloaded, request(seed=21, steps=2)).image
    assert nearly_equal(after, single_image(engine, request(seed=21, steps=2)).image)
