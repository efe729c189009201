"""Argument checks shared across VLAP (framework-free, run in Python before tracing).

Messages name the argument, what was expected and what was received (``!r``),
as scikit-learn and Keras do; ``ValueError`` for a bad value.
"""

import numbers


def check_option(name, value, allowed):
    """Raise a ValueError naming ``name`` when ``value`` is not in ``allowed``."""
    if value not in allowed:
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected one of {list(allowed)}. "
            f"Received: {name}={value!r}"
        )


def check_positive_int(name, value, allow_none=False):
    """Raise a ValueError unless ``value`` is an integer >= 1 (or None if allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer{' or None' if allow_none else ''}. "
            f"Received: {name}={value!r}"
        )


def check_threshold(threshold):
    """Return ``threshold`` as a float, or raise unless it is a probability in (0, 1)."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(
            f"`threshold` must be a float in (0, 1). Received: threshold={threshold!r}")
    if not 0.0 < float(threshold) < 1.0:
        raise ValueError("`threshold` must be a probability strictly between 0 and 1. "
                         f"Received: threshold={threshold!r}")
    return float(threshold)


def check_dropout(value):
    """Raise a ValueError unless ``value`` is a rate in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={value!r}")
