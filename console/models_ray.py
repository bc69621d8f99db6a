"""``console models evaluate FILE --parallel``: the walk-forward on Ray.

``core.signals.walkforward.evaluate`` runs its folds one after another; each
fold is independent (a fresh model fitted on its window, fed its test bars),
so here every fold of every model is a Ray task, and a model whose symbols
are independent (``SignalModel.symbols_independent``: the HMM) is split
further into one task per fold and symbol. The driver puts the closes into
Ray's object store once, and puts the parts together with the serial run's
own ``walkforward.assemble``: the same positions, the same numbers (a test).

Ray is started here as ``console sweep`` starts it (``console.sweep.start_ray``:
a local Ray of ``--cpus`` CPUs, or the cluster at ``--address``), and only
when ``--parallel`` is given; core/ never imports Ray.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from console.commands.models import ModelSpec, Runner, _line, _num
from core.errors import InputError
from core.signals.walkforward import Fold, FoldResult, assemble, check_walk_forward, plan_folds, run_fold

TASK_RETRIES = 2  # a worker that dies is retried this many times


def fold_task(closes: pd.DataFrame, spec: ModelSpec, fold: Fold, symbols: tuple[str, ...] | None) -> FoldResult:
    """One Ray task: one fold of one model, over ``symbols`` (None: every column).
    A fit that rejects the data comes back in ``error``, as the serial run would raise it."""
    frame = closes if symbols is None else closes[list(symbols)]
    return run_fold(spec.build, frame, fold, catch=(InputError, ValueError))


def parts_of(spec: ModelSpec, closes: pd.DataFrame, folds: list[Fold]) -> list[tuple[Fold, tuple[str, ...] | None]]:
    """The tasks of one model: a fold each, or a fold and symbol each when
    the model treats its symbols independently."""
    split = bool(getattr(type(spec.build()), "symbols_independent", False)) and closes.shape[1] > 1
    if not split:
        return [(f, None) for f in folds]
    return [(f, (str(s),)) for f in folds for s in closes.columns]


@contextmanager
def ray_runner(closes: pd.DataFrame, train: int, test: int, costs: Any, address: str | None,
               cpus: int | None) -> Iterator[Runner]:
    """A runner for ``console.commands.models.evaluate_models`` that evaluates a
    batch of models as Ray tasks; Ray is started (or connected) on entry and
    shut down on exit when this started it."""
    import ray
    from ray.exceptions import RayError, RayTaskError

    from console.sweep import start_ray

    started = start_ray(address, cpus)
    try:
        ref = ray.put(closes)  # once: every task reads the closes from the object store
        task = ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(fold_task)
        folds = plan_folds(len(closes), train, test)

        def run(batch: dict[str, ModelSpec]) -> dict[str, dict[str, Any]]:
            try:
                check_walk_forward(closes, train, test)
            except (InputError, ValueError) as exc:
                return {name: {"failed": _line(exc)} for name in batch}
            refs = {name: [task.remote(ref, spec, f, syms) for f, syms in parts_of(spec, closes, folds)]
                    for name, spec in batch.items()}
            out: dict[str, dict[str, Any]] = {}
            for name, pending in refs.items():
                try:
                    result = assemble(closes, train, list(ray.get(pending)), costs)
                except (InputError, ValueError) as exc:
                    out[name] = {"failed": _line(exc)}
                    continue
                except RayTaskError:
                    raise  # a bug in a fit: as the serial run would raise it
                except RayError as exc:  # a worker lost past its retries
                    out[name] = {"failed": f"Ray: {_line(exc)[:200]}"}
                    continue
                out[name] = {k: _num(v) for k, v in result.metrics.items()}
            return out

        yield run
    finally:
        if started:
            ray.shutdown()
