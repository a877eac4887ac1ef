"""The post's experiments stay the post's experiments: the blog presets' first epochs, pinned.

The numbers are what both scripts printed on 2026-11-25 (numpy 2.4, gymnasium 1.4, float64) with

    python run_cartpole.py --epochs 5 --seed 0 --eval 0 --csv cartpole.csv
    python run_swingup.py --preset blog --epochs 3 --seed 0 --eval 0 --csv swingup.csv

Any change to these presets' algorithm, random streams or arithmetic order moves them; a
deliberate one must say which and why.
"""

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import run_cartpole  # noqa: E402
import run_swingup  # noqa: E402
from minipg.tools import cli  # noqa: E402

# Per epoch: avg_reward, mean_return, episodes, loss, entropy (, mean log_std)
CARTPOLE = [
    (21.52076002814919, 21.334975369458128, 1421, 8.630816771166625, 0.678030974428348),
    (28.87955182072829, 28.34173669467787, 1071, 11.130964994082694, 0.6789687669323208),
    (36.8698224852071, 36.11952662721893, 845, 13.293332891545019, 0.6659684559419654),
    (42.42062415196744, 41.22795115332429, 737, 14.287412340162248, 0.6538207475872164),
    (43.571030640668525, 42.467966573816156, 718, 14.158312999842599, 0.6422481534634222),
]
SWINGUP = [
    (-422.9346970929926, -315.5477525730433, 492, -248.9597716167782, 1.9189385332046733, 0.49000000031057883),
    (-116.85301166941926, -99.2612351517596, 1060, -45.62914265450915, 1.9089385335152513, 0.48010283013369226),
    (-58.87319151854468, -50.09160587710907, 1313, -2.2442217502204236, 1.899041363338366, 0.4703873682625988),
]
KEYS = ("avg_reward", "mean_return", "episodes", "loss", "entropy", "log_std")


@pytest.mark.parametrize("experiment, argv, expected", [
    (run_cartpole.CARTPOLE, ["--epochs", "5"], CARTPOLE),
    (run_swingup.SWINGUP, ["--preset", "blog", "--epochs", "3"], SWINGUP),
], ids=["cartpole", "swingup"])
def test_blog_preset_reproduces_its_first_epochs_bit_for_bit(experiment, argv, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, history = cli.main(experiment, argv + ["--seed", "0", "--eval", "0", "--plot", str(tmp_path / "c.png")])
    got = [tuple(history[key][epoch] for key in KEYS[:len(expected[0])]) for epoch in range(len(expected))]
    assert got == expected  # exact floats: same bits


# The swing-up's `solve` preset (float32, value baseline, GAE, terminal value, clipped passes, mirror,
# schedules), pinned on 2026-11-30 before the solver moved out of `reinforce`:
#     python run_swingup.py --epochs 3 --seed 0 --eval 0
# Its float32 arithmetic (OpenBLAS's sgemm kernels, NumPy's SIMD tanh and exp) rounds differently
# on different kinds of CPU: the first history is that of the machines it was pinned on, the
# second that of an AMD EPYC with AVX2 and no AVX-512 (OpenBLAS's Haswell kernels), pinned on
# 2026-12-07 with the same code.  Each is bit for bit; any change to the algorithm moves both.
SOLVE = {
    "pinned first": [
        (-407.0489501953125, -365.02489882249097, 65, -0.0021523756775422955, 1.422482293844223, -0.5),
        (-277.5045471191406, -276.6303294301033, 64, -0.0029891775018768387, 0.9129290163516999, -1.0),
        (-157.36456298828125, -154.8441902399063, 64, -0.0008401377810514532, 0.415039935708046, -1.5),
    ],
    "AVX2, no AVX-512": [
        (-407.0489196777344, -365.0248755821815, 65, -0.0021492878600838593, 1.422526253759861, -0.5),
        (-276.3901672363281, -275.49535059928894, 64, -0.002866056325729005, 0.9121028549969197, -1.0),
        (-158.8498077392578, -156.87984371185303, 64, -0.000541952345520258, 0.4144920758903027, -1.5),
    ],
}
# sha256 of the policy's parameters after those 3 epochs, in parameters() order, per history
SOLVE_PARAMETERS = {
    "pinned first": "c1b3baa2d5e26c5b3fe5a3fad3e3cb2a1d7ab2040190026bb511508448d6dcd5",
    "AVX2, no AVX-512": "aa358ba3d50c209b124d67209fb9c9dc46a618cc9741bcc15e3efd9b390c86c0",
}


def test_solve_preset_reproduces_its_first_epochs_bit_for_bit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    policy, history = cli.main(run_swingup.SWINGUP, ["--epochs", "3", "--seed", "0", "--eval", "0",
                                                     "--plot", str(tmp_path / "c.png")])
    got = [tuple(history[key][epoch] for key in KEYS) for epoch in range(3)]
    kinds = [kind for kind, pinned in SOLVE.items() if got == pinned]
    assert kinds, f"the first epochs match no pinned history: {got}"
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(p).tobytes() for p in policy.parameters()))
    assert digest.hexdigest() == SOLVE_PARAMETERS[kinds[0]]
