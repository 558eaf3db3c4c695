"""Volume rendering of any signed distance field, NeuS- or VolSDF-style (pure functions).

The public entry point is `render_sdf(sdf_fn, params, origins, directions, ...)`. It renders
the geometry images the reconstruction needs (mask, camera-frame depth and normal) plus the
per-sample quantities an eikonal loss needs. Everything is pure `jax.numpy`: it jits, vmaps
and differentiates (including the second-derivative path through the normals).

Conventions:
- `sdf_fn(params, x)` maps ONE point x (3,) in frame f to a scalar signed distance ()
  (negative inside). It is vmapped here, so any scalar SDF works; a batched SDF that also
  accepts a single (3,) point works too.
- Rays live in the same frame f as the SDF: origins (..., 3), directions (..., 3) of unit
  length (ray parameters t are then metres). `sdf_to_camera` = cTf (4, 4) maps frame f to the
  camera frame (None = f is the camera frame); depth is the camera-frame z of the samples and
  normals are rotated into the camera frame.
- Opacity, `surface="neus"` (the default; docs/design.md section 6, "unbiased surfaces"):
  between consecutive samples i, i+1 the optical depth is
  tau_i = max(log Phi(f_i / beta) - log Phi(f_{i+1} / beta), 0), Phi the logistic
  sigmoid (NeuS's discrete opacity, alpha_i = 1 - exp(-tau_i), in log space). A ray's
  opacity telescopes to 1 - Phi(f_min / beta) / Phi(f_start / beta): it is 0.5 where the
  ray just touches the surface (f_min = 0), so the rendered silhouette is the true one, and
  a ray that never crosses zero stays transparent however close it passes.
  `surface="volsdf"`: sigma(x) = Psi_beta(-sdf(x)) / beta, Psi_beta the zero-mean Laplace
  CDF. Its silhouette is biased outward: a ray passing at distance d from a surface of
  curvature radius r collects ~0.5 sqrt(2 pi r / beta) exp(-d / beta) of optical depth, so
  rays up to ~2 beta outside the surface turn opaque (measured in docs/design.md).
- Quadrature: sample i stands for the interval between the midpoints to its neighbours; the
  first interval starts at t_near and the last ends at t_far (no "infinite" last interval),
  so the deltas of a ray add up to t_far - t_near.
- Sampling: `num_samples` stratified samples in [t_near, t_far], plus `num_importance`
  inverse-CDF samples from the coarse samples' weights; sample positions carry no
  gradient (the proposal reads the coarse values under stop_gradient). The SDF is
  evaluated once per sample: the coarse values drive the proposal and the rendering.
"""
import functools

import jax
import jax.numpy as jnp

from hoijax.geometry.math import TINY, safe_normalize, safe_sqrt
from hoijax.geometry.transforms import apply_to_directions, apply_to_points

# Opacity below which the un-premultiplied depth fades linearly to 0 instead of dividing by
# a vanishing opacity (bounds its gradient at silhouette rims).
MIN_OPACITY = 1e-2

# ------------------------------------------------------------------------ ray bounds


def ray_sphere_interval(origins, directions, center, radius, near_min=0.0):
    """Where rays cross a sphere, clipped to t >= near_min.

    origins (..., 3), directions (..., 3) unit length, center (3,), radius () ->
    (t_near (...), t_far (...), hit (...) bool). Rays that miss the sphere (or whose whole
    crossing lies before near_min) get hit = False and t_near = t_far = near_min.
    Uses the closest-approach form r^2 - |perp|^2, accurate for far-away origins.
    """
    oc = origins - jnp.asarray(center, origins.dtype)
    t_mid = -jnp.sum(oc * directions, axis=-1)
    perp = oc + t_mid[..., None] * directions
    half_sq = jnp.square(radius) - jnp.sum(perp * perp, axis=-1)
    half = safe_sqrt(half_sq)
    t_far = t_mid + half
    hit = (half_sq > 0) & (t_far > near_min)
    t_near = jnp.where(hit, jnp.maximum(t_mid - half, near_min), near_min)
    t_far = jnp.where(hit, t_far, near_min)
    return t_near, t_far, hit


# --------------------------------------------------------------------------- density


def laplace_cdf(s, beta):
    """CDF of a zero-mean Laplace distribution with scale beta. s (...), beta () -> (...).

    Psi(s) = 0.5 exp(s / beta) for s <= 0, 1 - 0.5 exp(-s / beta) otherwise. exp only sees
    non-positive arguments (never overflows), and the derivative at s = 0 is the exact
    0.5 / beta; values and gradients (in s and beta > 0) are finite everywhere.
    """
    neg = s <= 0
    tail = 0.5 * jnp.exp(jnp.where(neg, s, -s) / beta)
    return jnp.where(neg, tail, 1.0 - tail)


