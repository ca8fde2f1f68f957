"""Print the composed config as a tree at the start of a run."""

from __future__ import annotations

import rich
import rich.syntax
import rich.tree
from omegaconf import DictConfig, OmegaConf

_FIRST = ("data", "model", "callbacks", "logger", "trainer", "paths")


def print_config_tree(cfg: DictConfig) -> None:
    """Print each top-level section as a branch with its resolved YAML."""
    tree = rich.tree.Tree("CONFIG", style="bold")
    keys = [k for k in _FIRST if k in cfg] + [k for k in cfg if k not in _FIRST]
    for key in keys:
        value = cfg[key]
        text = (
            OmegaConf.to_yaml(value, resolve=True) if isinstance(value, DictConfig) else str(value)
        )
        tree.add(f"[bold]{key}[/bold]").add(rich.syntax.Syntax(text, "yaml"))
    rich.print(tree)
