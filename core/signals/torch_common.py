"""What the torch models here share (the window nets and the RL policy): how
they run (``torch_env``) and how their weights become bytes and come back
(``torch_bytes``, ``torch_loads``: loaded with ``weights_only``, so bytes run
no code)."""

from __future__ import annotations

import contextlib
import io
from typing import Any, Iterator

import torch


@contextlib.contextmanager
def torch_env(seed: int | None = None) -> Iterator[None]:
    """One thread, deterministic algorithms, and (with a seed) a private seeded RNG.

    Without a seed (predictions, which draw no random numbers) the global RNG
    is left alone: forking it saves and restores its state, and a prediction
    on the engine thread restoring it while a fit on the fit thread draws from
    it made that fit's weights depend on thread timing (issue 14). With one,
    the global RNG is left as it was."""
    threads, determ = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        if seed is None:
            yield
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                yield
    finally:
        torch.use_deterministic_algorithms(determ)
        torch.set_num_threads(threads)


def torch_bytes(obj: Any) -> bytes:
    """``torch.save`` of ``obj`` (plain data and tensors), as bytes."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def torch_loads(data: bytes) -> Any:
    """``torch_bytes`` read back with ``weights_only``: no code in ``data`` runs."""
    return torch.load(io.BytesIO(data), weights_only=True)
