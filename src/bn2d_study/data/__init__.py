"""DHCD digits: archive reading, the on-disk cache and the LightningDataModule."""

from bn2d_study.data.datamodule import HindiDigitsDataModule

__all__ = ["HindiDigitsDataModule"]
