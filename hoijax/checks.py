"""Config fields checked before any work: one ValueError naming the field and the rule.

Also `options_from`, the one way option dataclasses are built from a config section.

A leaf module (imports nothing from hoijax): the entry points' checks
(`hoijax.recon.checks`, `hoijax.priors.image_train.check_config`) are tables of
`field path -> rule` run by `check_fields`.
"""
from __future__ import annotations

import dataclasses
import numbers


def is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


# rule = (test, what the value must be)
POSITIVE_INT = (lambda v: is_int(v) and v > 0, "a positive integer")
NON_NEGATIVE_INT = (lambda v: is_int(v) and v >= 0, "an integer >= 0")
POSITIVE = (lambda v: is_real(v) and v > 0, "a positive number")
NON_NEGATIVE = (lambda v: is_real(v) and v >= 0, "a number >= 0")
FRACTION = (lambda v: is_real(v) and 0 <= v <= 1, "a number in [0, 1]")


def int_at_least(n):
    return (lambda v: is_int(v) and v >= n, f"an integer >= {n}")


def one_of(*choices):
    return (lambda v: v in choices, f"one of {', '.join(map(str, choices))}")


def get_field(config, path: str):
    """config.a.b.c for path 'a.b.c'; ValueError naming the path when it is missing."""
    node = config
    for name in path.split("."):
        if name not in node:
            raise ValueError(f"config.{path}: missing from the config")
        node = node[name]
    return node


def check_fields(config, rules: dict) -> None:
    """Raises ValueError for the first field of `rules` {path: (test, what)} whose value
    fails its test: 'config.PATH=VALUE: must be WHAT'."""
    for path, (ok, what) in rules.items():
        value = get_field(config, path)
        if not ok(value):
            raise ValueError(f"config.{path}={value!r}: must be {what}")


def options_from(cls, section, **overrides):
    """cls (a frozen dataclass of options) from the config section's fields of the same
    names; a field the section lacks keeps its default, an override that is not None wins.
    Lists become tuples, so that the options stay hashable (jit static arguments)."""
    values = {f.name: section[f.name] for f in dataclasses.fields(cls) if f.name in section}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
