"""What the official DHCD archive holds: its address, its layout and its digit counts.

A module of plain constants: the config schema reads them without loading any data library.
"""

from __future__ import annotations

import re

DHCD_URL = (
    "https://archive.ics.uci.edu/static/public/389/devanagari+handwritten+character+dataset.zip"
)
NUM_CLASSES = 10
IMAGE_SIZE = 32
TRAIN_IMAGES_PER_CLASS = 1700
TEST_IMAGES_PER_CLASS = 300

# `<anything>/Train/digit_7/123.png`; the official folders are `Train`/`Test`, but case varies
# between copies of the data set, so match it case-insensitively.
MEMBER_PATTERN = re.compile(r"(?:^|/)(train|test)/digit_([0-9])/([^/]+\.png)$", re.IGNORECASE)
