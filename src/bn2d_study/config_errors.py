"""Errors raised while building the run's objects, reported by the config key that caused them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hydra.errors import InstantiationException
from omegaconf import DictConfig, ListConfig, OmegaConf

from bn2d_study.errors import ConfigError, StudyError, as_resource_error


def _leaves(section: Any, prefix: str) -> dict[str, Any]:
    """Dotted key -> value of every scalar in a config section."""
    if isinstance(section, DictConfig | ListConfig):
        section = OmegaConf.to_container(section, resolve=False)
    if isinstance(section, dict):
        out: dict[str, Any] = {}
        for key, value in section.items():
            out.update(_leaves(value, f"{prefix}.{key}"))
        return out
    if isinstance(section, list):
        return {prefix: section}
    return {prefix: section}


def _root_cause(error: BaseException) -> BaseException:
    """The library's own exception, under Hydra's `InstantiationException` wrapper."""
    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__
    return error


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def guilty_key(section_key: str, section: Any, message: str) -> tuple[str, Any]:
    """The key of `section` whose value the error message quotes, else the section itself.

    Among keys whose value appears in the message as a whole word, one whose name also
    appears wins (`lr` in "Invalid learning rate" does not, but its value -1 does).
    """
    leaves = {k: v for k, v in _leaves(section, section_key).items() if not k.endswith("_")}
    candidates = [
        key
        for key, value in leaves.items()
        if value is not None
        and not isinstance(value, list)
        and re.search(rf"(?<![\w.-]){re.escape(_text(value))}(?![\w.])", message)
    ]
    named = [k for k in candidates if re.search(rf"\b{re.escape(k.rsplit('.', 1)[-1])}\b", message)]
    for choice in (named, candidates):
        if len(choice) == 1:
            return choice[0], leaves[choice[0]]
    target = OmegaConf.select(section, "_target_") if isinstance(section, DictConfig) else None
    return section_key, f"<{target}>" if target else "<section>"


@contextmanager
def config_key_errors(section_key: str, section: Any) -> Iterator[None]:
    """Turn any error raised inside into a one-paragraph `ConfigError` naming the config key.

    Resource errors (disk full, out of memory) become `ResourceError`s instead; errors that
    already speak to the user (`StudyError`) pass unchanged.
    """
    try:
        yield
    except StudyError:
        raise
    except Exception as error:
        resource = as_resource_error(error)
        if resource is not None:
            raise resource from error
        cause = _root_cause(error)
        message = " ".join(str(cause).split()) or type(cause).__name__
        key, value = guilty_key(section_key, section, message)
        raise ConfigError(
            f"{key}={_text(value)}: {message} ({type(cause).__name__} while building "
            f"{section_key}). Fix it on the command line ({key}=...) or in its YAML file under "
            f"configs/; HYDRA_FULL_ERROR=1 shows the traceback."
        ) from error
