import os

import pytest


@pytest.fixture(scope="session")
def synthetic_video_clip(tmp_path_factory):
    """A synthetic clip (mug, seed 0, 4 frames, 128 px) whose frames stand in for a video,
    with its ground truth."""
    from hoijax.hand import load_hand_model
    from hoijax.recon.sources import synthetic_clip_folder
    folder = os.path.join(tmp_path_factory.mktemp("video"), "mug_0")
    return synthetic_clip_folder(load_hand_model("right"), folder, "mug", 0, num_frames=4)
