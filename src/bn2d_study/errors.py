"""Errors meant for the person running the study: each says what went wrong and how to fix it."""


class StudyError(Exception):
    """Base class of errors caused by the user's setup (config or data), not by a bug."""


class ConfigError(StudyError, ValueError):
    """A config value is out of range or inconsistent; the message names the key."""


class DatasetUnavailableError(StudyError, RuntimeError):
    """The DHCD digits could not be found, downloaded or read."""
