"""Extensions of Lightning through its public API (a CSV logger that keeps earlier rows,
checkpoints written atomically), and the one opt-in patch of its private internals
(`hook_dispatch`, `trainer_speedups=true`)."""
