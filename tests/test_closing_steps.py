"""A run's closing steps (its history entry, its Stop line) never wait in the queue behind other
work: they run outside it, as soon as the run has ended."""

from ui.studio import build_app


def test_every_step_after_a_generation_runs_outside_the_queue(engine):
    config = build_app(engine).get_config_file()
    dependencies = {dependency["id"]: dependency for dependency in config["dependencies"]}
    runs = [d for d in dependencies.values() if d["api_name"] in ("generate", "compare")]
    closing = [
        d for d in dependencies.values()
        if d["trigger_after"] in {run["id"] for run in runs} and d["api_name"] not in ("generate", "compare")
    ]
    assert len(runs) == 2 and len(closing) >= 4, (runs, closing)
    assert [d for d in closing if d["queue"] is not False] == []
