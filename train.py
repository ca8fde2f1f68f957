"""Train the study's CNN: `python train.py [overrides]`; a sweep: `python train.py -m ...`."""

import logging
import os
import signal
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from bn2d_study.config_schema import register_configs
from bn2d_study.errors import StudyError
from bn2d_study.training import train
from bn2d_study.utils.resolvers import register_resolvers

# `paths.root_dir` defaults to this folder wherever the command is started from.
os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parent))
register_configs()
register_resolvers()
log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float:
    """Run one job; returns the last epoch's validation accuracy (for Hydra sweepers)."""
    try:
        metrics = train(cfg)
    except StudyError as error:
        # A setup mistake, not a bug: the message says what to change.
        log.error("%s", error)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # Hydra goes on with the sweep's other jobs and reports this one at the end
        raise SystemExit(1) from None  # a single run: no traceback
    except SIGTERMException:
        # Lightning's own exit code for it is 0; schedulers must see that the run did not finish.
        log.warning("Stopped by SIGTERM; the same command with resume=true continues the run.")
        raise SystemExit(128 + signal.SIGTERM) from None
    return metrics.get("val/acc", float("nan"))


if __name__ == "__main__":
    main()
