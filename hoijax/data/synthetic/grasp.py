"""Category-appropriate grasps, found by optimising the hand against the object's SDF.

A grasp is the hand articulation (MANO PCA coefficients), its shape and the object -> hand
transform hTo. It starts from a category template (where the palm goes and which way the
palm and fingers face: a power wrap around a mug or bottle body, the arched handle of a
kettle from above, a bowl's rim from the side, a knife's handle and a toy car from above;
for the wider world, power wraps around cans, cups, boxes, spray bottles and large fruit,
handles (hammer, frying pan) from above, phones and remotes held in the palm, and
precision pinches of pens and small fruit) and is refined with Adam through the project's
differentiable MANO and the object SDF: fingertips and palm pulled onto the surface (a
precision grasp pulls only the thumb, index and middle fingertips), hand vertices pushed
out of the object, and a small prior keeping the articulation natural. Works with any
`ManoModel` (stand-in or official MANO), right or left.
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy.spatial.transform import Rotation

from hoijax.data.synthetic import held_out
from hoijax.data.synthetic.objects import object_sdf
from hoijax.geometry.rotations import axis_angle_to_matrix
from hoijax.geometry.transforms import apply_to_points
from hoijax.hand.anatomy import back_direction, contact_parts, palm_vertices
from hoijax.geometry.mesh import unique_edges
from hoijax.hand.model import ManoModel, full_hand_pose, mano_forward

NUM_PCA = 15
CONTACT_TOL = 0.003  # a fingertip or the palm within 3 mm of the surface is in contact
# Penetration is measured at the vertices and at these fractions along every mesh edge: a
# finger pushed right through a mug's or a bowl's 3-5 mm wall has all its vertices outside
# the solid, but its edges cross the wall.
EDGE_FRACTIONS = (0.25, 0.5, 0.75)


def surface_samples(verts, edges):
    """(V,3) vertices and (E,2) edges -> (V + 3E, 3) vertices and points along the edges."""
    a, b = verts[edges[:, 0]], verts[edges[:, 1]]
    along = [a + f * (b - a) for f in EDGE_FRACTIONS]
    return jnp.concatenate([verts] + along, axis=0)


@dataclasses.dataclass(frozen=True)
class GraspTemplate:
    """Where the palm goes (object frame) and which way the palm and the fingers face."""

    palm_point: tuple  # a point on the object's surface that the palm centre touches
    palm_dir: tuple  # unit direction the palm faces (toward the object)
    finger_dir: tuple  # unit direction the straight fingers point
    closure: float  # initial PCA coefficient along the first (closing) component
    # "power": all five fingertips and the palm are pulled onto the surface; "precision":
    # only the thumb, index and middle fingertips (the palm stays free); "palm": the object
    # lies in the palm, the four fingers around it (the thumb stays free).
    kind: str = "power"

    @property
    def pulled_fingers(self) -> tuple:
        """Fingers (0 thumb .. 4 pinky) whose tips the refinement pulls onto the surface."""
        return {"power": (0, 1, 2, 3, 4), "precision": (0, 1, 2), "palm": (1, 2, 3, 4)
                }[self.kind]

    @property
    def palm_contact(self) -> bool:
        """Whether the refinement pulls the palm onto the surface."""
        return self.kind != "precision"


def grasp_template(category: str, params: dict) -> GraspTemplate:
    """The category's grasp, in the object frame (z up)."""
    q = params
    if category in ("mug", "bottle"):  # power wrap around the body, opposite the handle
        height = q["height"] * (0.5 if category == "mug" else 0.35)
        return GraspTemplate((-q["radius"], 0.0, height), (1.0, 0.0, 0.0), (0.0, -1.0, 0.0),
                             1.5)
    if category == "kettle":  # the top of the arched handle, palm down
        top = q["height"] + q["handle_rise"] + q["handle_minor"]
        return GraspTemplate((0.0, 0.0, top), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0), 2.0)
    if category == "bowl":  # the rim from the side, fingers under, thumb inside
        rim = q["depth_ratio"] * q["radius"] + 0.006
        return GraspTemplate((q["radius"], 0.0, rim * 0.6), (-1.0, 0.0, 0.0),
                             (0.0, 0.0, -1.0), 0.8)
    if category == "knife":  # the handle from above, fingers around it
        return GraspTemplate((-q["handle_length"] * 0.55, 0.0, q["handle_thickness"]),
                             (0.0, 0.0, -1.0), (0.0, 1.0, 0.0), 2.0)
    if category == "toy car":  # the cabin from above
        top = q["wheel_radius"] + q["body_height"] + q["cabin_height"]
        return GraspTemplate((0.0, 0.0, top), (0.0, 0.0, -1.0), (-1.0, 0.0, 0.0), 1.0)
    return _new_template(category, q)


