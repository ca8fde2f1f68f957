"""Lightning callbacks of the study."""

from bn2d_study.callbacks.epoch_timer import EpochTimer
from bn2d_study.callbacks.loss_landscape import LossLandscapeProbe
from bn2d_study.callbacks.sampled_weights import SampledWeightsLogger

__all__ = ["EpochTimer", "LossLandscapeProbe", "SampledWeightsLogger"]
