"""InterHand2.6M's two-hand MANO annotations, as IntagHand preprocesses them (the layout
InterHandGen trains on); docs/design.md §12.

  ROOT/{train,val,test}/anno/{0,1,2,...}.pkl   (IntagHand dataset/interhand.py)

Each pickle is a dict with `mano_params` = {"left": p, "right": p} (either may be None)
and `camera` = {"R": (3,3), "t": (3,) metres, "camera": (3,3) K}, where p holds
  R (1,3,3)     root rotation (world frame), applied about the wrist joint,
  pose (1,45)   the 45 PCA coefficients of the articulation *with* MANO's mean pose
                (IntagHand stores axis2pca(pose + hands_mean), so the full rotations are
                pose @ hands_components + hands_mean),
  shape (1,10)  betas,
  trans (1,3)   translation (metres) added after the rotation about the wrist.
World -> camera: x_c = R_cam x + t_cam.

`load_interhand` returns both hands in the camera frame in hoijax's arrays (left_/right_
hand_pose axis-angle with the flat-hand mean, betas, global_orient, transl), the form
hoijax.data.synthetic.two_hands writes, so training takes either. The PCA basis and mean
come from the hand models given: use the official MANO (`--mano_dir`); the stand-in's PCA
is its own and would misread the coefficients.
"""
from __future__ import annotations

import glob
import os
import pickle

import numpy as np
from scipy.spatial.transform import Rotation

from hoijax.hand import proxy as P

SPLITS = ("train", "val", "test")


def anno_files(root: str, split: str) -> list:
    """ROOT/SPLIT/anno/*.pkl in numeric order; FileNotFoundError when there are none."""
    files = glob.glob(os.path.join(root, split, "anno", "*.pkl"))
    if not files:
        raise FileNotFoundError(f"{os.path.join(root, split, 'anno')}: no *.pkl (expected "
                                "IntagHand's preprocessed InterHand2.6M layout)")
    return sorted(files, key=lambda f: int(os.path.splitext(os.path.basename(f))[0]))


def _hand(model, p, cam_R, cam_t):
    """One hand's annotation -> (hand_pose 45, betas 10, global_orient 3, transl 3) in the
    camera frame."""
    pca = np.asarray(p["pose"], np.float64).reshape(-1)
    if pca.shape != (45,):
        raise ValueError(f"pose has {pca.size} values, expected 45 PCA coefficients")
    comps = np.asarray(model.hands_components, np.float64)
    pose = pca @ comps[:45] + np.asarray(model.hands_mean, np.float64)
    betas = np.asarray(p["shape"], np.float64).reshape(-1)[:10]
    R = np.asarray(p["R"], np.float64).reshape(3, 3)
    trans = np.asarray(p["trans"], np.float64).reshape(3)
    j0 = np.asarray(P.rest_joints(model, betas.astype(np.float32)), np.float64)[0]
    wrist = cam_R @ (j0 + trans) + cam_t  # MANO rotates about the wrist: it stays at J0
    orient = Rotation.from_matrix(cam_R @ R).as_rotvec()
    return pose, betas, orient, wrist - j0


def load_interhand(root: str, split: str, models, limit: int | None = None) -> dict:
    """Pairs with both hands annotated -> dict of (N,...) float32 arrays (left_/right_
    hand_pose, betas, global_orient, transl) plus `index` (N,) the file numbers."""
    left_model, right_model = models
    out = {f"{s}_{k}": [] for s in ("left", "right")
           for k in ("hand_pose", "betas", "global_orient", "transl")}
    index = []
    for path in anno_files(root, split)[:limit]:
        with open(path, "rb") as f:
            data = pickle.load(f)
        try:
            params, cam = data["mano_params"], data["camera"]
            if params.get("left") is None or params.get("right") is None:
                continue
            cam_R = np.asarray(cam["R"], np.float64).reshape(3, 3)
            cam_t = np.asarray(cam["t"], np.float64).reshape(3)
            for side, model in (("left", left_model), ("right", right_model)):
                values = _hand(model, params[side], cam_R, cam_t)
                for k, v in zip(("hand_pose", "betas", "global_orient", "transl"), values):
                    out[f"{side}_{k}"].append(v)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: not an IntagHand InterHand2.6M annotation ({e})") from e
        index.append(int(os.path.splitext(os.path.basename(path))[0]))
    result = {k: np.asarray(v, np.float32).reshape(len(index), -1) for k, v in out.items()}
    result["index"] = np.asarray(index)
    return result


def as_training_data(root: str, models, limit: int | None = None) -> dict:
    """train + test splits in the synthetic data's form: the test split is held out;
    type -1 (unknown), no objects."""
    parts = [(load_interhand(root, s, models, limit), s == "test") for s in ("train", "test")]
    data = {k: np.concatenate([p[k] for p, _ in parts]) for k in parts[0][0] if k != "index"}
    n = len(data["left_betas"])
    data.update(type=np.full(n, -1), object=np.array([""] * n),
                held_out=np.concatenate([np.full(len(p["index"]), h) for p, h in parts]))
    return data
