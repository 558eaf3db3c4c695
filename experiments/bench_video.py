"""The video front end's figures (docs/video.md): keypoints on real annotated photos, the
preprocessing of synthetic clips against their ground truth, and its speed.

  python experiments/bench_video.py --mmpose=PATH [--clips=mug:0,bottle:0] [--skip_real]

1. Keypoints on real photos: the 21-keypoint annotated hand images that mmpose ships
   for its tests (FreiHAND, OneHand10K, CMU Panoptic; Apache-2.0 repository, the images
   under their datasets' terms: read from PATH, a checkout or a bare git copy of
   open-mmlab/mmpose, never copied into hoijax). PCK@0.2 of the longer side of the
   keypoints' box, with that box given (`--hand_box`) and with none (the whole image
   searched). RHD and InterHand2.6M are left out: their files there use other keypoint
   orders.
2. Synthetic clips rendered as videos (`hoijax.data.synthetic`, 8 frames at 256 px, skin
   shading on a gradient background): preprocessed from their frames and true object
   masks; the share of frames with a hand, the keypoints' PCK@0.2 against the true joints'
   projections, the fitted joints' error (root-relative, after the one scale monocular
   depth cannot see), the hand mask's IoU against the renderer's, seconds.
3. Speed: the landmark network per crop, and preprocessing a 100-frame 640x480 video.
Writes experiments/results/video.{json,md}.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags
from benchlib import default_path, provenance_line, write_markdown, write_results
from PIL import Image

from hoijax.data.clip import load_clip
from hoijax.geometry.transforms import apply_to_points
from hoijax.hand import load_hand_model
from hoijax.hand.model import OPENPOSE_ORDER, mano_forward
from hoijax.video import frames as F
from hoijax.video import keypoints as KP
from hoijax.video.preprocess import Request, preprocess

_MMPOSE = flags.DEFINE_string("mmpose", None, "open-mmlab/mmpose: a checkout or a git "
                              "directory (its tests/data holds the annotated photos).")
_CLIPS = flags.DEFINE_list("clips", ["mug:0", "bottle:0", "kettle:0", "bowl:0", "knife:0",
                                     "toy car:0"], "Synthetic clips category:seed.")
_SKIP_REAL = flags.DEFINE_boolean("skip_real", False, "Skip the real photos.")
_OUT = flags.DEFINE_string("out", default_path("video"), "Results JSON (and .md beside).")
_SUMMARISE = flags.DEFINE_boolean("summarise", False, "Only rewrite the .md from the "
                                  "JSON (under the provenance of the run that made it).")
_RECONSTRUCT = flags.DEFINE_list("reconstruct", [], "Clips (category:seed) also "
                                 "reconstructed from their preprocessed and their true "
                                 "clip, fitted together at the default config.")
DATASETS = ("freihand", "onehand10k", "panoptic")


def mmpose_file(root: str, relative: str) -> bytes:
    if os.path.isfile(os.path.join(root, relative)):
        with open(os.path.join(root, relative), "rb") as f:
            return f.read()
    return subprocess.run(["git", "--git-dir", root, "show", f"HEAD:{relative}"],
                          capture_output=True, check=True).stdout


def real_photos(root: str):
    """[(dataset, name, image (H,W,3), keypoints (21,3))] of the annotated photos found."""
    out = []
    for ds in DATASETS:
        meta = json.loads(mmpose_file(root, f"tests/data/{ds}/test_{ds}.json"))
        for image in meta["images"]:
            try:
                data = mmpose_file(root, f"tests/data/{ds}/{image['file_name']}")
            except subprocess.CalledProcessError:
                continue  # listed in the json, not shipped
            with tempfile.NamedTemporaryFile(suffix=".jpg") as f:
                f.write(data)
                f.flush()
                pixels = np.asarray(Image.open(f.name).convert("RGB"))
            for a in meta["annotations"]:
                if a["image_id"] == image["id"]:
                    out.append((ds, image["file_name"], pixels,
                                np.asarray(a["keypoints"], np.float64).reshape(21, 3)))
    return out


def pck(pred, truth, threshold=0.2):
    """Share of visible keypoints within threshold x the longer side of their box."""
    visible = truth[:, 2] > 0
    xy = truth[visible, :2]
    side = np.max(xy.max(0) - xy.min(0))
    return float(np.mean(np.linalg.norm(pred[visible] - xy, axis=-1) < threshold * side))


def bench_real(root, landmarker):
    rows = []
    for ds, name, image, truth in real_photos(root):
        xy = truth[truth[:, 2] > 0, :2]
        box = (*xy.min(0), *xy.max(0))
        row = dict(dataset=ds, image=name)
        for mode, seed in (("box", box), ("no_box", None)):
            start = time.perf_counter()
            keypoints, presence, right, _ = KP.search(landmarker, image, seed)
            row[mode] = dict(pck=pck(keypoints - 0.5, truth), presence=presence,
                             seconds=time.perf_counter() - start)
        rows.append(row)
        print(ds, name, {m: round(row[m]["pck"], 2) for m in ("box", "no_box")})
    return rows


def camera_joints(model, cTh, hA, beta):
    """(T,21,3) camera-frame joints (keypoint order) of a hand track."""
    joints = np.asarray(mano_forward(model, hA, beta).joints)
    return apply_to_points(np.asarray(cTh, np.float64), joints)[:, list(OPENPOSE_ORDER)]


def aligned_error(fit, truth):
    """(T,) mean root-relative joint distance after the best single scale (m)."""
    f, t = fit - fit[:, :1], truth - truth[:, :1]
    scale = np.sum(f * t) / np.sum(f * f)
    return np.linalg.norm(scale * f - t, axis=-1).mean(1)


def synthetic_video(model, folder, category, seed, size=256):
    """A synthetic clip (8 frames at `size` px) written to folder."""
    from hoijax.data.clip import save_clip
    from hoijax.data.synthetic.clips import ClipSpec, generate_clip
    clip = generate_clip(model, ClipSpec(category=category, seed=seed, num_frames=8,
                                         image_size=size))
    clip.pop("stats")
    return save_clip(folder, **clip)


def bench_clip(model, landmarker, category, seed, work):
    source = synthetic_video(model, os.path.join(work, f"{category}_{seed}"), category, seed)
    truth = load_clip(source)
    out = os.path.join(work, f"pre_{category}_{seed}")
    start = time.perf_counter()
    summary = preprocess(Request(video=os.path.join(source, "image"), out=out,
                                 object_masks=os.path.join(source, "obj_mask"),
                                 category=category), model, landmarker, log=lambda *a: None)
    seconds = time.perf_counter() - start
    clip = load_clip(out)
    record = np.load(os.path.join(out, "hand_keypoints.npz"))
    found = record["keypoints"][:, 0, 2] > 0.5
    gt = truth.gt
    true_joints = camera_joints(model, gt["cTh"], gt["hA"], gt["beta"])
    uvw = np.einsum("tij,tkj->tki", truth.K, true_joints)
    projected = uvw[..., :2] / uvw[..., 2:]
    keypoint_pck = np.mean([pck(k[:, :2], np.concatenate([p, np.ones((21, 1))], 1))
                            for k, p, f in zip(record["keypoints"], projected, found) if f])
    hand_truth = np.stack([F.crop(m.astype(np.uint8) * 255, record["crop_box"],
                                  clip.image_size[0], Image.NEAREST) > 127
                           for m in truth.hand_mask])
    iou = (np.sum(hand_truth & clip.hand_mask, (1, 2))
           / np.maximum(np.sum(hand_truth | clip.hand_mask, (1, 2)), 1))
    errors = aligned_error(camera_joints(model, clip.cTh, clip.hA, clip.beta), true_joints)
    row = dict(clip=f"{category}:{seed}", found=float(np.mean(found)),
               keypoint_pck=float(keypoint_pck), joint_error_mm=float(1e3 * errors.mean()),
               joint_error_mm_per_frame=(1e3 * errors).round(1).tolist(),
               hand_iou=float(iou.mean()), fit_px=summary["error_px"], seconds=seconds)
    print(row)
    return row


def bench_reconstruction(model, landmarker, specs, work):
    """F-scores of the reconstruction from the preprocessed clip against the one from the
    true clip (masks, cameras and hands of the synthetic world), one CLI run for all; the
    preprocessed clip gets the true object mesh and gt.npz for the evaluation only (the
    metrics align the object with ICP with scale, so the crop's camera does not matter)."""
    clips = []
    for spec in specs:
        category, seed = spec.rsplit(":", 1)
        source = os.path.join(work, f"{category}_{seed}")
        pre = os.path.join(work, f"pre_{category}_{seed}")
        if not os.path.isdir(pre):
            bench_clip(model, landmarker, category, int(seed), work)
        for name in ("oObj.obj", "gt.npz"):
            shutil.copy(os.path.join(source, name), pre)
        clips += [source, pre]
    out = os.path.join(work, "recon")
    subprocess.run([sys.executable, "-m", "hoijax.reconstruct", "--out", out]
                   + [f"--clip={c}" for c in clips], check=True)
    rows = []
    for spec, (source, pre) in zip(specs, zip(clips[::2], clips[1::2])):
        metrics = [json.load(open(os.path.join(out, os.path.basename(c), "metrics.json")))
                   for c in (source, pre)]
        rows.append(dict(clip=spec, **{f"{k}_{m}": metrics[i][m] for i, k in
                                       enumerate(("true", "preprocessed"))
                                       for m in ("F@5", "F@10", "CD")}))
        print(rows[-1])
    return rows


def write_mp4(path, frames, fps=30):
    n, h, w, _ = frames.shape
    subprocess.run([F.imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f",
                    "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i",
                    "-", "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", path],
                   input=frames.tobytes(), check=True)


def bench_speed(model, landmarker, work):
    """The network per crop, and a 100-frame 640x480 video (a synthetic 480 px clip
    padded to 640 wide) preprocessed end to end with its object masks."""
    image = np.zeros((480, 640, 3), np.uint8)
    roi = KP.Roi(320, 240, 200, 0.3)
    landmarker(image, roi)
    start = time.perf_counter()
    for _ in range(20):
        landmarker(image, roi)
    per_crop = (time.perf_counter() - start) / 20
    from hoijax.data.synthetic.clips import ClipSpec, generate_clip
    clip = generate_clip(model, ClipSpec(category="mug", seed=3, num_frames=100,
                                         image_size=480))
    pad = lambda a: np.pad(a, [(0, 0), (0, 0), (80, 80)] + [(0, 0)] * (a.ndim - 3),  # noqa
                           constant_values=96)
    video = os.path.join(work, "mug_100.mp4")
    write_mp4(video, pad(clip["images"]))
    masks = os.path.join(work, "mug_100_masks")
    os.makedirs(masks)
    for t, m in enumerate(pad(np.asarray(clip["obj_mask"]) > 0.5)):
        Image.fromarray(m.astype(np.uint8) * 255).save(os.path.join(masks, f"{t:04d}.png"))
    start = time.perf_counter()
    preprocess(Request(video=video, out=os.path.join(work, "pre_100"), object_masks=masks),
               model, landmarker, log=lambda *a: None)
    return dict(landmark_ms_per_crop=1e3 * per_crop,
                preprocess_100_frames_640x480_s=time.perf_counter() - start)


def markdown(results) -> str:
    lines = []
    if results.get("real"):
        lines += ["| photos | n | PCK@0.2, box given | PCK@0.2, no box |", "|---|---|---|---|"]
        for ds in DATASETS + ("all",):
            rows = [r for r in results["real"] if ds in ("all", r["dataset"])]
            if rows:
                lines.append(f"| {ds} | {len(rows)} | "
                             f"{np.mean([r['box']['pck'] for r in rows]):.2f} | "
                             f"{np.mean([r['no_box']['pck'] for r in rows]):.2f} |")
        lines.append("")
    lines += ["| synthetic clip | frames with a hand | keypoint PCK@0.2 | joint error mm | "
              "hand-mask IoU | fit px | s |", "|---|---|---|---|---|---|---|"]
    for r in results["clips"]:
        lines.append(f"| {r['clip']} | {r['found']:.2f} | {r['keypoint_pck']:.2f} | "
                     f"{r['joint_error_mm']:.1f} | {r['hand_iou']:.2f} | {r['fit_px']:.1f} | "
                     f"{r['seconds']:.0f} |")
    if results.get("reconstruction"):
        lines += ["", "| clip | F@5 true clip | F@5 preprocessed | F@10 true clip | "
                  "F@10 preprocessed |", "|---|---|---|---|---|"]
        for r in results["reconstruction"]:
            lines.append(f"| {r['clip']} | {r['true_F@5']:.2f} | {r['preprocessed_F@5']:.2f} "
                         f"| {r['true_F@10']:.2f} | {r['preprocessed_F@10']:.2f} |")
    s = results["speed"]
    lines += ["", f"Landmark network: {s['landmark_ms_per_crop']:.1f} ms a crop. A 100-frame "
              f"640x480 video preprocessed in {s['preprocess_100_frames_640x480_s']:.0f} s "
              "(8 frames kept)."]
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    if _SUMMARISE.value:
        with open(_OUT.value) as f:
            results = json.load(f)
        with open(os.path.splitext(_OUT.value)[0] + ".md", "w") as f:
            f.write(provenance_line(results["provenance"]) + "\n\n" + markdown(results))
        return
    model = load_hand_model("right")
    landmarker = KP.HandLandmarker()
    results = dict(real=[], clips=[])
    if not _SKIP_REAL.value:
        if not _MMPOSE.value:
            raise app.UsageError("--mmpose=PATH (or --skip_real)")
        results["real"] = bench_real(_MMPOSE.value, landmarker)
    with tempfile.TemporaryDirectory() as work:
        for spec in _CLIPS.value:
            category, seed = spec.rsplit(":", 1)
            results["clips"].append(bench_clip(model, landmarker, category, int(seed), work))
        results["speed"] = bench_speed(model, landmarker, work)
        if _RECONSTRUCT.value:
            results["reconstruction"] = bench_reconstruction(model, landmarker,
                                                             _RECONSTRUCT.value, work)
    write_results(results, _OUT.value)
    text = markdown(results)
    write_markdown(text, os.path.splitext(_OUT.value)[0] + ".md")
    print(text)


if __name__ == "__main__":
    sys.exit(app.run(main))
