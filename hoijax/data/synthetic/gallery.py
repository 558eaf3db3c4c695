"""Pictures of the synthetic world: several sampled objects of every category.

  python -m hoijax.data.synthetic.gallery --out experiments/results/categories.png

One row per category (its name on the left), `--per_category` objects (seeds 0, 1, ...)
rendered with `hoijax.viz.render_mesh` from the same oblique view and distance within a row,
so that sizes compare within a category (rows differ in scale).
"""
from __future__ import annotations

import numpy as np
from absl import flags

from hoijax import viz
from hoijax.data.synthetic.clips import OBJECT_COLORS
from hoijax.data.synthetic.objects import CATEGORIES, object_mesh, sample_params
from hoijax.geometry.camera import orbit_camera


def object_view(category, mesh, distance, size=160, azimuth=35.0, elevation=30.0):
    """(size,size,3) uint8: the object's mesh from an oblique view at `distance` metres."""
    verts = np.asarray(mesh.vertices)
    centre = 0.5 * (verts.min(0) + verts.max(0))
    cam = orbit_camera(centre, distance, azimuth, elevation, up=(0, 0, 1))
    colors = np.tile(OBJECT_COLORS[category], (len(verts), 1))
    return viz.render_mesh(verts, mesh.faces, cam, size=size, colors=colors)


def label(text, height, width=120) -> np.ndarray:
    """(height,width,3) uint8 white tile with `text` written on it."""
    fig = viz.new_figure((height, width))
    fig.text(0.05, 0.5, text, fontsize=11, va="center")
    return viz.figure_image(fig)[..., :3]


def gallery(categories=CATEGORIES, per_category=6, size=160) -> np.ndarray:
    """One row per category: its name and `per_category` sampled objects (seeds 0..)."""
    rows = []
    for category in categories:
        meshes = [object_mesh(category, sample_params(category, np.random.default_rng(s)),
                              spacing=0.002) for s in range(per_category)]
        distance = 1.3 * max(np.linalg.norm(m.extents) for m in meshes)
        tiles = [object_view(category, m, distance, size) for m in meshes]
        rows.append(np.concatenate([label(category, size)] + tiles, axis=1))
    return np.concatenate(rows, axis=0)


def main(argv):
    del argv
    # mediapy takes ~0.7 s to import; only the pictures need it.
    import mediapy
    out = flags.FLAGS.out
    image = gallery(per_category=flags.FLAGS.per_category, size=flags.FLAGS.size)
    mediapy.write_image(out, image)
    print(f"wrote {out}: {len(CATEGORIES)} categories x {flags.FLAGS.per_category}")


if __name__ == "__main__":
    from absl import app, flags
    flags.DEFINE_string("out", "experiments/results/categories.png", "Output PNG.")
    flags.DEFINE_integer("per_category", 6, "Objects (seeds 0..n-1) per category.")
    flags.DEFINE_integer("size", 160, "Tile size in pixels.")
    app.run(main)
