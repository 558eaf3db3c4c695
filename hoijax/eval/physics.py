"""Physical measures of a hand grasping an object (G-HOP's and GraspTTA's grasp metrics).

- `penetration`: depth = the deepest hand vertex inside the object (m; reported in mm),
  volume = the hand's volume x the share of its interior points inside the object (m^3;
  reported in cm^3). Interior points are the hand's rest-mesh filling carried by its
  vertices (`hoijax.hand.proxy.interior_points`). Pure jnp given an SDF function.
- `contacts`: which of the thumb, index, middle, ring, pinky (each finger's distal half)
  and the palm come within `CONTACT_MM` (2 mm) of the surface (or inside it).
- `simulation_displacement`: the object's centre displacement after `seconds` (1 s) under
  gravity with the hand held fixed, in MuJoCo (an optional dependency: `pip install -e
  ".[physics]"`). MuJoCo collides meshes by their convex hulls, so both are convex
  decompositions: the hand ~48 hulls (vertices grouped by their largest skinning weight,
  each bone's group split by k-means), the object k-means pieces of its surface vertices
  and interior points, one hull each. Friction 1, soft contacts (MuJoCo's defaults
  otherwise), density 500 kg/m^3, timestep 2 ms. Gravity along -z of the object frame by
  default (the synthetic objects, and most mesh files, stand upright along +z);
  `directions` averages over several. With the hand fixed, the only forces that hold an
  object are contact forces, which MuJoCo's soft contacts make grow with penetration: a
  hand that merely touches holds what rests on it or is hooked, not a pinched object.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.cluster.vq
import scipy.spatial

from hoijax.hand.model import mano_forward
from hoijax.hand.proxy import mesh_volume, posed_interior

CONTACT_MM = 2.0  # a part within this distance of the surface is in contact
PART_NAMES = ("thumb", "index", "middle", "ring", "pinky", "palm")
INSTALL_HINT = 'pip install -e ".[physics]"  (or: pip install mujoco)'


def penetration(sdf_fn, verts, faces, interior):
    """sdf_fn (...,3) -> (...) m; verts (V,3) posed hand in the object frame; faces (F,3);
    interior (N,3) posed interior points. Returns dict(depth (m, >= 0), volume (m^3))."""
    depth = jnp.maximum(-jnp.min(sdf_fn(verts)), 0.0)
    share = jnp.mean(sdf_fn(interior) < 0.0)
    return dict(depth=depth, volume=mesh_volume(verts, faces) * share)


def contacts(sdf_fn, verts, parts, threshold=CONTACT_MM * 1e-3):
    """(6,) bool: each part (a vertex-id array: thumb, index, middle, ring, pinky, palm)
    within `threshold` m of the surface or inside it."""
    d = sdf_fn(verts)
    return jnp.stack([jnp.min(d[jnp.asarray(ids)]) < threshold for ids in parts])


def hand_measures(sdf_fn, model, hand_interior, parts, hand_pose, betas, global_orient,
                  transl):
    """Penetration and contacts of a MANO hand posed in the object frame (MANO
    parameters as smplx applies them). Returns dict(depth_mm, volume_cm3, contact (6,))."""
    out = mano_forward(model, hand_pose, betas, global_orient, transl)
    pen = penetration(sdf_fn, out.vertices, jnp.asarray(model.faces),
                      posed_interior(hand_interior, out.vertices))
    return dict(depth_mm=pen["depth"] * 1e3, volume_cm3=pen["volume"] * 1e6,
                contact=contacts(sdf_fn, out.vertices, parts))


# ---------------------------------------------------------------------------------------
# Simulation (MuJoCo).

def have_mujoco() -> bool:
    try:
        # Optional: the `physics` extra.
        import mujoco  # noqa: F401
    except ImportError:
        return False
    return True


def require_mujoco():
    if not have_mujoco():
        raise ImportError(f"simulation displacement needs MuJoCo: {INSTALL_HINT}")


def hand_pieces(verts, weights, num_pieces=48, seed=0):
    """Convex pieces of a posed hand -> list of (n_k,3) point sets: its vertices grouped by
    their largest skinning weight (one group per bone), each group split by k-means into a
    share of `num_pieces` proportional to its size. One hull per bone would fill the palm's
    hollow, where a held object sits, and count that as penetration."""
    label = np.argmax(np.asarray(weights), axis=1)
    verts = np.asarray(verts, np.float64)
    rng = np.random.default_rng(seed)
    pieces = []
    for j in range(weights.shape[1]):
        group = verts[label == j]
        if len(group) < 4:
            continue
        k = int(np.clip(round(num_pieces * len(group) / len(verts)), 1, len(group) // 4))
        if k == 1:
            pieces.append(group)
            continue
        _, lab = scipy.cluster.vq.kmeans2(group, k, minit="++", seed=rng)
        pieces.extend(group[lab == i] for i in range(k) if np.sum(lab == i) >= 4)
    return pieces


def object_pieces(surface, interior, num_pieces=24, seed=0):
    """Convex pieces of an object: k-means (num_pieces) over its interior points; every
    surface vertex joins its nearest piece (so the hulls reach the surface) -> list of
    (n_k,3) point sets. surface (V,3) mesh vertices, interior (N,3) points inside."""
    interior = np.asarray(interior, np.float64)
    surface = np.asarray(surface, np.float64)
    if len(interior) < 8 * num_pieces:  # thin objects: cluster the surface too
        interior = np.concatenate([interior, surface])
    k = int(min(num_pieces, max(1, len(interior) // 8)))
    rng = np.random.default_rng(seed)
    centroids, _ = scipy.cluster.vq.kmeans2(interior, k, minit="++", seed=rng)
    tree = scipy.spatial.cKDTree(centroids)
    lab_i = tree.query(interior)[1]
    lab_s = tree.query(surface)[1]
    pieces = []
    for j in range(k):
        pts = np.concatenate([interior[lab_i == j], surface[lab_s == j]])
        if len(pts) >= 4 and np.linalg.matrix_rank(pts - pts.mean(0), tol=1e-6) == 3:
            pieces.append(pts)
    return pieces


def _hull_vertices(points, max_vertices=200):
    try:
        hull = scipy.spatial.ConvexHull(points)
    except Exception:  # degenerate (flat) piece: skip it
        return None
    v = points[hull.vertices]
    if len(v) > max_vertices:  # MuJoCo's own hull keeps the shape; fewer input points
        v = v[np.random.default_rng(0).choice(len(v), max_vertices, replace=False)]
    return v


def scene_xml(fixed_pieces, free_pieces, *, gravity=(0.0, 0.0, -9.81), timestep=0.002,
              density=500.0, friction=1.0) -> str:
    """MJCF of fixed convex pieces (the hand; world geoms) and a free body made of convex
    pieces (the object), all in one frame (metres)."""
    assets, fixed, free = [], [], []
    for name, pieces, out in (("h", fixed_pieces, fixed), ("o", free_pieces, free)):
        for i, pts in enumerate(pieces):
            v = _hull_vertices(np.asarray(pts, np.float64))
            if v is None:
                continue
            flat = " ".join(f"{x:.6f}" for x in v.ravel())
            assets.append(f'<mesh name="{name}{i}" vertex="{flat}"/>')
            out.append(f'<geom type="mesh" mesh="{name}{i}" friction="{friction} 0.005 0.0001"'
                       f' density="{density}"/>')
    if not free:
        raise ValueError("the object has no convex piece with a volume")
    g = " ".join(f"{x:.6f}" for x in gravity)
    return (f'<mujoco><option timestep="{timestep}" gravity="{g}"/>'
            f'<compiler inertiafromgeom="true"/>'
            f'<asset>{"".join(assets)}</asset><worldbody>{"".join(fixed)}'
            f'<body name="object"><freejoint/>{"".join(free)}</body>'
            f'</worldbody></mujoco>')


def simulate(fixed_pieces, free_pieces, *, seconds=1.0, gravity=(0.0, 0.0, -9.81),
             timestep=0.002, density=500.0, friction=1.0) -> dict:
    """Drops the free body for `seconds` with the fixed pieces held: returns
    dict(displacement (m) of its centre of mass, final_position (3,), start (3,))."""
    require_mujoco()
    # Optional: the `physics` extra.
    import mujoco
    model = mujoco.MjModel.from_xml_string(scene_xml(
        fixed_pieces, free_pieces, gravity=gravity, timestep=timestep, density=density,
        friction=friction))
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    body = model.body("object").id
    start = np.array(data.xipos[body])
    for _ in range(int(round(seconds / model.opt.timestep))):
        mujoco.mj_step(model, data)
    end = np.array(data.xipos[body])
    return dict(displacement=float(np.linalg.norm(end - start)), final_position=end,
                start=start)


GRAVITY_DIRECTIONS = {"-z": (0, 0, -1), "+z": (0, 0, 1), "-x": (-1, 0, 0), "+x": (1, 0, 0),
                      "-y": (0, -1, 0), "+y": (0, 1, 0)}


def simulation_displacement(hand_verts, hand_weights, obj_surface, obj_interior, *,
                            directions=("-z",), seconds=1.0, num_pieces=24) -> dict:
    """The object's centre displacement (m) after `seconds` under gravity (9.81 m/s^2 along
    each of `directions`, names of GRAVITY_DIRECTIONS, object frame) with the hand fixed.
    hand_verts (V,3) posed hand (object frame); hand_weights (V,16) its skinning weights;
    obj_surface (M,3) mesh vertices; obj_interior (N,3) points inside the object.
    Returns {direction: displacement} and "mean"."""
    hand = hand_pieces(hand_verts, hand_weights)
    obj = object_pieces(obj_surface, obj_interior, num_pieces)
    out = {}
    for name in directions:
        g = 9.81 * np.asarray(GRAVITY_DIRECTIONS[name], float)
        out[name] = simulate(hand, obj, seconds=seconds, gravity=tuple(g))["displacement"]
    out["mean"] = float(np.mean([out[d] for d in directions]))
    return out


def interior_samples(sdf_fn, lo, hi, spacing=0.004, max_points=6000, seed=0):
    """(N,3) grid points inside an object (sdf < 0) over the box [lo, hi], subsampled to
    at most max_points: the interior for `object_pieces`."""
    axes = [np.arange(a, b, spacing) for a, b in zip(lo, hi)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3).astype(np.float32)
    inside = pts[np.asarray(jax.jit(sdf_fn)(jnp.asarray(pts))) < 0]
    if len(inside) > max_points:
        inside = inside[np.random.default_rng(seed).choice(len(inside), max_points,
                                                            replace=False)]
    return inside
