"""Hydra launchers of the bn2d-study template (Hydra loads launchers from `hydra_plugins`)."""
