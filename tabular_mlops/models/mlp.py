"""A PyTorch multi-layer perceptron as a scikit-learn estimator (classifier and regressor).

* automatic mixed precision on CUDA (bf16 autocast where the GPU supports it, else fp16 with a
  gradient scaler); plain fp32 on the CPU;
* early stopping on an internal validation split (or an explicit ``eval_set``) with the best
  weights restored; a learning-rate schedule (one-cycle, cosine or reduce-on-plateau);
  gradient clipping; class weights for imbalance; dropout and batch/layer normalisation;
* deterministic seeding, device auto-selection, batch size and epochs as parameters;
* dense or sparse (CSR) input; inputs standardised inside the estimator unless told not to.

``__init__`` stores parameters only, ``fit`` returns ``self`` and learned attributes end in ``_``,
so the estimators work inside cross-validation, pipelines and Optuna, and pass scikit-learn's
``check_estimator``.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data
except ImportError:  # older scikit-learn (e.g. on a bare GPU image): the estimator method

    def validate_data(estimator: Any, *args: Any, **kwargs: Any) -> Any:
        return estimator._validate_data(*args, **kwargs)


from torch import nn

MAX_RESIDENT_BYTES = 1 << 30
MIN_STEPS_PER_EPOCH = 8


def select_device(device: str = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU; anything else is passed to torch."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _network(n_in: int, n_out: int, hidden: Sequence[int], dropout: float, norm: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for size in hidden:
        layers.append(nn.Linear(width, size))
        if norm == "batch":
            layers.append(nn.BatchNorm1d(size))
        elif norm == "layer":
            layers.append(nn.LayerNorm(size))
        layers.append(nn.GELU())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class _BaseTorchMLP(BaseEstimator):
    """Shared training loop; subclasses define the loss and the output transform."""

    def __init__(
        self,
        hidden_sizes: Sequence[int] = (256, 128),
        dropout: float = 0.1,
        norm: str = "batch",
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 256,
        max_iter: int = 100,
        n_iter_no_change: int = 10,
        validation_fraction: float = 0.1,
        lr_schedule: str = "onecycle",
        grad_clip: float = 1.0,
        standardize: bool = True,
        device: str = "auto",
        amp: bool = True,
        n_threads: int | None = None,
        random_state: int | None = 0,
        verbose: int = 0,
    ) -> None:
        self.hidden_sizes = hidden_sizes
        self.dropout = dropout
        self.norm = norm
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.n_iter_no_change = n_iter_no_change
        self.validation_fraction = validation_fraction
        self.lr_schedule = lr_schedule
        self.grad_clip = grad_clip
        self.standardize = standardize
        self.device = device
        self.amp = amp
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------- subclass hooks
    def _prepare_targets(self, y: np.ndarray, refit: bool = True) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def _loss(self, weights: torch.Tensor | None) -> nn.Module:
        raise NotImplementedError

    def _stratify(self, y: np.ndarray) -> np.ndarray | None:
        return None

    def _sample_weights(self, y: np.ndarray) -> np.ndarray | None:
        return None

    # ----------------------------------------------------------------- fitting
    def fit(self, X: Any, y: Any, eval_set: tuple[Any, Any] | None = None) -> _BaseTorchMLP:
        """Train with early stopping on ``eval_set`` or on ``validation_fraction`` of (X, y)."""
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=np.float32, y_numeric=False, reset=True)
        targets, n_out = self._prepare_targets(np.asarray(y))
        self._fit_scaler(X)
        seed = 0 if self.random_state is None else int(self.random_state)
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        if eval_set is not None:
            X_val = validate_data(self, eval_set[0], accept_sparse="csr", dtype=np.float32, reset=False)
            val_targets, _ = self._prepare_targets(np.asarray(eval_set[1]), refit=False)
            X_fit, y_fit = X, targets
        elif self.validation_fraction and X.shape[0] >= 20:
            stratify = self._stratify(targets)
            try:
                X_fit, X_val, y_fit, val_targets = train_test_split(
                    X, targets, test_size=self.validation_fraction, random_state=seed, stratify=stratify
                )
            except ValueError:  # a class too small to stratify
                X_fit, X_val, y_fit, val_targets = train_test_split(
                    X, targets, test_size=self.validation_fraction, random_state=seed
                )
        else:
            X_fit, y_fit, X_val, val_targets = X, targets, None, None
        device = select_device(self.device)
        threads_before = torch.get_num_threads()
        if self.n_threads:
            torch.set_num_threads(int(self.n_threads))
        try:
            self._train(X_fit, y_fit, X_val, val_targets, n_out, device, generator)
        finally:
            torch.set_num_threads(threads_before)
        return self

    def _fit_scaler(self, X: Any) -> None:
        if not self.standardize:
            self.mean_ = np.zeros(X.shape[1], dtype=np.float32)
            self.scale_ = np.ones(X.shape[1], dtype=np.float32)
            return
        if sp.issparse(X):
            mean = np.zeros(X.shape[1], dtype=np.float64)  # keep sparse rows sparse: scale only
            squares = np.asarray(X.multiply(X).mean(axis=0)).ravel()
            std = np.sqrt(np.maximum(squares, 0.0))
        else:
            mean = X.mean(axis=0, dtype=np.float64)
            std = X.std(axis=0, dtype=np.float64)
        std[~np.isfinite(std) | (std < 1e-12)] = 1.0
        self.mean_ = mean.astype(np.float32)
        self.scale_ = std.astype(np.float32)

    def _tensor(self, X: Any, rows: np.ndarray | slice, device: torch.device) -> torch.Tensor:
        if isinstance(X, torch.Tensor):  # already standardised and on the device
            return X[torch.as_tensor(rows, device=X.device)] if isinstance(rows, np.ndarray) else X[rows]
        block = X[rows]
        dense = block.toarray() if sp.issparse(block) else np.asarray(block)
        dense = (dense - self.mean_) / self.scale_
        return torch.from_numpy(np.ascontiguousarray(dense, dtype=np.float32)).to(device, non_blocking=True)

    def _resident(self, X: Any, device: torch.device) -> Any:
        """The whole matrix as one standardised float32 tensor on the device when it fits in
        ``MAX_RESIDENT_BYTES``: batches are then slices, not per-batch conversions and copies."""
        if X is None or X.shape[0] * X.shape[1] * 4 > MAX_RESIDENT_BYTES:
            return X
        return self._tensor(X, slice(None), device)

    def _autocast(self, device: torch.device) -> tuple[bool, torch.dtype]:
        if not (self.amp and device.type == "cuda"):
            return False, torch.float32
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return True, dtype

    def _train(
        self,
        X: Any,
        y: np.ndarray,
        X_val: Any,
        y_val: np.ndarray | None,
        n_out: int,
        device: torch.device,
        generator: torch.Generator,
    ) -> None:
        weights = self._class_weight_tensor(y, device)
        X, X_val = self._resident(X, device), self._resident(X_val, device)
        network = _network(X.shape[1], n_out, tuple(self.hidden_sizes), float(self.dropout), self.norm).to(device)
        optimizer = torch.optim.AdamW(network.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        n_rows = X.shape[0]
        # Small data: shrink the batch so an epoch still takes several optimizer steps.
        batch = max(2, min(int(self.batch_size), max(16, n_rows // MIN_STEPS_PER_EPOCH), n_rows))
        steps_per_epoch = max(1, math.ceil(n_rows / batch))
        scheduler: Any = None
        if self.lr_schedule == "onecycle":
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=self.learning_rate, total_steps=steps_per_epoch * int(self.max_iter)
            )
        elif self.lr_schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=steps_per_epoch * int(self.max_iter)
            )
        elif self.lr_schedule == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, factor=0.5, patience=max(1, self.n_iter_no_change // 3)
            )
        elif self.lr_schedule != "none":
            raise ValueError(f"lr_schedule must be onecycle, cosine, plateau or none, got {self.lr_schedule!r}")
        use_amp, amp_dtype = self._autocast(device)
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
        loss_fn = self._loss(weights)
        y_tensor = torch.as_tensor(y, device=device)
        best_state: dict[str, torch.Tensor] | None = None
        best_loss = math.inf
        stale = 0
        history: list[dict[str, float]] = []
        started = time.perf_counter()
        seen = 0
        epoch = 0
        for epoch in range(1, int(self.max_iter) + 1):
            network.train()
            order = torch.randperm(n_rows, generator=generator).numpy()
            total = 0.0
            for start in range(0, n_rows, batch):
                rows = order[start : start + batch]
                if len(rows) < 2 and self.norm == "batch":
                    continue
                inputs = self._tensor(X, rows, device)
                with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp):
                    loss = loss_fn(self._forward_train(network, inputs), y_tensor[rows])
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if self.grad_clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(network.parameters(), float(self.grad_clip))
                scaler.step(optimizer)
                scaler.update()
                if scheduler is not None and self.lr_schedule in ("onecycle", "cosine"):
                    scheduler.step()
                total += float(loss.detach()) * len(rows)
                seen += len(rows)
            record = {"epoch": float(epoch), "train_loss": total / n_rows}
            if X_val is not None and y_val is not None:
                val_loss = self._evaluate_loss(network, X_val, y_val, loss_fn, device, use_amp, amp_dtype)
                record["val_loss"] = val_loss
                if scheduler is not None and self.lr_schedule == "plateau":
                    scheduler.step(val_loss)
                if val_loss < best_loss - 1e-6:
                    best_loss, stale = val_loss, 0
                    best_state = copy.deepcopy({k: v.detach().cpu() for k, v in network.state_dict().items()})
                else:
                    stale += 1
            history.append(record)
            if self.verbose:
                print(f"epoch {epoch}: {record}")
            if X_val is not None and stale >= int(self.n_iter_no_change):
                break
        if best_state is not None:
            network.load_state_dict(best_state)
        self.module_ = network.cpu().eval()
        self.n_iter_ = epoch
        self.best_epoch_ = epoch - stale if best_state is not None else epoch
        self.best_validation_loss_ = best_loss if best_state is not None else None
        self.history_ = history
        self.fit_seconds_ = time.perf_counter() - started
        self.samples_per_second_ = seen / max(self.fit_seconds_, 1e-9)
        self.device_ = str(device)
        self.amp_dtype_ = str(amp_dtype).replace("torch.", "") if use_amp else "float32"

    def _forward_train(self, network: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        return network(inputs)

    def _evaluate_loss(
        self,
        network: nn.Module,
        X: Any,
        y: np.ndarray,
        loss_fn: nn.Module,
        device: torch.device,
        use_amp: bool,
        amp_dtype: torch.dtype,
    ) -> float:
        network.eval()
        total = 0.0
        y_tensor = torch.as_tensor(y, device=device)
        with torch.no_grad():
            for start in range(0, X.shape[0], 4096):
                rows = np.arange(start, min(start + 4096, X.shape[0]))
                with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp):
                    output = self._forward_train(network, self._tensor(X, rows, device))
                total += float(loss_fn(output.float(), y_tensor[rows])) * len(rows)
        return total / X.shape[0]

    def _class_weight_tensor(self, y: np.ndarray, device: torch.device) -> torch.Tensor | None:
        return None

    def _raw_output(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "module_")
        X = validate_data(self, X, accept_sparse="csr", dtype=np.float32, reset=False)
        outputs = []
        with torch.no_grad():
            for start in range(0, X.shape[0], 8192):
                rows = np.arange(start, min(start + 8192, X.shape[0]))
                outputs.append(self.module_(self._tensor(X, rows, torch.device("cpu"))).float().numpy())
        return np.concatenate(outputs) if outputs else np.empty((0, 1), dtype=np.float32)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.non_deterministic = False
        return tags


class TorchMLPClassifier(ClassifierMixin, _BaseTorchMLP):
    """Binary and multiclass classification; ``class_weight='balanced'`` reweights the loss."""

    def __init__(
        self,
        hidden_sizes: Sequence[int] = (256, 128),
        dropout: float = 0.1,
        norm: str = "batch",
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 256,
        max_iter: int = 100,
        n_iter_no_change: int = 10,
        validation_fraction: float = 0.1,
        lr_schedule: str = "onecycle",
        grad_clip: float = 1.0,
        standardize: bool = True,
        class_weight: str | dict[Any, float] | None = None,
        device: str = "auto",
        amp: bool = True,
        n_threads: int | None = None,
        random_state: int | None = 0,
        verbose: int = 0,
    ) -> None:
        super().__init__(
            hidden_sizes=hidden_sizes,
            dropout=dropout,
            norm=norm,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            batch_size=batch_size,
            max_iter=max_iter,
            n_iter_no_change=n_iter_no_change,
            validation_fraction=validation_fraction,
            lr_schedule=lr_schedule,
            grad_clip=grad_clip,
            standardize=standardize,
            device=device,
            amp=amp,
            n_threads=n_threads,
            random_state=random_state,
            verbose=verbose,
        )
        self.class_weight = class_weight

    def _prepare_targets(self, y: np.ndarray, refit: bool = True) -> tuple[np.ndarray, int]:
        if refit:
            check_classification_targets(y)
            self.label_encoder_ = LabelEncoder().fit(y)
            self.classes_ = self.label_encoder_.classes_
        encoded = self.label_encoder_.transform(y).astype(np.int64)
        return encoded, len(self.classes_)

    def _stratify(self, y: np.ndarray) -> np.ndarray | None:
        return y

    def _class_weight_tensor(self, y: np.ndarray, device: torch.device) -> torch.Tensor | None:
        if self.class_weight is None:
            return None
        weights = np.ones(len(self.classes_), dtype=np.float32)
        if isinstance(self.class_weight, dict):
            for label, weight in self.class_weight.items():
                if label in self.classes_:
                    weights[int(self.label_encoder_.transform([label])[0])] = float(weight)
        elif self.class_weight == "balanced":
            present = np.unique(y)
            weights[present] = compute_class_weight("balanced", classes=present, y=y)
        else:
            raise ValueError(f"class_weight must be None, 'balanced' or a dict, got {self.class_weight!r}")
        return torch.as_tensor(weights, device=device)

    def _loss(self, weights: torch.Tensor | None) -> nn.Module:
        return nn.CrossEntropyLoss(weight=weights)

    def predict_proba(self, X: Any) -> np.ndarray:
        logits = self._raw_output(X)
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits, dtype=np.float64)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        probabilities = self.predict_proba(X)
        return self.classes_[np.argmax(probabilities, axis=1)]


class TorchMLPRegressor(RegressorMixin, _BaseTorchMLP):
    """Regression on a standardised target (Huber or squared loss)."""

    def __init__(
        self,
        hidden_sizes: Sequence[int] = (256, 128),
        dropout: float = 0.1,
        norm: str = "batch",
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-5,
        batch_size: int = 256,
        max_iter: int = 100,
        n_iter_no_change: int = 10,
        validation_fraction: float = 0.1,
        lr_schedule: str = "onecycle",
        grad_clip: float = 1.0,
        standardize: bool = True,
        loss: str = "mse",
        device: str = "auto",
        amp: bool = True,
        n_threads: int | None = None,
        random_state: int | None = 0,
        verbose: int = 0,
    ) -> None:
        super().__init__(
            hidden_sizes=hidden_sizes,
            dropout=dropout,
            norm=norm,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            batch_size=batch_size,
            max_iter=max_iter,
            n_iter_no_change=n_iter_no_change,
            validation_fraction=validation_fraction,
            lr_schedule=lr_schedule,
            grad_clip=grad_clip,
            standardize=standardize,
            device=device,
            amp=amp,
            n_threads=n_threads,
            random_state=random_state,
            verbose=verbose,
        )
        self.loss = loss

    def _prepare_targets(self, y: np.ndarray, refit: bool = True) -> tuple[np.ndarray, int]:
        values = np.asarray(y, dtype=np.float64).reshape(-1)
        if refit:
            self.y_mean_ = float(values.mean())
            std = float(values.std())
            self.y_scale_ = std if std > 1e-12 else 1.0
        return ((values - self.y_mean_) / self.y_scale_).astype(np.float32).reshape(-1, 1), 1

    def _loss(self, weights: torch.Tensor | None) -> nn.Module:
        if self.loss == "huber":
            return nn.HuberLoss()
        if self.loss == "mse":
            return nn.MSELoss()
        raise ValueError(f"loss must be 'mse' or 'huber', got {self.loss!r}")

    def predict(self, X: Any) -> np.ndarray:
        return self._raw_output(X).reshape(-1).astype(np.float64) * self.y_scale_ + self.y_mean_
