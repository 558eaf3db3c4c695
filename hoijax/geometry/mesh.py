"""Mesh utilities on numpy arrays (offline construction, not in the hot path).

Quad meshes are (F,4) vertex ids, counter-clockwise seen from outside; triangle meshes (F,3).
"""
from __future__ import annotations

import numpy as np


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V,3) of a triangle mesh (outward for CCW faces)."""
    tri = verts[faces]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.zeros_like(verts)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_n)
    return normals / np.maximum(np.linalg.norm(normals, axis=-1, keepdims=True), 1e-12)


def unique_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undirected edges of a polygon mesh.

    Returns edges (E,2) sorted per row, and face_edges (F,n): the edge id of the edge from
    corner k to corner k+1 of each face.
    """
    n = faces.shape[1]
    directed = np.stack([faces, np.roll(faces, -1, axis=1)], axis=-1).reshape(-1, 2)
    edges, inverse = np.unique(np.sort(directed, axis=1), axis=0, return_inverse=True)
    return edges, inverse.reshape(-1, n)


def catmull_clark(verts: np.ndarray, quads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One Catmull-Clark subdivision step of a closed quad mesh.

    verts (V,3), quads (F,4) -> (V+E+F, 3) vertices [old, edge points, face points] and
    (4F, 4) quads with the orientation of their parent faces.
    """
    num_v, num_f = len(verts), len(quads)
    edges, face_edges = unique_edges(quads)
    face_pts = verts[quads].mean(axis=1)
    # Each interior edge borders two faces: edge point = mean of its ends and both face points.
    edge_face_sum = np.zeros((len(edges), 3))
    edge_face_cnt = np.zeros(len(edges))
    np.add.at(edge_face_sum, face_edges.ravel(), np.repeat(face_pts, 4, axis=0))
    np.add.at(edge_face_cnt, face_edges.ravel(), 1.0)
    if np.any(edge_face_cnt != 2):
        raise ValueError("catmull_clark needs a closed manifold quad mesh")
    edge_mid = verts[edges].mean(axis=1)
    edge_pts = (2.0 * edge_mid + edge_face_sum) / 4.0
    # Old vertices: (F + 2R + (n-3)P) / n with F mean adjacent face point, R mean edge midpoint.
    valence = np.bincount(edges.ravel(), minlength=num_v).astype(float)
    face_avg = np.zeros((num_v, 3))
    face_cnt = np.zeros(num_v)
    np.add.at(face_avg, quads.ravel(), np.repeat(face_pts, 4, axis=0))
    np.add.at(face_cnt, quads.ravel(), 1.0)
    face_avg /= face_cnt[:, None]
    mid_avg = np.zeros((num_v, 3))
    np.add.at(mid_avg, edges[:, 0], edge_mid)
    np.add.at(mid_avg, edges[:, 1], edge_mid)
    mid_avg /= valence[:, None]
    n = valence[:, None]
    new_verts = (face_avg + 2.0 * mid_avg + (n - 3.0) * verts) / n

    e_id = num_v + face_edges  # (F,4) id of the edge point after corner k
    f_id = num_v + len(edges) + np.arange(num_f)
    sub = []
    for k in range(4):
        sub.append(np.stack([quads[:, k], e_id[:, k], f_id, e_id[:, (k - 1) % 4]], axis=1))
    out_quads = np.stack(sub, axis=1).reshape(-1, 4)
    return np.concatenate([new_verts, edge_pts, face_pts]), out_quads


def quads_to_triangles(verts: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """Splits each quad along its shorter diagonal; (F,4) -> (2F,3), orientation kept."""
    q = verts[quads]
    d02 = np.linalg.norm(q[:, 0] - q[:, 2], axis=-1)
    d13 = np.linalg.norm(q[:, 1] - q[:, 3], axis=-1)
    use02 = (d02 <= d13)[:, None]
    a = np.where(use02, quads[:, [0, 1, 2]], quads[:, [0, 1, 3]])
    b = np.where(use02, quads[:, [0, 2, 3]], quads[:, [1, 2, 3]])
    return np.stack([a, b], axis=1).reshape(-1, 3)


def neighbor_mean(verts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean position (V,3) of each vertex's edge neighbours (uniform Laplacian target)."""
    total = np.zeros_like(verts)
    count = np.zeros(len(verts))
    for a, b in ((0, 1), (1, 0)):
        np.add.at(total, edges[:, a], verts[edges[:, b]])
        np.add.at(count, edges[:, a], 1.0)
    return total / np.maximum(count, 1.0)[:, None]


def write_obj(path: str, verts, faces) -> None:
    """Writes a triangle mesh (V,3) metres, (F,3) 0-based ids as a plain OBJ (positions
    with 6 decimals: micrometres; no normals, no reordering)."""
    verts, faces = np.asarray(verts, np.float64), np.asarray(faces, np.int64)
    with open(path, "w") as f:
        f.writelines(f"v {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in verts)
        f.writelines(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in faces)
