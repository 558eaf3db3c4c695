"""The per-clip fitting loop (DiffHOI, section 1 of DESIGN.md).

Each step renders a few random frames: the hand mesh by soft rasterization (whole image)
and the object SDF by volume rendering at random pixels; the two are depth-composited and
compared with the input masks. Every `sds.every`-th step after `sds.warmup` also renders the
object and hand geometry images from a random novel view around the hand and adds the SDS
loss of the prior (which moves the object field and the poses, never the hand mesh: the
hand's vertices are held fixed in that branch). Eikonal and temporal-smoothness terms
regularise. All weights and rates are in configs/reconstruct.py.
"""
from __future__ import annotations

import dataclasses

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
from hoijax.recon.init import initialise_trajectory
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
        return loss, eikonal_loss(obj["sdf_gradients"], obj["weights"] + 1e-3)

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
    w = config.loss
    total = (w.mask * terms["mask"] + w.eikonal * terms["eikonal"]
             + w.smooth * terms["smooth"] + w.hand_prior * terms["hand_prior"])
    if with_sds:
        terms["sds"] = sds_term(params, data, model, verts_h, prior, k_sds, step, config)
        total = total + w.sds * terms["sds"]
    return total, terms


def make_step(model, prior, config, tx, with_sds):
    """The jitted update (params, opt_state, data, key, step) -> (params, opt_state, terms)."""

    @jax.jit
    def step(params, opt_state, data, key, step_index):
        (loss, terms), grads = jax.value_and_grad(total_loss, has_aux=True)(
            params, data, model, prior, key, step_index, config, with_sds)
        grads = jax.tree.map(lambda g: jnp.where(jnp.isfinite(g), g, 0.0), grads)
        updates, opt_state = tx.update(grads, opt_state, params)
        terms["total"] = loss
        return optax.apply_updates(params, updates), opt_state, terms

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
    seconds: float


def fit_clip(clip, model, prior, config, *, category=None, progress=True) -> FitResult:
    """Fits the scene to one clip (a `hoijax.data.clip.Clip`); see the module docstring."""
    import time

    from tqdm import tqdm
    start = time.time()
    category = category if category is not None else clip.category
    data, failed = prepare_clip(clip, model, config, prior.tokens(category))
    key = jax.random.key(config.seed)
    params = scene.init_scene(model, dict(cTh=data.cTh0, hA=data.hA0, beta=data.beta0),
                              config.scene, key)
    tx = make_optimizer(config)
    opt_state = tx.init(params)
    plain = make_step(model, prior, config, tx, with_sds=False)
    guided = make_step(model, prior, config, tx, with_sds=config.loss.sds > 0)
    history = []
    bar = tqdm(range(config.num_steps), disable=not progress, desc="reconstruct",
               unit="step")
    for i in bar:
        use_sds = (config.loss.sds > 0 and i >= config.sds.warmup
                   and (i - config.sds.warmup) % config.sds.every == 0)
        step_fn = guided if use_sds else plain
        params, opt_state, terms = step_fn(params, opt_state, data,
                                           jax.random.fold_in(key, i), i)
        if (i + 1) % config.log_every == 0 or i + 1 == config.num_steps:
            row = {k: float(v) for k, v in terms.items()}
            if not np.isfinite(row["total"]):
                raise FloatingPointError(f"non-finite reconstruction loss at step {i + 1}")
            history.append(dict(step=i + 1, **row))
            bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k != "total"})
    return FitResult(params, data, history, failed, time.time() - start)
