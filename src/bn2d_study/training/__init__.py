"""The training wing: one run from a composed config (`run.train`), the objects it builds, the
checkpoint it may start from or evaluate, and what it logs for TensorBoard's HParams."""

from bn2d_study.training.run import RunObjects, build_run_objects, train

__all__ = ["RunObjects", "build_run_objects", "train"]
