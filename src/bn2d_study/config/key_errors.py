"""Errors raised while building the run's objects, reported by the config key that caused them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hydra.errors import InstantiationException
from omegaconf import DictConfig, ListConfig, OmegaConf

from bn2d_study.errors import ConfigError, StudyError, as_resource_error, fix_the_key


def _leaves(section: Any, prefix: str) -> dict[str, Any]:
    """Dotted key -> value of every scalar (or list) in a config section."""
    if isinstance(section, DictConfig | ListConfig):
        section = OmegaConf.to_container(section, resolve=False)
    if not isinstance(section, dict):
        return {prefix: section}
    out: dict[str, Any] = {}
    for key, value in section.items():
        out.update(_leaves(value, f"{prefix}.{key}"))
    return out


def _root_cause(error: BaseException) -> BaseException:
    """The library's own exception, under Hydra's `InstantiationException` wrapper."""
    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__
    return error


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def guilty_key(section_key: str, section: Any, message: str) -> tuple[str, Any] | None:
    """The key of `section` (and its value) that the error message quotes, if one does."""
    return guilty_key_in({section_key: section}, message)


def guilty_key_in(sections: dict[str, Any], message: str) -> tuple[str, Any] | None:
    """The key of any of `sections` (and its value) that the error message quotes, if one does.

    A key whose value appears in the message as a whole word is preferred, and among those
    one whose name appears too (`-1` in "Invalid learning rate: -1"); else a key whose name
    alone appears ("unexpected keyword argument 'bogus'").
    """
    leaves = {
        key: value
        for section_key, section in sections.items()
        for key, value in _leaves(section, section_key).items()
        if not key.endswith("_")
    }

    def position(text: str) -> int | None:
        found = re.search(rf"(?<![\w.-]){re.escape(text)}(?![\w.])", message)
        return found.start() if found else None

    def quoted(text: str) -> bool:
        return position(text) is not None

    by_value = [
        key
        for key, value in leaves.items()
        if value not in (None, "") and not isinstance(value, list) and quoted(_text(value))
    ]
    by_name = [key for key in leaves if quoted(key.rsplit(".", 1)[-1])]
    for choice in ([k for k in by_value if k in by_name], by_value, by_name):
        if len(choice) == 1:
            return choice[0], leaves[choice[0]]
    # Several values quoted (e.g. the missing metric, then the metrics there are): the one the
    # message names first, if no other key shares its value.
    first = sorted(by_value, key=lambda k: position(_text(leaves[k])) or 0)
    if len(first) > 1 and _text(leaves[first[0]]) != _text(leaves[first[1]]):
        return first[0], leaves[first[0]]
    return None


def config_error(sections: dict[str, Any], cause: BaseException, during: str) -> ConfigError:
    """One paragraph naming the config key (of any of `sections`) that the error quotes, and
    `during` what it was raised."""
    message = " ".join(str(cause).split()) or type(cause).__name__
    found = guilty_key_in(sections, message)
    if found is not None:
        key, value = found
        where = f"{key}={_text(value)}"
    else:
        key = next(iter(sections))
        section = sections[key]
        target = OmegaConf.select(section, "_target_") if isinstance(section, DictConfig) else None
        where = f"{key} ({target})" if target and len(sections) == 1 else key
    return fix_the_key(
        key,
        f"{where}: {message} ({type(cause).__name__} {during})",
        "; HYDRA_FULL_ERROR=1 shows the traceback",
    )


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
        raise config_error(
            {section_key: section}, cause, f"while building {section_key}"
        ) from error