def volsdf_density(sdf, beta):
    """VolSDF density sigma = Psi_beta(-sdf) / beta (1/m). sdf (...), beta () -> (...)."""
    return laplace_cdf(-sdf, beta) / beta


# -------------------------------------------------------------------------- sampling


def stratified_samples(t_near, t_far, u):
    """Stratified ray parameters: sample i = t_near + (i + u_i) / S (t_far - t_near).

    t_near, t_far (...), u (..., S) in [0, 1) (0.5 gives bin midpoints) -> t (..., S), sorted.
    """
    num = u.shape[-1]
    frac = (jnp.arange(num, dtype=u.dtype) + u) / num
    return t_near[..., None] + frac * (t_far - t_near)[..., None]


def interval_edges(t, t_near, t_far):
    """Edges of the intervals the samples stand for: midpoints, closed by t_near / t_far.

    t (..., S) sorted, t_near, t_far (...) -> edges (..., S + 1).
    """
    mids = 0.5 * (t[..., 1:] + t[..., :-1])
    return jnp.concatenate([t_near[..., None], mids, t_far[..., None]], axis=-1)


def dilate_weights(t, t_near, t_far, weights):
    """Spreads each sample's weight over the two sample-to-sample intervals around it.

    A sharp surface can lie anywhere between the samples before and after the sample that
    takes its weight, so the resampling pdf gives interval [t_{i-1}, t_i] the mass
    max(w_{i-1}, w_i) (mip-NeRF's max dilation). t (..., S) sorted, t_near, t_far (...),
    weights (..., S) -> (edges (..., S + 2), interval weights (..., S + 1)) for `sample_pdf`.
    """
    edges = jnp.concatenate([t_near[..., None], t, t_far[..., None]], axis=-1)
    padded = jnp.concatenate([weights[..., :1], weights, weights[..., -1:]], axis=-1)
    return edges, jnp.maximum(padded[..., :-1], padded[..., 1:])


def sample_pdf(edges, weights, u, padding=1e-5):
    """Inverse-CDF samples of the piecewise-constant density given by per-bin weights.

    edges (..., S + 1) increasing, weights (..., S) >= 0, u (..., I) in [0, 1) ->
    t (..., I), non-decreasing when u is. `padding` is added to every weight so that rays
    with all-zero weights sample their bins uniformly. Not meant to be differentiated.
    """
    w = weights + padding
    cdf = jnp.cumsum(w, axis=-1) / jnp.sum(w, axis=-1, keepdims=True)
    zero, one = jnp.zeros_like(cdf[..., :1]), jnp.ones_like(cdf[..., :1])
    cdf = jnp.concatenate([zero, jnp.minimum(cdf[..., :-1], 1.0), one], axis=-1)
    idx = jnp.sum(u[..., :, None] >= cdf[..., None, 1:-1], axis=-1)  # (..., I) in [0, S-1].
    cdf_lo = jnp.take_along_axis(cdf, idx, axis=-1)
    cdf_hi = jnp.take_along_axis(cdf, idx + 1, axis=-1)
    edge_lo = jnp.take_along_axis(edges, idx, axis=-1)
    edge_hi = jnp.take_along_axis(edges, idx + 1, axis=-1)
    frac = jnp.clip((u - cdf_lo) / jnp.maximum(cdf_hi - cdf_lo, TINY), 0.0, 1.0)
    return edge_lo + frac * (edge_hi - edge_lo)


# ------------------------------------------------------------------------ compositing


def alpha_weights(sigma, deltas):
    """Alpha-compositing weights along rays.

    sigma (..., S) densities, deltas (..., S) interval lengths -> (weights (..., S),
    transmittance (..., S)) with alpha_i = 1 - exp(-sigma_i delta_i),
    T_i = exp(-sum_{j<i} sigma_j delta_j), w_i = alpha_i T_i; sum_i w_i = 1 - T_end.
    """
    sd = sigma * deltas
    alpha = -jnp.expm1(-sd)
    excl = jnp.concatenate([jnp.zeros_like(sd[..., :1]), jnp.cumsum(sd[..., :-1], -1)], -1)
    trans = jnp.exp(-excl)
    return alpha * trans, trans