def _side_wrap(radius, height, y=0.0, closure=1.5):
    """A power wrap around an upright body: palm on its -x side facing +x, fingers -y."""
    return GraspTemplate((-radius, y, height), (1.0, 0.0, 0.0), (0.0, -1.0, 0.0), closure)


def _new_template(category, q):
    """Templates of the wider world's categories (objects.NEW_CATEGORIES)."""
    if category == "can":
        if q["height"] < 0.05:  # a flat tin from above, fingers over its rim
            return GraspTemplate((0.0, 0.0, q["height"]), (0.0, 0.0, -1.0), (1.0, 0.0, 0.0),
                                 1.0)
        return _side_wrap(q["radius"], 0.5 * q["height"])
    if category == "cup":  # around the body (no handle)
        h = q["height"]
        return _side_wrap(q["mid_radius"], q["mid_ratio"] * h)
    if category == "spray bottle":  # around the body, the palm behind (nozzle at +x)
        return _side_wrap(q["waist"], 0.55 * q["body_height"])
    if category == "box":  # palm on the narrow side face, fingers over the -y edge
        return _side_wrap(q["depth"] / 2, 0.45 * q["height"],
                          y=min(0.0, -q["width"] / 2 + 0.035))
    if category == "fruit":
        b, a = q["body_radius"], q["dimple"]
        if b >= 0.028:  # a large fruit in the whole hand
            return _side_wrap(a + b, b, closure=1.2)
        # A small fruit pinched from above.
        return GraspTemplate((0.0, 0.0, 2 * b + 0.03), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0),
                             1.0, kind="precision")
    if category == "pen":  # a precision pinch from above, at the middle of the barrel
        top = 2 * max(q["radius"], q["cap_radius"])
        return GraspTemplate((0.0, 0.0, top + 0.03), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0), 1.0,
                             kind="precision")
    if category == "hammer":  # the handle, a fifth of its length from the butt, from above
        z = max(q["face_radius"], q["back_radius"], q["end_radius"], q["butt_radius"])
        t = 0.2
        radius = q["butt_radius"] + t * (q["neck_radius"] - q["butt_radius"])
        return GraspTemplate((-q["length"] / 2 + t * q["length"], 0.0, z + radius),
                             (0.0, 0.0, -1.0), (0.0, 1.0, 0.0), 2.0)
    if category == "remote":  # lying in the palm, fingers around the +x edge
        return GraspTemplate((0.0, -0.1 * q["length"], 0.0), (0.0, 0.0, 1.0),
                             (1.0, 0.0, 0.0), 1.0)
    if category == "phone":  # thin: in the palm, the palm near the -x edge, the fingers
        # reaching over the +x edge from a nearly open hand, the thumb free
        return GraspTemplate((-q["width"] / 2 + 0.02, -0.1 * q["length"], 0.0),
                             (0.0, 0.0, 1.0), (1.0, 0.0, 0.0), 0.5, kind="palm")
    if category == "frying pan":  # the handle from above, 60 % along it
        angle, rt = q["handle_angle"], q["bottom_radius"] + q["flare"]
        along = np.array([-np.cos(angle), 0.0, np.sin(angle)])
        up = np.array([np.sin(angle), 0.0, np.cos(angle)])
        start = np.array([-(rt - q["wall"] / 2), 0.0,
                          q["depth"] - q["handle_thickness"] / 2 - 0.002])
        point = start + 0.6 * q["handle_length"] * along + q["handle_thickness"] / 2 * up
        return GraspTemplate(tuple(point), tuple(-up), (0.0, 1.0, 0.0), 2.0)
    if category in held_out.names():
        return GraspTemplate(*held_out.grasp_spec(category, q))
    raise ValueError(f"no grasp template for category {category!r}")


