"""Renderer figures: accuracy against a ray caster, speed and peak memory.

  python experiments/bench_render.py [--out experiments/results/render.json]

1. Rasterizer accuracy: the stand-in hand (posed in a grasp) from 4 viewpoints at 64, 128
   and 256 px, against `hoijax.render.reference.raycast_mesh` (brute-force Moller-Trumbore
   in float64): silhouette IoU and median / 95th-percentile depth error where both hit,
   hard mode (sigma 0, K 1) and soft mode (K 10 at sigma 0.05 and 0.5 px, mask > 0.5).
2. Rasterizer speed: frames/s of the jitted `rasterize` of the hand at 64, 128, 256 px with
   K = 10 faces per pixel, sigma 0.5 px, forward and forward+backward (gradient of a scalar
   of mask, depth and normals w.r.t. the vertices).
3. Volume renderer speed: rays/s of `render_sdf` with 64 samples per ray (no importance
   samples) through an SDF MLP (4 hidden layers of 64, softplus) with 6-frequency positional
   encoding, 4096 rays, forward and forward+backward including normals (second derivatives).
Each speed figure runs in its own subprocess so that its peak resident memory (ru_maxrss,
which includes the ~0.3 GB of the JAX runtime, reported separately) is its own.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import numpy as np
from absl import app, flags
from benchlib import best_seconds, default_path, write_results

SIZES = (64, 128, 256)

_OUT = flags.DEFINE_string("out", default_path("render"), "Results JSON.")
_CHILD = flags.DEFINE_string("child", None, "Internal: run one speed figure "
                             "(kind:arg:backward) and print it as JSON (used by the parent).")


def hand_scene(size, view):
    """The posed stand-in hand in a camera frame: verts (V,3), faces, K for a square image."""
    import jax.numpy as jnp

    from hoijax.demo import grasp_sequence
    from hoijax.geometry.camera import orbit_camera
    from hoijax.geometry.transforms import apply_to_points
    from hoijax.hand import load_standin, mano_forward
    model = load_standin("right")
    pose = grasp_sequence(model, 3, 3)[1]
    verts = np.asarray(mano_forward(model, jnp.asarray(pose), jnp.zeros(10)).vertices, np.float64)
    cam = orbit_camera(verts.mean(0), 0.4, 30 + 90 * view, 20 + 15 * view)
    focal = 1.4 * size
    K = np.array([[focal, 0, (size - 1) / 2], [0, focal, (size - 1) / 2], [0, 0, 1]], np.float32)
    return apply_to_points(cam, verts), np.asarray(model.faces), K, model


def accuracy():
    import jax

    from hoijax.render.rasterize import rasterize
    from hoijax.render.reference import raycast_mesh
    rows = []
    for size in SIZES:
        for mode, sigma, k in (("hard", 0.0, 1), ("soft", 0.05, 10), ("soft", 0.5, 10)):
            ious, errs = [], []
            for view in range(4):
                verts, faces, K, _ = hand_scene(size, view)
                ref, _, _ = raycast_mesh(verts, faces, K, (size, size))
                out = jax.jit(lambda v: rasterize(v, faces, K, (size, size), sigma=sigma,
                                                  faces_per_pixel=k))(verts.astype(np.float32))
                hit, got = np.isfinite(ref), np.asarray(out["mask"]) > 0.5
                ious.append((hit & got).sum() / (hit | got).sum())
                both = hit & got
                errs.append(np.abs(np.asarray(out["depth"])[both] - ref[both]))
            errs = np.concatenate(errs) * 1e3
            rows.append(dict(size=size, mode=mode, sigma=sigma, faces_per_pixel=k,
                             iou=round(float(np.mean(ious)), 4),
                             depth_err_mm_median=round(float(np.median(errs)), 5),
                             depth_err_mm_p95=round(float(np.percentile(errs, 95)), 4)))
            print(f"  {size:4d} px {mode} sigma={sigma:<4} K={k:2d}: IoU {rows[-1]['iou']:.4f}, "
                  f"depth error median {rows[-1]['depth_err_mm_median']:.4f} mm, "
                  f"p95 {rows[-1]['depth_err_mm_p95']:.3f} mm")
    return rows


def raster_speed(size, backward):
    import jax
    import jax.numpy as jnp

    from hoijax.render.rasterize import rasterize
    verts, faces, K, model = hand_scene(size, 0)
    code = jnp.asarray(model.surface_code)

    def render(v):
        return rasterize(v, faces, K, (size, size), sigma=0.5, faces_per_pixel=10,
                         attributes=code)

    def scalar(v):
        out = render(v)
        return jnp.sum(out["mask"]) + jnp.sum(out["depth"]) + jnp.sum(out["normal"][..., 2])

    fn = jax.jit(jax.grad(scalar) if backward else render)
    v = jnp.asarray(verts, jnp.float32)
    seconds = best_seconds(lambda: jax.block_until_ready(fn(v)))
    dropped = int(jax.jit(render)(v)["dropped_pairs"])
    return dict(frames_per_s=1.0 / seconds, faces=int(faces.shape[0]), dropped_pairs=dropped)


def volume_speed(backward, num_rays=4096):
    import jax
    import jax.numpy as jnp

    from hoijax.geometry.camera import pixel_rays
    from hoijax.render.volume import render_sdf

    freqs = 2.0 ** jnp.arange(6)

    def sdf_fn(params, x):
        h = jnp.concatenate([x] + [f(x[..., None] * freqs).reshape(x.shape[:-1] + (-1,))
                                   for f in (jnp.sin, jnp.cos)], -1)
        for w, b in params[:-1]:
            h = jax.nn.softplus(100.0 * (h @ w + b)) / 100.0
        w, b = params[-1]
        return (h @ w + b)[..., 0] + jnp.linalg.norm(x - jnp.array([0.0, 0.0, 0.5])) - 0.1

    key = jax.random.PRNGKey(0)
    dims = [3 + 2 * 3 * 6] + [64] * 4 + [1]
    params = []
    for a, b in zip(dims[:-1], dims[1:]):
        key, sub = jax.random.split(key)
        params.append((jax.random.normal(sub, (a, b)) * 0.01 / np.sqrt(a), jnp.zeros(b)))
    side = int(np.sqrt(num_rays))
    K = jnp.array([[80.0, 0, side / 2], [0, 80.0, side / 2], [0, 0, 1]])
    origins, dirs = pixel_rays(K, (side, side))
    origins, dirs = origins.reshape(-1, 3), dirs.reshape(-1, 3)
    options = dict(num_samples=64, num_importance=0, bound_center=(0.0, 0.0, 0.5), beta=0.002,
                   bound_radius=0.2)

    def render(p):
        out = render_sdf(sdf_fn, p, origins, dirs, **options)
        return out["mask"], out["depth"], out["normal"]

    def scalar(p):
        mask, depth, normal = render(p)
        return jnp.sum(mask) + jnp.sum(depth) + jnp.sum(normal[..., 2])

    fn = jax.jit(jax.grad(scalar) if backward else render)
    seconds = best_seconds(lambda: jax.block_until_ready(fn(params)))
    return dict(rays_per_s=num_rays / seconds, rays=num_rays, samples_per_ray=64)


def _child(task):
    """Runs one speed figure in this process; prints JSON with its peak memory."""
    kind, arg, backward = task.split(":")
    if kind == "baseline":
        import jax
        import jax.numpy as jnp
        jax.block_until_ready(jax.jit(lambda x: x + 1)(jnp.zeros(3)))
        result = {}
    elif kind == "raster":
        result = raster_speed(int(arg), backward == "1")
    else:
        result = volume_speed(backward == "1")
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def _run_child(task):
    out = subprocess.run([sys.executable, __file__, "--child", task], capture_output=True,
                         text=True, env={**os.environ, "JAX_PLATFORMS": os.environ.get(
                             "JAX_PLATFORMS", "")}, check=True)
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main(argv):
    del argv
    if _CHILD.value:
        return _child(_CHILD.value)
    import jax
    results = dict(device=str(jax.devices()[0]), cpu_count=os.cpu_count())
    print("rasterizer accuracy vs a brute-force ray caster (4 views of the posed hand):")
    results["raster_accuracy"] = accuracy()
    results["runtime_baseline_rss_mb"] = _run_child("baseline:0:0")["peak_rss_mb"]
    print(f"\nJAX runtime baseline resident memory: {results['runtime_baseline_rss_mb']:.0f} MB")
    print("rasterizer speed (hand, K=10, sigma 0.5 px):")
    rows = []
    for size in SIZES:
        for backward in (False, True):
            row = dict(size=size, pass_="fwd+bwd" if backward else "fwd",
                       **_run_child(f"raster:{size}:{int(backward)}"))
            rows.append(row)
            print(f"  {size:4d} px {row['pass_']:8s} {row['frames_per_s']:8.1f} frames/s, peak "
                  f"{row['peak_rss_mb']:.0f} MB, faces {row['faces']}, dropped pairs "
                  f"{row['dropped_pairs']}")
    results["raster_speed"] = rows
    print("volume renderer speed (4096 rays, 64 samples, 4x64 MLP with PE, normals):")
    rows = []
    for backward in (False, True):
        row = dict(pass_="fwd+bwd" if backward else "fwd",
                   **_run_child(f"volume:0:{int(backward)}"))
        rows.append(row)
        print(f"  {row['pass_']:8s} {row['rays_per_s']:10.0f} rays/s, "
              f"peak {row['peak_rss_mb']:.0f} MB")
    results["volume_speed"] = rows
    write_results(results, _OUT.value)


if __name__ == "__main__":
    app.run(main)
