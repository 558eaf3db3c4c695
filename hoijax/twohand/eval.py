"""InterHandGen's evaluation protocol (docs/design.md §12): a point-cloud feature network
trained here on two-hand meshes, and FID, KID, diversity, precision/recall, penetration
volume and contact ratio of generated pairs against held-out ones.

- Point clouds: a fixed subset of each hand's vertices (same indices for every pair), a
  hand-id channel (-1 left, +1 right), centred on the pair's mean; both hands in the left
  wrist's frame (`canonical`), so generated and held-out pairs share a frame.
- Feature network: a JAX PointNet (shared point MLP 4-64-128-256, max pool) trained to
  classify the interaction type of the synthetic pairs (the reference trains PointNet++ on
  InterHand2.6M); its 256-d pooled feature is the embedding.
- FID: Frechet distance of Gaussian fits. KID: unbiased MMD^2 with the polynomial kernel
  (x.y / d + 1)^degree (degree 1, the reference's), averaged over subsets. Diversity: mean
  feature distance of random pairs (200). Precision/recall: improved P/R (Kynkaanniemi et
  al.) with k = 5 nearest neighbours on 1000 samples each. Penetration volume (cm^3) and
  contact ratio (share of pairs whose meshes are closer than 3 mm or intersect) from the
  meshes (hoijax.hand.proxy.pair_penetration).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.linalg
from flax import nnx

from hoijax.data.synthetic.two_hands import CONTACT_TOL, penetration_stats
from hoijax.models.build import init_module
from hoijax.priors.loop import init_optimizer
from hoijax.twohand import representation as rep

NUM_POINTS = 128  # per hand (CPU budget; 2 x 128 points per pair)


# ---------------------------------------------------------------------------------------
# Metrics on features.

def fid(x, y) -> float:
    """Frechet distance between Gaussian fits of features x (N,D) and y (M,D)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    mx, my = x.mean(0), y.mean(0)
    cx, cy = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    covmean = scipy.linalg.sqrtm(cx @ cy)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(np.sum((mx - my) ** 2) + np.trace(cx + cy - 2 * covmean))


def kid(x, y, degree=1, subsets=10, subset_size=1000, seed=0) -> float:
    """Kernel Inception Distance: unbiased MMD^2, polynomial kernel, mean over subsets."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    d = x.shape[1]
    m = min(subset_size, len(x), len(y))
    rng = np.random.default_rng(seed)
    kern = lambda a, b: (a @ b.T / d + 1) ** degree  # noqa: E731
    out = []
    for _ in range(subsets):
        a = x[rng.choice(len(x), m, replace=False)]
        b = y[rng.choice(len(y), m, replace=False)]
        kxx, kyy, kxy = kern(a, a), kern(b, b), kern(a, b)
        out.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                   + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())
    return float(np.mean(out))


def diversity(x, pairs=200, seed=0) -> float:
    """Mean Euclidean distance between `pairs` random pairs of feature rows."""
    x = np.asarray(x, np.float64)
    rng = np.random.default_rng(seed)
    i, j = rng.integers(len(x), size=pairs), rng.integers(len(x), size=pairs)
    return float(np.linalg.norm(x[i] - x[j], axis=1).mean())


def _kth_radius(x, k):
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    return np.sort(d, axis=1)[:, k]  # column 0 is the point itself


def precision_recall(real, fake, k=5, num=1000, seed=0) -> tuple:
    """Improved precision and recall: a fake sample is 'precise' when it lies inside some
    real sample's k-NN ball (radius = distance to its k-th nearest real neighbour); recall
    likewise with the roles swapped."""
    rng = np.random.default_rng(seed)
    real = np.asarray(real, np.float64)
    fake = np.asarray(fake, np.float64)
    real = real[rng.choice(len(real), min(num, len(real)), replace=False)]
    fake = fake[rng.choice(len(fake), min(num, len(fake)), replace=False)]
    r_real, r_fake = _kth_radius(real, k), _kth_radius(fake, k)
    d = np.linalg.norm(fake[:, None] - real[None], axis=-1)  # (F,R)
    precision = np.mean(np.any(d <= r_real[None], axis=1))
    recall = np.mean(np.any(d.T <= r_fake[None], axis=1))
    return float(precision), float(recall)


# ---------------------------------------------------------------------------------------
# Point clouds and the feature network.

def canonical(models, mano: dict) -> dict:
    """MANO arrays of pairs moved into the left wrist's frame (encode, decode)."""
    return rep.decode(models, *rep.encode(models, mano))


