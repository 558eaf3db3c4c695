"""The per-clip fitting loop (DiffHOI, section 1 of DESIGN.md).

Each step renders a few random frames: the hand mesh by soft rasterization (whole image)
and the object SDF by volume rendering at random pixels; the two are depth-composited and
compared with the input masks. Every `sds.every`-th step after `sds.warmup` also renders the
object and hand geometry images from a random novel view around the hand and adds the SDS
loss of the prior (which moves the object field and the poses, never the hand mesh: the
hand's vertices are held fixed in that branch). Eikonal, temporal-smoothness and hTo-offset
terms regularise. All weights and rates are in configs/reconstruct.py.

Before the loop: the hand trajectory is robustly smoothed (`init.initialise_trajectory`) and
the object starts as the sphere that best explains the object masks seen from the initial
cameras (`init.fit_object_sphere`), so every clip starts from a sensible size and place.

`fit_clips` fits several clips at once: their scenes are stacked along a leading clip axis,
one jitted, vmapped step updates all of them, and the clip axis is split over the devices.
On the 2-core CPU, 4 clips vmapped cost 0.45 s per clip-step against 0.56 s alone.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import skimage.transform

from hoijax.data.prior_data import novel_view_camera
from hoijax.diffusion.sds import annealed_max_t, sds_loss
from hoijax.geometry.camera import pixel_rays, rescale_intrinsics
from hoijax.geometry.transforms import invert_rigid
from hoijax.models.sdf import sdf_value
from hoijax.models.text import tokenize
from hoijax.recon import scene
from hoijax.recon.init import fit_object_sphere, initialise_trajectory
from hoijax.recon.losses import eikonal_loss, mask_loss, temporal_smoothness
from hoijax.render.compose import compose_layers
from hoijax.render.geometry_images import (HAND_BACKGROUND, hand_geometry_image,
                                           object_geometry_image, reference_depth)
from hoijax.render.rasterize import rasterize
from hoijax.render.volume import render_sdf


@dataclasses.dataclass
class ClipData:
    """What fitting reads from a clip (all jnp, at the fitting resolution S x S)."""

    obj_mask: jnp.ndarray  # (T,S,S) area-averaged masks in [0, 1]
    hand_mask: jnp.ndarray
    cTh0: jnp.ndarray  # (T,4,4) initial hand -> camera (robustly smoothed tracker output)
    K0: jnp.ndarray  # (T,3,3) at S x S
    hA0: jnp.ndarray  # (T,45)
    beta0: jnp.ndarray  # (10,)
    tokens: jnp.ndarray  # (L,) the prompt
    ray_weights: jnp.ndarray  # (T,S*S) pixel sampling probabilities (see `ray_weights`)


def ray_weights(obj_mask, hand_mask, focus=0.8, dilation=4) -> np.ndarray:
    """(T,S*S) probabilities of drawing each pixel as an object ray: `focus` of them fall
    on the hand and object masks dilated by `dilation` pixels (where the silhouettes are
    decided), the rest uniformly over the image (so stray geometry is seen and removed)."""
    import scipy.ndimage
    out = []
    for o, h in zip(obj_mask, hand_mask):
        near = scipy.ndimage.binary_dilation((o > 0.5) | (h > 0.5), iterations=dilation)
        p = (1 - focus) / near.size + focus * near.ravel() / max(near.sum(), 1)
        out.append(p / p.sum())
    return np.stack(out).astype(np.float32)


def prepare_clip(clip, model, config, prompt_tokens) -> tuple[ClipData, np.ndarray]:
    """Downsamples masks, rescales K and robustly initialises the hand trajectory.
    Returns the ClipData and (T,) bool: the frames found to be tracker failures."""
    size = (config.render.image_size,) * 2
    resize = lambda m: skimage.transform.resize(  # noqa: E731
        m.astype(np.float32), size, order=1, anti_aliasing=True)
    init = initialise_trajectory(model, clip.cTh, clip.hA, clip.beta, lam=config.init.lam)
    K0 = rescale_intrinsics(jnp.asarray(clip.K, jnp.float32), clip.image_size, size)
    obj = np.stack([resize(m) for m in clip.obj_mask])
    hand = np.stack([resize(m) for m in clip.hand_mask])
    return ClipData(obj_mask=jnp.asarray(obj), hand_mask=jnp.asarray(hand),
                    ray_weights=jnp.asarray(ray_weights(obj, hand)),
                    cTh0=jnp.asarray(init["cTh"], jnp.float32), K0=K0,
                    hA0=jnp.asarray(clip.hA, jnp.float32),
                    beta0=jnp.asarray(clip.beta.mean(0), jnp.float32),
                    tokens=jnp.asarray(prompt_tokens)), init["failed"]


def initial_sphere(data: ClipData, model, config):
    """(centre, radius) of the object's initial sphere in the hand frame: fitted to the
    masks when config.init_from_masks (the `scene` section), else the fixed palm sphere."""
    center = scene.palm_sphere(model, config.init_radius, config.init_offset)
    if not config.init_from_masks:
        return center, config.init_radius
    return fit_object_sphere(data.obj_mask, data.hand_mask, data.cTh0, data.K0, center,
                             config.init_radius)


def make_optimizer(config):
    """Adam with a learning rate per parameter group (config.optim.lr.<group>)."""
    transforms = {g: optax.adam(config.optim.lr[g]) for g in scene.PARAM_GROUPS}
    labels = {g: g for g in scene.PARAM_GROUPS}
    return optax.multi_transform(transforms, lambda params: {
        k: jax.tree.map(lambda _: labels[k], v) for k, v in params.items()})


def _object_layer(params, cTo, K, pix_uv_rays, key, config):
    """Volume-renders the object SDF along camera rays (N,3) given in the camera frame."""
    oTc = invert_rigid(cTo)
    dirs_o = pix_uv_rays @ oTc[:3, :3].T
    origins_o = jnp.broadcast_to(oTc[:3, 3], dirs_o.shape)
    return render_sdf(sdf_value, params["sdf"], origins_o, dirs_o, beta=config.render.beta,
                      key=key, bound_center=params["sdf"]["center"],
                      bound_radius=config.render.bound_radius,
                      num_samples=config.render.num_samples,
                      num_importance=config.render.num_importance, sdf_to_camera=cTo,
                      chunk=4096)


def _eikonal_on_samples(sdf_params, points, key, config):
    """Eikonal loss at `config.eikonal_points` points: half drawn from the ray samples
    points (N,S,3) (near the surface, where the renderer looks), half uniform in the
    bounding sphere (where a flat, nearly-zero field would render as fog that the mesh
    does not have). A subset because the term needs second derivatives of the MLP: on all
    N*S samples it would double the cost of a step (the renderer's own gradients are pruned
    by XLA when only mask and depth are used)."""
    k_pick, k_dir, k_rad = jax.random.split(key, 3)
    n = config.eikonal_points // 2
    flat = jax.lax.stop_gradient(points.reshape(-1, 3))
    near = flat[jax.random.choice(k_pick, flat.shape[0], (min(n, flat.shape[0]),),
                                  replace=False)]
    dirs = jax.random.normal(k_dir, (n, 3))
    dirs = dirs / jnp.linalg.norm(dirs, axis=-1, keepdims=True)
    radii = config.render.bound_radius * jax.random.uniform(k_rad, (n, 1)) ** (1 / 3)
    uniform = jax.lax.stop_gradient(sdf_params["center"]) + dirs * radii
    x = jnp.concatenate([near, uniform])
    grads = jax.vmap(jax.grad(lambda p: sdf_value(sdf_params, p)))(x)
    return eikonal_loss(grads)


def reprojection_terms(params, data: ClipData, model, verts_h, key, config):
    """Mask and eikonal losses on `frames_per_step` random frames; verts_h (T,V,3) the
    hand's vertices in the hand frame."""
    T = data.obj_mask.shape[0]
    size = config.render.image_size
    k_frames, k_pix, k_vol = jax.random.split(key, 3)
    frames = jax.random.choice(k_frames, T, (config.frames_per_step,), replace=False)
    cTh = scene.cTh_matrices(params, data.cTh0)
    K = scene.intrinsics(params, data.K0)
    hTo = scene.hTo_matrices(params)
    faces = jnp.asarray(model.faces)

    def one(frame, k_pix, k_vol):
        verts_c = verts_h[frame] @ cTh[frame, :3, :3].T + cTh[frame, :3, 3]
        hand = rasterize(verts_c, faces, K[frame], (size, size), sigma=config.render.sigma,
                         faces_per_pixel=config.render.faces_per_pixel)
        pix = jax.random.choice(k_pix, size * size, (config.rays_per_frame,), replace=False,
                                p=data.ray_weights[frame])
        _, dirs = pixel_rays(K[frame], (size, size))
        obj = _object_layer(params, cTh[frame] @ hTo[frame], K[frame],
                            dirs.reshape(-1, 3)[pix], k_vol, config)
        flat = lambda x: x.reshape((size * size,) + x.shape[2:])[pix]  # noqa: E731
        hand_px = dict(mask=flat(hand["mask"]), depth=flat(hand["depth"]),
                       normal=flat(hand["normal"]))
        composed = compose_layers(hand_px, obj)
        loss = mask_loss(composed, flat(data.obj_mask[frame]), flat(data.hand_mask[frame]),
                         hand_weight=config.loss.hand_mask / config.loss.mask)
        return loss, _eikonal_on_samples(params["sdf"], obj["points"],
                                         jax.random.fold_in(k_vol, 1), config)

    keys_pix = jax.random.split(k_pix, config.frames_per_step)
    keys_vol = jax.random.split(k_vol, config.frames_per_step)
    masks, eik = jax.vmap(one)(frames, keys_pix, keys_vol)
    return dict(mask=jnp.mean(masks), eikonal=jnp.mean(eik))


