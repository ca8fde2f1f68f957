"""What the official DHCD archive holds: its address, its layout and its digit counts.

A module of plain constants: the config schema reads them without loading any data library.
"""

from __future__ import annotations

DHCD_URL = (
    "https://archive.ics.uci.edu/static/public/389/devanagari+handwritten+character+dataset.zip"
)
NUM_CLASSES = 10
IMAGE_SIZE = 32
TRAIN_IMAGES_PER_CLASS = 1700
TEST_IMAGES_PER_CLASS = 300
# The class folders of the digits among the archive's 46 (`digit_0` ... `digit_9`).
DIGIT_CLASSES = r"digit_[0-9]"
