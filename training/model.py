"""The PyTorch model: an MLP over standardized numerics + one small embedding per categorical.

    numeric (B, n_num) float32, NaN = missing --impute median--> --standardize--> (B, n_num)
                                             --isnan-------------------------> (B, n_num) flags
    categorical (B, n_cat) int64 vocabulary indices ---embed---> (B, n_cat * emb)
    concat -> Linear(hidden) -> ReLU -> Dropout -> Linear(hidden/2) -> ReLU -> Linear(1) -> logit

Imputation and scaling are buffers *inside* the module so they are exported with the weights.
Strings never reach torch (it has no string tensors): export.py puts an ONNX-ML LabelEncoder in
front of the exported graph that maps category strings to these indices.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from flightpath.settings import Settings
from training.preprocess import Preprocessing

log = logging.getLogger(__name__)

# Stop when validation loss has not improved for this many epochs (and keep the best weights).
PATIENCE = 2
EMBEDDING_DIM = 8
DROPOUT = 0.1
# One intra-op thread. Measured on the 2-vCPU box: an epoch over 6.5k rows took 0.04 s with 1
# thread and 0.3-2 s with 2 (the batches are too small to split; the threads spin and fight
# whatever else runs). A fixed count also keeps results bit-reproducible.
MAX_THREADS = 1


class FlightDelayNet(nn.Module):
    """MLP with in-graph imputation and scaling; returns P(departure delayed >= 15 min)."""

    medians: torch.Tensor
    means: torch.Tensor
    stds: torch.Tensor

    def __init__(self, prep: Preprocessing, hidden_units: int, embedding_dim: int = EMBEDDING_DIM):
        super().__init__()
        self.register_buffer("medians", torch.from_numpy(prep.medians.copy()))  # (n_num,)
        self.register_buffer("means", torch.from_numpy(prep.means.copy()))  # (n_num,)
        self.register_buffer("stds", torch.from_numpy(prep.stds.copy()))  # (n_num,)
        # One row per vocabulary entry plus the OOV row (index len(vocab)).
        self.embeddings = nn.ModuleList(
            nn.Embedding(len(prep.vocabularies[name]) + 1, embedding_dim) for name in prep.categorical
        )
        # Standardized values + one "was missing" flag per numeric input + the embeddings.
        width = 2 * len(prep.numeric) + embedding_dim * len(prep.categorical)
        self.mlp = nn.Sequential(
            nn.Linear(width, hidden_units),
            nn.ReLU(),
            nn.Dropout(DROPOUT),
            nn.Linear(hidden_units, max(hidden_units // 2, 1)),
            nn.ReLU(),
            nn.Linear(max(hidden_units // 2, 1), 1),
        )

    def logits(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        """(B, n_num) float32 with NaN, (B, n_cat) int64 -> (B,) logits."""
        missing = torch.isnan(numeric)  # (B, n_num): absence is information (no gust reported, unknown plane)
        x = torch.where(missing, self.medians, numeric)
        x = (x - self.means) / self.stds
        embedded = [emb(categorical[:, i]) for i, emb in enumerate(self.embeddings)]  # n_cat x (B, emb)
        return self.mlp(torch.cat([x, missing.to(x.dtype), *embedded], dim=1)).squeeze(1)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        """(B, n_num), (B, n_cat) -> (B,) probabilities."""
        return torch.sigmoid(self.logits(numeric, categorical))


class SeedEnsemble(nn.Module):
    """The mean logit of K networks trained from different seeds (same data, same preprocessing).

    Averaging seeds is the cheapest variance reduction there is: on Jan-Mar 2013 one network
    lands anywhere within about +-0.005 ROC-AUC of logistic regression depending on its seed; the
    mean of three is steadier. It exports as one graph, like a single network.
    """

    def __init__(self, nets: list[FlightDelayNet]):
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def logits(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        """(B, n_num), (B, n_cat) -> (B,) mean logit."""
        nets: list[FlightDelayNet] = list(self.nets)  # type: ignore[arg-type]  # ModuleList erases the type
        return torch.stack([net.logits(numeric, categorical) for net in nets]).mean(dim=0)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(numeric, categorical))


@dataclass
class Arrays:
    """One split part as tensors: numeric (N, n_num) float32, categorical (N, n_cat) int64, y (N,)."""

    numeric: torch.Tensor
    categorical: torch.Tensor
    y: torch.Tensor

    @classmethod
    def of(cls, numeric: np.ndarray, categorical: np.ndarray, y: np.ndarray) -> Arrays:
        return cls(
            torch.from_numpy(numeric),
            torch.from_numpy(categorical),
            torch.from_numpy(np.asarray(y, dtype=np.float32)),
        )


@dataclass
class TrainResult:
    net: FlightDelayNet | SeedEnsemble
    pos_weight: float
    best_epoch: int
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)  # one dict per epoch


def use_threads() -> int:
    """Pin torch's intra-op threads (results are reproducible for a fixed count)."""
    threads = max(1, min(MAX_THREADS, os.cpu_count() or 1))
    torch.set_num_threads(threads)
    return threads