@dataclasses.dataclass
class Grasp:
    """An optimised grasp. hTo (4,4) object -> hand frame; hand_pose (45,) axis-angles
    (flat-hand mean); betas (10,); penetration_mm the deepest point of the hand's surface
    (vertices and edge samples) inside the object; contacts how many of the 5 fingers
    (distal halves) and the palm come within CONTACT_TOL of the surface (of 6);
    min_distance_mm the closest hand-object distance (negative = penetration)."""

    hTo: np.ndarray
    hand_pose: np.ndarray
    betas: np.ndarray
    penetration_mm: float
    contacts: int
    min_distance_mm: float
    category: str


def _frame_rotation(model: ManoModel, template: GraspTemplate) -> np.ndarray:
    """oRh: hand rest frame -> object frame, so the palm and fingers face as the template."""
    joints = np.asarray(model.J_regressor) @ np.asarray(model.v_template)
    palmar_h = -back_direction(joints, model.side)
    finger_h = joints[4] - joints[0]
    finger_h = finger_h - (finger_h @ palmar_h) * palmar_h
    finger_h /= np.linalg.norm(finger_h)
    palmar_o = np.asarray(template.palm_dir, float)
    finger_o = np.asarray(template.finger_dir, float)
    hand = np.stack([finger_h, palmar_h, np.cross(finger_h, palmar_h)], 1)
    obj = np.stack([finger_o, palmar_o, np.cross(finger_o, palmar_o)], 1)
    return obj @ hand.T


def _losses(variables, model, category, params, tips, palm, edges, weights,
            palm_contact=True):
    """Grasp energy: contact, penetration and pose-prior terms."""
    rot = axis_angle_to_matrix(variables["orient"])
    out = mano_forward(model, variables["pca"], variables["betas"], use_pca=True,
                       flat_hand_mean=False)
    centre = jnp.mean(out.vertices[palm], axis=0)
    verts_o = (out.vertices - centre) @ rot.T + variables["position"]
    d = object_sdf(category, params, surface_samples(verts_o, edges))
    contact = jnp.mean(d[tips] ** 2)
    if palm_contact:
        contact = contact + jnp.mean(d[palm] ** 2)
    penetration = jnp.sum(jnp.maximum(-d, 0.0) ** 2) / 50.0
    prior = jnp.mean(variables["pca"] ** 2) + 0.1 * jnp.mean(variables["betas"] ** 2)
    return (weights["contact"] * contact + weights["penetration"] * penetration
            + weights["prior"] * prior)


@functools.partial(jax.jit, static_argnames=("category", "steps", "palm_contact"))
def _optimise(variables, model, params, tips, palm, edges, *, category, steps,
              palm_contact=True):
    opt = optax.adam(optax.cosine_decay_schedule(2e-3, steps, alpha=0.1))
    state = opt.init(variables)

    def step(carry, i):
        variables, state = carry
        # The penetration weight grows 1000x over the run: early steps settle the hand
        # onto the object, late steps remove what still penetrates.
        weights = dict(contact=1e4, penetration=1e5 * 1000.0 ** (i / steps), prior=1e-3)
        grads = jax.grad(lambda v: _losses(v, model, category, params, tips, palm, edges,
                                           weights, palm_contact))(variables)
        grads["betas"] = jnp.zeros_like(grads["betas"])  # the hand's shape is given
        updates, state = opt.update(grads, state, variables)
        return (optax.apply_updates(variables, updates), state), None

    (variables, _), _ = jax.lax.scan(step, (variables, state), jnp.arange(steps, dtype=jnp.float32))
    return variables


