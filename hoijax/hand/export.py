"""Writes the stand-in hand as a MANO-format pickle of plain numpy arrays.

  python -m hoijax.hand.export --out standin_right.pkl [--side right|left]

The pickle uses the official key names and shapes (v_template, shapedirs, posedirs,
J_regressor, weights, kintree_table, f, hands_components, hands_mean, ...), so other MANO
implementations (smplx, manopth, ...) can load and pose it; it needs neither chumpy nor
hoijax to be read.
"""
from __future__ import annotations

import os

from absl import app, flags

from hoijax.hand.io import save_mano_pickle
from hoijax.hand.standin import load_standin

_OUT = flags.DEFINE_string("out", None, "Output pickle path.", required=True)
_SIDE = flags.DEFINE_enum("side", "right", ["right", "left"], "Which hand.")


def main(argv):
    del argv
    folder = os.path.dirname(os.path.abspath(_OUT.value))
    if not os.path.isdir(folder):
        raise app.UsageError(f"--out={_OUT.value}: folder {folder} does not exist")
    model = load_standin(_SIDE.value)
    save_mano_pickle(model, _OUT.value)
    print(f"wrote the {_SIDE.value} stand-in hand ({model.num_verts} vertices, "
          f"{model.faces.shape[0]} faces) to {_OUT.value}")


if __name__ == "__main__":
    app.run(main)