@torch.no_grad()
def predict(net: FlightDelayNet | SeedEnsemble, data: Arrays, batch_size: int = 8192) -> np.ndarray:
    """(N,) float32 probabilities in eval mode (dropout off)."""
    net.eval()
    out = [
        net(data.numeric[i : i + batch_size], data.categorical[i : i + batch_size])
        for i in range(0, len(data.y), batch_size)
    ]
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def train_model(prep: Preprocessing, train: Arrays, validation: Arrays, settings: Settings) -> TrainResult:
    """Fit the network with Adam, weighted BCE and early stopping on validation loss.

    Args:
        prep: preprocessing constants (become buffers) and vocabulary sizes.
        train, validation: encoded split parts.
        settings: seed, epochs, batch_size, learning_rate, hidden_units.
    Returns:
        TrainResult with the best-validation-loss weights loaded and the per-epoch history.
    """
    use_threads()
    # Seeds weight init and dropout; the shuffle has its own generator, so the same seed gives
    # the same batches and (on the same thread count) bit-identical weights.
    torch.manual_seed(settings.seed)
    shuffle = torch.Generator().manual_seed(settings.seed)
    net = FlightDelayNet(prep, settings.hidden_units)

    # ~22% of flights are delayed: pos_weight = negatives/positives makes each class weigh the
    # same in the loss. Probabilities are then not calibrated (they overstate delay), which is why
    # the decision threshold is chosen on validation rather than fixed at 0.5.
    positives = float(train.y.sum())
    pos_weight = (len(train.y) - positives) / max(positives, 1.0)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight))
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.learning_rate)

    best_loss, best_epoch, best_state = float("inf"), 0, None
    history: list[dict[str, float]] = []
    for epoch in range(1, settings.epochs + 1):
        started = time.perf_counter()
        net.train()
        order = torch.randperm(len(train.y), generator=shuffle)
        total = 0.0
        for i in range(0, len(order), settings.batch_size):
            idx = order[i : i + settings.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(net.logits(train.numeric[idx], train.categorical[idx]), train.y[idx])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        train_loss = total / len(order)

        net.eval()
        with torch.no_grad():
            val_logits = net.logits(validation.numeric, validation.categorical)
            val_loss = float(loss_fn(val_logits, validation.y))
        val_auc = float(roc_auc_score(validation.y.numpy(), val_logits.numpy()))
        seconds = time.perf_counter() - started
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_auc": val_auc,
                "seconds": seconds,
            }
        )
        log.info(
            "epoch %d/%d train_loss=%.4f val_loss=%.4f val_auc=%.4f (%.2fs)",
            epoch,
            settings.epochs,
            train_loss,
            val_loss,
            val_auc,
            seconds,
        )

        if val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        elif epoch - best_epoch >= PATIENCE:
            log.info("early stop: val_loss has not improved since epoch %d", best_epoch)
            break

    assert best_state is not None  # at least one epoch ran (settings.epochs >= 1)
    net.load_state_dict(best_state)
    net.eval()
    return TrainResult(net, pos_weight, best_epoch, len(history), history)


def train_ensemble(prep: Preprocessing, train: Arrays, validation: Arrays, settings: Settings) -> TrainResult:
    """`settings.ensemble_size` networks with seeds seed, seed+1, ...; one network when the size is 1.

    Returns:
        TrainResult whose net is the SeedEnsemble; epochs and history are the first member's.
    """
    members = [
        train_model(prep, train, validation, settings.model_copy(update={"seed": settings.seed + k}))
        for k in range(settings.ensemble_size)
    ]
    if len(members) == 1:
        return members[0]
    first = members[0]
    nets = [m.net for m in members if isinstance(m.net, FlightDelayNet)]  # train_model trains one network
    return TrainResult(SeedEnsemble(nets).eval(), first.pos_weight, first.best_epoch, first.epochs_run, first.history)
