"""The digits CNN's training loop: shuffled mini-batches, one test-set check and one line per epoch."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EpochPlan:
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int


def train_epochs(model, data: tuple[np.ndarray, ...], device, plan: EpochPlan, log_epoch: Callable[[dict, int], None]):
    """Fit ``model`` in place on (x_train, x_test, y_train, y_test); ``log_epoch(metrics, epoch)`` after each epoch.
    Returns the seconds each epoch took."""
    import torch

    x_train, x_test, y_train, y_test = data
    optimizer = torch.optim.Adam(model.parameters(), lr=plan.learning_rate)
    loss_fn = torch.nn.CrossEntropyLoss()
    train_x, train_y = torch.from_numpy(x_train).to(device), torch.from_numpy(y_train).to(device)
    test_x, test_y = torch.from_numpy(x_test).to(device), torch.from_numpy(y_test).to(device)
    generator = torch.Generator().manual_seed(plan.seed)
    epoch_times = []
    for epoch in range(1, plan.epochs + 1):
        epoch_started = time.perf_counter()
        model.train()
        order = torch.randperm(len(train_x), generator=generator).to(device)
        total_loss, correct = 0.0, 0
        for start in range(0, len(order), plan.batch_size):
            batch = order[start : start + plan.batch_size]
            optimizer.zero_grad()
            logits = model(train_x[batch])
            loss = loss_fn(logits, train_y[batch])
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(batch)
            correct += int((logits.argmax(dim=1) == train_y[batch]).sum())
        model.eval()
        with torch.no_grad():
            test_logits = model(test_x)
            val_loss = float(loss_fn(test_logits, test_y))
            val_acc = float((test_logits.argmax(dim=1) == test_y).float().mean())
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - epoch_started
        epoch_times.append(seconds)
        metrics = {
            "train_loss": total_loss / len(train_x),
            "train_accuracy": correct / len(train_x),
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "epoch_seconds": seconds,
        }
        log_epoch(metrics, epoch)
        print(
            f"epoch {epoch}/{plan.epochs} train_loss={metrics['train_loss']:.4f} "
            f"train_acc={metrics['train_accuracy']:.4f} val_loss={val_loss:.4f} val_acc={val_acc:.4f} "
            f"({seconds:.2f}s on {device.type})",
            flush=True,
        )
    return epoch_times
