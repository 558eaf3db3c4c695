"""MANO forward pass: agreement with an independent implementation, and throughput.

  pip install -e . && pip install torch smplx   # smplx is the reference; not a hoijax dep
  python experiments/bench_mano.py [--out experiments/results/mano.json]

1. Agreement: the stand-in hand is exported as a MANO-format pickle, loaded by smplx's
   PyTorch MANO layer, and posed with random shapes, articulations (axis-angle and PCA),
   global orientations and translations; hoijax poses the same pickle. Reports the largest
   vertex and joint difference in metres (the target is 1e-6 m).
2. Throughput (hands/s) of the jitted `mano_forward` at batch 1, 64 and 512, forward only
   and forward+backward (gradient of a scalar of vertices and joints with respect to pose
   and shape), against smplx's MANO layer on the same CPU and the same model.
Both run float32 on all CPU cores. The stand-in has 1074 vertices; the official MANO has
778, so absolute figures for it are about 25% higher for both implementations.
"""
from __future__ import annotations

import os
import platform
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from benchlib import best_seconds, default_path, write_results

from hoijax.hand import load_standin, mano_forward, save_mano_pickle

_OUT = flags.DEFINE_string("out", default_path("mano"), "Results JSON.")


def random_inputs(num, seed=0, pca=None):
    rng = np.random.default_rng(seed)
    pose = rng.normal(scale=0.5, size=(num, pca or 45)).astype(np.float32)
    return dict(pose=pose, betas=rng.normal(size=(num, 10)).astype(np.float32),
                orient=rng.normal(scale=1.0, size=(num, 3)).astype(np.float32),
                transl=rng.normal(scale=0.2, size=(num, 3)).astype(np.float32))


def smplx_layer(path, side, pca=None, flat=True):
    import smplx
    return smplx.MANO(model_path=path, is_rhand=side == "right", use_pca=pca is not None,
                      num_pca_comps=pca or 6, flat_hand_mean=flat)


def smplx_forward(layer, x):
    import torch
    t = {k: torch.from_numpy(v) for k, v in x.items()}
    out = layer(betas=t["betas"], global_orient=t["orient"], hand_pose=t["pose"],
                transl=t["transl"])
    return out.vertices.detach().numpy(), out.joints.detach().numpy()


def agreement(tmp):
    """Max |hoijax - smplx| over several configurations, in metres."""
    rows = []
    for side in ("right", "left"):
        model = load_standin(side)
        path = os.path.join(tmp, f"standin_{side}.pkl")
        save_mano_pickle(model, path)
        for pca, flat in ((None, True), (None, False), (12, False)):
            x = random_inputs(64, seed=len(rows), pca=pca)
            layer = smplx_layer(path, side, pca, flat)
            ref_v, ref_j = smplx_forward(layer, x)
            out = jax.jit(mano_forward, static_argnames=("flat_hand_mean", "use_pca"))(
                model, x["pose"], x["betas"], x["orient"], x["transl"],
                flat_hand_mean=flat, use_pca=pca is not None)
            rows.append(dict(side=side, pose="pca12" if pca else "axis-angle",
                             flat_hand_mean=flat,
                             max_vertex_diff_m=float(np.abs(out.vertices - ref_v).max()),
                             max_joint_diff_m=float(np.abs(out.joints[:, :16]
                                                           - ref_j[:, :16]).max())))
            print(f"  {side:5s} {rows[-1]['pose']:10s} flat={flat!s:5s} max |dv| = "
                  f"{rows[-1]['max_vertex_diff_m']:.2e} m, max |dJ| = "
                  f"{rows[-1]['max_joint_diff_m']:.2e} m")
    return rows


def throughput_hoijax(model, batch, backward):
    x = {k: jnp.asarray(v) for k, v in random_inputs(batch).items()}

    def scalar(pose, betas):
        out = mano_forward(model, pose, betas, x["orient"], x["transl"])
        return jnp.sum(out.vertices ** 2) + jnp.sum(out.joints ** 2)

    if backward:
        fn = jax.jit(jax.value_and_grad(scalar, argnums=(0, 1)))
    else:
        fn = jax.jit(lambda p, b: mano_forward(model, p, b, x["orient"], x["transl"]).vertices)
    seconds = best_seconds(lambda: jax.block_until_ready(fn(x["pose"], x["betas"])))
    return batch / seconds


def throughput_smplx(path, batch, backward):
    import torch
    layer = smplx_layer(path, "right")
    x = {k: torch.from_numpy(v) for k, v in random_inputs(batch).items()}

    def run():
        pose = x["pose"].clone().requires_grad_(backward)
        betas = x["betas"].clone().requires_grad_(backward)
        with torch.set_grad_enabled(backward):
            out = layer(betas=betas, global_orient=x["orient"], hand_pose=pose,
                        transl=x["transl"])
            if backward:
                loss = (out.vertices ** 2).sum() + (out.joints ** 2).sum()
                loss.backward()

    return batch / best_seconds(run)


def main(argv):
    del argv
    try:
        import smplx  # noqa: F401
        import torch
        torch.set_num_threads(os.cpu_count())
        have_smplx = True
    except ImportError:
        have_smplx = False
        print("smplx/torch not installed: skipping the reference (pip install torch smplx)")

    results = dict(device=str(jax.devices()[0]), cpu_count=os.cpu_count(),
                   machine=platform.processor() or platform.machine(), jax=jax.__version__)
    model = load_standin("right")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "standin_right.pkl")
        save_mano_pickle(model, path)
        if have_smplx:
            print("agreement with smplx's MANO layer (stand-in hand exported to a pickle):")
            results["agreement"] = agreement(tmp)
            import smplx as _smplx
            results["smplx_version"] = getattr(_smplx, "__version__", "0.1.28+")
            results["torch"] = torch.__version__
        rows = []
        print(f"\nthroughput, hands/s ({results['device']}, {os.cpu_count()} cores):")
        print(f"  {'batch':>5s} {'pass':>8s} {'hoijax':>10s} {'smplx':>10s}")
        for batch in (1, 64, 512):
            for backward in (False, True):
                row = dict(batch=batch, pass_="fwd+bwd" if backward else "fwd",
                           hoijax=throughput_hoijax(model, batch, backward))
                if have_smplx:
                    row["smplx"] = throughput_smplx(path, batch, backward)
                rows.append(row)
                print(f"  {batch:5d} {row['pass_']:>8s} {row['hoijax']:10.0f} "
                      f"{row.get('smplx', float('nan')):10.0f}")
        results["throughput_hands_per_s"] = rows
    write_results(results, _OUT.value)


if __name__ == "__main__":
    app.run(main)