def random_rotation(key):
    """A rotation matrix uniform over SO(3) (normalised Gaussian quaternion)."""
    from hoijax.geometry.rotations import quaternion_to_matrix
    q = jax.random.normal(key, (4,))
    return quaternion_to_matrix(q / jnp.linalg.norm(q))


def sds_term(params, data: ClipData, model, verts_h, prior, key, step, config):
    """The SDS loss from one random novel view of a random frame; verts_h (T,V,3)."""
    c = config.sds
    T = data.obj_mask.shape[0]
    size = prior.config.model.image_size
    k_frame, k_rot, k_vol, k_sds = jax.random.split(key, 4)
    frame = jax.random.randint(k_frame, (), 0, T)
    verts = jax.lax.stop_gradient(verts_h[frame])  # SDS never moves the hand mesh
    rot = random_rotation(k_rot)
    cTh_n, K_n = novel_view_camera_jnp(rot, verts.mean(0), c.view_distance, c.focal_factor,
                                       size)
    hand = rasterize(verts @ cTh_n[:3, :3].T + cTh_n[:3, 3], jnp.asarray(model.faces), K_n,
                     (size, size), sigma=c.hand_sigma, faces_per_pixel=4,
                     attributes=jnp.asarray(model.surface_code))
    _, dirs = pixel_rays(K_n, (size, size))
    hTo = scene.hTo_matrices(params)
    obj = _object_layer(params, cTh_n @ hTo[frame], K_n, dirs.reshape(-1, 3), k_vol, config)
    obj = jax.tree.map(lambda x: x.reshape((size, size) + x.shape[1:]),
                       dict(mask=obj["mask"], depth=obj["depth"], normal=obj["normal"]))
    ref = jax.lax.stop_gradient(reference_depth(hand["mask"], hand["depth"],
                                                fallback=c.view_distance))
    x = object_geometry_image(obj, ref)[None]
    hand_image = hand_geometry_image(hand, ref)[None]
    tokens = data.tokens[None]
    if c.condition == "text_only":  # the prior sees no hand: an empty condition image
        hand_image = jnp.broadcast_to(jnp.asarray(HAND_BACKGROUND), hand_image.shape)
    elif c.condition == "hand_only":  # ... or no text
        tokens = jnp.asarray(tokenize(""))[None]
    cond = dict(hand=hand_image, tokens=tokens)
    max_t = annealed_max_t(step, config.num_steps, c.max_t_start, c.max_t_end)
    loss, _ = sds_loss(prior.denoise, prior.params, prior.schedule, x, cond,
                       jnp.asarray(tokenize("")), k_sds, t_range=(c.min_t, max_t),
                       guidance=c.guidance, weights=tuple(c.modality_weights),
                       prediction=prior.config.diffusion.prediction)
    return loss


