"""An object's SDF sampled once on a regular grid in its own frame, and read back by
trilinear interpolation (docs/design.md §11.1): what grasp synthesis optimises against.

Grasp synthesis moves the object in the hand frame hundreds of times per seed; an exact
mesh SDF costs far more than a trilinear read per call, so a mesh becomes an `SdfVolume`
first: within 1 cm of the surface the exact distance to the nearest triangle signed by the
generalised winding number (`hoijax.geometry.mesh_sdf`), beyond it a distance transform
signed per connected region, on a cube of 112^3 points around the object's box plus a
margin beyond the interaction grid's truncation band (4.5 cm): 1.7 mm spacing for a 10 cm
object, 3.5 mm for a 30 cm one. Every volume has the same shape, so the grasp optimisation
compiles once for all objects. Reading it back (`sample`) is pure jnp: it jits, vmaps and
differentiates with respect to the query points (the object pose).

`load_object_mesh` is the checked loader of the CLIs: any format trimesh reads, a scene's
parts merged; open, non-manifold and inconsistently wound meshes are accepted (the sign is
the generalised winding number's, `hoijax.geometry.mesh_sdf`); a missing or empty file, a
single sheet with no inside, or an absurd size (the message names the --scale to pass) is
refused with a clear message before any work.
"""
from __future__ import annotations

import os

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import scipy.ndimage
import scipy.spatial

from hoijax.geometry import mesh_sdf

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


def volume_from_mesh(mesh, size=VOLUME_SIZE, band=0.01) -> SdfVolume:
    """An SdfVolume of a prepared trimesh (`check_mesh`; object frame, m; it need not be
    closed) around its box. Within `band` of the surface (found by a KD-tree over dense
    surface samples): `geometry.mesh_sdf.signed_distance`, the exact distance to the
    nearest triangle signed by the winding number. Beyond it the distance to the band's
    surface voxels by a Euclidean distance transform (error ~ one voxel, where the grid
    channel is already far from the hand) and the sign from the winding number per
    connected far region (`_far_inside`: a coarse lattice, voxel by voxel only where a
    hole wider than twice the band joins inside and outside)."""
    # trimesh takes ~0.7 s to import; only mesh files need it.
    import trimesh
    points, origin, spacing = cube_grid(mesh.bounds[0], mesh.bounds[1], size)
    flat = points.reshape(-1, 3)
    clusters = mesh_sdf.build_clusters(mesh.vertices, mesh.faces)
    # Candidates from surface samples (spacing well under the slack), then exact: the band
    # is {exact distance <= band}, whatever the sampling drew.
    samples, _ = trimesh.sample.sample_surface(mesh, 200_000, seed=0)
    dist, _ = scipy.spatial.cKDTree(samples).query(flat, distance_upper_bound=band + 0.002,
                                                   workers=-1)
    near = np.flatnonzero(np.isfinite(dist))
    exact = mesh_sdf.signed_distance(clusters, flat[near])[0]
    values = np.full(len(flat), np.nan, np.float32)
    values[near] = np.where(np.abs(exact) <= band, exact, np.nan)
    values = values.reshape(points.shape[:3])
    far = np.isnan(values)
    if far.any():
        surface = np.abs(np.nan_to_num(values, nan=1.0)) <= spacing
        magnitude = np.maximum(scipy.ndimage.distance_transform_edt(~surface) * spacing, band)
        inside = _far_inside(clusters, points, far)
        values = np.where(far, np.where(inside, -magnitude, magnitude), values)
    return _volume(values, origin, spacing)


