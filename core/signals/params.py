"""Model parameters from config: ``[signals.<model>]`` tables, checked before a run.

One table of specs per model (``SPECS``), read by the config check (one-line
errors naming the key, e.g. ``signals.cnn.kernel must be an integer >= 1,
got 0``) and by each model's constructor, so a bad value is refused at
``console run`` time rather than at the first fit. Pure Python: the config
check must not import torch or scikit-learn.

A spec is ``(kind, lo, hi, choices)``: kind "int", "float", "bool" or
"choice"; ``lo``/``hi`` inclusive bounds (None: unbounded); a float kind
whose ``lo`` is written as ``("gt", x)`` must be strictly greater than x.
``seed`` is never taken from config (it is the session's seed).
"""

from __future__ import annotations

from typing import Any

Spec = tuple[str, Any, Any, tuple[str, ...]]

# what every supervised model takes: its labels (triple barrier: k sds, h bars,
# vol over vol_window), the view's scale, its features and the leakage check
_LABELED: dict[str, Spec] = {
    "labels": ("choice", None, None, ("return", "triple_barrier")),
    "k": ("float", ("gt", 0.0), 100.0, ()),
    "h": ("int", 1, 1_000, ()),
    "vol_window": ("int", 2, 1_000, ()),
    "scale": ("float", ("gt", 0.0), None, ()),
    "features": ("choice", None, None, ("returns", "fracdiff")),
    "leak_check": ("bool", None, None, ()),
}

_NET: dict[str, Spec] = {
    **_LABELED,
    "window": ("int", 2, 500, ()),
    "dropout": ("float", 0.0, 0.9, ()),
    "lr": ("float", ("gt", 0.0), 1.0, ()),
    "batch": ("int", 1, 100_000, ()),
    "max_epochs": ("int", 1, 10_000, ()),
    "patience": ("int", 1, 1_000, ()),
    "val_frac": ("float", 0.05, 0.5, ()),
    "train_bars": ("int", 30, 1_000_000, ()),
    "weight_decay": ("float", 0.0, 1.0, ()),
    "l1": ("float", 0.0, 1.0, ()),
    "shap_samples": ("int", 1, 10_000, ()),
    "explain_every": ("int", 1, 1_000_000, ()),
    "indicators": ("bool", None, None, ()),
}

SPECS: dict[str, dict[str, Spec]] = {
    "forest": {
        "target": ("choice", None, None, ("return", "big_move")),
        **_LABELED,
        "n_estimators": ("int", 1, 5_000, ()),
        "max_depth": ("int", 1, 64, ()),
        "min_samples_leaf": ("int", 1, 100_000, ()),
        "max_features": ("float", ("gt", 0.0), 1.0, ()),
        "max_samples": ("int", 1, 10_000_000, ()),
        "train_bars": ("int", 60, 1_000_000, ()),
        "val_bars": ("int", 10, 1_000_000, ()),
        "folds": ("int", 1, 50, ()),
        "drop": ("float", 0.0, 0.99, ()),
        "drop_h": ("int", 1, 1_000, ()),
    },
    "pairs": {"sizing": ("choice", None, None, ("equal", "hedge_ratio"))},
    "lstm": {**_NET, "hidden": ("int", 1, 1_024, ())},
    "cnn": {**_NET, "channels": ("int", 1, 512, ()), "kernel": ("int", 1, 64, ()),
            "layers": ("int", 1, 8, ())},
    "transformer": {**_NET, "d_model": ("int", 2, 512, ()), "heads": ("int", 1, 16, ()),
                    "layers": ("int", 1, 8, ()), "ff": ("int", 1, 4_096, ())},
    "sgd": {
        **_LABELED,
        "loss": ("choice", None, None, ("squared_error", "huber", "log_loss", "hinge", "modified_huber")),
        "alpha": ("float", 0.0, 10.0, ()),
        "penalty": ("choice", None, None, ("l2", "l1", "elasticnet")),
        "eta0": ("float", ("gt", 0.0), 10.0, ()),
        "learning_rate": ("choice", None, None, ("constant", "invscaling", "adaptive", "optimal")),
        "epochs": ("int", 1, 1_000, ()),
        "train_bars": ("int", 60, 1_000_000, ()),
        "val_frac": ("float", 0.05, 0.5, ()),
    },
    "hmm": {
        "n_states": ("int", 2, 5, ()), "use_vol": ("bool", None, None, ()),
        "vol_window": ("int", 2, 1_000, ()), "n_iter": ("int", 1, 100_000, ()),
        "tol": ("float", ("gt", 0.0), 1.0, ()), "high_vol_ratio": ("float", ("gt", 0.0), 100.0, ()),
    },
    "ensemble": {"halflife": ("float", ("gt", 0.0), 1e6, ()), "prior": ("float", 0.0, 1.0, ())},
}