def novel_view_camera_jnp(rotation, center, distance, focal_factor, size):
    """jnp version of `prior_data.novel_view_camera` (the prior's training cameras)."""
    cTh = jnp.eye(4).at[:3, :3].set(rotation)
    cTh = cTh.at[:3, 3].set(jnp.array([0.0, 0.0, distance]) - rotation @ center)
    K = jnp.asarray(novel_view_camera(np.eye(3), np.zeros(3), distance, focal_factor,
                                      size)[1], jnp.float32)
    return cTh, K


def total_loss(params, data, model, prior, key, step, config, with_sds):
    k_rep, k_sds = jax.random.split(key)
    verts_h, joints = scene.hand_vertices(model, params)  # once per step, shared by terms
    terms = reprojection_terms(params, data, model, verts_h, k_rep, config)
    oTh = invert_rigid(scene.hTo_matrices(params))
    terms["smooth"] = temporal_smoothness(joints, oTh)
    terms["hand_prior"] = jnp.mean((params["hand"]["hA"] - data.hA0) ** 2)
    terms["hTo_offset"] = scene.hTo_offset_penalty(params)
    w = config.loss
    total = (w.mask * terms["mask"] + w.eikonal * terms["eikonal"]
             + w.smooth * terms["smooth"] + w.hand_prior * terms["hand_prior"]
             + w.hTo_offset * terms["hTo_offset"])
    if with_sds:
        terms["sds"] = sds_term(params, data, model, verts_h, prior, k_sds, step, config)
        total = total + w.sds * terms["sds"]
    return total, terms


