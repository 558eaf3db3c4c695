"""Synthesises right-hand grasps of an object mesh with the 3D interaction-grid prior
(G-HOP; docs/design.md §11.1).

  python -m hoijax.grasp --object=MESH --category=WORD --num=N --out=OUT
  python -m hoijax.grasp --object=mug.obj --num=2 --out=OUT --config=configs/grasp.py:tiny

MESH is any file trimesh reads, in metres, in any pose; --category is optional (absent or
unknown to the prior: the null prompt). The mesh becomes an SDF volume in its own frame;
num x seeds_per_grasp candidates are optimised by SDS on the interaction grid, ranked by
the prior's mean denoising error, and the best num refined with contact and penetration
terms. Writes, best first:
- OUT/grasps.npz: hand_pose (N,45) axis-angle with the flat-hand mean, betas (N,10),
  global_orient (N,3), transl (N,3): right-hand MANO parameters that pose the hand in the
  object mesh's own frame (metres) as smplx/manopth apply them with the same model file,
  and score (N,) (lower = more likely under the prior);
- OUT/grasp_KK/hand.obj (object frame, metres);
- OUT/grasps.png (each grasp from two views with the object);
- OUT/grasps.json: per grasp its score and physical metrics (penetration depth mm and
  volume cm^3, contact per finger and palm, simulation displacement cm with MuJoCo).
"""
from __future__ import annotations

import json
import os
import time

from absl import app, flags
from ml_collections import config_flags

_OBJECT = flags.DEFINE_string("object", None, "Object mesh file (metres, any pose).")
_CATEGORY = flags.DEFINE_string("category", None, "Object category word (optional).")
_NUM = flags.DEFINE_integer("num", 4, "Number of grasps.")
_OUT = flags.DEFINE_string("out", None, "Output folder.")
_MANO_DIR = flags.DEFINE_string("mano_dir", None, "Folder with the official MANO_RIGHT.pkl "
                                "(default: $HOIJAX_MANO_DIR or the stand-in hand).")
_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "configs", "grasp.py"), "Grasp config (configs/grasp.py[:variant]).")

SKIN = (0.93, 0.72, 0.58)
OBJECT_COLOR = (0.35, 0.55, 0.85)


def check_config(config) -> None:
    """Raises ValueError naming the first field that cannot work."""
    from hoijax import checks as C
    C.check_fields(config, {
        "seeds_per_grasp": C.POSITIVE_INT, "jitter": C.NON_NEGATIVE,
        "sds.steps": C.NON_NEGATIVE_INT, "sds.lr": C.POSITIVE, "sds.t_min": C.FRACTION,
        "sds.t_max": C.FRACTION, "sds.guidance": C.POSITIVE, "sds.hand_weight": C.POSITIVE,
        "sds.grad_clip": C.POSITIVE, "sds.chunk": C.POSITIVE_INT,
        "score.num_t": C.POSITIVE_INT, "score.num_noise": C.POSITIVE_INT,
        "refine.steps": C.NON_NEGATIVE_INT, "refine.lr": C.POSITIVE,
        "refine.w_pen": C.NON_NEGATIVE, "refine.w_contact": C.NON_NEGATIVE,
        "refine.w_damp": C.NON_NEGATIVE, "refine.w_pose": C.NON_NEGATIVE,
        "refine.reach": C.NON_NEGATIVE, "metrics.seconds": C.POSITIVE,
        "volume_size": C.int_at_least(16)})
    if config.sds.t_min >= config.sds.t_max:
        raise ValueError(f"config.sds.t_min={config.sds.t_min} must be below "
                         f"config.sds.t_max={config.sds.t_max}")
    if len(config.betas) != 10:
        raise ValueError(f"config.betas: 10 MANO shape coefficients expected, got "
                         f"{len(config.betas)}")
    from hoijax.eval.physics import GRAVITY_DIRECTIONS
    bad = [g for g in config.metrics.gravity if g not in GRAVITY_DIRECTIONS]
    if bad or not config.metrics.gravity:
        raise ValueError(f"config.metrics.gravity={tuple(config.metrics.gravity)}: use "
                         f"some of {tuple(GRAVITY_DIRECTIONS)}")


def options(config):
    """The library's static options from a grasp config."""
    from hoijax.interaction import grasp as G
    return dict(
        sds=G.sds_options(steps=config.sds.steps, lr=config.sds.lr,
                          t_range=(config.sds.t_min, config.sds.t_max),
                          guidance=config.sds.guidance, hand_weight=config.sds.hand_weight,
                          grad_clip=config.sds.grad_clip),
        score=G.score_options(guidance=config.sds.guidance,
                              hand_weight=config.sds.hand_weight,
                              num_t=config.score.num_t, num_noise=config.score.num_noise,
                              seed=config.seed),
        refinement=G.refine_options(**{k: config.refine[k] for k in (
            "steps", "lr", "w_pen", "w_contact", "w_damp", "w_pose", "reach")}))


