"""What reconstruction minimises (docs/design.md, "Reconstruction"): a pure function of
the scene params, the clip's constants and a key.

Each step renders `frames_per_step` random frames: the hand mesh by soft rasterization
(whole image, `hand_layer`) and the object SDF by volume rendering with the unbiased NeuS
surface at `rays_per_frame` random pixels; the two are depth-composited and compared with
the input masks (`mask`, `hand_mask`), and every ray through a surely-object pixel must
meet the surface (`ray_hit`). The eikonal term is taken at some of those ray samples and
at uniform points in the object's bounding sphere. The object touches the hand without
swallowing it (`contact`, `penetration`, at the hand's vertices of every frame); each
grasping part of the hand within reach of the surface touches it (`part_contact`), and
space that some frame sees as surely background is empty (`carve`, at uniform points of
the bounding sphere projected into every frame).
Temporal smoothness, the hand prior and the hTo offsets regularise. On SDS steps the
priors' score distillation terms are added, each when its weight is positive: the 2D
prior's (`sds`: the object and the hand rendered from a random novel view around the hand
of a random frame) and the 3D prior's (`sds_grid`, G-HOP: the object field sampled on the
interaction grid of a random frame, encoded, and denoised with that frame's hand field).
Both move the object field and the poses, never the hand (its vertices and joints are
held fixed in those branches). The formulas live in `hoijax.recon.losses` and
`hoijax.diffusion.sds`; this module assembles them.

The options are small frozen dataclasses built from configs/reconstruct.py
(`Objective.from_config`), so the functions see what they use and nothing else.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from hoijax.checks import options_from
from hoijax.diffusion.sds import annealed_max_t, latent_sds_loss, sds_loss
from hoijax.geometry.camera import novel_view_camera, pixel_rays, project
from hoijax.geometry.math import safe_normalize
from hoijax.geometry.rotations import random_rotation
from hoijax.geometry.transforms import apply_to_directions, apply_to_points, invert_rigid
from hoijax.hand.anatomy import contact_regions
from hoijax.interaction.frame import grid_points
from hoijax.interaction.hand_field import field_joints, hand_frame_center, skeletal_field
from hoijax.interaction.object_grid import network_sdf, object_grid
from hoijax.models.sdf import sdf_value
from hoijax.models.text import tokenize
from hoijax.recon import losses, scene
from hoijax.recon.data import ClipData
from hoijax.render.compose import compose_layers
from hoijax.render.geometry_images import (HAND_BACKGROUND, hand_geometry_image,
                                           object_geometry_image, reference_depth)
from hoijax.render.rasterize import is_closed, rasterize, sigma_schedule
from hoijax.render.volume import render_sdf

SDS_CONDITIONS = ("full", "text_only", "hand_only")
# Input-mask value above which a pixel is surely object (not an anti-aliased edge): its ray
# must meet the surface (`losses.ray_hit_loss`).
SURE_OBJECT = 0.9


@dataclasses.dataclass(frozen=True)
class RenderOptions:
    """configs/reconstruct.py `render`: the fitting renderers."""

    image_size: int
    sigma: float  # hand rasterizer softness at the start (pixels) ...
    sigma_end: float  # ... annealed geometrically to this at the end
    faces_per_pixel: int
    beta: float  # object surface softness (m): NeuS logistic scale or VolSDF Laplace scale
    surface: str  # "neus" (unbiased silhouette) or "volsdf" (hoijax.render.volume)
    bound_radius: float  # object bounding sphere (m)
    num_samples: int
    num_importance: int
    num_steps: int  # of the fit, for the sigma schedule


def hand_layer(verts_c, faces, K, size, sigma, max_sigma, faces_per_pixel,
               attributes=None):
    """The hand's soft layer (`rasterize`) as the fit draws it: verts_c (V,3) camera
    frame; sigma may be traced (<= max_sigma, static). Splat selection (no per-tile
    loops: ~15x faster at 64 px on a CPU) with back faces culled when the mesh is closed
    (the stand-in hand; the official MANO mesh is open at the wrist)."""
    return rasterize(verts_c, faces, K, (size, size), sigma=sigma, max_sigma=max_sigma,
                     faces_per_pixel=faces_per_pixel, attributes=attributes,
                     selection="splat", cull_backfaces=is_closed(np.asarray(faces)))


@dataclasses.dataclass(frozen=True)
class SamplingOptions:
    """What one step looks at (configs/reconstruct.py top level)."""

    frames_per_step: int
    rays_per_frame: int
    eikonal_points: int


@dataclasses.dataclass(frozen=True)
class SDSOptions:
    """configs/reconstruct.py `sds` (and `num_steps`, for the timestep anneal)."""

    num_steps: int
    guidance: float
    min_t: float
    max_t_start: float
    max_t_end: float
    modality_weights: tuple
    hand_sigma: float
    view_distance: float
    focal_factor: float
    condition: str  # one of SDS_CONDITIONS


@dataclasses.dataclass(frozen=True)
class GridSDSOptions:
    """configs/reconstruct.py `grid_sds` (and `sds.condition`, shared by both priors)."""

    guidance: float
    min_t: float
    max_t: float
    condition: str  # one of SDS_CONDITIONS


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """configs/reconstruct.py `loss`."""

    mask: float
    hand_mask: float
    eikonal: float
    smooth: float
    hTo_offset: float
    hand_prior: float
    ray_hit: float
    contact: float
    penetration: float
    sds: float  # the 2D prior's SDS
    sds_grid: float  # the 3D prior's SDS
    part_contact: float = 0.0  # each grasping part within reach touches the surface
    carve: float = 0.0  # space seen as surely background is empty


@dataclasses.dataclass(frozen=True)
class ShapeOptions:
    """configs/reconstruct.py top level: the terms that shape what no mask sees."""

    contact_reach: float = 0.02  # m: a hand part this close to the surface should touch it
    carve_points: int = 1024  # uniform points of the bounding sphere per step


@dataclasses.dataclass(frozen=True)
class Objective:
    render: RenderOptions
    sampling: SamplingOptions
    sds: SDSOptions
    grid_sds: GridSDSOptions
    weights: LossWeights
    shape: ShapeOptions = ShapeOptions()

    @classmethod
    def from_config(cls, config) -> "Objective":
        steps = config.num_steps
        return cls(render=options_from(RenderOptions, config.render, num_steps=steps),
                   sampling=options_from(SamplingOptions, config),
                   sds=options_from(SDSOptions, config.sds, num_steps=steps),
                   grid_sds=options_from(GridSDSOptions, config.grid_sds,
                                         condition=config.sds.condition),
                   weights=options_from(LossWeights, config.loss),
                   shape=options_from(ShapeOptions, config))


def object_layer(sdf_params, cTo, rays_c, key, render: RenderOptions):
    """Volume-renders the object SDF along camera rays through the camera centre,
    directions rays_c (N,3) in the camera frame; cTo (4,4) object -> camera."""
    oTc = invert_rigid(cTo)
    dirs_o = apply_to_directions(oTc, rays_c)
    origins_o = jnp.broadcast_to(oTc[:3, 3], dirs_o.shape)
    return render_sdf(sdf_value, sdf_params, origins_o, dirs_o, beta=render.beta, key=key,
                      bound_center=sdf_params["center"], bound_radius=render.bound_radius,
                      num_samples=render.num_samples, num_importance=render.num_importance,
                      sdf_to_camera=cTo, chunk=4096, surface=render.surface)


def uniform_ball(k_dir, k_rad, num_points, center, radius):
    """(num_points, 3) points drawn uniformly in the ball of `radius` around center (3,):
    their directions drawn with k_dir, their radii with k_rad."""
    dirs = safe_normalize(jax.random.normal(k_dir, (num_points, 3)))
    radii = radius * jax.random.uniform(k_rad, (num_points, 1)) ** (1 / 3)
    return center + dirs * radii


def sample_eikonal_points(ray_points, center, key, num_points, bound_radius):
    """(num_points // 2 * 2, 3) points for the eikonal term: half drawn from the ray
    samples ray_points (N,S,3) (near the surface, where the renderer looks), half uniform
    in the bounding sphere around `center` (where a flat, nearly-zero field would render
    as fog that the mesh does not have). A subset because the term needs second
    derivatives of the MLP: on all N*S samples it would double the cost of a step."""
    k_pick, k_dir, k_rad = jax.random.split(key, 3)
    n = num_points // 2
    flat = jax.lax.stop_gradient(ray_points.reshape(-1, 3))
    near = flat[jax.random.choice(k_pick, flat.shape[0], (min(n, flat.shape[0]),),
                                  replace=False)]
    return jnp.concatenate([near, uniform_ball(k_dir, k_rad, n,
                                               jax.lax.stop_gradient(center), bound_radius)])


def eikonal_term(sdf_params, points):
    """The eikonal loss of the field at points (N,3)."""
    grads = jax.vmap(jax.grad(lambda p: sdf_value(sdf_params, p)))(points)
    return losses.eikonal_loss(grads)


def _render_frame(params, data: ClipData, faces, verts_h, cTh, K, hTo, frame, k_pix, k_vol,
                  sigma, render: RenderOptions, sampling: SamplingOptions):
    """Mask losses (object, hand) and the ray-hit loss of one frame at `rays_per_frame`
    random pixels, and the object's ray samples (N,S,3) in the object frame; sigma: the
    hand's softness at this step."""
    size = render.image_size
    hand = hand_layer(apply_to_points(cTh[frame], verts_h[frame]), faces, K[frame], size,
                      sigma, render.sigma, render.faces_per_pixel)
    pix = jax.random.choice(k_pix, size * size, (sampling.rays_per_frame,), replace=False,
                            p=data.ray_weights[frame])
    _, dirs = pixel_rays(K[frame], (size, size))
    obj = object_layer(params["sdf"], cTh[frame] @ hTo[frame], dirs.reshape(-1, 3)[pix],
                       k_vol, render)
    flat = lambda x: x.reshape((size * size,) + x.shape[2:])[pix]  # noqa: E731
    hand_px = dict(mask=flat(hand["mask"]), depth=flat(hand["depth"]),
                   normal=flat(hand["normal"]))
    composed = compose_layers(hand_px, obj)
    obj_mask = flat(data.obj_mask[frame])
    masks = losses.mask_losses(composed, obj_mask, flat(data.hand_mask[frame]))
    sure = (obj_mask > SURE_OBJECT) & obj["hit"]
    return masks + (losses.ray_hit_loss(obj["sdf"], sure),), obj["points"]


def render_frames(params, data: ClipData, faces, verts_h, hTo, key, step,
                  render: RenderOptions, sampling: SamplingOptions) -> dict:
    """Renders `frames_per_step` random frames (F): verts_h (T,V,3) the hand's vertices in
    the hand frame, faces (F,3), hTo (T,4,4) the object poses, step the fit's step (the
    hand's softness anneals from render.sigma to render.sigma_end). Returns mask (F,),
    hand_mask (F,) and ray_hit (F,): the mask and ray-hit losses at the sampled pixels;
    points (F,N,S,3): the object's
    ray samples (object frame); eikonal_keys (F,): a key per frame for the eikonal points."""
    T = data.obj_mask.shape[0]
    k_frames, k_pix, k_vol = jax.random.split(key, 3)
    frames = jax.random.choice(k_frames, T, (sampling.frames_per_step,), replace=False)
    cTh = scene.cTh_matrices(params, data.cTh0)
    K = scene.intrinsics(params, data.K0)
    sigma = sigma_schedule(step, render.num_steps, render.sigma, render.sigma_end)

    def one(frame, k_pix, k_vol):
        (obj, hand, ray_hit), points = _render_frame(
            params, data, faces, verts_h, cTh, K, hTo, frame, k_pix, k_vol, sigma, render,
            sampling)
        return dict(mask=obj, hand_mask=hand, ray_hit=ray_hit, points=points,
                    eikonal_keys=jax.random.fold_in(k_vol, 1))

    keys_pix = jax.random.split(k_pix, sampling.frames_per_step)
    keys_vol = jax.random.split(k_vol, sampling.frames_per_step)
    return jax.vmap(one)(frames, keys_pix, keys_vol)


def eikonal_on_samples(sdf_params, points, keys, sampling: SamplingOptions,
                       render: RenderOptions):
    """The eikonal term, mean over frames: per frame at `sample_eikonal_points` drawn from
    its ray samples points (F,N,S,3) and its bounding sphere with its key (F,)."""
    def one(points, key):
        x = sample_eikonal_points(points, sdf_params["center"], key,
                                  sampling.eikonal_points, render.bound_radius)
        return eikonal_term(sdf_params, x)

    return jnp.mean(jax.vmap(one)(points, keys))


def carve_term(params, data: ClipData, hTo, key, num_points, bound_radius):
    """The carving loss (`losses.carve_loss`) at num_points uniform points of the bounding
    sphere (object frame), each projected into every frame (hTo (T,4,4)) and checked
    against that frame's input masks (`losses.silhouette_free`). Moves the field only:
    which points are free is decided without gradient."""
    sdf_params = params["sdf"]
    points = uniform_ball(*jax.random.split(key), num_points,
                          jax.lax.stop_gradient(sdf_params["center"]), bound_radius)
    cTo = jax.lax.stop_gradient(scene.cTh_matrices(params, data.cTh0) @ hTo)  # (T,4,4)
    K = jax.lax.stop_gradient(scene.intrinsics(params, data.K0))
    uv, depth = project(apply_to_points(cTo, points), K)
    free = losses.silhouette_free(uv, depth, data.obj_mask, data.hand_mask)
    return losses.carve_loss(sdf_value(sdf_params, points), free)


def sds_condition(hand_image, tokens, condition: str):
    """The prior's condition for an SDS_CONDITIONS ablation: "full" keeps both,
    "text_only" replaces the hand image by an empty one, "hand_only" the prompt by the
    null prompt. hand_image (1,H,W,7), tokens (1,L)."""
    if condition == "text_only":
        hand_image = jnp.broadcast_to(jnp.asarray(HAND_BACKGROUND), hand_image.shape)
    elif condition == "hand_only":
        tokens = jnp.asarray(tokenize(""))[None]
    return dict(hand=hand_image, tokens=tokens)


def novel_view_images(params, faces, surface_code, verts_h, hTo, frame, k_rot, k_vol, size,
                      render: RenderOptions, opts: SDSOptions):
    """The object's (1,S,S,5) and the hand's (1,S,S,7) geometry images from a random
    viewpoint (drawn with k_rot) on a sphere around the hand of `frame` (the prior's
    training cameras); k_vol jitters the volume samples."""
    verts = jax.lax.stop_gradient(verts_h[frame])  # SDS never moves the hand mesh
    cTh, K = novel_view_camera(random_rotation(k_rot), verts.mean(0), opts.view_distance,
                               opts.focal_factor, size)
    hand = hand_layer(apply_to_points(cTh, verts), faces, K, size, opts.hand_sigma,
                      opts.hand_sigma, render.faces_per_pixel, attributes=surface_code)
    _, dirs = pixel_rays(K, (size, size))
    cTo = cTh @ hTo[frame]
    obj = object_layer(params["sdf"], cTo, dirs.reshape(-1, 3), k_vol, render)
    obj = jax.tree.map(lambda x: x.reshape((size, size) + x.shape[1:]),
                       dict(mask=obj["mask"], depth=obj["depth"], normal=obj["normal"]))
    ref = jax.lax.stop_gradient(reference_depth(hand["mask"], hand["depth"],
                                                fallback=opts.view_distance))
    return object_geometry_image(obj, ref)[None], hand_geometry_image(hand, ref)[None]


def sds_term(params, data: ClipData, model, verts_h, hTo, prior, prior_params, key, step,
             render: RenderOptions, opts: SDSOptions):
    """The SDS loss from one random novel view of a random frame; verts_h (T,V,3), hTo
    (T,4,4).
    prior: a `hoijax.priors.image.Prior` (its function, schedule and config);
    prior_params its parameters (an argument, so they are not baked into the program)."""
    T = data.obj_mask.shape[0]
    k_frame, k_rot, k_vol, k_sds = jax.random.split(key, 4)
    frame = jax.random.randint(k_frame, (), 0, T)
    x, hand_image = novel_view_images(
        params, np.asarray(model.faces), jnp.asarray(model.surface_code), verts_h, hTo,
        frame, k_rot, k_vol, prior.config.model.image_size, render, opts)
    cond = sds_condition(hand_image, data.tokens[None], opts.condition)
    max_t = annealed_max_t(step, opts.num_steps, opts.max_t_start, opts.max_t_end)
    loss, _ = sds_loss(prior.denoise, prior_params, prior.schedule, x, cond,
                       jnp.asarray(tokenize("")), k_sds, t_range=(opts.min_t, max_t),
                       guidance=opts.guidance, weights=opts.modality_weights,
                       prediction=prior.config.diffusion.prediction)
    return loss


def grid_condition(field, tokens, condition: str):
    """The grid prior's (field, tokens) for an SDS_CONDITIONS ablation: "text_only"
    replaces the hand field by "no hand" (zeros), "hand_only" the prompt by the null
    prompt. field (1,r,r,r,20), tokens (1,L)."""
    if condition == "text_only":
        field = jnp.zeros_like(field)
    elif condition == "hand_only":
        tokens = jnp.asarray(tokenize(""))[None]
    return field, tokens


def interaction_grid(sdf_params, hTo, joints, center, object_resolution,
                     field_resolution, half_extent):
    """One frame's interaction grid (docs/design.md §11): the object channel
    (R,R,R) of the SDF network seen through hTo (4,4) (differentiable w.r.t. both) and
    the hand's skeletal field (r,r,r,20) of joints (21,3) (hand frame, m) about the
    normalised frame's centre (3,) (held fixed)."""
    obj = object_grid(network_sdf(sdf_params), hTo, center, object_resolution, half_extent)
    joints_n = field_joints(jax.lax.stop_gradient(joints), center)
    return obj, skeletal_field(joints_n, grid_points(field_resolution, half_extent))


def grid_sds_term(params, data: ClipData, model, joints, hTo, grid_prior, grid_params, key,
                  opts: GridSDSOptions):
    """G-HOP's SDS in 3D (`latent_sds_loss`) on the interaction grid of one random frame:
    the object field sampled on the grid through that frame's hTo (T,4,4), encoded
    (pre-quantisation latent / latent_std), noised with the frame's hand field (joints
    (T,21,3)), denoised with the prompt, and pulled toward the estimate. Moves the object
    field and hTo, never the hand. grid_prior: a `GridPrior`; grid_params its
    {denoiser, autoencoder} parameters."""
    k_frame, k_sds = jax.random.split(key)
    frame = jax.random.randint(k_frame, (), 0, data.obj_mask.shape[0])
    ae = grid_prior.autoencoder
    center = jax.lax.stop_gradient(hand_frame_center(model, params["hand"]["beta"]))
    obj, field = interaction_grid(params["sdf"], hTo[frame], joints[frame], center,
                                  ae.config.model.resolution,
                                  grid_prior.config.model.resolution, grid_prior.half_extent)
    latent = ae.vq.encode(grid_params["autoencoder"], obj[None]) / ae.latent_std
    field, tokens = grid_condition(field[None], data.grid_tokens[None], opts.condition)
    loss, _ = latent_sds_loss(grid_prior.denoise, grid_params["denoiser"],
                              grid_prior.schedule, latent, field, dict(tokens=tokens),
                              jnp.asarray(tokenize("")), k_sds,
                              t_range=(opts.min_t, opts.max_t), guidance=opts.guidance,
                              prediction=grid_prior.config.diffusion.prediction)
    return loss


def sds_terms(params, data: ClipData, model, verts_h, joints, hTo, priors, prior_params, key,
              step, objective: Objective) -> dict:
    """The score distillation terms the weights ask for: `sds` (2D prior, novel view) when
    weights.sds > 0, `sds_grid` (3D prior, interaction grid) when weights.sds_grid > 0."""
    k_image, k_grid = jax.random.split(key)
    out = {}
    if objective.weights.sds > 0:
        out["sds"] = sds_term(params, data, model, verts_h, hTo, priors.image,
                              prior_params["image"], k_image, step, objective.render,
                              objective.sds)
    if objective.weights.sds_grid > 0:
        out["sds_grid"] = grid_sds_term(params, data, model, joints, hTo, priors.grid,
                                        prior_params["grid"], k_grid, objective.grid_sds)
    return out


def total_loss(params, data: ClipData, model, priors, prior_params, key, step,
               objective: Objective, with_sds):
    """(weighted total, dict of the unweighted terms) of one step. priors: a
    `hoijax.recon.priors.Priors`, prior_params its `params()` pytree. with_sds: False (no
    SDS terms), True, or a traced bool: then the terms are under `lax.cond` (0 when off),
    so one compiled program serves the steps with and without them."""
    k_rep, k_sds = jax.random.split(key)
    # Once per step, shared by the terms:
    verts_h, joints = scene.hand_vertices(model, params)
    hTo = scene.hTo_matrices(params)
    frames = render_frames(params, data, np.asarray(model.faces), verts_h, hTo, k_rep, step,
                           objective.render, objective.sampling)
    terms = dict(mask=jnp.mean(frames["mask"]), hand_mask=jnp.mean(frames["hand_mask"]),
                 ray_hit=jnp.mean(frames["ray_hit"]))
    terms["eikonal"] = eikonal_on_samples(params["sdf"], frames["points"],
                                          frames["eikonal_keys"], objective.sampling,
                                          objective.render)
    terms["smooth"] = losses.temporal_smoothness(joints, invert_rigid(hTo))
    terms["hand_prior"] = losses.hand_prior_loss(params["hand"]["hA"], data.hA0)
    terms["hTo_offset"] = losses.hTo_offset_penalty(params["hTo"]["frame_rot"],
                                                    params["hTo"]["frame_trans"])
    verts_o = apply_to_points(invert_rigid(hTo), verts_h)  # (T,V,3) object frame
    sdf_at_hand = sdf_value(params["sdf"], verts_o)
    terms["contact"], terms["penetration"] = losses.contact_losses(sdf_at_hand)
    shape, w = objective.shape, objective.weights
    if w.part_contact > 0:
        terms["part_contact"] = losses.part_contact_loss(
            sdf_at_hand, contact_regions(model), shape.contact_reach)
    if w.carve > 0:
        # Its own key, so that the other terms draw what they drew before it existed.
        terms["carve"] = carve_term(params, data, hTo, jax.random.fold_in(key, 2),
                                    shape.carve_points, objective.render.bound_radius)
    if with_sds is not False:
        def sds():
            return sds_terms(params, data, model, verts_h, joints, hTo, priors, prior_params,
                             k_sds, step, objective)
        if with_sds is True:
            terms.update(sds())
        else:
            off = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), jax.eval_shape(sds))
            terms.update(jax.lax.cond(with_sds, sds, lambda: off))
    total = sum(getattr(w, name) * value for name, value in terms.items())
    return total, terms
