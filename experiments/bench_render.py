"""Renderer figures: accuracy against a ray caster, silhouette bias, speed and peak memory.

  python experiments/bench_render.py [--out experiments/results/render.json]
      [--parts=accuracy,bias,speed,fitlayer,volume]

1. Rasterizer accuracy: the stand-in hand (posed in a grasp) from 4 viewpoints at 64, 128
   and 256 px, against `hoijax.render.reference.raycast_mesh` (brute-force Moller-Trumbore
   in float64): silhouette IoU and median / 95th-percentile depth error where both hit,
   hard mode (sigma 0, K 1) and soft mode (K 10 at sigma 0.05 and 0.5 px, mask > 0.5).
2. Silhouette bias (issue 14) at 64 px, the same 4 views: mask > 0.5 against the exact
   silhouette for sigma 0.05-0.5 px, K 4 (the fit's) and 10, with and without back-face
   culling: IoU, the largest exact distance (px) from an added pixel to the silhouette,
   and whether every missed pixel has a 4-neighbour outside it (within 1 px).
3. Rasterizer speed: frames/s of the jitted `rasterize` of the hand at 64, 128, 256 px with
   K = 10 faces per pixel, sigma 0.5 px, surface code attributes, forward and
   forward+backward (gradient of a scalar of mask, depth and normals w.r.t. the
   vertices), with the old tile selection and the new splat selection (same faces), and
   at 64 px the fit's setting: splat, back faces culled, K = 4, no attributes. Old and new
   are measured in the same run, so a busy machine slows both alike.
4. The hand layer as the fit computes it (`fit_layer_speed`): 2 frames under vmap, K 4,
   read at 512 sampled pixels, gradient; old (tiles) and new (splat, culled, traced sigma).
5. Volume renderer speed: rays/s of `render_sdf` with 64 samples per ray (no importance
   samples) through an SDF MLP (4 hidden layers of 64, softplus) with 6-frequency positional
   encoding, 4096 rays, forward and forward+backward including normals (second derivatives).
Each speed figure runs in its own subprocess so that its peak resident memory (ru_maxrss,
which includes the ~0.3 GB of the JAX runtime, reported separately) is its own.
Parts not run keep their previous figures in the results file.
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

# allow_override: hand_scene imports hoijax.demo, which defines its own --out; main reads
# this one before that import.
_OUT = flags.DEFINE_string("out", default_path("render"), "Results JSON.",
                           allow_override=True)
_PARTS = flags.DEFINE_list("parts", ["accuracy", "bias", "speed", "fitlayer", "volume"],
                           "Which figures to (re)measure.")
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


# name -> (rasterize options, surface-code attributes?)
RASTER_SETTINGS = {
    "tiles": (dict(sigma=0.5, faces_per_pixel=10, selection="tiles"), True),
    "splat": (dict(sigma=0.5, faces_per_pixel=10, selection="splat"), True),
    "fit": (dict(sigma=0.5, faces_per_pixel=4, selection="splat", cull_backfaces=True), False),
}


def raster_speed(size, backward, setting="tiles"):
    import jax
    import jax.numpy as jnp

    from hoijax.render.rasterize import rasterize
    verts, faces, K, model = hand_scene(size, 0)
    options, with_code = RASTER_SETTINGS[setting]
    code = jnp.asarray(model.surface_code) if with_code else None

    def render(v):
        return rasterize(v, faces, K, (size, size), attributes=code, **options)

    def scalar(v):
        out = render(v)
        return jnp.sum(out["mask"]) + jnp.sum(out["depth"]) + jnp.sum(out["normal"][..., 2])

    fn = jax.jit(jax.grad(scalar) if backward else render)
    v = jnp.asarray(verts, jnp.float32)
    seconds = best_seconds(lambda: jax.block_until_ready(fn(v)))
    dropped = int(jax.jit(render)(v)["dropped_pairs"])
    return dict(frames_per_s=1.0 / seconds, faces=int(faces.shape[0]), dropped_pairs=dropped)


def fit_layer_speed(setting):
    """Frames/s of the hand layer as the fit computes it (recon.objective._render_frame):
    2 frames under vmap, 64 px, K 4, the layer read at 512 sampled pixels per frame, the
    gradient w.r.t. the vertices. "old": tiles, sigma 0.5; "new": splat, culled, sigma a
    traced scalar (0.5) under max_sigma 0.5 (one program for a sigma schedule)."""
    import jax
    import jax.numpy as jnp

    from hoijax.render.rasterize import rasterize
    size = 64
    scenes = [hand_scene(size, view) for view in (0, 1)]
    verts = jnp.asarray(np.stack([s[0] for s in scenes]), jnp.float32)
    faces, Ks = scenes[0][1], jnp.asarray(np.stack([s[2] for s in scenes]))
    rng = np.random.default_rng(0)
    pix = jnp.asarray(np.stack([rng.choice(size * size, 512, replace=False) for _ in Ks]))
    weights = jnp.asarray(rng.random((2, 512)), jnp.float32)
    options = (dict(selection="tiles") if setting == "old" else
               dict(selection="splat", cull_backfaces=True, max_sigma=0.5))

    def frame(v, K, p, w, sigma):
        out = rasterize(v, faces, K, (size, size), sigma=sigma, faces_per_pixel=4, **options)
        flat = lambda x: x.reshape((size * size,) + x.shape[2:])[p]  # noqa: E731
        return jnp.sum(w * (flat(out["mask"]) + flat(out["depth"]) + flat(out["normal"])[:, 2]))

    def loss(v, sigma):
        return jnp.sum(jax.vmap(frame, (0, 0, 0, 0, None))(v, Ks, pix, weights, sigma))

    if setting == "old":  # sigma must be static there
        fn = jax.jit(jax.grad(lambda v: loss(v, 0.5)))
        seconds = best_seconds(lambda: jax.block_until_ready(fn(verts)))
    else:
        fn, sigma = jax.jit(jax.grad(loss)), jnp.float32(0.5)
        seconds = best_seconds(lambda: jax.block_until_ready(fn(verts, sigma)))
    return dict(frames_per_s=2.0 / seconds, frames=2, faces=int(faces.shape[0]))


def _outside_distance(points, tri):
    """Exact 2D distance (P,) of pixel centres points (P,2) to the union of triangles
    (F,3,2) (0 inside), brute force in float64."""
    from hoijax.render.rasterize import triangle_coordinates
    out = np.zeros(len(points))
    for s in range(0, len(points), 256):
        _, inside, dist2 = triangle_coordinates(tri[None], points[s:s + 256, None])
        out[s:s + 256] = np.where(np.asarray(inside), 0.0, np.sqrt(np.asarray(dist2))).min(1)
    return out


def silhouette_bias(size=64):
    """Soft silhouette (mask > 0.5) against the exact one vs sigma, K and culling."""
    import jax

    from hoijax.render.rasterize import rasterize
    from hoijax.render.reference import raycast_mesh
    scenes = []
    for view in range(4):
        verts, faces, K, _ = hand_scene(size, view)
        hit = np.isfinite(raycast_mesh(verts, faces, K, (size, size))[0])
        uv = verts[:, :2] / verts[:, 2:] * K[0, 0] + K[:2, 2]
        scenes.append((verts.astype(np.float32), faces, K, hit, uv[faces]))
    rows = []
    for k, cull in ((4, True), (4, False), (10, False)):
        for sigma in (0.5, 0.3, 0.2, 0.1, 0.05):
            ious, far, missed_ok = [], [], True
            for verts, faces, K, hit, tri in scenes:
                out = jax.jit(lambda v: rasterize(
                    v, faces, K, (size, size), sigma=sigma, faces_per_pixel=k,
                    selection="splat", cull_backfaces=cull))(verts)
                got = np.asarray(out["mask"]) > 0.5
                ious.append((hit & got).sum() / (hit | got).sum())
                extra = np.argwhere(got & ~hit)[:, ::-1].astype(np.float64)
                far.append(_outside_distance(extra, tri).max() if len(extra) else 0.0)
                pad = np.pad(hit, 1)
                interior = pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
                missed_ok &= not np.any(hit & ~got & interior)
            rows.append(dict(size=size, faces_per_pixel=k, cull_backfaces=cull, sigma=sigma,
                             iou=round(float(np.mean(ious)), 4),
                             iou_min=round(float(np.min(ious)), 4),
                             added_max_dist_px=round(float(np.max(far)), 3),
                             missed_within_1px=bool(missed_ok),
                             within_1px=bool(missed_ok and np.max(far) <= 1.0)))
            r = rows[-1]
            print(f"  K={k:2d} cull={cull!s:5} sigma={sigma:<4}: IoU {r['iou']:.4f} (min "
                  f"{r['iou_min']:.4f}), added pixels up to {r['added_max_dist_px']:.2f} px "
                  f"out, within 1 px: {r['within_1px']}")
    return rows


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
    kind, arg, backward, *setting = task.split(":")
    if kind == "baseline":
        import jax
        import jax.numpy as jnp
        jax.block_until_ready(jax.jit(lambda x: x + 1)(jnp.zeros(3)))
        result = {}
    elif kind == "fitlayer":
        result = fit_layer_speed(arg)
    elif kind == "raster":
        result = raster_speed(int(arg), backward == "1", *setting)
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


def _speed_rows():
    """Old (tiles) and new (splat, and the fit's setting) frames/s, interleaved per size so
    that load on the shared machine hits both alike."""
    rows = []
    cases = [(size, setting) for size in SIZES for setting in ("tiles", "splat")]
    cases.insert(2, (64, "fit"))
    for size, setting in cases:
        for backward in (False, True):
            row = dict(size=size, setting=setting, pass_="fwd+bwd" if backward else "fwd",
                       **_run_child(f"raster:{size}:{int(backward)}:{setting}"))
            rows.append(row)
            print(f"  {size:4d} px {setting:5s} {row['pass_']:8s} {row['frames_per_s']:8.1f} "
                  f"frames/s, peak {row['peak_rss_mb']:.0f} MB, dropped {row['dropped_pairs']}")
    print("old (tiles) vs new (splat) frames/s:")
    for size in SIZES:
        for p in ("fwd", "fwd+bwd"):
            fps = {r["setting"]: r["frames_per_s"] for r in rows
                   if r["size"] == size and r["pass_"] == p}
            fit = f", fit setting {fps['fit']:.1f}" if "fit" in fps else ""
            print(f"  {size:4d} px {p:8s} K=10: {fps['tiles']:6.1f} -> {fps['splat']:6.1f} "
                  f"({fps['splat'] / fps['tiles']:.1f}x){fit}")
    return rows


def main(argv):
    del argv
    if _CHILD.value:
        return _child(_CHILD.value)
    out_path = _OUT.value
    import jax
    parts = set(_PARTS.value)
    results = dict(device=str(jax.devices()[0]), cpu_count=os.cpu_count(),
                   load_average_at_start=os.getloadavg())
    if "accuracy" in parts:
        print("rasterizer accuracy vs a brute-force ray caster (4 views of the posed hand):")
        results["raster_accuracy"] = accuracy()
    if "bias" in parts:
        print("\nsilhouette bias at 64 px (splat selection; 4 views of the posed hand):")
        results["raster_silhouette_bias"] = silhouette_bias()
    if "speed" in parts or "volume" in parts:
        results["runtime_baseline_rss_mb"] = _run_child("baseline:0:0")["peak_rss_mb"]
        print(f"\nJAX runtime baseline resident memory: "
              f"{results['runtime_baseline_rss_mb']:.0f} MB")
    if "speed" in parts:
        print("rasterizer speed (hand; tiles / splat: K=10, sigma 0.5 px, attributes; "
              "fit: splat, culled, K=4):")
        results["raster_speed"] = _speed_rows()
    if "fitlayer" in parts:
        print("hand layer as the fit computes it (2 frames vmapped, K=4, 512 pixels, grad):")
        rows = []
        for _ in range(2):  # twice, old and new interleaved: shows how busy the machine was
            for setting in ("old", "new"):
                rows.append(dict(setting=setting, **_run_child(f"fitlayer:{setting}:1")))
                print(f"  {setting}: {rows[-1]['frames_per_s']:.1f} frames/s")
        results["fit_layer_speed"] = rows
    if "volume" in parts:
        print("volume renderer speed (4096 rays, 64 samples, 4x64 MLP with PE, normals):")
        rows = []
        for backward in (False, True):
            row = dict(pass_="fwd+bwd" if backward else "fwd",
                       **_run_child(f"volume:0:{int(backward)}"))
            rows.append(row)
            print(f"  {row['pass_']:8s} {row['rays_per_s']:10.0f} rays/s, "
                  f"peak {row['peak_rss_mb']:.0f} MB")
        results["volume_speed"] = rows
    results["load_average_at_end"] = os.getloadavg()
    write_results(results, out_path, merge=True)


if __name__ == "__main__":
    app.run(main)