def composite(weights, values):
    """Weighted sum over samples. weights (..., S), values (..., S) or (..., S, C) ->
    (...) or (..., C)."""
    if values.ndim == weights.ndim:
        return jnp.sum(weights * values, axis=-1)
    return jnp.sum(weights[..., None] * values, axis=-2)


def neus_optical_depth(sdf, beta):
    """NeuS's discrete opacity in log space: sdf (..., S) at sorted samples, beta () or
    broadcastable (logistic scale, metres) -> tau (..., S): tau_i for the interval from
    sample i to i + 1 (the last is 0), alpha_i = 1 - exp(-tau_i).

    tau_i = max(log Phi(f_i / beta) - log Phi(f_{i+1} / beta), 0): only where the field
    decreases along the ray (entering the surface) does the ray lose light. log_sigmoid
    keeps deep-inside samples (Phi ~ 0) finite, values and gradients."""
    log_phi = jax.nn.log_sigmoid(sdf / beta)
    tau = jnp.maximum(log_phi[..., :-1] - log_phi[..., 1:], 0.0)
    return jnp.concatenate([tau, jnp.zeros_like(tau[..., :1])], axis=-1)


def surface_weights(sdf, t, t_near, t_far, beta, surface):
    """Compositing weights (..., S) of sorted samples t (..., S) with field values sdf
    (..., S) on rays clipped to [t_near, t_far] (...), for `surface` "neus" or "volsdf"."""
    if surface == "neus":
        weights, _ = alpha_weights(neus_optical_depth(sdf, beta), jnp.ones_like(sdf))
    else:
        deltas = jnp.diff(interval_edges(t, t_near, t_far), axis=-1)
        weights, _ = alpha_weights(volsdf_density(sdf, beta), deltas)
    return weights


def neus_crossings(sdf, t):
    """Where each NeuS interval's light is taken: t (..., S) -> (..., S). For an interval
    that crosses zero (f_i > 0 >= f_{i+1}) the linear zero crossing, else its midpoint
    (the last sample stays put; its weight is 0). Depth from these points is unbiased to
    first order, where the samples themselves would be half a spacing off."""
    f0, f1 = sdf[..., :-1], sdf[..., 1:]
    t0, t1 = t[..., :-1], t[..., 1:]
    frac = jnp.where((f0 > 0) & (f1 <= 0), f0 / jnp.maximum(f0 - f1, TINY), 0.5)
    mid = t0 + jnp.clip(frac, 0.0, 1.0) * (t1 - t0)
    return jnp.concatenate([mid, t[..., -1:]], axis=-1)


# --------------------------------------------------------------------- SDF evaluation


def _sdf_and_gradient(sdf_fn, params, points):
    """SDF and its x-gradient at points (..., 3) -> ((...), (..., 3))."""
    flat = points.reshape(-1, 3)
    value_grad = jax.vmap(jax.value_and_grad(lambda x: sdf_fn(params, x)))
    sdf, grad = value_grad(flat)
    return sdf.reshape(points.shape[:-1]), grad.reshape(points.shape)


def _ray_points(origins, directions, t):
    """origins, directions (N, 3), t (N, S) -> points (N, S, 3)."""
    return origins[:, None, :] + t[..., None] * directions[:, None, :]


def _importance_samples(sdf, beta, t, t_near, t_far, u):
    """Hierarchical resampling from the coarse pass (no gradient).

    sdf, t (N, S) the field at the coarse samples, u (N, I) jitter in [0, 1) (sample j
    uses the quantile (j + u_j) / I) -> the fine samples t (N, I), unsorted. Whatever
    `surface` renders, the proposal is VolSDF's density at a softness of at least half
    the sample spacing: it puts mass on every sample near the surface (NeuS weights only
    decreasing intervals, and miss a 2 mm blade that lies between two coarse samples at
    equal distance), and a sharp surface between two coarse samples (a thin part, a
    grazing ray) still draws fine samples.
    """
    sdf, beta = jax.lax.stop_gradient((sdf, beta))
    spacing = (t_far - t_near) / t.shape[-1]
    coarse_beta = jnp.maximum(beta, 0.5 * spacing)[:, None]
    weights = surface_weights(sdf, t, t_near, t_far, coarse_beta, "volsdf")
    u = (jnp.arange(u.shape[-1], dtype=u.dtype) + u) / u.shape[-1]  # Stratified in [0, 1).
    return jax.lax.stop_gradient(sample_pdf(*dilate_weights(t, t_near, t_far, weights), u))


