"""`python -m bn2d_study.report FOLDER`: see `bn2d_study.report.document`."""

import sys

from bn2d_study.report.document import main

sys.exit(main())
