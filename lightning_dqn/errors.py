"""A user's configuration mistake, reported as one line that names the field."""

from __future__ import annotations


class ConfigError(ValueError):
    """Raised by constructors for a bad hyperparameter; the CLI prints it and exits 2.

    The message starts with the config field (``data.batch_size``) and says what is allowed.
    """

    def __init__(self, field: str, problem: str):
        self.field = field
        super().__init__(f"{field}: {problem}")


class NonFiniteLossError(FloatingPointError):
    """Training diverged: the loss or the weights stopped being finite. The CLI prints it and exits 1.

    Raised before any checkpoint with non-finite weights is written, so the last checkpoint on disk
    is the last good one.
    """


def require(condition: bool, field: str, problem: str) -> None:
    """Raise ``ConfigError(field, problem)`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(field, problem)


__all__ = ["ConfigError", "NonFiniteLossError", "require"]
