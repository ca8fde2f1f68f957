"""Train the study's CNN: `python train.py [overrides]`; a sweep: `python train.py -m ...`.

Torch and Lightning are imported only once the config has been composed (and, for a single
run, checked): `--help` and a mistyped value answer in about a second.
"""

import logging
import os
import signal
import warnings
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from bn2d_study.config.resolvers import register_resolvers
from bn2d_study.config.schema import register_configs, validate_config
from bn2d_study.errors import RunFolderInUseError, StudyError
from bn2d_study.run_folder.sweep_summary import SweepIncompleteError

# Our launcher configs extend the submitit plugin's schemas under the plugin's names, on purpose
# (config_schema.register_configs); Hydra warns about any such match.
warnings.filterwarnings("ignore", message=".*is validated against ConfigStore schema")
# `paths.root_dir` defaults to this folder wherever the command is started from.
os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parent))
register_configs()
register_resolvers()
log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float:
    """Run one job; returns the last epoch's validation accuracy (for Hydra sweepers)."""
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        if not multirun:
            # Before torch and Lightning load (seconds); a sweep's job records it instead.
            validate_config(cfg)
        from bn2d_study.training import train

        metrics = train(cfg)
    except StudyError as error:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        # A setup mistake or a resource running out, not a bug: the message says what to do.
        log.error("%s", error)
        if not multirun:
            raise SystemExit(1) from None  # no traceback
        if isinstance(error, RunFolderInUseError):
            # Nothing of this job is recorded in its folder: Hydra names it when the sweep ends.
            raise SweepIncompleteError(str(error)) from None
        # Recorded in the run's run_status.json: the sweep goes on, and its summary names it.
        return float("nan")
    except SystemExit as error:  # Lightning's SIGTERMException is one
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        if not isinstance(error, SIGTERMException):
            raise
        # Lightning's own exit code for it is 0; schedulers must see that the run did not finish.
        log.warning("Stopped by SIGTERM; the same command with resume=true continues the run.")
        raise SystemExit(128 + signal.SIGTERM) from None
    return metrics.get("val/acc", float("nan"))


if __name__ == "__main__":
    main()
