"""Performance predictors of the model-based strategies: an MLP ensemble (BANANAS), a GCN (BONAS), Bayesian
linear regression.

All predictors regress a score *to maximise* from a fixed-size encoding and share one small interface::

    p.fit(X, y)                 # X: what the predictor reads (array, or list of (adj, feats) for the GCN)
    mean, std = p.predict(X)    # in the units of y

The strategies minimise their objective, so they feed minus the loss (e.g. minus the validation error): the
GCN's exponentially weighted loss and the floor of `clip_quantile` both treat high targets as the good ones.
Every model is standardised or rescaled on its own targets, so the units (a fraction or %) do not matter.

Every model is trained with its own `torch.Generator`/seed, so a search is reproducible, and its gradients
are cleared before every backward pass (NASLib's GCN trainer accumulates them across steps). The models keep
all parameters in one flat tensor with a small Adam of our own (`_Flat`, `_Adam`): for nets this small the
per-tensor bookkeeping of `torch.optim` costs more than the arithmetic.

- `MLPEnsemble`: E fully connected nets trained at once as batched matrix products (one `torch.bmm` per layer
  for the whole ensemble, which makes an ensemble of 5 as cheap as one net on a CPU). Targets are standardised
  (optionally floored at a quantile first, `clip_quantile`); the loss is the mean absolute error as in
  BANANAS; mean and std are taken over the members.
- `GCN`: BONAS's graph convolutional network: node features are one-hot ops, a global node is joined to every
  node, each layer is ``ReLU(BN(A_hat H W))`` with A_hat the row-normalised adjacency (self loops, messages
  flowing along the cell's edges and from every node into the global node); the global node's final state is
  the architecture embedding, a linear layer and a sigmoid on it give the prediction. Trained with BONAS's
  exponentially weighted squared error on targets scaled to [0.05, 0.95] (see `exp_weighted_loss`;
  `clip_quantile` floors the targets at that quantile first, so diverged networks do not set the scale).
- `BayesianLinearRegression`: w ~ N(0, 1/alpha), y ~ N(phi w, 1/beta), alpha and beta by evidence
  maximisation (MacKay's fixed point iterations), predictive mean and variance in closed form.
- `GCNBLR`: the GCN's embedding fed to the BLR (BONAS's surrogate): `fit_embedding` retrains the GCN,
  `fit` refits only the BLR on the current embedding, its targets scaled with their own range
  (`scale_targets`), so a new best told since the GCN's last fit is not clipped to that fit's maximum.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

__all__ = ["MLPEnsemble", "GCN", "BayesianLinearRegression", "GCNBLR", "exp_weighted_loss", "scale_targets",
           "graph_batch", "correlations"]


def _generator(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(seed) % (2**63 - 1))
    return g


# ------------------------------------------------------------------------------------------ shared bits

class _Flat:
    """All parameters of a small model in one flat tensor, handed out as named views.

    One tensor means one gradient buffer and an Adam step of a handful of vectorised operations, which is
    what makes these tiny models cheap on a CPU (torch.optim's per-tensor bookkeeping costs more than the
    model's arithmetic here, and its first use imports torch._dynamo, several seconds).
    """

    def __init__(self, shapes: dict[str, tuple[int, ...]]) -> None:
        self.shapes = shapes
        self.offsets, n = {}, 0
        for name, shape in shapes.items():
            size = int(np.prod(shape))
            self.offsets[name] = (n, size)
            n += size
        self.theta = torch.zeros(n)

    def __getitem__(self, name: str) -> torch.Tensor:
        o, size = self.offsets[name]
        return self.theta[o:o + size].view(self.shapes[name])

    def init_uniform(self, name: str, bound: float, g: torch.Generator) -> None:
        with torch.no_grad():
            self[name].copy_((torch.rand(self.shapes[name], generator=g) * 2 - 1) * bound)

    def fill(self, name: str, value: float) -> None:
        with torch.no_grad():
            self[name].fill_(value)


class _Adam:
    """Adam (Kingma & Ba) on one flat parameter tensor; gradients are cleared after every step."""

    def __init__(self, theta: torch.Tensor, lr: float, weight_decay: float = 0.0, betas=(0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.theta, self.lr, self.wd, (self.b1, self.b2), self.eps = theta, lr, weight_decay, betas, eps
        self.m, self.v, self.t = torch.zeros_like(theta), torch.zeros_like(theta), 0

    def zero_grad(self) -> None:
        self.theta.grad = None

    def step(self) -> None:
        g = self.theta.grad
        with torch.no_grad():
            if self.wd:
                g = g.add(self.theta, alpha=self.wd)
            self.t += 1
            self.m.mul_(self.b1).add_(g, alpha=1 - self.b1)
            self.v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
            denom = (self.v / (1 - self.b2 ** self.t)).sqrt_().add_(self.eps)
            self.theta.addcdiv_(self.m, denom, value=-self.lr / (1 - self.b1 ** self.t))


# ------------------------------------------------------------------------------------------ MLP ensemble

class _EnsembleMLP:
    """E independent MLPs evaluated together: x (E, n, d) -> (E, n)."""

    def __init__(self, n_models: int, d_in: int, hidden: int, layers: int, generator: torch.Generator) -> None:
        dims = [d_in] + [hidden] * layers + [1]
        self.n_layers = len(dims) - 1
        shapes = {}
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            shapes[f"w{i}"], shapes[f"b{i}"] = (n_models, a, b), (n_models, 1, b)
        self.p = _Flat(shapes)
        for i, a in enumerate(dims[:-1]):
            bound = 1.0 / math.sqrt(a)  # torch.nn.Linear's default initialisation
            self.p.init_uniform(f"w{i}", bound, generator)
            self.p.init_uniform(f"b{i}", bound, generator)
        self.p.theta.requires_grad_(True)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for i in range(self.n_layers):
            h = torch.baddbmm(self.p[f"b{i}"], h, self.p[f"w{i}"])
            if i < self.n_layers - 1:
                h = torch.relu(h)
        return h.squeeze(-1)


class MLPEnsemble:
    """BANANAS's predictor: an ensemble of feedforward nets on a (path) encoding.

    Defaults are a smaller, faster variant of BANANAS's (10 layers of 20, 200 epochs of batch 32): 3 layers
    of 32 trained full batch with Adam (lr 0.01, 200 steps) on standardised targets with an L1 loss; the
    predictor study (`experiments/predictor_study.py`) shows the rank correlation this reaches.
    """

    def __init__(self, n_models: int = 5, hidden: int = 32, layers: int = 3, steps: int = 200, lr: float = 0.01,
                 weight_decay: float = 0.0, loss: str = "mae", clip_quantile: float = 0.0, seed: int = 0) -> None:
        if n_models < 1 or hidden < 1 or layers < 0 or steps < 1 or lr <= 0:
            raise ValueError("MLPEnsemble: n_models, hidden, steps >= 1, layers >= 0, lr > 0")
        if loss not in ("mae", "mse"):
            raise ValueError(f"MLPEnsemble: loss must be 'mae' or 'mse', got {loss!r}")
        self.n_models, self.hidden, self.layers = n_models, hidden, layers
        self.steps, self.lr, self.weight_decay, self.loss = steps, lr, weight_decay, loss
        self.seed, self.clip_quantile = seed, clip_quantile
        self._fits = 0
        self.net: _EnsembleMLP | None = None

    def fit(self, X, y) -> "MLPEnsemble":
        X = torch.as_tensor(np.asarray(X, dtype=np.float32))
        y = np.asarray(y, dtype=np.float64)
        if X.ndim != 2 or len(X) != len(y) or len(y) < 2:
            raise ValueError(f"MLPEnsemble.fit: need X (n, d) and y (n,) with n >= 2, got {tuple(X.shape)}, {y.shape}")
        if self.clip_quantile > 0:  # floor the worst targets (diverged networks) so they do not set the scale
            y = np.maximum(y, np.quantile(y, self.clip_quantile))
        self.mu, self.sigma = float(y.mean()), float(y.std()) or 1.0
        t = torch.as_tensor((y - self.mu) / self.sigma, dtype=torch.float32)
        g = _generator(self.seed * 1_000_003 + self._fits)
        self._fits += 1
        net = _EnsembleMLP(self.n_models, X.shape[1], self.hidden, self.layers, g)
        opt = _Adam(net.p.theta, self.lr, self.weight_decay)
        xb = X.unsqueeze(0).expand(self.n_models, -1, -1)
        tb = t.unsqueeze(0).expand(self.n_models, -1)
        for _ in range(self.steps):
            opt.zero_grad()
            err = net(xb) - tb
            loss = err.abs().mean() if self.loss == "mae" else err.pow(2).mean()
            loss.backward()
            opt.step()
        net.p.theta.requires_grad_(False)
        self.net = net
        return self

    def predict_members(self, X) -> np.ndarray:
        """(n_models, n) predictions of every member."""
        if self.net is None:
            raise RuntimeError("MLPEnsemble.predict before fit")
        X = torch.as_tensor(np.asarray(X, dtype=np.float32))
        with torch.no_grad():
            out = self.net(X.unsqueeze(0).expand(self.n_models, -1, -1)).numpy().astype(np.float64)
        return out * self.sigma + self.mu

    def predict(self, X) -> tuple[np.ndarray, np.ndarray]:
        members = self.predict_members(X)
        return members.mean(axis=0), members.std(axis=0)


# ------------------------------------------------------------------------------------------------- GCN

def graph_batch(graphs: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (adjacency (N, N), features (N, F)) pairs into the GCN's input, adding BONAS's global node.

    Returns A_hat (B, N+1, N+1): row i averages over i itself and the nodes with an edge into i; the global
    node (last) reads every node; and features (B, N+1, F+1) with the global node's own one-hot flag.
    """
    adj = np.stack([a for a, _ in graphs]).astype(np.float32)
    feats = np.stack([f for _, f in graphs]).astype(np.float32)
    b, n, f = feats.shape
    big = np.zeros((b, n + 1, n + 1), dtype=np.float32)
    big[:, :n, :n] = np.transpose(adj, (0, 2, 1))  # row i <- its predecessors
    big[:, n, :] = 1.0                               # the global node reads everything (and itself)
    idx = np.arange(n + 1)
    big[:, idx, idx] = 1.0
    big /= big.sum(axis=2, keepdims=True)
    fx = np.zeros((b, n + 1, f + 1), dtype=np.float32)
    fx[:, :n, :f] = feats
    fx[:, n, f] = 1.0
    return torch.from_numpy(big), torch.from_numpy(fx)


class _GCNNet:
    """Graph convolutions ``ReLU(BN(A_hat H W + b))``; BN normalises each channel over graphs and nodes."""

    def __init__(self, n_features: int, hidden: int, layers: int, generator: torch.Generator,
                 batch_norm: bool = True) -> None:
        dims = [n_features] + [hidden] * layers
        self.n_layers, self.batch_norm = layers, batch_norm
        shapes = {}
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            shapes.update({f"w{i}": (a, b), f"b{i}": (b,), f"gamma{i}": (b,), f"beta{i}": (b,)})
        shapes.update({"head_w": (hidden, 1), "head_b": (1,)})
        self.p = _Flat(shapes)
        for i in range(layers):
            self.p.init_uniform(f"w{i}", 0.05, generator)  # BONAS's initialisation
            self.p.fill(f"gamma{i}", 1.0)
        self.p.init_uniform("head_w", 1.0 / math.sqrt(hidden), generator)
        self.p.theta.requires_grad_(True)
        self.running = [(torch.zeros(hidden), torch.ones(hidden)) for _ in range(layers)]
        self.training = True

    def embed(self, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        h = x
        for i in range(self.n_layers):
            h = torch.bmm(adj, h @ self.p[f"w{i}"]) + self.p[f"b{i}"]
            if not self.batch_norm:
                h = torch.relu(h)
                continue
            if self.training:
                flat = h.reshape(-1, h.shape[-1])
                mean, var = flat.mean(dim=0), flat.var(dim=0, unbiased=False)
                with torch.no_grad():
                    rm, rv = self.running[i]
                    n = flat.shape[0]
                    rm.mul_(0.9).add_(mean.detach(), alpha=0.1)
                    rv.mul_(0.9).add_(var.detach() * n / max(n - 1, 1), alpha=0.1)
            else:
                mean, var = self.running[i]
            h = (h - mean) / torch.sqrt(var + 1e-5) * self.p[f"gamma{i}"] + self.p[f"beta{i}"]
            h = torch.relu(h)
        return h[:, -1, :]

    def __call__(self, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid((self.embed(adj, x) @ self.p["head_w"]).squeeze(-1) + self.p["head_b"])


def scale_targets(y, clip_quantile: float = 0.0) -> tuple[np.ndarray, float, float]:
    """Targets mapped linearly so that [floor, max] becomes [0.05, 0.95], clipped to [0, 1]: (t, lo, hi) with
    t = (y - lo) / (hi - lo). The floor is the `clip_quantile` quantile of `y` (its minimum at 0), so diverged
    networks do not set the scale; targets far below it are clipped at 0. The maximum of `y` is never clipped:
    whoever scales with (lo, hi) must compute them from the targets it fits."""
    y = np.asarray(y, dtype=np.float64)
    floor = float(np.quantile(y, clip_quantile)) if clip_quantile > 0 else float(y.min())
    span = float(y.max() - floor) or 1.0
    lo, hi = floor - 0.05 * span / 0.9, float(y.max()) + 0.05 * span / 0.9
    return np.clip((y - lo) / (hi - lo), 0.0, 1.0), lo, hi


def exp_weighted_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BONAS's exponentially weighted loss, paper form: mean((exp(y) - 1) * (y_hat - y)^2), y in [0, 1].

    (The authors' code uses exp(y - 1) instead, which weights the worst architecture 0.37 rather than about
    0; we follow the paper. `GCN.fit` scales its targets linearly so the observed range maps to [0.05, 0.95]:
    the best architectures weigh e^0.95 - 1 = 1.59, the worst 0.05.)
    """
    return ((torch.exp(target) - 1.0) * (pred - target) ** 2).mean()


class GCN:
    """BONAS's GCN predictor on (adjacency, one-hot ops) graphs (without BLR: a point prediction).

    Defaults follow the authors' code: 4 layers of 64, Adam lr 1e-3, 100 epochs of batch 128.
    """

    def __init__(self, hidden: int = 64, layers: int = 4, epochs: int = 100, batch_size: int = 128,
                 lr: float = 1e-3, weight_decay: float = 0.0, loss: str = "exp", batch_norm: bool = True,
                 clip_quantile: float = 0.0, seed: int = 0) -> None:
        if loss not in ("exp", "mse"):
            raise ValueError(f"GCN: loss must be 'exp' or 'mse', got {loss!r}")
        if hidden < 1 or layers < 1 or epochs < 1 or batch_size < 2 or lr <= 0:
            raise ValueError("GCN: hidden, layers, epochs >= 1, batch_size >= 2, lr > 0")
        self.hidden, self.layers, self.epochs, self.batch_size = hidden, layers, epochs, batch_size
        self.lr, self.weight_decay, self.loss, self.seed = lr, weight_decay, loss, seed
        self.batch_norm, self.clip_quantile = batch_norm, clip_quantile
        self._fits = 0
        self.net: _GCNNet | None = None

    def fit(self, graphs, y) -> "GCN":
        y = np.asarray(y, dtype=np.float64)
        if len(graphs) != len(y) or len(y) < 2:
            raise ValueError(f"GCN.fit: need as many graphs as targets (>= 2), got {len(graphs)} and {len(y)}")
        # Targets scaled linearly so the observed range maps to [0.05, 0.95], inside the sigmoid's reach.
        scaled, self.lo, self.hi = scale_targets(y, self.clip_quantile)
        adj, x = graph_batch(graphs)
        t = torch.as_tensor(scaled, dtype=torch.float32)
        g = _generator(self.seed * 1_000_003 + self._fits)
        self._fits += 1
        net = _GCNNet(x.shape[2], self.hidden, self.layers, g, self.batch_norm)
        opt = _Adam(net.p.theta, self.lr, self.weight_decay)
        criterion = exp_weighted_loss if self.loss == "exp" else (lambda a, b: ((a - b) ** 2).mean())
        n = len(y)
        for _ in range(self.epochs):
            order = torch.randperm(n, generator=g)
            for start in range(0, n, self.batch_size):
                idx = order[start:start + self.batch_size]
                if len(idx) < 2:  # batch norm needs two samples
                    continue
                opt.zero_grad()
                loss = criterion(net(adj[idx], x[idx]), t[idx])
                loss.backward()
                opt.step()
        net.p.theta.requires_grad_(False)
        net.training = False
        self.net = net
        return self

    def embed(self, graphs) -> np.ndarray:
        if self.net is None:
            raise RuntimeError("GCN.embed before fit")
        adj, x = graph_batch(graphs)
        with torch.no_grad():
            return self.net.embed(adj, x).numpy().astype(np.float64)

    def predict(self, graphs) -> tuple[np.ndarray, np.ndarray]:
        if self.net is None:
            raise RuntimeError("GCN.predict before fit")
        adj, x = graph_batch(graphs)
        with torch.no_grad():
            p = self.net(adj, x).numpy().astype(np.float64)
        return self.lo + p * (self.hi - self.lo), np.zeros_like(p)


# --------------------------------------------------------------------------------------------------- BLR

class BayesianLinearRegression:
    """Bayesian linear regression with alpha (weight precision) and beta (noise precision) chosen by
    maximising the evidence (Bishop, PRML 3.5.2). Features get a constant column; targets are centred."""

    def __init__(self, alpha: float = 1.0, beta: float = 1.0, max_iter: int = 100, tol: float = 1e-5,
                 intercept: bool = True) -> None:
        self.alpha0, self.beta0, self.max_iter, self.tol, self.intercept = alpha, beta, max_iter, tol, intercept

    def _design(self, Phi: np.ndarray) -> np.ndarray:
        Phi = np.asarray(Phi, dtype=np.float64)
        return np.hstack([Phi, np.ones((len(Phi), 1))]) if self.intercept else Phi

    def fit(self, Phi, t) -> "BayesianLinearRegression":
        P = self._design(Phi)
        t = np.asarray(t, dtype=np.float64)
        self.t_mean = float(t.mean())
        tc = t - self.t_mean
        n, m = P.shape
        PtP, Ptt = P.T @ P, P.T @ tc
        eig = np.clip(np.linalg.eigvalsh(PtP), 0.0, None)
        alpha, beta = self.alpha0, self.beta0
        for _ in range(self.max_iter):
            A = alpha * np.eye(m) + beta * PtP
            mN = beta * np.linalg.solve(A, Ptt)
            lam = beta * eig
            gamma = float(np.sum(lam / (lam + alpha)))
            new_alpha = gamma / max(float(mN @ mN), 1e-12)
            resid = float(np.sum((tc - P @ mN) ** 2))
            new_beta = max(n - gamma, 1e-6) / max(resid, 1e-12)
            done = abs(new_alpha - alpha) <= self.tol * alpha and abs(new_beta - beta) <= self.tol * beta
            alpha, beta = new_alpha, new_beta
            if done:
                break
        alpha, beta = min(max(alpha, 1e-8), 1e8), min(max(beta, 1e-8), 1e8)
        A = alpha * np.eye(m) + beta * PtP  # the posterior at the final alpha, beta
        self.S = np.linalg.inv(A)
        self.S = (self.S + self.S.T) / 2
        self.m = beta * self.S @ Ptt
        self.alpha, self.beta = alpha, beta
        return self

    def predict(self, Phi) -> tuple[np.ndarray, np.ndarray]:
        P = self._design(Phi)
        mean = P @ self.m + self.t_mean
        var = 1.0 / self.beta + np.einsum("ij,jk,ik->i", P, self.S, P)
        return mean, np.sqrt(np.maximum(var, 1e-12))


class GCNBLR:
    """BONAS's surrogate: GCN embedding (global node) -> Bayesian linear regression.

    The BLR regresses the targets scaled (and, with the GCN's `clip_quantile`, floored) as the GCN's are, but
    on the range of the targets of *its own* fit: the GCN is retrained only every few results, and a new best
    told in between must stay the best target (scaled with the last GCN fit's range and clipped to [0, 1], an
    earlier version flattened every new best to that fit's maximum). Predictions are mapped back to the units
    of the targets.
    """

    def __init__(self, gcn: GCN | None = None, blr: BayesianLinearRegression | None = None) -> None:
        self.gcn = gcn or GCN()
        self.blr = blr or BayesianLinearRegression()
        self.lo: float | None = None   # the target range of the last BLR fit (`scale_targets`)
        self.hi: float | None = None

    def fit_embedding(self, graphs, y) -> "GCNBLR":
        self.gcn.fit(graphs, y)
        return self

    def fit(self, graphs, y) -> "GCNBLR":
        """Refit the BLR on the current GCN's embedding (training the GCN first if it never was)."""
        if self.gcn.net is None:
            self.gcn.fit(graphs, y)
        t, self.lo, self.hi = scale_targets(y, self.gcn.clip_quantile)
        self.blr.fit(self.gcn.embed(graphs), t)
        return self

    def predict(self, graphs) -> tuple[np.ndarray, np.ndarray]:
        if self.lo is None or self.hi is None:
            raise RuntimeError("GCNBLR.predict before fit")
        mean, std = self.blr.predict(self.gcn.embed(graphs))
        scale = self.hi - self.lo
        return self.lo + mean * scale, std * scale


# ----------------------------------------------------------------------------------------------- metrics

def correlations(pred, true) -> dict[str, float]:
    """Kendall tau, Spearman rho and Pearson r between predictions and truth."""
    from scipy import stats

    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if np.allclose(pred, pred[0]):
        return {"kendall": 0.0, "spearman": 0.0, "pearson": 0.0}
    return {"kendall": float(stats.kendalltau(pred, true)[0]), "spearman": float(stats.spearmanr(pred, true)[0]),
            "pearson": float(stats.pearsonr(pred, true)[0])}