def _merge_sorted(t, t_fine, *values):
    """The coarse and fine samples merged in order of t: t (N, S), t_fine (N, I), and
    per-sample values (N, S, ...) and (N, I, ...) in pairs -> (N, S + I, ...) each."""
    t_all = jnp.concatenate([t, t_fine], axis=-1)
    order = jnp.argsort(t_all, axis=-1)
    out = [jnp.take_along_axis(t_all, order, axis=-1)]
    for coarse, fine in zip(values[::2], values[1::2]):
        both = jnp.concatenate([coarse, fine], axis=1)
        index = order.reshape(order.shape + (1,) * (both.ndim - 2))
        out.append(jnp.take_along_axis(both, index, axis=1))
    return out


def _to_camera(sdf_to_camera, points, normals):
    """Camera-frame z of points (N, S, 3) and normals rotated into the camera frame."""
    if sdf_to_camera is None:
        return points[..., 2], normals
    shape = points.shape
    z = apply_to_points(sdf_to_camera, points.reshape(-1, 3))[..., 2].reshape(shape[:-1])
    normals = apply_to_directions(sdf_to_camera, normals.reshape(-1, 3)).reshape(shape)
    return z, normals


# ------------------------------------------------------------------------- rendering


def _render_rays(sdf_fn, consts, rays, *, near_min, surface):
    """Renders a flat batch of rays; see `render_sdf` for the outputs.

    consts = (params, beta, sdf_to_camera, bound_center, bound_radius);
    rays = (origins (N, 3), directions (N, 3), u_coarse (N, S), u_fine (N, I)).
    """
    params, beta, sdf_to_camera, center, radius = consts
    origins, directions, u_coarse, u_fine = rays
    t_near, t_far, hit = ray_sphere_interval(origins, directions, center, radius, near_min)
    t = jax.lax.stop_gradient(stratified_samples(t_near, t_far, u_coarse))
    sdf, grad = _sdf_and_gradient(sdf_fn, params, _ray_points(origins, directions, t))
    if u_fine.shape[-1] > 0:
        # The coarse samples' values (differentiable) also drive the resampling, so the
        # field is evaluated once per sample, not a second time for the proposal.
        t_fine = _importance_samples(sdf, beta, t, t_near, t_far, u_fine)
        sdf_fine, grad_fine = _sdf_and_gradient(sdf_fn, params,
                                                _ray_points(origins, directions, t_fine))
        t, sdf, grad = _merge_sorted(t, t_fine, sdf, sdf_fine, grad, grad_fine)
    points = _ray_points(origins, directions, t)
    weights = surface_weights(sdf, t, t_near, t_far, beta, surface)
    weights = jnp.where(hit[:, None], weights, 0.0)
    normals = safe_normalize(grad)
    if surface == "neus":  # an interval's light comes from its crossing, normal averaged
        t_light = jax.lax.stop_gradient(neus_crossings(sdf, t))
        normals = jnp.concatenate([normals[:, :-1] + normals[:, 1:], normals[:, -1:]], 1)
        z, normals = _to_camera(sdf_to_camera, _ray_points(origins, directions, t_light),
                                safe_normalize(normals))
    else:
        t_light = t
        z, normals = _to_camera(sdf_to_camera, points, normals)
    mask = jnp.sum(weights, axis=-1)
    return {
        "mask": mask, "opacity": mask,
        # Layer convention shared with the rasterizer and `compose`: the surface's own depth
        # and unit normal, not premultiplied by the opacity (which `mask` carries).
        "depth": composite(weights, z) / jnp.maximum(mask, MIN_OPACITY),
        "normal": safe_normalize(composite(weights, normals)),
        "depth_premultiplied": composite(weights, z),
        "expected_t": composite(weights, t_light),
        "weights": weights, "t": t, "points": points, "sdf": sdf, "sdf_gradients": grad,
        "hit": hit, "t_near": t_near, "t_far": t_far,
    }


