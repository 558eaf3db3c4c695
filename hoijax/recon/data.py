"""A clip as fitting reads it (`ClipData`): masks at the fitting resolution, the pixel
sampling probabilities, the prompt and the initial hand trajectory. Everything here is a
constant of the fit; what the optimiser moves is the scene (`hoijax.recon.scene`)."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import scipy.ndimage
import skimage.transform

from hoijax.data.synthetic.objects import canonical_category
from hoijax.geometry.camera import rescale_intrinsics
from hoijax.recon.trajectory import initialise_trajectory


@dataclasses.dataclass
class ClipData:
    """What fitting reads from a clip (all jnp, at the fitting resolution S x S)."""

    obj_mask: jnp.ndarray  # (T,S,S) area-averaged masks in [0, 1]
    hand_mask: jnp.ndarray
    cTh0: jnp.ndarray  # (T,4,4) initial hand -> camera (robustly smoothed tracker output)
    K0: jnp.ndarray  # (T,3,3) at S x S
    hA0: jnp.ndarray  # (T,45)
    beta0: jnp.ndarray  # (10,)
    tokens: jnp.ndarray  # (L,) the prompt (2D prior)
    grid_tokens: jnp.ndarray  # (L,) the prompt as the 3D prior spells it
    ray_weights: jnp.ndarray  # (T,S*S) pixel sampling probabilities (see `ray_weights`)


jax.tree_util.register_dataclass(
    ClipData, data_fields=[f.name for f in dataclasses.fields(ClipData)], meta_fields=[])


def prompt_category(name: str | None) -> str | None:
    """The canonical spelling of a known category ('ToyCar' -> 'toy car'), any other
    name unchanged (an unknown category gets the prior's null prompt)."""
    try:
        return canonical_category(name) if name else name
    except ValueError:
        return name


def ray_weights(obj_mask, hand_mask, focus=0.8, dilation=4) -> np.ndarray:
    """(T,S*S) probabilities of drawing each pixel as an object ray: `focus` of them fall
    on the hand and object masks dilated by `dilation` pixels (where the silhouettes are
    decided), the rest uniformly over the image (so stray geometry is seen and removed)."""
    out = []
    for o, h in zip(obj_mask, hand_mask):
        near = scipy.ndimage.binary_dilation((o > 0.5) | (h > 0.5), iterations=dilation)
        p = (1 - focus) / near.size + focus * near.ravel() / max(near.sum(), 1)
        out.append(p / p.sum())
    return np.stack(out).astype(np.float32)


def prepare_clip(clip, model, image_size: int, prompt_tokens, *, lam: float,
                 grid_tokens=None) -> tuple[ClipData, np.ndarray]:
    """A `hoijax.data.clip.Clip` at image_size x image_size: masks area-resampled, K
    rescaled, the hand trajectory robustly initialised (`trajectory.initialise_trajectory`
    with smoothing weight `lam`). Returns the ClipData and (T,) bool: the frames found to
    be tracker failures. grid_tokens: the 3D prior's prompt (default prompt_tokens)."""
    size = (image_size, image_size)
    resize = lambda m: skimage.transform.resize(  # noqa: E731
        m.astype(np.float32), size, order=1, anti_aliasing=True)
    init = initialise_trajectory(model, clip.cTh, clip.hA, clip.beta, lam=lam)
    K0 = rescale_intrinsics(jnp.asarray(clip.K, jnp.float32), clip.image_size, size)
    obj = np.stack([resize(m) for m in clip.obj_mask])
    hand = np.stack([resize(m) for m in clip.hand_mask])
    return ClipData(obj_mask=jnp.asarray(obj), hand_mask=jnp.asarray(hand),
                    ray_weights=jnp.asarray(ray_weights(obj, hand)),
                    cTh0=jnp.asarray(init["cTh"], jnp.float32), K0=K0,
                    hA0=jnp.asarray(clip.hA, jnp.float32),
                    beta0=jnp.asarray(clip.beta.mean(0), jnp.float32),
                    tokens=jnp.asarray(prompt_tokens),
                    grid_tokens=jnp.asarray(prompt_tokens if grid_tokens is None
                                            else grid_tokens)), init["failed"]
