"""Picking the hand model: the official MANO when the user has it, else the stand-in."""
from __future__ import annotations

import os

from absl import logging

from hoijax.hand.io import ManoFileError, load_mano
from hoijax.hand.model import ManoModel
from hoijax.hand.standin import load_standin

MANO_DIR_ENV = "HOIJAX_MANO_DIR"


def mano_file(mano_dir: str, side: str) -> str:
    """Path of the official pickle for `side` inside `mano_dir` (mano_v1_2/models)."""
    return os.path.join(mano_dir, f"MANO_{side.upper()}.pkl")


def load_hand_model(side: str = "right", mano_dir: str | None = None) -> ManoModel:
    """The official MANO from `mano_dir` (or $HOIJAX_MANO_DIR), else the stand-in hand.

    A `mano_dir` that is given but does not hold the model is an error, never a silent
    fall-back to the stand-in. The choice is logged.
    """
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    source = "--mano_dir"
    if not mano_dir:
        mano_dir, source = os.environ.get(MANO_DIR_ENV, ""), f"${MANO_DIR_ENV}"
    if mano_dir:
        path = mano_file(mano_dir, side)
        if not os.path.isfile(path):
            raise ManoFileError(f"{source}={mano_dir}: expected the official MANO file {path} "
                                "(the folder mano_v1_2/models of the MANO download)")
        logging.info("hand model: official MANO %s (from %s)", path, source)
        return load_mano(path)
    logging.info("hand model: hoijax stand-in hand (%s); set --mano_dir or $%s to use the "
                 "official MANO", side, MANO_DIR_ENV)
    return load_standin(side)
