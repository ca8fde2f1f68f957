"""The run-folder wing: what a run folder holds and how it is read (`files`), who writes it
(`lock`), which config keys describe a run (`keys`), and the end-of-sweep summary of a
multirun's folders (`sweep_summary`). Free of torch and Lightning."""