def write_obj(path, verts, faces) -> None:
    with open(path, "w") as f:
        f.writelines(f"v {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in verts)
        f.writelines(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in faces)


def render_views(hand_verts, hand_faces, obj_verts, obj_faces, size=200):
    """Two renders (front, side; slightly from above) of a hand with an object (one frame,
    metres), framed on both -> list of (size,size,3) uint8."""
    import numpy as np

    from hoijax import viz
    verts = np.concatenate([hand_verts, obj_verts])
    faces = np.concatenate([hand_faces, np.asarray(obj_faces) + len(hand_verts)])
    colors = np.concatenate([np.tile(SKIN, (len(hand_verts), 1)),
                             np.tile(OBJECT_COLOR, (len(obj_verts), 1))])
    center = 0.5 * (verts.min(0) + verts.max(0))
    radius = float(np.max(np.linalg.norm(verts - center, axis=1)))
    out = []
    for direction in ((1.0, -0.6, 0.5), (-0.6, -1.0, 0.5)):
        d = np.asarray(direction) / np.linalg.norm(direction)
        cam = viz.look_at(center + 2.6 * radius * d, center, up=(0.0, 0.0, 1.0))
        out.append(viz.render_mesh(verts, faces, cam, size=size, focal=1.1 * size,
                                   colors=colors))
    return out


def grasp_picture(hands, hand_faces, obj_verts, obj_faces, titles, size=200, cols=2):
    """(H,W,3) uint8: each hand (V,3) with the object from two views, titled."""
    from hoijax import viz
    cells = []
    for hand, title in zip(hands, titles):
        for k, image in enumerate(render_views(hand, hand_faces, obj_verts, obj_faces, size)):
            cells.append((title if k == 0 else "", image))
    per_row = 2 * cols
    rows = -(-len(cells) // per_row)
    fig = viz.new_figure((rows * (size + 18), per_row * size))
    for k, (title, image) in enumerate(cells):
        ax = fig.add_subplot(rows, per_row, k + 1)
        ax.imshow(image)
        ax.set_axis_off()
        ax.set_title(title, fontsize=7, pad=1, loc="left")
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.97, wspace=0.02, hspace=0.08)
    return viz.figure_image(fig)


def grasp_metrics(model, volume, params, obj_surface, obj_interior, config,
                  hand_interior, parts) -> dict:
    """Physical metrics of one grasp (MANO parameters in the object frame)."""
    import jax.numpy as jnp
    import numpy as np

    from hoijax.eval import physics as P
    from hoijax.hand.model import mano_forward
    from hoijax.interaction import volume as V
    sdf = lambda x: V.sample(volume, x)  # noqa: E731
    m = P.hand_measures(sdf, model, hand_interior, parts,
                        *(jnp.asarray(params[k]) for k in ("hand_pose", "betas",
                                                           "global_orient", "transl")))
    contact = np.asarray(m["contact"])
    out = dict(penetration_depth_mm=float(m["depth_mm"]),
               penetration_volume_cm3=float(m["volume_cm3"]),
               contact={n: bool(c) for n, c in zip(P.PART_NAMES, contact)},
               fingers_in_contact=int(contact[:5].sum()),
               thumb_and_two=bool(contact[0] and contact[1:5].sum() >= 2))
    if config.metrics.simulate and P.have_mujoco():
        verts = np.asarray(mano_forward(model, *(jnp.asarray(params[k]) for k in (
            "hand_pose", "betas", "global_orient", "transl"))).vertices)
        sim = P.simulation_displacement(verts, np.asarray(model.weights), obj_surface,
                                        obj_interior, directions=tuple(config.metrics.gravity),
                                        seconds=config.metrics.seconds)
        out["simulation_displacement_cm"] = sim["mean"] * 100.0
    else:
        out["simulation_displacement_cm"] = None
    return out


def object_points(mesh, volume, max_surface=4000):
    """(surface vertices, interior points) of an object for the simulation."""
    import numpy as np

    from hoijax.eval.physics import interior_samples
    from hoijax.interaction import volume as V
    surface = np.asarray(mesh.vertices)
    if len(surface) > max_surface:
        surface = surface[np.random.default_rng(0).choice(len(surface), max_surface,
                                                          replace=False)]
    spacing = max(0.002, float(np.max(mesh.extents)) / 40)
    interior = interior_samples(lambda x: V.sample(volume, x), mesh.bounds[0], mesh.bounds[1],
                                spacing)
    return surface, interior


def main(argv):
    del argv
    import jax
    import mediapy
    import numpy as np

    from hoijax.data.synthetic.objects import CATEGORIES, canonical_category
    from hoijax.diffusion.grid_export import load_grid_prior
    from hoijax.eval import physics as P
    from hoijax.hand import load_hand_model
    from hoijax.hand.proxy import interior_points
    from hoijax.interaction import grasp as G
    from hoijax.interaction import volume as V
    from hoijax.runtime import enable_compilation_cache
    enable_compilation_cache()
    config = _CONFIG.value
    if not _OUT.value:
        raise app.UsageError("--out is required")
    if not _OBJECT.value:
        raise app.UsageError("--object is required (a mesh file in metres)")
    if _NUM.value < 1:
        raise app.UsageError(f"--num={_NUM.value}: must be at least 1")
    try:
        check_config(config)
        mesh = V.load_object_mesh(_OBJECT.value)
        model = load_hand_model("right", _MANO_DIR.value)
        prior = load_grid_prior(config.prior or None)
    except (ValueError, FileNotFoundError) as e:
        raise app.UsageError(str(e)) from None
    category = None
    if _CATEGORY.value:
        try:
            category = canonical_category(_CATEGORY.value)
        except ValueError:
            print(f"--category={_CATEGORY.value!r} is not one of the prior's categories "
                  f"({', '.join(CATEGORIES)}): using the null prompt")
    if category is not None and category not in prior.categories:
        category = None
    simulate = config.metrics.simulate and P.have_mujoco()
    if config.metrics.simulate and not simulate:
        print(f"MuJoCo is not installed: no simulation displacement. Enable it with "
              f"{P.INSTALL_HINT}")
    os.makedirs(_OUT.value, exist_ok=True)
    start = time.time()
    volume = V.volume_from_mesh(mesh, config.volume_size)
    setup = G.make_setup(prior, model, volume, category, np.asarray(config.betas))
    fns = G.PriorFns(prior)
    total = config.sds.steps

    def progress(done):
        if done == "scored":
            print(f"  ranked {_NUM.value * config.seeds_per_grasp} candidates "
                  f"({time.time() - start:.0f} s)", flush=True)
        else:
            print(f"  SDS step {done}/{total} ({time.time() - start:.0f} s)", flush=True)

    print(f"{_NUM.value} grasp(s) x {config.seeds_per_grasp} seeds of {_OBJECT.value} "
          f"({'prompt ' + repr(category) if category else 'null prompt'}), "
          f"{config.sds.steps} SDS + {config.refine.steps} refinement steps", flush=True)
    result = G.synthesize(fns, setup, jax.random.key(config.seed), num=_NUM.value,
                          seeds_per_grasp=config.seeds_per_grasp, jitter=config.jitter,
                          progress=progress, **options(config))
    seconds = time.time() - start
    print(f"optimised in {seconds:.1f} s ({seconds / _NUM.value:.1f} s per grasp)")
    params = [G.mano_in_object_frame(model, result["hand_pose"][k], config.betas,
                                     result["hTo"][k]) for k in range(_NUM.value)]
    arrays = {key: np.stack([p[key] for p in params]) for key in params[0]}
    arrays["score"] = result["score"].astype(np.float32)
    np.savez(os.path.join(_OUT.value, "grasps.npz"), **arrays)
    faces = np.asarray(model.faces)
    hands = []
    for k, p in enumerate(params):
        verts = G.posed_in_object_frame(model, p)
        hands.append(verts)
        folder = os.path.join(_OUT.value, f"grasp_{k:02d}")
        os.makedirs(folder, exist_ok=True)
        write_obj(os.path.join(folder, "hand.obj"), verts, faces)
    surface, interior = object_points(mesh, volume) if simulate else (None, None)
    hand_interior = interior_points(model, 1024)
    parts = [np.asarray(p) for p in setup.hand_parts]
    records = []
    for k, p in enumerate(params):
        m = grasp_metrics(model, volume, p, surface, interior, config, hand_interior, parts)
        records.append(dict(rank=k, score=float(result["score"][k]), **m))
    with open(os.path.join(_OUT.value, "grasps.json"), "w") as f:
        json.dump(dict(object=os.path.abspath(_OBJECT.value), category=category,
                       seconds=seconds, seconds_per_grasp=seconds / _NUM.value,
                       simulation=("MuJoCo, gravity " + ",".join(config.metrics.gravity)
                                   if simulate else f"not run ({P.INSTALL_HINT})"),
                       grasps=records), f, indent=1)
    titles = [f"#{r['rank']} score {r['score']:.4f} pen {r['penetration_depth_mm']:.1f} mm "
              f"fingers {r['fingers_in_contact']}" for r in records]
    image = grasp_picture(hands, faces, np.asarray(mesh.vertices), np.asarray(mesh.faces),
                          titles)
    mediapy.write_image(os.path.join(_OUT.value, "grasps.png"), image)
    for r in records:
        sim = r["simulation_displacement_cm"]
        print(f"grasp {r['rank']}: score {r['score']:.4f}, penetration "
              f"{r['penetration_depth_mm']:.1f} mm / {r['penetration_volume_cm3']:.2f} cm^3, "
              f"contact {[n for n, c in r['contact'].items() if c]}, displacement "
              f"{'-' if sim is None else f'{sim:.2f} cm'}")
    print(f"wrote {_OUT.value}/grasps.npz, grasps.json, grasps.png, grasp_KK/hand.obj")


if __name__ == "__main__":
    app.run(main)