def check_value(where: str, value: Any, spec: Spec) -> str:
    """"" when ``value`` fits ``spec``, else the one-line problem (naming ``where``)."""
    kind, lo, hi, choices = spec
    if kind == "bool":
        return "" if isinstance(value, bool) else f"{where} must be true or false, got {value!r}"
    if kind == "choice":
        if isinstance(value, str) and value in choices:
            return ""
        return f"{where} must be one of {', '.join(choices)}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{where} must be a number, got {value!r}"
    if kind == "int" and (not isinstance(value, int) and not float(value).is_integer()):
        return f"{where} must be an integer, got {value!r}"
    what = "an integer" if kind == "int" else "a number"
    v = float(value)
    if v != v or v in (float("inf"), float("-inf")):
        return f"{where} must be a finite number, got {value!r}"
    if isinstance(lo, tuple):
        if not v > float(lo[1]):
            return f"{where} must be {what} > {lo[1]:g}, got {value!r}"
    elif lo is not None and v < lo:
        return f"{where} must be {what} >= {lo:g}" + (f" and <= {hi:g}" if hi is not None else "") + f", got {value!r}"
    if hi is not None and v > hi:
        return f"{where} must be {what} <= {hi:g}, got {value!r}"
    return ""


def config_problems(tables: dict[str, Any]) -> list[str]:
    """Problems with the ``[signals.<model>]`` tables, one line each."""
    out: list[str] = []
    for model in sorted(tables):
        table = tables[model]
        spec = SPECS.get(model)
        if spec is None:
            out.append(f"signals.{model}: no parameters can be set for this model from config "
                       f"(models with parameters: {', '.join(sorted(SPECS))})")
            continue
        if not isinstance(table, dict):
            out.append(f"signals.{model} must be a table")
            continue
        for key in sorted(table):
            if key not in spec:
                out.append(f"unknown key signals.{model}.{key} (known: {', '.join(sorted(spec))})")
                continue
            why = check_value(f"signals.{model}.{key}", table[key], spec[key])
            if why:
                out.append(why)
        out += _cross(model, table)
    return out


def _cross(model: str, p: dict[str, Any]) -> list[str]:
    """Checks across keys of one model's table (given keys over the defaults)."""
    if model == "transformer":
        d, h = p.get("d_model", 16), p.get("heads", 2)
        if isinstance(d, int) and isinstance(h, int) and h > 0 and d % h:
            return [f"signals.transformer.d_model ({d}) must be a multiple of signals.transformer.heads ({h})"]
    return []


def checked(model: str, params: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """``defaults`` overlaid with ``params`` after checking each given key
    (ValueError, one line naming the key); ints given as floats become ints."""
    spec = SPECS.get(model, {})
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(f"{model}: unknown param {unknown[0]!r} (known: {', '.join(sorted(defaults))})")
    out = dict(defaults)
    for key, value in params.items():
        s = spec.get(key)
        if s is not None and not (value is None and defaults.get(key) is None):
            why = check_value(f"signals.{model}.{key}", value, s)
            if why:
                raise ValueError(why)
            if s[0] == "int":
                value = int(value)
        out[key] = value
    return out
