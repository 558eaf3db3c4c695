"""An object's SDF sampled once on a regular grid in its own frame, and read back by
trilinear interpolation (docs/design.md §11.1): what grasp synthesis optimises against.

Grasp synthesis moves the object in the hand frame hundreds of times per seed; the
brute-force mesh SDF (`object_grid.mesh_sdf`) costs O(points x faces) per call, so a mesh
becomes an `SdfVolume` first: distances from a KD-tree over dense surface samples, signs
from the outward normals of the nearest samples (majority of 8) within 1 cm of the
surface, a distance transform and connected components beyond it, on a cube of 112^3
points around the object's box plus a margin beyond the interaction grid's truncation
band (4.5 cm): 1.7 mm spacing for a 10 cm object, 3.5 mm for a 30 cm one. Every volume
has the same shape, so the grasp optimisation compiles once for all objects. Reading it
back (`sample`) is pure jnp: it jits, vmaps and differentiates with respect to the query
points (the object pose).

`load_object_mesh` is the checked loader of the CLIs: a missing, empty, unfixable
non-watertight or absurdly sized mesh is refused with a clear message before any work.
"""
from __future__ import annotations

import os

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

MARGIN = 0.045  # m beyond the object's box (the grid channel saturates 4 cm out)
MIN_SIZE = 0.01  # m: smallest accepted largest extent (1 cm)
MAX_SIZE = 1.0  # m: largest accepted largest extent (hand-held objects)
VOLUME_SIZE = 112  # points per side of every volume (1.7 mm for a 10 cm object)


class MeshError(ValueError):
    """An object mesh that cannot be used (the message says why and what to do)."""


@flax.struct.dataclass
class SdfVolume:
    """values (X,Y,Z) signed distances (m, negative inside) at origin + spacing * (i,j,k)
    in the object frame."""

    values: jax.Array
    origin: jax.Array  # (3,) metres
    spacing: jax.Array  # () metres

    @property
    def center(self):
        """(3,) the box centre (object frame, m)."""
        shape = jnp.asarray(self.values.shape, jnp.float32)
        return self.origin + 0.5 * (shape - 1) * self.spacing


def sample(volume: SdfVolume, x):
    """(...,3) object-frame points (m) -> (...) SDF (m), trilinear; outside the box the
    border value plus the distance to the box (an upper-bound-preserving extension)."""
    x = jnp.asarray(x, jnp.float32)
    shape = jnp.asarray(volume.values.shape, jnp.float32)
    coords = (x - volume.origin) / volume.spacing
    inside = jnp.clip(coords, 0.0, shape - 1.0)
    flat = inside.reshape(-1, 3)
    vals = jax.scipy.ndimage.map_coordinates(volume.values, [flat[:, 0], flat[:, 1],
                                                             flat[:, 2]], order=1)
    outside = jnp.sqrt(jnp.sum((coords - inside) ** 2, -1) + 1e-12) * volume.spacing
    outside = jnp.where(jnp.any(coords != inside, -1), outside, 0.0)
    return vals.reshape(x.shape[:-1]) + outside


def cube_grid(lo, hi, size=VOLUME_SIZE):
    """(size,size,size,3) points of a cube of `size` points per side around the box
    [lo, hi] plus MARGIN (every volume has the same shape: one compilation for all
    objects), and its (origin (3,), spacing)."""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    spacing = float(np.max(hi - lo) + 2 * MARGIN) / (size - 1)
    origin = 0.5 * (lo + hi) - 0.5 * (size - 1) * spacing
    axis = spacing * np.arange(size)
    points = np.stack(np.meshgrid(*[origin[i] + axis for i in range(3)], indexing="ij"), -1)
    return points, origin, spacing


def _volume(values, origin, spacing):
    return SdfVolume(jnp.asarray(values, jnp.float32), jnp.asarray(origin, jnp.float32),
                     jnp.asarray(spacing, jnp.float32))


def volume_from_function(sdf_fn, lo, hi, size=VOLUME_SIZE, chunk=1 << 16) -> SdfVolume:
    """An SdfVolume of an exact SDF (points (N,3) m -> (N,) m) around the box [lo, hi]
    (object frame, m)."""
    points, origin, spacing = cube_grid(lo, hi, size)
    flat = points.reshape(-1, 3).astype(np.float32)
    values = np.concatenate([np.asarray(sdf_fn(flat[i:i + chunk]))
                             for i in range(0, len(flat), chunk)])
    return _volume(values.reshape(points.shape[:3]), origin, spacing)


