"""Which config keys describe what a run computes: the one rule behind run-folder names,
TensorBoard's HParams and the report's settings; and the one parser of command-line overrides.

A key describes the run unless it only says where things are (data and output locations),
how the run is executed (threads, resuming, profiling, locking) or how it is shown (progress
bar, printed config, loggers). The seed describes the run; the report groups runs that differ
only by seed into one setting.
"""

from __future__ import annotations

import re

# Where the data and outputs are, and the archive's expected sizes (facts of the file).
_LOCATION_KEYS = (
    r"data\.(archive|data_dir|url|cache_name|num_workers|pin_memory|train_per_class"
    r"|test_per_class)"
    r"|paths\..*|hydra\..*|trainer\.default_root_dir|trainer\.model_registry|ckpt_path"
)
# How the run is executed: the same results either way. `resume` must not rename the folder
# that it resumes.
_EXECUTION_KEYS = (
    r"resume|torch_threads|trainer_speedups|run_lock\..*|data\.device_resident|trainer\.profiler"
    r"|model\.net\.inplace_relu|model/metrics|model\.metrics\..*|trainer\.detect_anomaly"
    r"|trainer\.enable_checkpointing"
)
# How it is shown or logged.
_DISPLAY_KEYS = (
    r"print_config|trainer\.enable_progress_bar|trainer\.enable_model_summary"
    r"|logger\..*|trainer\.logger|trainer\.enable_autolog_hparams|callbacks\.progress_bar\..*"
)
_NOT_DESCRIBING = re.compile(rf"^({_LOCATION_KEYS}|{_EXECUTION_KEYS}|{_DISPLAY_KEYS})$")


def describes_the_run(key: str) -> bool:
    """Whether a (dotted) config key changes what the run computes."""
    return not _NOT_DESCRIBING.match(key)


def parse_override(override: str) -> tuple[str, str]:
    """`+model.lr=0.1` -> (`model.lr`, `0.1`): a command-line override's key and value."""
    key, _, value = str(override).lstrip("+~").partition("=")
    return key, value
