"""The hand demo: the hand model articulating from an open hand into a grasp.

  python -m hoijax.demo --out=demo_out
  python -m hoijax.demo --config=configs/demo.py:left --config.num_frames=8 --out=demo_out

Expected result (stand-in hand, 2-core CPU): about 15 s, writing demo_out/hand.mp4,
demo_out/frames.png, demo_out/geometry.png, demo_out/hands/*.obj and
demo_out/hand_model.pkl.
"""
import ml_collections


def get_config(arg=None):
    config = ml_collections.ConfigDict()
    config.side = "left" if arg == "left" else "right"  # which hand: "right" or "left"
    config.mano_dir = ""  # folder with the official MANO_*.pkl; empty: $HOIJAX_MANO_DIR or stand-in
    config.num_frames = 24  # frames from the open hand to the grasp
    config.grasp_seed = 3  # seed of the natural-pose sampler that picks the grasp
    config.image_size = 256  # rendered frame size in pixels (square)
    config.fps = 12  # video frame rate
    config.geometry_size = 128  # size (px) of the rasterized geometry-image panels
    return config