def point_clouds(left_v, right_v, num=NUM_POINTS) -> np.ndarray:
    """(N,V,3) x2 -> (N,2*num,4): evenly strided vertices of each hand with a hand-id
    channel, centred on the pair's mean point."""
    idx = np.linspace(0, left_v.shape[1] - 1, num).round().astype(int)
    pts = np.concatenate([left_v[:, idx], right_v[:, idx]], 1)
    pts = pts - pts.mean(1, keepdims=True)
    hand = np.concatenate([-np.ones(num), np.ones(num)])
    return np.concatenate([pts * 10.0, np.broadcast_to(hand[None, :, None], pts.shape[:2] + (
        1,))], -1).astype(np.float32)  # x10: decimetres, features of order 1


class PointNet(nnx.Module):
    """Shared point MLP 4-64-128-256, max pool -> 256-d feature; a linear classifier."""

    def __init__(self, num_classes: int, *, rngs):
        self.l1 = nnx.Linear(4, 64, rngs=rngs)
        self.l2 = nnx.Linear(64, 128, rngs=rngs)
        self.l3 = nnx.Linear(128, 256, rngs=rngs)
        self.head = nnx.Linear(256, num_classes, rngs=rngs)

    def features(self, x):  # (B,P,4) -> (B,256)
        h = jax.nn.relu(self.l1(x))
        h = jax.nn.relu(self.l2(h))
        return jnp.max(self.l3(h), axis=1)

    def __call__(self, x):
        return self.head(jax.nn.relu(self.features(x)))


def train_feature_net(clouds, labels, num_classes, *, steps=300, batch=32, lr=2e-3, seed=0):
    """Trains the PointNet classifier; returns (graphdef, params, final accuracy on the
    training clouds)."""
    graphdef, params = init_module(lambda rngs: PointNet(num_classes, rngs=rngs),
                                   jax.random.key(seed))
    tx = optax.adam(lr)
    opt = init_optimizer(params, tx)

    @jax.jit
    def step(params, opt, x, y):
        def loss_fn(p):
            logits = nnx.merge(graphdef, p)(x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        loss, g = jax.value_and_grad(loss_fn)(params)
        upd, opt = tx.update(g, opt, params)
        return optax.apply_updates(params, upd), opt, loss

    rng = np.random.default_rng(seed)
    for _ in range(steps):
        i = rng.integers(len(clouds), size=batch)
        params, opt, loss = step(params, opt, jnp.asarray(clouds[i]), jnp.asarray(labels[i]))
    logits = _apply(graphdef, params, clouds, "logits")
    return graphdef, params, float(np.mean(np.argmax(logits, -1) == labels))


def _apply(graphdef, params, clouds, what, chunk=512):
    fn = jax.jit(lambda p, x: (nnx.merge(graphdef, p).features(x) if what == "features"
                               else nnx.merge(graphdef, p)(x)))
    return np.concatenate([np.asarray(fn(params, jnp.asarray(clouds[i:i + chunk])))
                           for i in range(0, len(clouds), chunk)])


def features(graphdef, params, clouds) -> np.ndarray:
    """(N,P,4) -> (N,256) PointNet features."""
    return _apply(graphdef, params, clouds, "features")


def physical(models, left_v, right_v) -> dict:
    """Mean penetration volume (cm^3), mean depth (mm) and contact ratio of pairs."""
    m = penetration_stats(models, left_v, right_v)
    return dict(penetration_cm3=float(m["volume"].mean() * 1e6),
                penetration_depth_mm=float(m["depth"].mean() * 1e3),
                contact_ratio=float(np.mean(m["gap"] < CONTACT_TOL)))


def evaluate(real_features, fake_features, models, fake_left_v, fake_right_v) -> dict:
    """Every metric of generated pairs against the held-out features."""
    p, r = precision_recall(real_features, fake_features)
    out = dict(fid=fid(real_features, fake_features), kid=kid(real_features, fake_features),
               diversity=diversity(fake_features), precision=p, recall=r)
    out.update(physical(models, fake_left_v, fake_right_v))
    return out
