"""Reading and writing MANO-format pickles, without chumpy.

The official `MANO_RIGHT.pkl` / `MANO_LEFT.pkl` are Python 2 pickles whose arrays are partly
chumpy `Ch` objects (`shapedirs`, sometimes others) and whose `J_regressor` is a scipy
sparse matrix. chumpy does not install on current Python/numpy, so `load_mano` unpickles
with a `find_class` that stands in a tiny placeholder for every `chumpy.*` class and reads
the array that a `Ch` keeps in its `x` attribute. Plain-numpy MANO-format pickles (as
written by smplx's cleaning script or by `python -m hoijax.hand.export`) load the same way.
"""
from __future__ import annotations

import os
import pickle
from typing import Any

import jax.numpy as jnp
import numpy as np
import scipy.sparse

from hoijax.hand.model import MANO_PARENTS, NUM_JOINTS, OFFICIAL_FINGERTIP_IDS, ManoModel
from hoijax.hand.surface_code import compute_surface_code

REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights",
                 "kintree_table", "f", "hands_components", "hands_mean")
ROOT_PARENT = 4294967295  # how the official kintree_table marks the root (uint32 -1)


class ManoFileError(ValueError):
    """A MANO file is missing or is not a MANO-format model."""


class _ChumpyPlaceholder:
    """Stands in for any chumpy class while unpickling; keeps the pickled state."""

    def __init__(self, *args, **kwargs):
        self.state = {}

    def __setstate__(self, state):
        self.state = state if isinstance(state, dict) else {"state": state}


class _ChumpyFreeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyPlaceholder
        if module.startswith("scipy.sparse."):
            # The official files name scipy.sparse.csc, a module SciPy 2.0 removes; the
            # public namespace has the same classes.
            if hasattr(scipy.sparse, name):
                return getattr(scipy.sparse, name)
        return super().find_class(module, name)


def _to_numpy(value: Any, key: str, path: str) -> np.ndarray:
    """Turns a pickled entry (ndarray, chumpy Ch, scipy sparse) into a dense ndarray."""
    if isinstance(value, _ChumpyPlaceholder):
        if "x" not in value.state:
            raise ManoFileError(
                f"{path}: entry '{key}' is a derived chumpy expression, not a plain Ch "
                "array; convert the file with an environment that has chumpy")
        value = value.state["x"]
    if hasattr(value, "toarray"):  # scipy.sparse
        value = value.toarray()
    return np.asarray(value)