def synthesize_grasp(model: ManoModel, category: str, params: dict, *, betas=None,
                     seed: int = 0, steps: int = 400) -> Grasp:
    """Optimises a category-appropriate grasp of the object; see the module docstring."""
    template = grasp_template(category, params)
    rng = np.random.default_rng(seed)
    betas = np.zeros(10) if betas is None else np.asarray(betas, float)
    o_r_h = _frame_rotation(model, template)
    jitter = rng.normal(scale=0.08, size=3)  # a little variety between seeds
    orient = (Rotation.from_rotvec(jitter) * Rotation.from_matrix(o_r_h)).as_rotvec()
    palm_dir = np.asarray(template.palm_dir, float)
    position = np.asarray(template.palm_point) - 0.012 * palm_dir  # palm surface on it
    pca = np.zeros(NUM_PCA)
    pca[0] = template.closure * 0.5
    variables = {k: jnp.asarray(v, jnp.float32) for k, v in dict(
        pca=pca + rng.normal(scale=0.1, size=NUM_PCA), betas=betas, orient=orient,
        position=position).items()}
    jparams = {k: jnp.float32(v) for k, v in params.items()}
    tips = jnp.asarray([model.fingertip_ids[k] for k in template.pulled_fingers])
    palm = jnp.asarray(palm_vertices(model))
    edges = jnp.asarray(unique_edges(np.asarray(model.faces))[0])
    variables = _optimise(variables, model, jparams, tips, palm, edges, category=category,
                          steps=steps, palm_contact=template.palm_contact)
    return _finish(model, category, jparams, variables, palm, edges)


@functools.partial(jax.jit, static_argnames=("category",))
def _surface_sdf(verts_o, edges, params, *, category):
    """(V,3) object-frame hand vertices -> SDF at the vertices and edge samples (V+3E,)."""
    return object_sdf(category, params, surface_samples(verts_o, edges))


@jax.jit
def _posed_hand(model, variables, palm):
    """The optimised hand's vertices (V,3), full pose (45,), palm centre (3,) and oRh (3,3):
    one compiled program (op by op, its many small compilations took ~3 s)."""
    out = mano_forward(model, variables["pca"], variables["betas"], use_pca=True,
                       flat_hand_mean=False)
    pose = full_hand_pose(model, variables["pca"], use_pca=True, flat_hand_mean=False)
    return (out.vertices, pose, jnp.mean(out.vertices[palm], axis=0),
            axis_angle_to_matrix(variables["orient"]))


def _finish(model, category, params, variables, palm, edges) -> Grasp:
    verts, hand_pose, centre, rot = (np.asarray(x, np.float64)
                                     for x in _posed_hand(model, variables, palm))
    o_t = np.asarray(variables["position"], np.float64) - rot @ centre
    oTh = np.eye(4)
    oTh[:3, :3], oTh[:3, 3] = rot, o_t
    hTo = np.linalg.inv(oTh)
    verts_o = apply_to_points(oTh, verts)
    d_all = np.asarray(_surface_sdf(jnp.asarray(verts_o, jnp.float32), edges, params,
                                    category=category))
    d = d_all[:len(verts_o)]
    parts = [np.min(np.abs(d[ids])) for ids in contact_parts(model)]
    parts.append(np.min(np.abs(d[np.asarray(palm)])))
    return Grasp(hTo=hTo, hand_pose=hand_pose, betas=np.asarray(variables["betas"]),
                 penetration_mm=float(max(-d_all.min(), 0.0) * 1e3),
                 contacts=int(np.sum(np.asarray(parts) < CONTACT_TOL)),
                 min_distance_mm=float(d_all.min() * 1e3), category=category)
