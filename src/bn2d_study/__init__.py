"""BN2D study template: BatchNorm2d ablations of a small CNN on Devanagari digits."""

__version__ = "0.1.0"