def _map_in_chunks(fn, consts, rays, chunk, remat):
    """fn(consts, rays) over rays (a tuple of (N, ...) arrays), `chunk` rays per lax.map step.

    N is padded up to a multiple of chunk by repeating the last ray (a valid ray, so the
    discarded padding never produces non-finite values); outputs are cut back to N.
    """
    n = rays[0].shape[0]
    if n <= chunk:
        return fn(consts, rays)
    body = jax.checkpoint(fn) if remat else fn
    num = -(-n // chunk)

    def split(x):
        x = jnp.pad(x, [(0, num * chunk - n)] + [(0, 0)] * (x.ndim - 1), mode="edge")
        return x.reshape((num, chunk) + x.shape[1:])

    out = jax.lax.map(lambda r: body(consts, r), tuple(split(x) for x in rays))
    return jax.tree.map(lambda x: x.reshape((num * chunk,) + x.shape[2:])[:n], out)


def _jitter(key, n, num_samples, num_importance):
    """Uniforms for stratified / importance sampling: (N, S), (N, I); 0.5 if key is None."""
    if key is None:
        return (jnp.full((n, num_samples), 0.5, jnp.float32),
                jnp.full((n, num_importance), 0.5, jnp.float32))
    k_coarse, k_fine = jax.random.split(key)
    return (jax.random.uniform(k_coarse, (n, num_samples), jnp.float32),
            jax.random.uniform(k_fine, (n, num_importance), jnp.float32))


def render_sdf(sdf_fn, params, origins, directions, *, beta, bound_center, bound_radius,
               key=None, near_min=0.0, num_samples=64, num_importance=32,
               sdf_to_camera=None, chunk=4096, remat=True, surface="neus"):
    """Volume-renders the zero level set of `sdf_fn(params, .)` along rays.

    Args:
      sdf_fn: `sdf_fn(params, x)`, x (3,) in frame f -> signed distance () (negative
        inside, metres). Called on single points through vmap; differentiated in x for
        normals, so gradients of the outputs w.r.t. params use its second derivatives.
      params: any pytree, passed to sdf_fn.
      origins, directions: (..., 3) rays in frame f; directions must be unit length.
      beta: the surface's softness (metres): NeuS's logistic scale 1/s, or VolSDF's Laplace
        scale; a float, or a jnp scalar that may be traced (scheduled) or differentiated
        (learned). Must be > 0. Required, as are the bounds: a value that suits one scene
        renders another poorly (hand-held objects: 1-2 mm, a sphere of ~0.15 m).
      key: PRNG key for jittered stratified / importance samples (training); None gives
        deterministic bin midpoints. Results do not depend on `chunk`.
      bound_center, bound_radius: bounding sphere (frame f) that clips every ray; rays
        that miss it get exactly zero mask, depth and normal. Samples are spread over
        the sphere, so a tight one buys resolution.
      near_min: rays start at t >= near_min.
      num_samples: stratified samples per ray (static).
      num_importance: inverse-CDF samples per ray from the coarse weights (static; 0 = off).
      sdf_to_camera: cTf (4, 4) rigid, or None when frame f is the camera frame.
      chunk: rays per `lax.map` step (static); bounds memory for large ray batches.
      remat: rematerialise each chunk in the backward pass (when N > chunk), so gradient
        memory is one chunk's, not the whole batch's.
      surface: "neus" (unbiased silhouette and depth) or "volsdf" (see the module doc).

    Returns a dict, with B = origins.shape[:-1] and S = num_samples + num_importance:
      mask, opacity (B): sum of weights. depth (B): camera-frame z of the surface,
      sum_i w_i z_i / max(mask, MIN_OPACITY) (z_i the camera-frame z of sample i; 0 where
      nothing is hit; fades to 0 below MIN_OPACITY). normal (B, 3): the unit direction of
      sum_i w_i n_i, n_i the unit SDF gradient in the camera frame (0 where nothing is hit).
      Both follow the layer convention of `rasterize` and `compose` (not premultiplied);
      depth_premultiplied (B) is sum_i w_i z_i. expected_t (B): sum_i w_i t_i.
      weights, t, sdf (B, S); points,
      sdf_gradients (B, S, 3) in frame f (for an eikonal loss); hit, t_near, t_far (B).
    """
    if surface not in ("neus", "volsdf"):
        raise ValueError(f"surface={surface!r}: must be 'neus' or 'volsdf'")
    batch_shape = origins.shape[:-1]
    origins = jnp.asarray(origins, jnp.float32).reshape(-1, 3)
    directions = jnp.asarray(directions, jnp.float32).reshape(-1, 3)
    u_coarse, u_fine = _jitter(key, origins.shape[0], num_samples, num_importance)
    consts = (params, jnp.asarray(beta, jnp.float32),
              None if sdf_to_camera is None else jnp.asarray(sdf_to_camera, jnp.float32),
              jnp.asarray(bound_center, jnp.float32), jnp.asarray(bound_radius, jnp.float32))
    fn = functools.partial(_render_rays, sdf_fn, near_min=near_min, surface=surface)
    out = _map_in_chunks(fn, consts, (origins, directions, u_coarse, u_fine), chunk, remat)
    return jax.tree.map(lambda x: x.reshape(batch_shape + x.shape[1:]), out)