def make_step(model, prior, config, tx, with_sds):
    """The jitted update of C stacked scenes:
    (state, data, key, step_index) -> (state, terms (C,) each), with state =
    {params, opt_state} and data a stacked ClipData, all with a leading clip axis."""

    def one(params, opt_state, data, key, step_index):
        (loss, terms), grads = jax.value_and_grad(total_loss, has_aux=True)(
            params, data, model, prior, key, step_index, config, with_sds)
        grads = jax.tree.map(lambda g: jnp.where(jnp.isfinite(g), g, 0.0), grads)
        updates, opt_state = tx.update(grads, opt_state, params)
        terms["total"] = loss
        return optax.apply_updates(params, updates), opt_state, terms

    @functools.partial(jax.jit, donate_argnums=0)
    def step(state, data, key, step_index):
        params, opt_state, terms = jax.vmap(one, (0, 0, 0, None, None))(
            state["params"], state["opt_state"], data, jax.random.fold_in(key, step_index),
            step_index)
        return dict(params=params, opt_state=opt_state), terms

    return step


jax.tree_util.register_dataclass(
    ClipData, data_fields=["obj_mask", "hand_mask", "cTh0", "K0", "hA0", "beta0", "tokens",
                           "ray_weights"],
    meta_fields=[])


@dataclasses.dataclass
class FitResult:
    params: dict
    data: ClipData
    history: list  # [{step, total, mask, ...}] every log_every steps
    failed: np.ndarray  # (T,) frames the initialisation repaired
    seconds: float  # wall time of the fit; clips fitted together share it equally


def use_sds_at(i, config) -> bool:
    """Whether step i adds the SDS term (every `sds.every`-th step after the warm-up)."""
    return (config.loss.sds > 0 and i >= config.sds.warmup
            and (i - config.sds.warmup) % config.sds.every == 0)


def _stack(trees):
    return jax.tree.map(lambda *x: jnp.stack(x), *trees)


def _clip_sharding(n, mesh):
    """Clips split over the mesh's devices when they divide evenly, else replicated."""
    from jax.sharding import NamedSharding, PartitionSpec as P

    from hoijax import parallel
    axis = parallel.DATA_AXIS if n % mesh.devices.size == 0 else None
    return NamedSharding(mesh, P(axis))


class _Checkpoints:
    """Orbax checkpoints of the stacked fit state (params, optimiser state) in
    `workdir/checkpoints`, with the loss history beside them, so a killed fit resumes."""

    def __init__(self, workdir, every, clips):
        import orbax.checkpoint as ocp
        self.ocp, self.workdir = ocp, workdir
        os.makedirs(workdir, exist_ok=True)
        identity = dict(clips=[os.path.abspath(c.path) for c in clips])
        path = os.path.join(workdir, "clips.json")
        if os.path.isfile(path):
            with open(path) as f:
                if json.load(f) != identity:
                    raise ValueError(f"{workdir} holds the checkpoints of a fit of other "
                                     "clips; delete it or write to another folder")
        with open(path, "w") as f:
            json.dump(identity, f)
        self.manager = ocp.CheckpointManager(
            os.path.abspath(os.path.join(workdir, "checkpoints")),
            options=ocp.CheckpointManagerOptions(max_to_keep=1, save_interval_steps=every))

    def restore(self, state):
        """(state, start step, history, seconds spent before) from the latest checkpoint,
        or (state, 0, [], 0.0)."""
        step = self.manager.latest_step()
        if step is None:
            return state, 0, [], 0.0
        abstract = jax.tree.map(self.ocp.utils.to_shape_dtype_struct, state)
        state = self.manager.restore(step, args=self.ocp.args.StandardRestore(abstract))
        with open(os.path.join(self.workdir, "history.json")) as f:
            saved = json.load(f)
        history = [h for h in saved["history"] if h[0]["step"] <= step]
        print(f"resumed from {self.workdir}/checkpoints at step {step}")
        return state, step, history, saved["seconds"]

    def save(self, step, state, history, seconds, force=False):
        if self.manager.save(step, args=self.ocp.args.StandardSave(state), force=force):
            self.manager.wait_until_finished()
            tmp = os.path.join(self.workdir, "history.json.tmp")
            with open(tmp, "w") as f:
                json.dump(dict(history=history, seconds=seconds), f)
            os.replace(tmp, os.path.join(self.workdir, "history.json"))


