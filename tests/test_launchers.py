"""The bounded-wait submitit launchers (src/hydra_plugins/bn2d_study_launchers/), locally.

The SLURM cases (a cancelled job, with and without accounting) are in tests/test_slurm.py.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from helpers import finish, launch, tiny_data_overrides
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher


def test_the_plugin_launch_ends_by_collecting_each_jobs_result() -> None:
    """The launchers submit through the plugin's `launch` and take over where it would start
    waiting on `Job.results`: an upgrade that changes that must fail here."""
    source = inspect.getsource(BaseSubmititLauncher.launch)
    assert "jobs = executor.map_array(self, *zip(*job_params))" in source
    assert source.rstrip().endswith("return [j.results()[0] for j in jobs]")


def test_a_local_submitit_sweep_runs_every_job_and_summarizes(
    tiny_archive: Path, tmp_path: Path
) -> None:
    sweep = tmp_path / "sweep"
    output = finish(
        launch(
            [
                "-m",
                "hydra/launcher=submitit_local",
                "hydra.launcher.poll_s=0.5",
                "debug=fast",
                "seed=1,2",
                f"hydra.sweep.dir={sweep}",
                *tiny_data_overrides(tiny_archive, tmp_path / "data"),
            ],
            tmp_path,
        )
    )
    runs = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [r.name for r in runs] == ["0_debug=fast,seed=1", "1_debug=fast,seed=2"]
    for run in runs:
        assert json.loads((run / "run_status.json").read_text())["status"] == "completed"
    assert "All 2 runs of" in output
