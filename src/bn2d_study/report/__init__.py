"""The report wing: `python -m bn2d_study.report FOLDER` reads run folders back (`runs`),
summarizes them (`summary`, `statistics`, `path_measures`), draws the figures (`figures`) and
writes the summary files (`document`)."""

from bn2d_study.report.document import main, write_report

__all__ = ["main", "write_report"]