def read_mano_pickle(path: str) -> dict:
    """Reads a MANO-format pickle into a dict of numpy arrays (and other plain values)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        hint = ""
        if os.path.isdir(path):
            hint = " (it is a folder: pass the file, e.g. mano_v1_2/models/MANO_RIGHT.pkl)"
        raise ManoFileError(f"MANO file not found: {path}{hint}")
    try:
        with open(path, "rb") as f:
            data = _ChumpyFreeUnpickler(f, encoding="latin1").load()
    except Exception as e:  # pickle raises many types; report them as one clear error
        raise ManoFileError(f"{path}: cannot be read as a MANO pickle ({type(e).__name__}: "
                            f"{e})") from e
    if not isinstance(data, dict):
        raise ManoFileError(f"{path}: expected a MANO-format dict, found {type(data).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ManoFileError(f"{path}: not a MANO-format model, missing keys {missing} "
                            f"(found {sorted(data)})")
    out = dict(data)
    for key in REQUIRED_KEYS + ("J", "fingertip_vert_ids"):
        if key in data:
            out[key] = _to_numpy(data[key], key, path)
    return out


def _check_shapes(arrays: dict, path: str) -> None:
    v = arrays["v_template"]
    if v.ndim != 2 or v.shape[1] != 3:
        raise ManoFileError(f"{path}: v_template must be (V,3), got {v.shape}")
    num_v = v.shape[0]
    expected = {
        "shapedirs": (num_v, 3, None),
        "posedirs": (num_v, 3, 3 * 3 * (NUM_JOINTS - 1)),
        "J_regressor": (NUM_JOINTS, num_v),
        "weights": (num_v, NUM_JOINTS),
        "kintree_table": (2, NUM_JOINTS),
        "f": (None, 3),
        "hands_components": (None, 45),
        "hands_mean": (45,),
    }
    for key, shape in expected.items():
        got = arrays[key].shape
        if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got)):
            want = "(" + ",".join("*" if s is None else str(s) for s in shape) + ")"
            raise ManoFileError(f"{path}: '{key}' should have shape {want}, got {got}")
    if arrays["f"].max() >= num_v or arrays["f"].min() < 0:
        raise ManoFileError(f"{path}: faces index outside the {num_v} vertices")


def _parents_from_kintree(kintree: np.ndarray, path: str) -> tuple:
    parents = [int(p) for p in kintree[0]]
    parents = tuple(-1 if p in (ROOT_PARENT, -1) else p for p in parents)
    if parents != MANO_PARENTS:
        raise ManoFileError(f"{path}: kinematic tree {parents} is not MANO's {MANO_PARENTS}")
    return parents


def _guess_side(path: str, data: dict) -> str:
    """'right' or 'left' from an explicit 'side' entry or the file name (default right)."""
    if data.get("side") in ("right", "left"):
        return data["side"]
    return "left" if "left" in os.path.basename(path).lower() else "right"


def model_from_arrays(arrays: dict, *, path: str = "<arrays>", side: str | None = None,
                      name: str = "mano") -> ManoModel:
    """Builds a `ManoModel` from a dict of MANO-format numpy arrays (official key names)."""
    _check_shapes(arrays, path)
    parents = _parents_from_kintree(arrays["kintree_table"], path)
    num_v = arrays["v_template"].shape[0]
    if "fingertip_vert_ids" in arrays:
        tips = tuple(int(i) for i in np.asarray(arrays["fingertip_vert_ids"]).ravel())
    elif num_v == 778:
        tips = OFFICIAL_FINGERTIP_IDS
    else:
        raise ManoFileError(f"{path}: {num_v} vertices is not the official MANO mesh and the "
                            "file has no 'fingertip_vert_ids' entry")
    side = side or _guess_side(path, arrays)
    f32 = lambda key: jnp.asarray(np.asarray(arrays[key], np.float64), jnp.float32)  # noqa: E731
    components = np.asarray(arrays["hands_components"], np.float64)
    model = ManoModel(
        v_template=f32("v_template"),
        shapedirs=f32("shapedirs"),
        posedirs=f32("posedirs"),
        J_regressor=f32("J_regressor"),
        weights=f32("weights"),
        faces=jnp.asarray(np.asarray(arrays["f"], np.int64), jnp.int32),
        hands_components=jnp.asarray(components, jnp.float32),
        hands_mean=f32("hands_mean"),
        surface_code=jnp.zeros((num_v, 2), jnp.float32),
        parents=parents,
        fingertip_ids=tips,
        side=side,
        name=name,
    )
    return model.replace(surface_code=jnp.asarray(compute_surface_code(model), jnp.float32))


def load_mano(path) -> ManoModel:
    """Loads an official MANO pickle (chumpy not needed) or a plain-numpy MANO-format pickle.

    Raises `ManoFileError` naming the file when it is missing or not a MANO model.
    """
    path = os.fspath(path)
    arrays = read_mano_pickle(path)
    name = "standin" if arrays.get("hoijax_standin", False) else "mano"
    return model_from_arrays(arrays, path=path, name=name)


def model_to_arrays(model: ManoModel) -> dict:
    """The official MANO pickle layout, as plain numpy arrays (float64 like the originals)."""
    kintree = np.array([[ROOT_PARENT if p < 0 else p for p in model.parents],
                        list(range(len(model.parents)))], dtype=np.int64)
    f64 = lambda x: np.asarray(x, np.float64)  # noqa: E731
    v_template = f64(model.v_template)
    J_regressor = f64(model.J_regressor)
    return {
        "v_template": v_template,
        "shapedirs": f64(model.shapedirs),
        "posedirs": f64(model.posedirs),
        "J_regressor": J_regressor,
        "J": J_regressor @ v_template,
        "weights": f64(model.weights),
        "kintree_table": kintree,
        "f": np.asarray(model.faces, np.uint32),
        "hands_components": f64(model.hands_components),
        "hands_mean": f64(model.hands_mean),
        "hands_coeffs": np.zeros((0, model.hands_components.shape[0])),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
        "fingertip_vert_ids": np.asarray(model.fingertip_ids, np.int64),
        "surface_code": f64(model.surface_code),
        "side": model.side,
        "hoijax_standin": model.name == "standin",
    }


def save_mano_pickle(model: ManoModel, path) -> None:
    """Writes `model` as a MANO-format pickle of plain numpy arrays (no chumpy, no jax)."""
    path = os.fspath(path)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(model_to_arrays(model), f, protocol=2)
    os.replace(tmp, path)  # never leave a half-written model behind
