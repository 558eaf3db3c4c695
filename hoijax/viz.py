"""Quick previews of meshes, in numpy: flat-shaded painter's-algorithm renders to RGB.

For looking at results (demo images, debugging), not for optimisation: the differentiable
renderers live in `hoijax.render`. Cameras: `hoijax.geometry.camera.look_at` and
`orbit_camera` (also importable from here, for older callers).
"""
from __future__ import annotations

import imageio_ffmpeg
import numpy as np
import skimage.draw
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hoijax.geometry.camera import look_at, orbit_camera  # noqa: F401  (re-exported)
from hoijax.geometry.transforms import apply_to_points


def render_mesh(verts, faces, cam_from_world, *, size=256, focal=None, colors=None,
                background=(255, 255, 255)) -> np.ndarray:
    """(size,size,3) uint8 flat-shaded render of a triangle mesh.

    verts (V,3) world; faces (F,3); cam_from_world 4x4; colors (V,3) in [0,1] or None.
    Faces are painted back to front, shaded by the cosine to a head light.
    """
    verts = np.asarray(verts, float)
    faces = np.asarray(faces)
    cam = apply_to_points(np.asarray(cam_from_world, float), verts)
    focal = focal or 1.2 * size
    z = np.maximum(cam[:, 2], 1e-6)
    px = np.stack([focal * cam[:, 0] / z + size / 2, focal * cam[:, 1] / z + size / 2], -1)
    tri = cam[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-12)
    view = -tri.mean(axis=1)
    view /= np.linalg.norm(view, axis=-1, keepdims=True)
    shade = np.abs((normal * view).sum(-1))
    base = np.full((len(faces), 3), 0.8) if colors is None else np.asarray(colors)[faces].mean(1)
    rgb = np.clip(base * (0.25 + 0.75 * shade[:, None]), 0, 1)
    image = np.empty((size, size, 3), np.uint8)
    image[:] = background
    order = np.argsort(-tri[:, :, 2].mean(axis=1))
    for fi in order:
        if np.any(tri[fi, :, 2] <= 1e-6):
            continue
        p = px[faces[fi]]
        rr, cc = skimage.draw.polygon(p[:, 1], p[:, 0], shape=(size, size))
        image[rr, cc] = (255 * rgb[fi]).astype(np.uint8)
    return image


def grid(images, cols) -> np.ndarray:
    """Tiles equally sized (H,W,3) images into rows of `cols`."""
    images = list(images)
    h, w, c = images[0].shape
    rows = -(-len(images) // cols)
    out = np.full((rows * h, cols * w, c), 255, np.uint8)
    for k, im in enumerate(images):
        r, q = divmod(k, cols)
        out[r * h:(r + 1) * h, q * w:(q + 1) * w] = im
    return out


def write_video(path, frames, fps=10) -> None:
    """Writes (T,H,W,3) uint8 frames as an mp4 with the ffmpeg that imageio-ffmpeg ships."""
    # mediapy takes ~0.7 s to import; only the pictures need it.
    import mediapy

    mediapy.set_ffmpeg(imageio_ffmpeg.get_ffmpeg_exe())
    mediapy.write_video(path, np.asarray(frames), fps=fps)


def code_colors(surface_code) -> np.ndarray:
    """(V,3) colours in [0,1] from the hand's 2-channel surface code (finger, palm/back)."""
    code = np.asarray(surface_code, float)
    finger = 0.5 + 0.5 * code[:, 0]
    back = 0.5 + 0.5 * code[:, 1]
    return np.stack([0.35 + 0.6 * finger, 0.3 + 0.6 * back, 0.95 - 0.6 * finger], -1)


def plot_curves(series: dict, size=(240, 480), log=True, title=None,
                xlabel="step") -> np.ndarray:
    """(H,W,3) uint8 line plot (matplotlib, headless) of named curves
    {name: (x (N,), y (N,))}: a legend with the names, labelled axes, log-scaled y by
    default (values <= 0 cannot be drawn there and are left out); series with fewer than 20
    points (evaluations) get a marker at every point."""
    fig = new_figure(size)
    ax = fig.add_subplot()
    for name, (x, y) in series.items():
        x, y = np.asarray(x, float), np.asarray(y, float)
        keep = np.isfinite(y) & ((y > 0) if log else True)
        if keep.any():
            ax.plot(x[keep], y[keep], label=name, lw=1.2, marker="o" if len(x) < 20 else None,
                    ms=3)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel, fontsize=7)
    ax.tick_params(labelsize=6)
    ax.grid(alpha=0.3, lw=0.5)
    if title:
        ax.set_title(title, fontsize=8)
    if ax.lines:
        ax.legend(fontsize=6, ncol=2, loc="best", framealpha=0.8)
    fig.tight_layout(pad=0.4)
    return figure_image(fig)


def new_figure(size):
    """A headless matplotlib Figure of size (H, W) pixels (no pyplot: no global backend,
    no windows)."""
    h, w = size
    fig = Figure(figsize=(w / 100, h / 100), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def figure_image(fig) -> np.ndarray:
    """(H,W,3) uint8 pixels of a `new_figure`."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def titled_grid(cells, per_row: int, size: int, loc: str = "center", top: float = 0.97,
                hspace: float = 0.08) -> np.ndarray:
    """(H,W,3) uint8: `cells` (title, image (size,size,3)) laid out `per_row` to a row,
    each titled above in small type."""
    rows = -(-len(cells) // per_row)
    fig = new_figure((rows * (size + 18), per_row * size))
    for k, (title, image) in enumerate(cells):
        ax = fig.add_subplot(rows, per_row, k + 1)
        ax.imshow(image)
        ax.set_axis_off()
        ax.set_title(title, fontsize=7, pad=1, loc=loc)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=top, wspace=0.02, hspace=hspace)
    return figure_image(fig)
