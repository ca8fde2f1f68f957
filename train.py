"""Train the study's CNN: `python train.py [overrides]`; a sweep: `python train.py -m ...`."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

from bn2d_study.config_schema import register_configs
from bn2d_study.training import train
from bn2d_study.utils.resolvers import register_resolvers

# `paths.root_dir` defaults to this folder wherever the command is started from.
os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parent))
register_configs()
register_resolvers()


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float:
    """Run one job; returns the last epoch's validation accuracy (for Hydra sweepers)."""
    metrics = train(cfg)
    return metrics.get("val/acc", float("nan"))


if __name__ == "__main__":
    main()
