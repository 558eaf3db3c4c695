"""Silhouette and depth bias of the object renderer, NeuS vs VolSDF, against the exact
sphere (issue "reconstruction accuracy": r = 5 cm at 0.3 m, 48x48 px, focal 120 px).

  python experiments/bench_surface.py    # -> experiments/results/surface_bias.json

Per surface and beta: silhouette IoU (mask > 0.5 against the exact silhouette), pixels
wrong, the largest distance of a wrong pixel from the true edge (px), mean |depth error|
on pixels at least 3 px inside, and the opacity of a 2 mm slab seen face on (a blade).
"""
from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from hoijax import geometry as geo
from hoijax.render.volume import render_sdf

SIZE, FOCAL, CENTER, RADIUS = 48, 120.0, np.array([0.0, 0.0, 0.3]), 0.05


def scene():
    """Rays (N,3) x2, exact hit (N,), exact depth (N,), signed px to the true edge (N,)."""
    K = geo.intrinsics(FOCAL, FOCAL, SIZE / 2 - 0.5, SIZE / 2 - 0.5)
    o, d = geo.pixel_rays(K, (SIZE, SIZE))
    o, d = o.reshape(-1, 3), d.reshape(-1, 3)
    d64 = np.asarray(d, np.float64)
    t_mid = d64 @ CENTER
    half_sq = RADIUS ** 2 - np.sum((t_mid[:, None] * d64 - CENTER) ** 2, -1)
    z = (t_mid - np.sqrt(np.maximum(half_sq, 0)))[:, None] * d64
    angle = np.arccos(np.clip(t_mid / np.linalg.norm(CENTER), -1, 1))
    edge_px = (angle - np.arcsin(RADIUS / np.linalg.norm(CENTER))) * FOCAL
    return o, d, half_sq > 0, z[:, 2], edge_px


def sphere(params, x):
    return jnp.linalg.norm(x - params["c"]) - params["r"]


def slab(params, x):
    return jnp.abs(x[2] - 0.3) - params["half"]


def main():
    o, d, hit, z, edge_px = scene()
    params = dict(c=jnp.asarray(CENTER, jnp.float32), r=jnp.float32(RADIUS))
    slab_o, slab_d = jnp.zeros((8, 3)), jnp.tile(jnp.array([0.0, 0.0, 1.0]), (8, 1))
    rows = []
    for surface in ("neus", "volsdf"):
        for beta in (0.001, 0.002, 0.004):
            out = jax.tree.map(np.asarray, render_sdf(
                sphere, params, o, d, beta=beta, bound_center=CENTER, bound_radius=0.08,
                num_samples=32, num_importance=16, surface=surface))
            sil = out["mask"] > 0.5
            wrong = sil != hit
            inner = edge_px < -3
            blade = render_sdf(slab, {"half": jnp.float32(0.001)}, slab_o, slab_d,
                               beta=beta, bound_center=(0, 0, 0.3), bound_radius=0.1,
                               num_samples=32, num_importance=16, surface=surface)
            rows.append(dict(
                surface=surface, beta_mm=beta * 1e3,
                iou=float(np.sum(sil & hit) / np.sum(sil | hit)),
                pixels_wrong=int(wrong.sum()),
                worst_px_from_edge=float(np.abs(edge_px[wrong]).max()) if wrong.any() else 0,
                depth_err_mm=float(np.abs(out["depth"] - z)[inner].mean() * 1e3),
                blade_2mm_opacity=float(np.mean(blade["mask"]))))
            print("  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in rows[-1].items()))
    path = "experiments/results/surface_bias.json"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(rows, f, indent=1)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
