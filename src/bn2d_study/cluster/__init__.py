"""Running on clusters: the data-parallel strategy (SLURM tasks or spawned processes) and how
a run's SLURM tasks agree on who holds its folder."""
