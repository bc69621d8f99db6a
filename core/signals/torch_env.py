"""``torch_env``: how every torch model here runs (the window nets and the RL policy)."""

from __future__ import annotations

import contextlib
from typing import Iterator

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
