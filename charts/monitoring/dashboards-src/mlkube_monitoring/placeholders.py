"""Install-time values in the generated files: `@@<values path>@@` stands where a value of the chart's `slo:` or
`alerts:` goes, `@@<values path>|le@@` where it is a histogram bucket boundary (an `le` label value).

The chart substitutes them from .Values when it installs (`monitoring.renderFile` in templates/_helpers.tpl; Helm's
`tpl` would also expand the alerts' own Prometheus templates), and `render` here does the same for the tests, so
both must write a value alike: a number as Helm prints a float64, an `le` as the Python client writes it.
Anything derived from a value is PromQL arithmetic on it (`14.4 * (1 - @@slo.availability@@)`): only raw values
are substituted.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache
from typing import Any

from prometheus_client.utils import floatToGoString

from .settings import load_raw

PLACEHOLDER = re.compile(r"@@([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*)(\|le)?@@")


@cache
def _defaults() -> dict:
    return load_raw()


def _lookup(values: dict, path: str) -> Any:
    value: Any = values
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            raise KeyError(f"no value {path} for placeholder @@{path}@@")
        value = value[key]
    return value


def ref(path: str) -> str:
    """The placeholder of a value; the path must name one of the chart's `slo:` / `alerts:` values."""
    _lookup(_defaults(), path)
    return f"@@{path}@@"


def le(path: str) -> str:
    """The placeholder of a bucket boundary, written as the `le` label value of that bucket."""
    _lookup(_defaults(), path)
    return f"@@{path}|le@@"


def go_number(value: float) -> str:
    """A number as Helm prints a float64 (Go's %v: shortest digits, an exponent from 1e+06 and below 1e-04);
    Helm reads every number of a values file as a float64."""
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits))
    point = len(digits) + exponent  # digits before the decimal point
    prefix = "-" if sign else ""
    if mantissa == "0":
        return "0"
    if point - 1 < -4 or point - 1 >= 6:
        fraction = f".{mantissa[1:]}" if len(mantissa) > 1 else ""
        return f"{prefix}{mantissa[0]}{fraction}e{point - 1:+03d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{mantissa}"
    if point >= len(mantissa):
        return prefix + mantissa + "0" * (point - len(mantissa))
    return f"{prefix}{mantissa[:point]}.{mantissa[point:]}"


def value_text(value: Any, bucket: bool = False) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{value!r}: a placeholder's value must be a number or a string")
    if isinstance(value, str):
        return value
    return floatToGoString(value) if bucket else go_number(value)


def render(text: str, values: dict) -> str:
    """`text` with every placeholder replaced by its value in `values` (the chart's values: `slo`, `alerts`)."""
    return PLACEHOLDER.sub(lambda m: value_text(_lookup(values, m.group(1)), bool(m.group(2))), text)
