"""The study's CNN and the LightningModule that trains it."""

from bn2d_study.models.classifier import DigitClassifier
from bn2d_study.models.cnn import build_cnn

__all__ = ["DigitClassifier", "build_cnn"]
