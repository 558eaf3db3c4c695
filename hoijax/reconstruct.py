"""Reconstructs hand-object clips: python -m hoijax.reconstruct --clip=DIR --out=OUT.

  python -m hoijax.reconstruct --clip=synthetic:mug --out=out/mug
  python -m hoijax.reconstruct --clip=synthetic:bowl:3 --out=out/bowl --config.num_steps=300
  python -m hoijax.reconstruct --clip=clips/a --clip=clips/b --out=out    # several clips
  python -m hoijax.reconstruct --clip=DIR --out=OUT --config=configs/reconstruct.py:no_prior
  python -m hoijax.reconstruct --clip=DIR --out=OUT --config=configs/reconstruct.py:grid  # 3D prior
  python -m hoijax.reconstruct --video=VIDEO --object_masks=MASKS --out=OUT  # your video

`--video` preprocesses a video (or a folder of frames) into OUT/clip first, with the flags
of `python -m hoijax.preprocess` (docs/video.md); a rerun reuses that clip.

`--clip=synthetic:CATEGORY[:SEED]` generates a synthetic clip first (written to OUT/clip).
Writes OUT/object.obj, OUT/hands/*.obj, OUT/params.npz, OUT/recon.mp4 (+ recon.png),
OUT/losses.png and, with ground truth, OUT/metrics.json; with several clips, one folder
per clip under OUT. The config, the prior and every clip are validated before any fitting
starts. Clips with the same frame count are fitted together (one vmapped step, the clips
split over all devices: `hoijax.recon.run`). The fit checkpoints into OUT/fit (several
clips: OUT/fit_FIRST..LAST) every `config.checkpoint_every` steps: rerunning the same
command after a kill resumes it (delete the folder to start over; a folder holding a fit
already past `num_steps` is refused).
"""
from __future__ import annotations

from absl import flags, logging

from hoijax import cli

_CONFIG = cli.define_config("config", "reconstruct.py",
                            "Reconstruction configuration (configs/reconstruct.py[:variant]).")
_CLIP = flags.DEFINE_multi_string("clip", None, "Clip folder, glob, or synthetic:CATEGORY"
                                  "[:SEED]; repeat for several clips.")
_VIDEO = flags.DEFINE_string("video", None, "A video, folder of frames or photo: "
                             "preprocessed into OUT/clip, then reconstructed.")
_VIDEO_FLAGS = cli.define_video_flags()
_OUT = flags.DEFINE_string("out", None, "Output folder.", required=True)
_CATEGORY = flags.DEFINE_string("category", None, "Overrides the clips' text.txt.")
_MANO_DIR = flags.DEFINE_string("mano_dir", None, "Folder with the official MANO_*.pkl.")


def main(argv):
    del argv
    # Imported here so that `--help` and flag errors answer without loading JAX.
    from hoijax import cli
    from hoijax.hand import load_hand_model
    from hoijax.recon.checks import check_config
    from hoijax.recon.priors import load_priors
    from hoijax.recon.run import load_jobs, reconstruct
    from hoijax.runtime import enable_compilation_cache
    from hoijax.video.preprocess import video_clip
    from hoijax.video.weights import WeightsError
    enable_compilation_cache()
    config = _CONFIG.value
    if bool(_CLIP.value) == bool(_VIDEO.value):
        raise cli.CliError("pass either --clip (one or more) or --video")
    try:  # every argument, the priors and every clip are checked before any fitting
        check_config(config)
        model = load_hand_model("right", _MANO_DIR.value)
        priors = load_priors(config)
        cli.output_folder(_OUT.value)
        clips = _CLIP.value or [video_clip(
            _VIDEO.value, _OUT.value, {k: v.value for k, v in _VIDEO_FLAGS.items()},
            _CATEGORY.value, model)]
        jobs = load_jobs(clips, _OUT.value, model)
    except (ValueError, FileNotFoundError, WeightsError) as e:
        raise cli.CliError(str(e)) from None
    logging.set_verbosity(logging.WARNING)
    try:
        reconstruct(jobs, model, priors, config, workdir=_OUT.value, category=_CATEGORY.value)
    except ValueError as e:  # a checkpoint folder of another fit, or one past num_steps
        raise cli.CliError(str(e)) from None


if __name__ == "__main__":
    from hoijax import cli
    cli.run(main)
