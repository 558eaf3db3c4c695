"""Benchmark of the two-hand prior (InterHandGen's protocol, hoijax.twohand.eval).

  python experiments/bench_two_hands.py --data=runs/two_hand_data \
      --joint_prior=runs/two_hand_prior_joint/prior --num=10000

Trains the PointNet feature network on the training pairs (interaction-type labels),
then for each variant samples --num pairs and measures FID, KID, diversity,
precision/recall (k = 5) against the held-out pairs, and penetration volume (cm^3) and
contact ratio on the first --physical_num samples. Variants:
  full     cascaded, CFG 1.1 on the relative root, anti-penetration guidance
  no_ap    without the anti-penetration guidance
  no_cfg   without CFG (guidance 1)
  joint    the non-cascaded baseline (one diffusion over both hands; anti-penetration on)
  joint_no_ap
and a `held_in` row: training pairs against the held-out ones (the floor of the metrics).
Sampling seconds are measured after a warm-up call (compilation reported separately).
Writes experiments/results/two_hands.{json,md} and two_hands_samples.png.
"""
from __future__ import annotations

import json
import time

import numpy as np
from absl import app, flags
from benchlib import write_markdown, write_results

_DATA = flags.DEFINE_string("data", "runs/two_hand_data", "two_hands.npz folder.")
_PRIOR = flags.DEFINE_string("prior", None, "Cascaded prior folder (default: shipped).")
_JOINT = flags.DEFINE_string("joint_prior", "runs/two_hand_prior_joint/prior",
                             "Non-cascaded baseline prior folder ('' to skip).")
_NUM = flags.DEFINE_integer("num", 10000, "Samples per variant.")
_PHYS = flags.DEFINE_integer("physical_num", 2000, "Samples whose meshes are measured.")
_VARIANTS = flags.DEFINE_list("variants", ["full", "no_ap", "no_cfg", "joint",
                                           "joint_no_ap"], "Variants.")
_FEATURE_STEPS = flags.DEFINE_integer("feature_steps", 300, "PointNet training steps.")
_OUT = flags.DEFINE_string("out", "experiments/results/two_hands", "Results prefix.")
_SEED = flags.DEFINE_integer("seed", 1, "Sampling seed (the AP scale was tuned on seed 0).")


def variant_setup(name, prior, joint):
    """(prior, Guidance overrides) of a variant."""
    return {"full": (prior, {}), "no_ap": (prior, dict(anti_penetration=False)),
            "no_cfg": (prior, dict(guidance=1.0)), "joint": (joint, {}),
            "joint_no_ap": (joint, dict(anti_penetration=False))}[name]


def main(argv):
    del argv
    import mediapy

    from hoijax import viz
    from hoijax.checks import options_from
    from hoijax.data.synthetic.two_hands import TYPES, hand_meshes, load, pair_image
    from hoijax.hand import load_hand_model
    from hoijax.runtime import enable_compilation_cache
    from hoijax.twohand import eval as E
    from hoijax.twohand import representation as rep
    from hoijax.twohand.prior import load_two_hand_prior
    from hoijax.twohand.sample import Guidance, sample_pairs
    enable_compilation_cache()
    models = (load_hand_model("left"), load_hand_model("right"))
    data = load(_DATA.value)
    held = data["held_out"]
    mano = {f"{s}_{k}": data[f"{s}_{k}"] for s in rep.SIDES for k in rep.KEYS}
    canon = E.canonical(models, mano)
    rng = np.random.default_rng(0)
    train_idx = rng.choice(np.nonzero(~held)[0], min(2000, int((~held).sum())), replace=False)
    held_idx = np.nonzero(held)[0]

    def clouds(m, idx):
        lv, rv = hand_meshes(models, m, idx)
        return E.point_clouds(lv, rv), lv, rv

    t0 = time.time()
    train_clouds, _, _ = clouds(canon, train_idx)
    held_clouds, hlv, hrv = clouds(canon, held_idx)
    graphdef, params, acc = E.train_feature_net(train_clouds, data["type"][train_idx],
                                                len(TYPES), steps=_FEATURE_STEPS.value)
    held_logits = E._apply(graphdef, params, held_clouds, "logits")
    held_acc = float(np.mean(held_logits.argmax(-1) == data["type"][held_idx]))
    real = E.features(graphdef, params, held_clouds)
    results = dict(feature_net=dict(train_accuracy=acc, held_out_accuracy=held_acc,
                                    seconds=time.time() - t0, held_out_pairs=len(held_idx)),
                   num=_NUM.value, physical_num=_PHYS.value, variants={})
    print(json.dumps(results["feature_net"]))
    fake_in = E.features(graphdef, params, train_clouds)
    row = E.evaluate(real, fake_in, models, *hand_meshes(models, canon,
                                                         train_idx[:_PHYS.value]))
    results["variants"]["held_in"] = row
    results["variants"]["held_out_itself"] = E.physical(models, hlv, hrv)
    print("held_in", json.dumps(row))

    prior = load_two_hand_prior(_PRIOR.value)
    joint = load_two_hand_prior(_JOINT.value) if _JOINT.value else None
    pictures = {}
    for name in _VARIANTS.value:
        p, overrides = variant_setup(name, prior, joint)
        if p is None:
            continue
        g = options_from(Guidance, p.config.sample, **overrides)
        t = time.time()
        # Warm-up at the chunk's shape (compilation, reported apart from the timing).
        sample_pairs(p, models, min(2000, _NUM.value), seed=99, guidance=g, chunk=2000)
        compile_s = time.time() - t
        t = time.time()
        a, b = sample_pairs(p, models, _NUM.value, seed=_SEED.value, guidance=g, chunk=2000)
        seconds = time.time() - t
        gen = rep.decode(models, a, b)
        f_clouds, lv, rv = clouds(gen, np.arange(_NUM.value))
        fake = E.features(graphdef, params, f_clouds)
        row = E.evaluate(real, fake, models, lv[:_PHYS.value], rv[:_PHYS.value])
        row.update(sample_seconds=seconds, compile_seconds=compile_s,
                   guidance=g.guidance, anti_penetration=g.anti_penetration,
                   mode=p.config.mode)
        results["variants"][name] = row
        print(name, json.dumps(row))
        pictures[name] = (lv[:8], rv[:8])
    write_results(results, _OUT.value + ".json")
    write_table(results, _OUT.value + ".md")
    fl, fr = np.asarray(models[0].faces), np.asarray(models[1].faces)
    rows = []
    for name, (lv, rv) in pictures.items():
        from hoijax.data.synthetic.gallery import label
        tiles = [pair_image(lv[k], rv[k], fl, fr, 150) for k in range(len(lv))]
        rows.append(np.concatenate([label(name, 150)] + tiles, axis=1))
    if rows:
        mediapy.write_image(_OUT.value + "_samples.png", np.concatenate(rows, axis=0))
    del viz


def write_table(results, path):
    cols = ("fid", "kid", "diversity", "precision", "recall", "penetration_cm3",
            "contact_ratio", "sample_seconds")
    lines = ["| variant | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, row in results["variants"].items():
        cells = [f"{row[c]:.4g}" if c in row else "" for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    fn = results["feature_net"]
    lines.append("")
    lines.append(f"{results['num']} samples per variant (physical metrics on the first "
                 f"{results['physical_num']}); feature net accuracy train "
                 f"{fn['train_accuracy']:.3f}, held-out {fn['held_out_accuracy']:.3f} on "
                 f"{fn['held_out_pairs']} held-out pairs.")
    write_markdown("\n".join(lines) + "\n", path)


if __name__ == "__main__":
    app.run(main)