def _far_inside(clusters, points, far, stride=4):
    """(X,Y,Z) bool: far grid points (> band from the surface) inside by the winding
    number. Per connected far region: the winding number on the region's points of a
    coarse lattice (every `stride`-th point per axis); a region whose lattice points agree
    takes their answer; otherwise the voxels whose 3x3x3 coarse neighbourhood is mixed (a
    hole's membrane) or unprobed are evaluated one by one, the rest take their
    neighbourhood's answer. Far from the surface two exact clusters and the dipoles of the
    others suffice (k=2)."""
    labels, count = scipy.ndimage.label(far)
    inside = np.zeros(far.shape, bool)
    lattice = np.zeros(far.shape, bool)
    lattice[::stride, ::stride, ::stride] = True
    flat = points.reshape(-1, 3)
    winding = np.full(far.shape, np.nan, np.float32)
    probe = np.flatnonzero((lattice & far).ravel())
    winding.ravel()[probe] = mesh_sdf.signed_distance(clusters, flat[probe], k=2,
                                                           exact_distance=False)[1]
    coarse = winding[::stride, ::stride, ::stride]
    coarse_in = scipy.ndimage.maximum_filter(np.nan_to_num(coarse, nan=0.0) > mesh_sdf.INSIDE, 3)
    coarse_out = scipy.ndimage.maximum_filter(np.nan_to_num(coarse, nan=1.0) <= mesh_sdf.INSIDE,
                                              3)
    up = lambda c: np.repeat(np.repeat(np.repeat(c, stride, 0), stride, 1),  # noqa: E731
                             stride, 2)[:far.shape[0], :far.shape[1], :far.shape[2]]
    near_in, near_out = up(coarse_in), up(coarse_out)
    for region in range(1, count + 1):
        mask = labels == region
        w = winding[mask & lattice]
        w = w[np.isfinite(w)]
        if len(w) and (np.all(w > mesh_sdf.INSIDE) or np.all(w <= mesh_sdf.INSIDE)):
            inside[mask] = bool(w[0] > mesh_sdf.INSIDE)
            continue
        unsure = mask & (near_in == near_out)  # both answers nearby, or no probe at all
        inside[mask & near_in & ~near_out] = True
        ids = np.flatnonzero(unsure.ravel())
        w = mesh_sdf.signed_distance(clusters, flat[ids], k=2, exact_distance=False)[1]
        inside.ravel()[ids] = w > mesh_sdf.INSIDE
    return inside


# ---------------------------------------------------------------------------------------
# Loading and checking a user's mesh.

def _suggest_scale(size: float) -> str:
    """The --scale values that bring a largest extent `size` into the accepted range."""
    options = [(f, unit) for f, unit in ((0.001, "millimetres"), (0.01, "centimetres"),
                                         (0.0254, "inches"))
               if MIN_SIZE <= size * f <= MAX_SIZE]
    if not options:
        return "scale it to metres first"
    return "; ".join(f"if it is in {unit}, pass --scale={f:g} ({size * f:.3g} m)"
                     for f, unit in options)


def as_single_mesh(loaded, path="<mesh>"):
    """Whatever trimesh.load returned -> one Trimesh in the file's frame: a Scene's parts
    (GLB/GLTF nodes, OBJ material groups) merged with their node transforms applied.
    Raises MeshError for point clouds, paths and empty scenes."""
    # trimesh takes ~0.7 s to import; only mesh files need it.
    import trimesh
    if isinstance(loaded, trimesh.Scene):
        parts = [g for g in loaded.dump() if isinstance(g, trimesh.Trimesh)]
        if not parts:
            kinds = sorted({type(g).__name__ for g in loaded.geometry.values()}) or ["nothing"]
            raise MeshError(f"{path}: the file holds no triangles (found: "
                            f"{', '.join(kinds)}); a triangle mesh of the object is expected")
        loaded = trimesh.util.concatenate(parts)
    if not isinstance(loaded, trimesh.Trimesh):
        raise MeshError(f"{path}: the file holds a {type(loaded).__name__}, not triangles; "
                        "a triangle mesh of the object is expected")
    return loaded


