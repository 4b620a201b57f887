"""The Ray Serve backend on a real local Ray with two CPU replicas of the tiny SD3 (the session's,
started by the backend's own `connect`: see `remote` in tests/conftest.py): exact images,
streamed previews, comparisons spread over the replicas, cancel, a killed replica, no Ray at all,
and the deploy files."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers.app_server import app_load_options
from pipeline import Engine, Finished, GenerationRequest, Preview
from pipeline.errors import GenerationCancelled, GenerationError
from pipeline.interface import ImageEngine

pytestmark = [pytest.mark.slow, pytest.mark.ray]  # `remote`: the session's Ray (tests/conftest.py)

REPO = Path(__file__).resolve().parent.parent
SIZE = 256
# A long request for cancel and kill: 12 steps of about 0.15 s each at 1024² on one core.
LONG = {"width": 1024, "height": 1024, "steps": 12}


def request(seed=1, **values):
    """A small request; `values` override the defaults."""
    values = {"prompt": "a red fox in snow", "width": SIZE, "height": SIZE, "seed": seed, **values}
    return GenerationRequest.create(**values)


def pixels(image):
    return np.asarray(image, dtype=np.int16)


def finished_images(events):
    return [image for event in events if isinstance(event, Finished) for image in event.images]


@pytest.fixture(scope="module")
def local():
    """The local engine, loaded as the replicas of `remote` are (the session's `engine` loads a folder)."""
    return Engine.load(app_load_options())


def replica_stats(remote, replicas=2, timeout=30):
    """`stats` of every replica, by replica id: Serve's router picks one per call (and learns of a
    new replica from its controller within seconds), so ask until each has answered."""
    seen, deadline = {}, time.monotonic() + timeout
    while len(seen) < replicas:
        assert time.monotonic() < deadline, f"only {len(seen)} of {replicas} replicas answered in {timeout} s"
        stats = remote.stats()
        seen[stats["replica"]] = stats
        time.sleep(0.01)
    return seen


def counts(remote, key):
    """`key` of `stats` per replica id."""
    return {replica: stats[key] for replica, stats in replica_stats(remote).items()}


def increase(before, after):
    return {replica: after[replica] - before[replica] for replica in after}


def wait_for_running(remote, replicas=2, timeout=90):
    deadline = time.monotonic() + timeout
    while (status := remote.status()) != f"Ray: {replicas} replicas: {replicas} running":
        assert time.monotonic() < deadline, status
        time.sleep(0.5)


def test_the_interface_of_the_local_engine(remote, local):
    assert isinstance(remote, ImageEngine) and isinstance(local, ImageEngine)
    assert remote.info == local.info and remote.max_batch_size == local.max_batch_size
    prompt = "a red fox in snow, " * 20
    assert remote.tokens.count(prompt, 77) == local.tokens.count(prompt, 77)
    assert remote.tokens.dropped(prompt, 77) == local.tokens.dropped(prompt, 77)
    assert remote.status() == "Ray: 2 replicas: 2 running"


def test_same_image_as_the_local_engine(remote, local):
    req = request(seed=11, steps=3, width=320)
    (theirs,) = finished_images(remote.generate(req))
    (ours,) = local.generate_images(req)
    assert theirs.request == req and theirs.model == ours.model
    assert np.abs(pixels(theirs.image) - pixels(ours.image)).max() <= 2


def test_a_preview_after_every_step_then_the_image(remote):
    events = list(remote.generate(request(seed=5, steps=3, width=320)))
    assert [type(event) for event in events] == [Preview] * 3 + [Finished]
    assert [event.step for event in events[:3]] == [1, 2, 3]
    assert all(event.indices == (0,) and event.images[0].size == (320 // 8, SIZE // 8) for event in events[:3])
    assert events[-1].indices == (0,) and events[-1].images[0].image.size == (320, SIZE)


def test_comparison_batches_run_on_both_replicas_and_every_cell_is_exact(remote, local):
    # Two batches: four images of 3 steps, then two of 1 step, which finish first on the other replica.
    requests = [request(seed=seed, steps=3) for seed in (40, 41, 7, 9)]
    requests += [request(seed=seed, steps=1) for seed in (5, 3)]
    before = counts(remote, "batches")
    events = list(remote.compare(requests))
    assert increase(before, counts(remote, "batches")) == dict.fromkeys(before, 1)
    finished = [event for event in events if isinstance(event, Finished)]
    assert [event.indices for event in finished] == [(0, 1, 2, 3), (4, 5)]  # in plan order
    assert sorted((event.indices, event.step) for event in events if isinstance(event, Preview)) == [
        ((0, 1, 2, 3), 1), ((0, 1, 2, 3), 2), ((0, 1, 2, 3), 3), ((4, 5), 1)
    ]
    for cell, req in zip(finished_images(events), requests):
        assert cell.request == req
        (alone,) = local.generate_images(req)
        assert np.abs(pixels(cell.image) - pixels(alone.image)).max() <= 2


@pytest.mark.parametrize("how", ["cancel event", "closed iterator"])
def test_cancel_stops_the_replica_within_one_step_and_frees_it(remote, how):
    before = counts(remote, "transformer_calls")
    cancel = threading.Event()
    started = time.monotonic()
    events = remote.generate(request(**LONG), cancel=cancel)
    assert isinstance(next(events), Preview)
    # At least one step's time (the prompt's encoding, step 1 and its preview's trip): the waits below
    # are counted in it, as a fixed 1 s was not on a loaded machine (a 1024² step then ended after it).
    step = time.monotonic() - started
    if how == "cancel event":
        cancel.set()
        with pytest.raises(GenerationCancelled):
            next(events)
    else:
        events.close()
    time.sleep(max(1.0, 3 * step))  # several steps' time
    stopped = counts(remote, "transformer_calls")
    # Step 1, the step that ran while its preview travelled, and at most the one after it; of 12.
    assert sum(increase(before, stopped).values()) <= 3
    time.sleep(max(0.5, 2 * step))
    assert counts(remote, "transformer_calls") == stopped  # nothing runs on
    batches = counts(remote, "batches")
    callers = [threading.Thread(target=lambda seed=seed: list(remote.generate(request(seed=seed)))) for seed in (1, 2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=30)
    # A busy replica refuses a request, so two at once go one to each only if both are free.
    assert increase(batches, counts(remote, "batches")) == dict.fromkeys(batches, 1)


def test_a_killed_replica_fails_its_caller_only_and_is_replaced(remote):
    pids = {stats["pid"] for stats in replica_stats(remote).values()}
    outcomes, failed_at, first_previews = [], [], threading.Barrier(3, timeout=30)

    def run(seed):
        events = remote.generate(request(seed=seed, **LONG))
        try:
            next(events)
            first_previews.wait()
            outcomes.append(list(events)[-1])
        except GenerationError as error:
            outcomes.append(error)
            failed_at.append(time.monotonic())

    callers = [threading.Thread(target=run, args=(seed,)) for seed in (1, 2)]
    for caller in callers:
        caller.start()
    first_previews.wait()  # both requests are running, one on each replica
    killed = time.monotonic()
    os.kill(min(pids), signal.SIGKILL)
    for caller in callers:
        caller.join(timeout=30)
    # The killed replica's caller is told within seconds. The other caller's 12 steps at 1024² take
    # what the machine gives them (12.5 s once in a full parallel run), so only the join bounds them.
    assert [moment - killed < 10 for moment in failed_at] == [True]
    errors = [outcome for outcome in outcomes if isinstance(outcome, GenerationError)]
    assert [str(error) for error in errors] == ["The worker running your request stopped; try again."]
    assert sum(isinstance(outcome, Finished) for outcome in outcomes) == 1
    wait_for_running(remote)
    assert min(pids) not in {stats["pid"] for stats in replica_stats(remote).values()}
    assert isinstance(list(remote.generate(request()))[-1], Finished)


def test_without_ray_the_backend_names_its_install_command():
    script = (
        "import sys; sys.modules['ray'] = None\n"
        "from pipeline import LoadOptions\n"
        "from pipeline.errors import ModelLoadError\n"
        "from pipeline.serve import connect\n"
        "try:\n"
        "    connect(LoadOptions(model='tiny'), replicas=2)\n"
        "except ModelLoadError as error:\n"
        "    print(error)\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        "The Ray backend needs Ray Serve, which is not installed: pip install -r requirements-ray.txt"
    ]


def test_requirements_pin_ray_serve_and_dev_installs_them():
    assert "ray[serve]==2.60.0" in (REPO / "requirements-ray.txt").read_text().splitlines()
    assert "-r requirements-ray.txt" in (REPO / "requirements-dev.txt").read_text().splitlines()


def check_serve_config(config: dict) -> None:
    """`config` passes Ray's own schema, and its application builds from the engine's LoadOptions fields."""
    from ray.serve.schema import ServeDeploySchema

    from pipeline.serve import APP_NAME, DEPLOYMENT_NAME, MAX_ONGOING_REQUESTS, ROUTER_MAX_BACKOFF_S, build_app

    schema = ServeDeploySchema.parse_obj(config)
    (application,) = schema.applications
    assert application.name == APP_NAME and application.import_path == "pipeline.serve:build_app"
    (deployment,) = application.deployments
    assert deployment.name == DEPLOYMENT_NAME and deployment.ray_actor_options.num_gpus == 1
    assert deployment.max_ongoing_requests == MAX_ONGOING_REQUESTS
    assert deployment.request_router_config["max_backoff_s"] == ROUTER_MAX_BACKOFF_S
    build_app(application.args)


def test_serve_config_passes_rays_schema():
    check_serve_config(yaml.safe_load((REPO / "deploy" / "serve.yaml").read_text()))


def test_rayservice_manifest_has_what_kuberay_requires():
    manifest, page = yaml.safe_load_all((REPO / "deploy" / "rayservice.yaml").read_text())
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayService"
    assert manifest["metadata"]["name"]
    spec = manifest["spec"]
    check_serve_config(yaml.safe_load(spec["serveConfigV2"]))
    cluster = spec["rayClusterConfig"]
    assert cluster["rayVersion"] == "2.60.0"
    head = cluster["headGroupSpec"]
    assert isinstance(head["rayStartParams"], dict)
    assert head["template"]["spec"]["containers"][0]["image"]
    (workers,) = cluster["workerGroupSpecs"]
    assert workers["groupName"] and isinstance(workers["rayStartParams"], dict)
    assert 0 <= workers["minReplicas"] <= workers["replicas"] <= workers["maxReplicas"]
    (container,) = workers["template"]["spec"]["containers"]
    assert container["image"] and container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert page["kind"] == "Service"
    assert page["spec"]["selector"].items() <= head["template"]["metadata"]["labels"].items()
