"""Real object meshes for the unseen-shape benchmark, fetched from the package index: the
data files of the `pybullet` wheel (`pybullet_data`), of which two are hand-held objects
outside every category:

  bunny  the Stanford bunny (a range scan; Stanford 3D Scanning Repository), 9 cm tall
  duck   the COLLADA sample rubber duck (a modelled toy), 6.5 cm tall

Nothing is committed: the wheel is downloaded once (`pip download`, about 100 MB) into
$HOIJAX_CACHE_DIR/scanned (or taken from an installed `pybullet_data`) and the two files
are read from it. `register()` makes them held-out shapes of this process
(`hoijax.data.synthetic.held_out.register_mesh`).
"""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile

PYBULLET = "pybullet==3.2.7"
# name: (file in pybullet_data, its up axis, height in metres)
MESHES = {"bunny": ("bunny.obj", "z", 0.09), "duck": ("duck.obj", "y", 0.065)}


def _from_installed(name: str) -> str | None:
    try:
        import pybullet_data
    except ImportError:
        return None
    path = os.path.join(pybullet_data.getDataPath(), name)
    return path if os.path.isfile(path) else None


def mesh_path(name: str) -> str:
    """Local path of a pybullet_data file, downloading the wheel on first use."""
    found = _from_installed(name)
    if found:
        return found
    folder = os.path.join(os.environ.get("HOIJAX_CACHE_DIR", os.path.expanduser(
        "~/.cache/hoijax")), "scanned")
    target = os.path.join(folder, "pybullet_data", name)
    if os.path.isfile(target):
        return target
    os.makedirs(folder, exist_ok=True)
    wheels = [f for f in os.listdir(folder) if f.endswith(".whl")]
    if not wheels:
        print(f"downloading {PYBULLET} (for its data files) into {folder}")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        "-d", folder, PYBULLET], check=True)
        wheels = [f for f in os.listdir(folder) if f.endswith(".whl")]
    with zipfile.ZipFile(os.path.join(folder, wheels[0])) as wheel:
        wheel.extract(f"pybullet_data/{name}", folder)
    return target


def register() -> list:
    """Registers every mesh of MESHES as a held-out shape; returns their names."""
    import trimesh

    from hoijax.data.synthetic.held_out import register_mesh
    names = []
    for name, (file, up, height) in MESHES.items():
        mesh = trimesh.load(mesh_path(file), force="mesh")
        names.append(register_mesh(name, mesh, height, up=up))
    return names