def prepare_mesh(mesh):
    """A copy of a trimesh cleaned for the winding-number SDF: vertices merged, duplicated
    and degenerate faces removed, faces consistently wound per connected part, and each
    part turned outward (positive volume) unless it lies inside another part's box (a
    cavity's wall, whose inward faces are meant)."""
    # trimesh takes ~0.7 s to import; only mesh files need it.
    import trimesh
    mesh = trimesh.Trimesh(np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces),
                           process=False)
    mesh.merge_vertices()
    mesh.update_faces(mesh.unique_faces() & mesh.nondegenerate_faces())
    mesh.remove_unreferenced_vertices()
    trimesh.repair.fix_winding(mesh)
    faces = np.asarray(mesh.faces).copy()
    parts = trimesh.graph.connected_components(mesh.face_adjacency, min_len=1,
                                               nodes=np.arange(len(faces)))
    verts = np.asarray(mesh.vertices)
    boxes = [(verts[faces[p]].reshape(-1, 3).min(0), verts[faces[p]].reshape(-1, 3).max(0))
             for p in parts]
    for i, part in enumerate(parts):
        tri = verts[faces[part]]
        signed = np.sum(np.einsum("fi,fi->f", tri[:, 0], np.cross(tri[:, 1], tri[:, 2]))) / 6
        nested = any(j != i and np.all(boxes[j][0] <= boxes[i][0])
                     and np.all(boxes[i][1] <= boxes[j][1]) for j in range(len(parts)))
        if signed < 0 and not nested:
            faces[part] = faces[part][:, ::-1]
    return trimesh.Trimesh(verts, faces, process=False)


def enclosed_share(mesh, probes=2048, offset=1e-4, seed=0) -> float:
    """Share of area-uniform surface points that, moved `offset` m against their face's
    normal, have winding number > 0.6: ~1 for a solid (closed or with holes), ~0 for a
    single sheet, whose two sides read +-1/2."""
    # trimesh takes ~0.7 s to import; only mesh files need it.
    import trimesh
    pts, face = trimesh.sample.sample_surface(mesh, probes, seed=seed)
    pts = pts - offset * np.asarray(mesh.face_normals)[face]
    clusters = mesh_sdf.build_clusters(mesh.vertices, mesh.faces)
    w = mesh_sdf.signed_distance(clusters, pts, exact_distance=False)[1]
    return float(np.mean(w > 0.6))


def check_mesh(mesh, path="<mesh>"):
    """Returns the object as one prepared trimesh (`prepare_mesh`) or raises MeshError:
    no triangles, absurdly sized (not metres; the message names the --scale to pass), or
    enclosing no volume (a single sheet). Open, non-manifold, multi-part and
    inconsistently wound meshes are accepted: the SDF's sign is the winding number's."""
    mesh = as_single_mesh(mesh, path)
    if len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        raise MeshError(f"{path}: the mesh is empty (no triangles); a triangle mesh of the "
                        "object is expected")
    if not np.all(np.isfinite(mesh.vertices)):
        raise MeshError(f"{path}: the mesh has non-finite vertex coordinates")
    size = float(np.max(mesh.extents))
    if not (MIN_SIZE <= size <= MAX_SIZE):
        raise MeshError(f"{path}: the object's largest extent is {size:.4g} units; metres are "
                        f"expected (a hand-held object is {MIN_SIZE}-{MAX_SIZE} m): "
                        f"{_suggest_scale(size)}")
    mesh = prepare_mesh(mesh)
    if len(mesh.faces) == 0:
        raise MeshError(f"{path}: every triangle is degenerate (zero area)")
    share = enclosed_share(mesh)
    if share < 0.5:
        raise MeshError(f"{path}: the mesh encloses no volume ({len(mesh.faces)} triangles, "
                        f"only {share:.0%} of its surface has an inside: a single sheet or "
                        "scattered faces); an object with an inside is needed for the SDF")
    return mesh


def load_object_mesh(path, scale: float = 1.0):
    """Loads and checks an object mesh file (any format trimesh reads: OBJ, PLY, STL,
    OFF, GLB/GLTF scenes with several parts; metres, or multiplied by `scale`)."""
    # trimesh takes ~0.7 s to import; only mesh files need it.
    import trimesh
    if not path or not os.path.isfile(path):
        raise MeshError(f"{path}: no such file (an object mesh: .obj, .ply, .stl, .glb, ...)")
    if not (np.isfinite(scale) and scale > 0):
        raise MeshError(f"--scale={scale}: must be a positive number (1 for metres, 0.001 "
                        "for millimetres)")
    try:
        loaded = trimesh.load(path)
    except Exception as e:  # trimesh raises many types for unreadable files
        raise MeshError(f"{path}: trimesh cannot read it ({e})") from None
    mesh = as_single_mesh(loaded, path)
    if scale != 1.0:
        mesh = mesh.copy()
        mesh.apply_scale(scale)
    return check_mesh(mesh, path)
