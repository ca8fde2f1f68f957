"""Lightning callbacks of the study."""

from bn2d_study.callbacks.divergence import DivergenceStop, TrainingDivergedError
from bn2d_study.callbacks.epoch_timer import EpochTimer
from bn2d_study.callbacks.interrupted_checkpoint import InterruptedCheckpoint
from bn2d_study.callbacks.loss_landscape import LossLandscapeProbe
from bn2d_study.callbacks.random_states import RandomStates
from bn2d_study.callbacks.sampled_weights import SampledWeightsLogger
from bn2d_study.callbacks.tensorboard_layout import TensorBoardLayout

__all__ = [
    "DivergenceStop",
    "EpochTimer",
    "InterruptedCheckpoint",
    "LossLandscapeProbe",
    "RandomStates",
    "SampledWeightsLogger",
    "TensorBoardLayout",
    "TrainingDivergedError",
]