def fit_clips(clips, model, prior, config, *, categories=None, workdir=None, progress=True,
              mesh=None) -> list[FitResult]:
    """Fits several clips (`hoijax.data.clip.Clip`, all with the same frame count) together:
    their scenes are stacked along a leading clip axis, one vmapped step updates all of
    them, and the clip axis is split over the devices of `mesh` (default: all devices)
    when the count divides evenly. With `workdir`, the fit checkpoints there every
    `config.checkpoint_every` steps and resumes from the latest checkpoint.
    categories: per-clip prompts (None: each clip's text.txt)."""
    from tqdm import tqdm

    from hoijax import parallel
    start_time = time.time()
    frames = {c.num_frames for c in clips}
    if len(frames) != 1:
        raise ValueError(f"clips fitted together need the same frame count; got {frames}")
    categories = categories or [None] * len(clips)
    datas, params, failed = [], [], []
    for clip, category in zip(clips, categories):
        category = category if category is not None else clip.category
        data, bad = prepare_clip(clip, model, config, prior.tokens(category))
        params.append(scene.init_scene(
            model, dict(cTh=data.cTh0, hA=data.hA0, beta=data.beta0), config.scene,
            jax.random.key(config.seed), initial_sphere(data, model, config.scene)))
        datas.append(data)
        failed.append(bad)
    tx = make_optimizer(config)
    mesh = mesh or parallel.data_mesh()
    sharding = _clip_sharding(len(clips), mesh)
    data = jax.device_put(_stack(datas), sharding)
    params = jax.device_put(_stack(params), sharding)
    state = dict(params=params, opt_state=jax.vmap(tx.init)(params))
    # The same key for every clip: a clip's fit does not depend on what it is grouped with.
    key = jax.random.key(config.seed)
    steps = {flag: make_step(model, prior, config, tx, with_sds=flag)
             for flag in {False, config.loss.sds > 0}}
    checkpoints = _Checkpoints(workdir, config.checkpoint_every, clips) if workdir else None
    start, history, seconds_before = 0, [], 0.0
    if checkpoints:
        state, start, history, seconds_before = checkpoints.restore(state)
    start_time -= seconds_before  # a resumed fit's time includes the runs before
    bar = tqdm(range(start, config.num_steps), disable=not progress, desc="reconstruct",
               unit="step", initial=start, total=config.num_steps)
    for i in bar:
        state, terms = steps[use_sds_at(i, config)](state, data, key, i)
        if (i + 1) % config.log_every == 0 or i + 1 == config.num_steps:
            rows = [dict(step=i + 1, **{k: float(v[c]) for k, v in terms.items()})
                    for c in range(len(clips))]
            bad = [c for c, r in enumerate(rows) if not np.isfinite(r["total"])]
            if bad:
                raise FloatingPointError(f"non-finite reconstruction loss at step {i + 1} "
                                         f"(clip {bad[0]})")
            history.append(rows)
            bar.set_postfix({k: f"{np.mean([r[k] for r in rows]):.3g}" for k in rows[0]
                             if k not in ("step", "total")})
        if checkpoints:
            checkpoints.save(i + 1, state, history, time.time() - start_time,
                             force=i + 1 == config.num_steps)
    seconds = (time.time() - start_time) / len(clips)
    params = jax.device_get(state["params"])
    return [FitResult(jax.tree.map(lambda x: x[c], params), datas[c],
                      [rows[c] for rows in history], failed[c], seconds)
            for c in range(len(clips))]


def fit_clip(clip, model, prior, config, *, category=None, workdir=None,
             progress=True) -> FitResult:
    """Fits the scene to one clip (a `hoijax.data.clip.Clip`); see `fit_clips`."""
    return fit_clips([clip], model, prior, config, categories=[category], workdir=workdir,
                     progress=progress)[0]