def mesh_sdf_points(mesh, points, num_samples=400_000, k=8, seed=0, band=None):
    """(N,) approximate signed distances (m) of points (N,3) to a closed trimesh: the
    distance to the nearest of `num_samples` area-uniform surface samples, negative where
    most of the k nearest samples' face normals point away from the point. With `band`
    (m), points farther than it from every sample get NaN (the KD-tree then stops early:
    without a bound, far points of a thin object cost 10x more than the whole band)."""
    import scipy.spatial
    import trimesh
    samples, face = trimesh.sample.sample_surface(mesh, num_samples, seed=seed)
    normals = np.asarray(mesh.face_normals)[face]
    tree = scipy.spatial.cKDTree(samples)
    dist, idx = tree.query(points, k=k, workers=-1,
                           distance_upper_bound=np.inf if band is None else band)
    found = np.isfinite(dist[:, 0])
    idx = np.where(np.isfinite(dist), idx, 0)
    side = np.einsum("nkc,nkc->nk", points[:, None, :] - samples[idx], normals[idx])
    votes = np.where(np.isfinite(dist), np.where(side < 0, 1.0, -1.0), 0.0)
    inside = np.sum(votes, axis=1) > 0
    out = np.where(inside, -dist[:, 0], dist[:, 0])
    return np.where(found, out, np.nan).astype(np.float32)


def volume_from_mesh(mesh, size=VOLUME_SIZE, band=0.01) -> SdfVolume:
    """An SdfVolume of a closed trimesh (object frame, m) around its box. Within `band`
    of the surface: `mesh_sdf_points`; beyond it the distance to the band's surface
    voxels by a Euclidean distance transform (error ~ one voxel, where the grid channel is
    already far from the hand) and the sign by connected components (the far region
    touching the cube's border is outside; enclosed far regions are inside)."""
    import scipy.ndimage
    points, origin, spacing = cube_grid(mesh.bounds[0], mesh.bounds[1], size)
    values = mesh_sdf_points(mesh, points.reshape(-1, 3), band=band).reshape(points.shape[:3])
    far = np.isnan(values)
    if far.any():
        surface = np.abs(np.nan_to_num(values, nan=1.0)) <= spacing
        edt = scipy.ndimage.distance_transform_edt(~surface) * spacing
        labels, _ = scipy.ndimage.label(far)
        border = np.unique(np.concatenate([labels[[0, -1]].ravel(), labels[:, [0, -1]].ravel(),
                                           labels[:, :, [0, -1]].ravel()]))
        outside = np.isin(labels, border[border > 0])
        magnitude = np.maximum(edt, band)
        values = np.where(far, np.where(outside, magnitude, -magnitude), values)
    return _volume(values, origin, spacing)


def check_mesh(mesh, path="<mesh>"):
    """Returns a watertight trimesh (repaired when trimesh can) or raises MeshError:
    empty, non-watertight and unfixable, or absurdly sized (not metres)."""
    import trimesh
    if isinstance(mesh, trimesh.Scene):
        mesh = mesh.to_geometry() if hasattr(mesh, "to_geometry") else mesh.dump(concatenate=True)
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        raise MeshError(f"{path}: the mesh is empty (no triangles); a closed triangle mesh "
                        "of the object is expected")
    size = float(np.max(mesh.extents))
    if not (MIN_SIZE <= size <= MAX_SIZE):
        raise MeshError(f"{path}: the object's largest extent is {size:.4g} units; metres are "
                        f"expected (a hand-held object is {MIN_SIZE}-{MAX_SIZE} m; a mesh in "
                        "mm or cm must be scaled to metres first)")
    if not mesh.is_watertight:
        mesh = mesh.copy()
        mesh.merge_vertices()
        mesh.remove_unreferenced_vertices()
        trimesh.repair.fill_holes(mesh)
        trimesh.repair.fix_normals(mesh)
        if not mesh.is_watertight:
            raise MeshError(f"{path}: the mesh is not watertight (open boundary or "
                            "non-manifold edges) and trimesh could not close it; an inside "
                            "is needed for the SDF: close it first (e.g. "
                            "trimesh.repair.fill_holes, or a remesher such as ManifoldPlus)")
    if mesh.volume < 0:
        mesh = mesh.copy()
        mesh.invert()
    return mesh


def load_object_mesh(path):
    """Loads and checks an object mesh file (any format trimesh reads; metres)."""
    import trimesh
    if not path or not os.path.isfile(path):
        raise MeshError(f"{path}: no such file (an object mesh: .obj, .ply, .stl, .glb, ...)")
    try:
        mesh = trimesh.load(path, force="mesh")
    except Exception as e:  # trimesh raises many types for unreadable files
        raise MeshError(f"{path}: trimesh cannot read it ({e})") from None
    return check_mesh(mesh, path)
