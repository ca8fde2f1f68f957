"""`ResumableCSVLogger`: Lightning's CSV logger, but a new process adds to an existing file."""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from bn2d_study.run_folder.files import keep_csv_rows, rows_before_epoch
from bn2d_study.utils.atomic_write import atomic_write_text


class ResumableCSVLogger(CSVLogger):
    """A `CSVLogger` that keeps the columns of a `metrics.csv` written by an earlier process.

    Lightning's writer deletes an existing `metrics.csv` when it is created, and only knows the
    columns its own process logged. A resumed run, or the main process after DDP workers
    wrote the file, would lose the earlier rows. This logger keeps the file and starts from its
    header, so rows are appended and the header grows. `resume_at_epoch` drops the rows of the
    epochs a resumed run trains again; the file is flushed at every checkpoint, so the rows of
    the epochs a checkpoint holds are on disk with it.
    """

    @property
    def metrics_path(self) -> Path:
        """The `metrics.csv` this logger writes."""
        return Path(self.log_dir) / ExperimentWriter.NAME_METRICS_FILE

    def resume_at_epoch(self, epoch: int) -> None:
        """Drop the file's rows of `epoch` and later (and of the final test): they are redone."""
        keep_csv_rows(self.metrics_path, rows_before_epoch(epoch))

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        """The writer, knowing the columns already in the file."""
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            path = self.metrics_path
            earlier = path.read_text() if path.is_file() else None
            with warnings.catch_warnings():
                # Its warning says the earlier rows will be deleted: not so here.
                warnings.filterwarnings("ignore", message="Experiment logs directory")
                writer = ExperimentWriter(log_dir=self.log_dir)  # removes metrics.csv
            if earlier is not None:
                atomic_write_text(path, earlier)
                writer.metrics_keys = sorted(next(csv.reader(io.StringIO(earlier)), []))
            self._experiment = writer
        return self._experiment

    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        """Write the buffered rows: a run killed later resumes from this checkpoint."""
        super().after_save_checkpoint(checkpoint_callback)
        self.save()
