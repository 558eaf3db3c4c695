"""Object meshes as users have them, made from clean ones: holes, flipped and duplicated
faces, several parts under node transforms (docs/design.md §11.1). The tests and the grasp
benchmark feed them through `hoijax.interaction.volume.load_object_mesh` and compare with
the clean mesh's exact SDF.
"""
from __future__ import annotations

import numpy as np
import trimesh


def damage(mesh: trimesh.Trimesh, rng: np.random.Generator, holes: int = 4,
           hole_radius: float = 0.006, flip: float = 0.3, duplicates: int = 40):
    """-> (an open, inconsistently wound, non-manifold copy of `mesh`, hole centres (holes,3)):
    `holes` round holes of `hole_radius` m punched at random vertices, a `flip` share of
    the faces reversed, `duplicates` faces repeated (half of them reversed)."""
    centres = mesh.vertices[rng.choice(len(mesh.vertices), holes, replace=False)]
    dist = np.linalg.norm(mesh.triangles_center[:, None] - centres[None], axis=-1)
    faces = np.asarray(mesh.faces)[dist.min(1) > hole_radius]
    faces = np.where(rng.random(len(faces))[:, None] < flip, faces[:, ::-1], faces)
    half = duplicates // 2
    faces = np.concatenate([faces, faces[:half], faces[half:duplicates, ::-1]])
    return trimesh.Trimesh(mesh.vertices, faces, process=False), centres


def split_scene(mesh: trimesh.Trimesh, rng: np.random.Generator, parts: int = 2,
                offset: float = 0.05) -> trimesh.Scene:
    """A scene of `parts` pieces of `mesh` (its faces split along its longest axis), each
    stored relative to a random node translation of up to `offset` m per axis that
    trimesh must apply to put it back: the same object as a multi-part GLB/GLTF file."""
    axis = int(np.argmax(mesh.extents))
    order = np.argsort(mesh.triangles_center[:, axis], kind="stable")
    scene = trimesh.Scene()
    for k, ids in enumerate(np.array_split(order, parts)):
        shift = rng.uniform(-offset, offset, 3)
        piece = trimesh.Trimesh(mesh.vertices - shift, mesh.faces[ids], process=False)
        scene.add_geometry(piece, node_name=f"part{k}",
                           transform=trimesh.transformations.translation_matrix(shift))
    return scene
