"""Writes synthetic clips in the clip format (docs/design.md section 4).

  python -m hoijax.data.synthetic --category mug --seed 0 --num_frames 8 --out DIR
  python -m hoijax.data.synthetic --category all --num_clips 4 --out DIR   # batch
  python -m hoijax.data.synthetic --category "spray bottle" --seed 0 --num_frames 6 --out DIR

One clip: DIR is the clip folder. Batch (`--num_clips N` or a group: `--category all`, every
category; `hoi4d`, the six HOI4D ones; `new`, the other ten; `held_out`, the shapes outside
every category: egg, tape roll, dumbbell, pyramid): one folder per clip,
DIR/<category>_<seed>, seeds seed .. seed+N-1 for each category. Every clip is read
back with `hoijax.data.clip.load_clip` after writing. Expected: about 10 s for one 8-frame
128x128 clip on a 2-core CPU (grasp synthesis and mesh rendering dominate).
"""
from __future__ import annotations

import dataclasses
import time

from absl import app, flags
from tqdm import tqdm

from hoijax.data.clip import load_clip, save_clip
from hoijax.data.synthetic.clips import ClipSpec, TrackerNoise, generate_clip, plan_clips
from hoijax.hand import load_hand_model
from hoijax.runtime import enable_compilation_cache

_CATEGORY = flags.DEFINE_string("category", "mug", "Object category, any spelling ('toy car', "
                                "toy_car, ToyCar), a held-out shape (egg, 'tape roll', "
                                "dumbbell, pyramid), or a group: all, hoi4d, new, held_out.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the object, grasp, motion and noise.")
_NUM_FRAMES = flags.DEFINE_integer("num_frames", 8, "Frames per clip.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 128, "Frame size in pixels (square).")
_NUM_CLIPS = flags.DEFINE_integer("num_clips", None, "Batch mode: clips per category.")
_OUT = flags.DEFINE_string("out", None, "Output folder (must not exist).", required=True)
_MANO_DIR = flags.DEFINE_string("mano_dir", None, "Folder with the official MANO_*.pkl.")
_FAILURE_RATE = flags.DEFINE_float("failure_rate", 0.1,
                                   "Probability of a gross hand-tracker failure per frame.")


def main(argv):
    del argv
    if _NUM_FRAMES.value < 2:
        raise app.UsageError(f"--num_frames={_NUM_FRAMES.value}: need at least 2")
    if not 32 <= _IMAGE_SIZE.value <= 1024:
        raise app.UsageError(f"--image_size={_IMAGE_SIZE.value}: choose 32 .. 1024")
    if _NUM_CLIPS.value is not None and _NUM_CLIPS.value < 1:
        raise app.UsageError(f"--num_clips={_NUM_CLIPS.value}: need at least 1")
    try:
        jobs = plan_clips(_CATEGORY.value, _SEED.value, _NUM_CLIPS.value, _OUT.value)
    except ValueError as e:
        raise app.UsageError(str(e)) from None




    enable_compilation_cache()
    model = load_hand_model("right", _MANO_DIR.value)
    noise = dataclasses.replace(TrackerNoise(), failure_rate=_FAILURE_RATE.value)
    for category, seed, folder in tqdm(jobs, desc="clips", disable=len(jobs) == 1):
        start = time.time()
        spec = ClipSpec(category=category, seed=seed, num_frames=_NUM_FRAMES.value,
                        image_size=_IMAGE_SIZE.value, noise=noise)
        clip = generate_clip(model, spec)
        stats = clip.pop("stats")
        save_clip(folder, **clip)
        load_clip(folder)  # the written clip must read back
        d = stats["distance_mm"]
        tqdm.write(f"{folder}: {category}, {spec.num_frames} frames {spec.image_size}px, "
                   f"hand-object distance {d.min():+.2f} .. {d.max():+.2f} mm, "
                   f"{int(stats['tracker_failed'].sum())} tracker failures, "
                   f"{time.time() - start:.1f} s")


if __name__ == "__main__":
    app.run(main)
