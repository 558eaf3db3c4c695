"""Reconstructs hand-object clips: python -m hoijax.reconstruct --clip=DIR --out=OUT.

  python -m hoijax.reconstruct --clip=synthetic:mug --out=out/mug
  python -m hoijax.reconstruct --clip=synthetic:bowl:3 --out=out/bowl --config.num_steps=300
  python -m hoijax.reconstruct --clip=clips/a --clip=clips/b --out=out    # several clips
  python -m hoijax.reconstruct --clip=DIR --out=OUT --config=configs/reconstruct.py:no_prior

`--clip=synthetic:CATEGORY[:SEED]` generates a synthetic clip first (written to OUT/clip).
Writes OUT/object.obj, OUT/hands/*.obj, OUT/params.npz, OUT/recon.mp4 (+ recon.png),
OUT/losses.png and, with ground truth, OUT/metrics.json; with several clips, one folder
per clip under OUT. Every clip is validated before any fitting starts. Clips with the same
frame count are fitted together (one vmapped step, the clips split over all devices). The
fit checkpoints into OUT/fit every `config.checkpoint_every` steps: rerunning the same
command after a kill resumes it (delete OUT/fit to start over).
"""
from __future__ import annotations

import os

from absl import app, flags, logging
from ml_collections import config_flags

from hoijax.recon.sources import resolve_clips, synthetic_clip_folder

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(__file__), "..", "configs", "reconstruct.py"),
    "Reconstruction configuration (configs/reconstruct.py[:variant]).")
_CLIP = flags.DEFINE_multi_string("clip", None, "Clip folder, glob, or synthetic:CATEGORY"
                                  "[:SEED]; repeat for several clips.", required=True)
_OUT = flags.DEFINE_string("out", None, "Output folder.", required=True)
_CATEGORY = flags.DEFINE_string("category", None, "Overrides the clips' text.txt.")
_MANO_DIR = flags.DEFINE_string("mano_dir", None, "Folder with the official MANO_*.pkl.")


def main(argv):
    del argv
    from hoijax.data.clip import ClipError, load_clip
    from hoijax.hand import load_hand_model
    from hoijax.models.prior import load_prior
    from hoijax.runtime import enable_compilation_cache
    enable_compilation_cache()
    config = _CONFIG.value
    try:
        jobs = resolve_clips(_CLIP.value)
        model = load_hand_model("right", _MANO_DIR.value)
        prior = load_prior(config.prior or None)
    except (ValueError, FileNotFoundError) as e:
        raise app.UsageError(str(e)) from None
    single = len(jobs) == 1
    clips = []
    for name, source in jobs:  # validate (or generate) every clip before fitting any
        out = _OUT.value if single else os.path.join(_OUT.value, name)
        if isinstance(source, tuple):
            _, category, seed = source
            source = synthetic_clip_folder(model, os.path.join(out, "clip"), category, seed)
        try:
            clips.append((out, load_clip(source)))
        except ClipError as e:
            raise app.UsageError(str(e)) from None
    from hoijax.recon.fit import fit_clips
    from hoijax.recon.outputs import write_outputs
    logging.set_verbosity(logging.WARNING)
    groups = {}  # clips with the same frame count are fitted together (vmapped, sharded)
    for out, clip in clips:
        groups.setdefault(clip.num_frames, []).append((out, clip))
    for num_frames, group in groups.items():
        workdir = os.path.join(_OUT.value, "fit" if single else f"fit_{num_frames}_frames")
        if len(group) > 1:
            print(f"fitting {len(group)} clips of {num_frames} frames together")
        results = fit_clips([clip for _, clip in group], model, prior, config,
                            categories=[_CATEGORY.value] * len(group), workdir=workdir)
        for (out, clip), result in zip(group, results):
            metrics = write_outputs(out, result, clip, model, config)
            summary = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if k != "seconds")
            print(f"{out}: {result.seconds:.0f} s" + (f"; {summary}" if summary else ""))


if __name__ == "__main__":
    app.run(main)
