"""Picks the anti-penetration guidance's loss unit (config.sample.ap_unit) on seed 0.

  python experiments/tune_two_hand_guidance.py --prior=runs/two_hand_prior/prior

For each unit, samples --num pairs (seed 0; the benchmark uses seed 1) and reports the
mean mesh penetration volume (cm^3) and how far the guidance moved the right hand (mean
wrist displacement from the unguided samples, cm). Writes
experiments/results/two_hands_ap_tuning.json.
"""
from __future__ import annotations

import json

import numpy as np
from absl import app, flags

_PRIOR = flags.DEFINE_string("prior", None, "Prior folder (default: shipped).")
_NUM = flags.DEFINE_integer("num", 1000, "Samples per setting.")
_UNITS = flags.DEFINE_list("units", ["0.003", "0.01", "0.03", "0.1", "0.3"], "ap_unit values.")
_OUT = flags.DEFINE_string("out", "experiments/results/two_hands_ap_tuning.json", "Output.")


def main(argv):
    del argv
    from hoijax.checks import options_from
    from hoijax.data.synthetic.two_hands import hand_meshes
    from hoijax.hand import load_hand_model
    from hoijax.runtime import enable_compilation_cache
    from hoijax.twohand import eval as E
    from hoijax.twohand import representation as rep
    from hoijax.twohand.prior import load_two_hand_prior
    from hoijax.twohand.sample import Guidance, sample_pairs
    enable_compilation_cache()
    models = (load_hand_model("left"), load_hand_model("right"))
    prior = load_two_hand_prior(_PRIOR.value)
    rows = {}
    base = None
    for unit in [None] + [float(u) for u in _UNITS.value]:
        g = options_from(Guidance, prior.config.sample, anti_penetration=unit is not None,
                                 ap_unit=unit)
        a, b = sample_pairs(prior, models, _NUM.value, seed=0, guidance=g, chunk=_NUM.value)
        lv, rv = hand_meshes(models, rep.decode(models, a, b))
        row = E.physical(models, lv, rv)
        if base is None:
            base = b
        row["wrist_shift_cm"] = float(np.linalg.norm(b[:, rep.TRANS] - base[:, rep.TRANS],
                                                     axis=1).mean() * 100)
        rows["off" if unit is None else str(unit)] = row
        print(unit, json.dumps(row), flush=True)
    with open(_OUT.value, "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    app.run(main)
