"""Hand models: MANO (official files, loaded without chumpy) and hoijax's stand-in hand."""
from hoijax.hand.io import ManoFileError, load_mano, save_mano_pickle
from hoijax.hand.model import (JOINT_NAMES, MANO_PARENTS, OPENPOSE_ORDER, ManoModel, ManoOutput,
                               mano_forward)
from hoijax.hand.select import MANO_DIR_ENV, load_hand_model
from hoijax.hand.standin import load_standin

__all__ = [
    "JOINT_NAMES", "MANO_DIR_ENV", "MANO_PARENTS", "OPENPOSE_ORDER", "ManoFileError",
    "ManoModel", "ManoOutput", "load_hand_model", "load_mano", "load_standin", "mano_forward",
    "save_mano_pickle",
]
