"""Up-front checks of the public functions' arguments, by argument name.

Every public model function starts with ``check(locals())``: each argument whose name
has a rule here is checked before any work, and a wrong one raises ``TypeError`` (wrong
type) or ``ValueError`` (right type, outside what is allowed) naming the argument, the
value given and what is allowed, instead of an ``AttributeError`` or a DuckDB error
deep inside. Arguments without a rule are left to the function (which checks the
values only it knows, such as metric names).

Example
-------
>>> def f(*, alpha=0.05):
...     check(locals())
>>> f(alpha=2)
Traceback (most recent call last):
...
ValueError: alpha must be a number strictly between 0 and 1; got 2
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

#: dates the lab accepts (pandas timestamps end in 2262; the lab's data well before)
FIRST_DAY, LAST_DAY = pd.Timestamp("1990-01-01"), pd.Timestamp("2099-12-31 23:59:59")


def _fail(kind: type[Exception], name: str, allowed: str, value: object) -> Exception:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else f"{shown[:77]}..."
    given = f"{shown} ({type(value).__name__})" if kind is TypeError else shown
    return kind(f"{name} must be {allowed}; got {given}")


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def integer(low: int, high: int) -> Callable[[str, object], None]:
    """A whole number in ``[low, high]``."""
    allowed = f"a whole number from {low:,} to {high:,}"

    def rule(name: str, value: object) -> None:
        if not _is_int(value):
            raise _fail(TypeError, name, allowed, value)
        if not low <= value <= high:
            raise _fail(ValueError, name, allowed, value)

    return rule


def real(low: float, high: float, *, open_low=False, open_high=False) -> Callable:
    """A finite number between ``low`` and ``high`` (ends excluded when ``open_*``)."""
    strictly = "strictly " if open_low or open_high else ""
    allowed = f"a number {strictly}between {low:g} and {high:g}"

    def rule(name: str, value: object) -> None:
        if not _is_real(value):
            raise _fail(TypeError, name, allowed, value)
        v = float(value)
        ok = math.isfinite(v) and (v > low if open_low else v >= low)
        ok = ok and (v < high if open_high else v <= high)
        if not ok:
            raise _fail(ValueError, name, allowed, value)

    return rule


def optional(inner: Callable) -> Callable[[str, object], None]:
    def rule(name: str, value: object) -> None:
        if value is not None:
            inner(name, value)

    return rule


def text(name: str, value: object) -> None:
    """A non-empty string."""
    if not isinstance(value, str):
        raise _fail(TypeError, name, "a non-empty string", value)
    if not value.strip():
        raise _fail(ValueError, name, "a non-empty string", value)


def names(name: str, value: object) -> None:
    """None, a column name, or a sequence of column names."""
    allowed = "None, a name or a sequence of names"
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, Sequence) or isinstance(value, bytes):
        raise _fail(TypeError, name, allowed, value)
    for item in value:
        if not isinstance(item, str):
            raise _fail(TypeError, name, allowed, value)


def name_list(name: str, value: object) -> None:
    """A sequence of names (not a single string)."""
    allowed = "a sequence of names such as ('a', 'b')"
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise _fail(TypeError, name, allowed, value)
    if any(not isinstance(v, str) for v in value):
        raise _fail(TypeError, name, allowed, value)


def moment(name: str, value: object) -> None:
    """None, or a date/time pandas reads, between 1990 and 2099."""
    if value is None:
        return
    allowed = "None or a date/time such as '2026-03-02' (1990 to 2099)"
    if not isinstance(value, str | dt.date | np.datetime64):
        raise _fail(TypeError, name, allowed, value)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, OverflowError, TypeError):
        raise _fail(ValueError, name, allowed, value) from None
    if ts is pd.NaT or not FIRST_DAY <= ts.tz_localize(None) <= LAST_DAY:
        raise _fail(ValueError, name, allowed, value)


def duration(name: str, value: object) -> None:
    """A length of time >= 0: a Timedelta, a timedelta or text such as '7D'."""
    allowed = "a duration >= 0 such as pd.Timedelta('7D') or '48h' (at most 10 years)"
    if not isinstance(value, str | dt.timedelta | np.timedelta64):
        raise _fail(TypeError, name, allowed, value)
    try:
        td = pd.Timedelta(value)
    except (ValueError, OverflowError, TypeError):
        raise _fail(ValueError, name, allowed, value) from None
    if td is pd.NaT or not pd.Timedelta(0) <= td <= pd.Timedelta(days=3650):
        raise _fail(ValueError, name, allowed, value)


def choice_text(name: str, value: object) -> None:
    """None or a string (the function then checks it is one of its choices)."""
    if value is not None and not isinstance(value, str):
        raise _fail(TypeError, name, "None or one of the names the function lists", value)


def instance(kind: str, *, nullable: bool = False) -> Callable[[str, object], None]:
    """An instance of ``lab.<kind>`` (looked up late: lab imports this module)."""

    def rule(name: str, value: object) -> None:
        import lab

        cls = getattr(lab, kind)
        if value is None and nullable:
            return
        if not isinstance(value, cls):
            allowed = f"{'None or ' if nullable else ''}a lab.{kind}"
            raise _fail(TypeError, name, allowed, value)

    return rule


def store_instance(name: str, value: object) -> None:
    """A ``lab.Store``, or a store on another engine (``lab.Store.from_ibis``)."""
    from lab.engines import IbisStore
    from lab.store import Store

    if not isinstance(value, Store | IbisStore):
        raise _fail(TypeError, name, "a lab.Store (or a store from lab.Store.from_ibis)", value)


def rules_tuple(name: str, value: object) -> None:
    from lab.risk import Rule

    allowed = "a tuple of lab.risk.Rule"
    if not isinstance(value, tuple | list) or any(not isinstance(r, Rule) for r in value):
        raise _fail(TypeError, name, allowed, value)


def contamination(name: str, value: object) -> None:
    if value == "auto" and isinstance(value, str):
        return
    real(0.0, 0.5, open_low=True)(name, value)


def frame(name: str, value: object) -> None:
    if not isinstance(value, pd.DataFrame):
        raise _fail(TypeError, name, "a pandas DataFrame", value)


def users(name: str, value: object) -> None:
    """A number of users, or (for the ladder models) None or a users table."""
    if value is None or isinstance(value, pd.DataFrame):
        return
    integer(1, 100_000_000)(name, value)


def mapping(name: str, value: object) -> None:
    """None, a mapping, or a sequence of (key, value) pairs."""
    allowed = "None, a mapping (dict) or a sequence of (column, value) pairs"
    if value is None or isinstance(value, Mapping):
        return
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise _fail(TypeError, name, allowed, value)
    if any(not isinstance(p, Sequence) or isinstance(p, str) or len(p) != 2 for p in value):
        raise _fail(TypeError, name, allowed, value)


RULES: dict[str, Callable[[str, object], None]] = {
    "store": store_instance,
    "run": text,
    "experiment": text,
    "alpha": real(0.0, 1.0, open_low=True, open_high=True),
    "start": moment,
    "end": moment,
    "window": optional(duration),
    "by": names,
    "steps": name_list,
    "metrics": name_list,
    "top_n": optional(integer(1, 1_000_000)),
    "max_periods": integer(0, 10_000),
    "horizon_days": optional(real(0.0, 36_500.0, open_low=True)),
    "bucket_seconds": integer(1, 86_400 * 366),
    "contamination": contamination,
    "random_state": integer(0, 2**32 - 1),
    "seed": integer(0, 2**32 - 1),
    "rules": rules_tuple,
    "scores": instance("RiskScores", nullable=True),
    "block_at": real(0.0, 1.0),
    "challenge_at": real(0.0, 1.0),
    "budget_fen": real(0.0, 1e15),
    "days": integer(1, 3_650),
    "pre_days": integer(0, 3_650),
    "claims": integer(1, 100_000_000),
    "seconds": real(0.0, 86_400.0, open_low=True),
    "users": users,
    "scores_frame": frame,
    "radius_km": real(0.0, 20_000.0),
    "start_where": mapping,
    **{
        key: choice_text
        for key in (
            "order",
            "unit",
            "source",
            "period",
            "mode",
            "interval",
            "method",
            "difference",
            "covariate",
            "control",
            "treatment",
            "entry",
            "platform",
            "weight_type",
            "start_event",
            "return_event",
            "kind",
            "treatment_arm",
            "control_arm",
            "outcome",
            "holdout_experiment",
            "holdout_arm",
        )
    },
}


def check(arguments: Mapping[str, object]) -> None:
    """Check every argument of ``arguments`` (a function's ``locals()``) that has a rule.

    Whether ``run`` exists is left to the function (``Store.run`` raises
    :class:`lab.store.UnknownRunError`, a ``ValueError`` and ``KeyError``).
    """
    for name, value in arguments.items():
        rule = RULES.get(name)
        if rule is not None:
            rule(name, value)
