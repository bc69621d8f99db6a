"""``cnn`` and ``transformer``: window networks beside the LSTM (``core.signals.lstm``).

Both take what the LSTM takes, one window of per-step inputs per symbol
(the last ``window`` returns, the equal-weight market return with two or
more symbols, and with ``features = "fracdiff"`` the fractionally
differentiated log close), standardised with the training split's mean/sd,
and share its fit (chronological validation split after an embargo, early
stopping on validation loss with ``patience``, the best epoch kept), its
labels (next-bar return, or ``labels = "triple_barrier"``), its
regularisation (``dropout``, ``weight_decay`` L2, ``l1``), its one-thread
seeded determinism, its SHAP explanations and its artifact (weights and live
state through ``torch.save``/``torch.load(weights_only=True)``), so replay
re-runs them from stored weights exactly as it does the LSTM.

``cnn``: ``layers`` x (Conv1d over time, ``channels`` filters of width
``kernel``, same padding, ReLU), then the mean over time and the last step's
features concatenated, dropout, a linear head.

``transformer``: a linear embedding to ``d_model`` plus a learned position
embedding, ``layers`` pre-norm encoder layers (``heads`` self-attention heads,
a ``ff``-wide feed-forward, dropout), the last position's output, a linear
head. Nested-tensor fast paths are off so train and eval run the same ops.

Defaults are small: a fit on 1,000 bars of a few symbols takes seconds on one thread.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from core.signals.base import register
from core.signals.lstm import NET_DEFAULTS, WindowNetModel

CNN_DEFAULTS: dict[str, Any] = {**NET_DEFAULTS, "weight_decay": 1e-4, "channels": 16, "kernel": 3, "layers": 2}
TRANSFORMER_DEFAULTS: dict[str, Any] = {**NET_DEFAULTS, "weight_decay": 1e-4, "d_model": 16, "heads": 2,
                                        "layers": 1, "ff": 32}


class ConvNet(nn.Module):
    def __init__(self, n_in: int, window: int, channels: int, kernel: int, layers: int,
                 dropout: float, n_out: int) -> None:
        super().__init__()
        convs: list[nn.Module] = []
        for i in range(layers):
            convs += [nn.Conv1d(n_in if i == 0 else channels, channels, kernel, padding="same"), nn.ReLU()]
        self.convs = nn.Sequential(*convs)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(2 * channels, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (S, window, F)
        h = self.convs(x.transpose(1, 2))  # (S, channels, window)
        feats = torch.cat([h.mean(dim=2), h[:, :, -1]], dim=1)
        out: torch.Tensor = self.head(self.drop(feats))
        return out


class AttentionNet(nn.Module):
    def __init__(self, n_in: int, window: int, d_model: int, heads: int, layers: int, ff: int,
                 dropout: float, n_out: int) -> None:
        super().__init__()
        self.embed = nn.Linear(n_in, d_model)
        self.pos = nn.Parameter(torch.zeros(1, window, d_model))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(d_model, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (S, window, F)
        h = self.encoder(self.embed(x) + self.pos[:, : x.shape[1]])
        out: torch.Tensor = self.head(self.drop(h[:, -1, :]))
        return out


@register("cnn")
class CNNModel(WindowNetModel):
    """1-D convolutions over the window, all symbols pooled."""

    DEFAULTS = CNN_DEFAULTS

    def make_net(self, n_in: int, n_out: int) -> nn.Module:
        p = self.p
        return ConvNet(n_in, int(p["window"]), int(p["channels"]), int(p["kernel"]), int(p["layers"]),
                       float(p["dropout"]), n_out)


@register("transformer")
class TransformerModel(WindowNetModel):
    """A small self-attention encoder over the window, all symbols pooled."""

    DEFAULTS = TRANSFORMER_DEFAULTS

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        if int(self.p["d_model"]) % int(self.p["heads"]):
            raise ValueError(f"signals.transformer.d_model ({self.p['d_model']}) must be a multiple of "
                             f"signals.transformer.heads ({self.p['heads']})")

    def make_net(self, n_in: int, n_out: int) -> nn.Module:
        p = self.p
        return AttentionNet(n_in, int(p["window"]), int(p["d_model"]), int(p["heads"]), int(p["layers"]),
                            int(p["ff"]), float(p["dropout"]), n_out)
