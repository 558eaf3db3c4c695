"""What the grasp and generation CLIs and the grasp benchmark share (docs/design.md §11.1):
the grasp config's checks and the library options it maps to, the physical metrics of a
grasp (hoijax.eval.physics on the object's SDF volume), OBJ output and the pictures (each
hand with its object from two views).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from hoijax import checks as C
from hoijax import viz
from hoijax.checks import options_from
from hoijax.eval import physics as P
from hoijax.eval.physics import GRAVITY_DIRECTIONS, interior_samples
from hoijax.grasp import synthesis as G
from hoijax.hand.model import mano_forward
from hoijax.interaction import volume as V

SKIN = (0.93, 0.72, 0.58)
OBJECT_COLOR = (0.35, 0.55, 0.85)


def check_config(config) -> None:
    """Raises ValueError naming the first field that cannot work."""
    C.check_fields(config, {
        "seeds_per_grasp": C.POSITIVE_INT, "jitter": C.NON_NEGATIVE,
        "sds.steps": C.NON_NEGATIVE_INT, "sds.lr": C.POSITIVE, "sds.t_min": C.FRACTION,
        "sds.t_max": C.FRACTION, "sds.guidance": C.POSITIVE, "sds.hand_weight": C.POSITIVE,
        "sds.grad_clip": C.POSITIVE, "sds.chunk": C.POSITIVE_INT,
        "score.num_t": C.POSITIVE_INT, "score.num_noise": C.POSITIVE_INT,
        "refine.steps": C.NON_NEGATIVE_INT, "refine.lr": C.POSITIVE,
        "refine.w_pen": C.NON_NEGATIVE, "refine.w_contact": C.NON_NEGATIVE,
        "refine.w_damp": C.NON_NEGATIVE, "refine.w_pose": C.NON_NEGATIVE,
        "refine.reach": C.NON_NEGATIVE, "refine.squeeze": C.NON_NEGATIVE,
        "metrics.seconds": C.POSITIVE,
        "volume_size": C.int_at_least(16)})
    if config.sds.t_min >= config.sds.t_max:
        raise ValueError(f"config.sds.t_min={config.sds.t_min} must be below "
                         f"config.sds.t_max={config.sds.t_max}")
    if len(config.betas) != 10:
        raise ValueError(f"config.betas: 10 MANO shape coefficients expected, got "
                         f"{len(config.betas)}")
    bad = [g for g in config.metrics.gravity if g not in GRAVITY_DIRECTIONS]
    if bad or not config.metrics.gravity:
        raise ValueError(f"config.metrics.gravity={tuple(config.metrics.gravity)}: use "
                         f"some of {tuple(GRAVITY_DIRECTIONS)}")


def options(config):
    """The library's static options from a grasp config."""
    score = G.ScoreOptions(guidance=config.sds.guidance, hand_weight=config.sds.hand_weight,
                           num_t=config.score.num_t, num_noise=config.score.num_noise,
                           seed=config.seed)
    return dict(sds=options_from(G.SDSOptions, config.sds), score=score,
                refinement=options_from(G.RefineOptions, config.refine))


def render_views(hand_verts, hand_faces, obj_verts, obj_faces, size=200):
    """Two renders (front, side; slightly from above) of a hand with an object (one frame,
    metres), framed on both -> list of (size,size,3) uint8."""

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
    cells = []
    for hand, title in zip(hands, titles):
        for k, image in enumerate(render_views(hand, hand_faces, obj_verts, obj_faces, size)):
            cells.append((title if k == 0 else "", image))
    return viz.titled_grid(cells, 2 * cols, size, loc="left")


def grasp_metrics(model, volume, params, obj_surface, obj_interior, config,
                  hand_interior, parts) -> dict:
    """Physical metrics of one grasp (MANO parameters in the object frame)."""

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

    surface = np.asarray(mesh.vertices)
    if len(surface) > max_surface:
        surface = surface[np.random.default_rng(0).choice(len(surface), max_surface,
                                                          replace=False)]
    spacing = max(0.002, float(np.max(mesh.extents)) / 40)
    interior = interior_samples(lambda x: V.sample(volume, x), mesh.bounds[0], mesh.bounds[1],
                                spacing)
    return surface, interior
