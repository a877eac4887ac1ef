"""The suite: minipg on standard tasks, evaluated over deterministic episodes (100; 20 for the
MuJoCo tasks but Reacher, and BipedalWalker, whose episodes are long) against an anchor, in two tables
(Table):

- the solver's (SOLVER, TASKS): each task with its own preset (presets.toml) for seeds 0–9,
  against the SB3 RL Zoo's PPO figure or, for the MuJoCo tasks, the figures libraries report;
- the post's REINFORCE at scale (REINFORCE, REINFORCE_TASKS): each task with `--preset
  reinforce` (the presets' family [reinforce]) for seeds 0–4, against Tianshou's REINFORCE.

    python -m minipg.tools.suite run [--table reinforce] [ENV_ID ...]  # python -m minipg --env ID --seeds ... --jobs 2
    python -m minipg.tools.suite report [--table reinforce]             # docs/results.md's tables and figures
    python -m minipg.tools.suite lone [ENV_ID ...]                      # one run at a time (docs/speed.md)

`make suite` runs `run` and `report` for one table (TABLE=solver, the default, or reinforce).
`run` writes, per task, into the table's directory (runs/suite/, runs/suite/reinforce/): the
--results JSON (per seed its evaluation returns, env steps and wall seconds), the CSVs of the
learning curves, the checkpoints, and the task's env-alone floor (floor.py), measured just
before its runs: the seconds its vector env (the preset's num_envs and vectorization) takes to
step through the preset's env steps with random actions and no policy.  `report` quotes each
run's wall time (training and evaluation, the seeds run two at a time) in seconds and as a
ratio to that floor: a slower or busier machine stretches both alike, so the ratio carries
from one sitting to another.  Its column "seeds at the anchor" counts the seeds whose own
evaluation reaches the anchor: the median may reach it while a seed fails outright.  It
rewrites each table between its docs/results.md markers (`<!-- suite -->`, `<!-- reinforce -->`)
and draws one small learning-curve panel per task (docs/suite.png, docs/reinforce.png): the
training episodes' mean return (the sampling policy), mean ± std over the seeds against env steps,
with the anchor as a dashed line.  The panels are drawn from each task's stored curve,
docs/data/curves/<table>/<task>.csv, which the report writes for every task it has runs of (but
runs made with other options than the preset's), so that, once every task has one, running one
task redraws the whole figure.  Without --table it reports each table whose
directory exists, so a clone with no runs of one table keeps that table's rows; and within a
table, a task with no runs keeps its row and its stored curve.  The figure is redrawn only when
every task with a measured row has a stored curve; a note names those that lack one.

`lone` times one run of each task's preset at a time (seed 0, --eval 0: no evaluation; the wall
time of the whole `python -m minipg` process, its start, imports, env and learning-curve plot
included), the machine otherwise idle, with the preset's backend and then with the other one
(EnvPool or gymnasium's `auto`), each just after its env-alone floor for the same backend and
budget; it prints the rows of docs/speed.md's table of lone runs (a row per task, "—" for a
backend that could not run) and writes runs/suite/lone.json after each task.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..options import load_presets, preset_for, toml_value
from .floor import env_floor_seconds

# The tasks: (the anchor's mean return, the env steps of its budget, evaluation episodes).
# Classic control and the Lunar Landers: the SB3 RL Zoo's PPO (its Lunar Landers are v2, from an
# earlier gym: the anchor, not a promise).  MuJoCo and BipedalWalker: the anchors (the
# Zoo's PPO for Hopper v3, HalfCheetah v3, Walker2d v3, Ant v3, Swimmer v3 (γ = 0.9999) and
# BipedalWalker, the maximum 1,000 for InvertedPendulum, 9,300 for InvertedDoublePendulum (its
# ceiling is ≈ 9,360), Tianshou's PPO at 1M for Reacher (examples/mujoco/README.md: −4.1 on
# Reacher-v2, the highest over training of the mean evaluation of 10 seeds), CleanRL's PPO for
# Humanoid (716 on Humanoid-v4 at 1M steps, its benchmark's ppo_continuous_action)).
TASKS = {
    "CartPole-v1": (500.0, 100_000, 100),
    "Acrobot-v1": (-73.5, 1_000_000, 100),
    "MountainCar-v0": (-110.4, 1_000_000, 100),
    "Pendulum-v1": (-172.2, 100_000, 100),
    "MountainCarContinuous-v0": (88.3, 20_000, 100),
    "LunarLander-v3": (242.1, 1_000_000, 100),
    "LunarLanderContinuous-v3": (270.9, 1_000_000, 100),
    "InvertedPendulum-v5": (1000.0, 200_000, 20),
    "InvertedDoublePendulum-v5": (9300.0, 1_000_000, 20),
    "Reacher-v5": (-4.1, 1_000_000, 100),
    "HalfCheetah-v5": (5819.0, 1_000_000, 20),
    "Hopper-v5": (2410.0, 1_000_000, 20),
    "Walker2d-v5": (3479.0, 1_000_000, 20),
    "Ant-v5": (1327.0, 1_000_000, 20),
    "Swimmer-v5": (281.6, 1_000_000, 20),
    "Humanoid-v5": (716.0, 1_000_000, 20),
    "BipedalWalker-v3": (213.0, 5_000_000, 20),
}
# The post's REINFORCE at scale, each task with the presets' family [reinforce]: Tianshou's
# REINFORCE (examples/mujoco/README.md, "Tianshou (3M steps)": the max over training of the
# average return of 10 seeds, MuJoCo v3 / v2 tasks of gym 0.17), within 3M env steps.
REINFORCE_TASKS = {env_id: (anchor, 3_000_000, 20) for env_id, anchor in {
    "InvertedPendulum-v5": 999.2, "InvertedDoublePendulum-v5": 1059.7, "Reacher-v5": -10.5, "Swimmer-v5": 35.3,
    "HalfCheetah-v5": 884.0, "Hopper-v5": 395.8, "Walker2d-v5": 412.0, "Ant-v5": 474.9, "Humanoid-v5": 438.2,
}.items()}
# Budgets the issues allow beyond the anchor's (their row says which was used).
ALLOWED_STEPS = {"Pendulum-v1": 1_000_000, "MountainCarContinuous-v0": 1_000_000}
SEEDS = tuple(range(10))
JOBS = 2
ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "runs" / "suite"
MARKERS = ("<!-- suite -->", "<!-- /suite -->")


@dataclass(frozen=True)
class Table:
    """One table of docs/results.md.  tasks: {env_id: (anchor, the anchor's env steps, evaluation
    episodes)}; family: the presets' family its runs use (`--preset family`; None: each task's own
    table); markers: what the table stands between on the page; figure: its learning curves'
    file name in docs/; subdirectory: where in RUNS its runs go ("" for RUNS itself); seeds: the
    seeds each task is run for."""

    name: str
    tasks: dict
    family: str = None
    seeds: tuple = SEEDS
    markers: tuple = MARKERS
    figure: str = "suite.png"
    subdirectory: str = ""

    def runs(self):
        return RUNS / self.subdirectory if self.subdirectory else RUNS

    def preset(self, env_id, presets=None):
        """The preset name a run of the task uses, and its Options."""
        presets = load_presets() if presets is None else presets
        name = env_id if self.family is None else preset_for(presets, self.family, env_id)
        options = presets[name]
        return name, options if options.env == env_id else options.replace(env=env_id)


SOLVER = Table("solver", TASKS)
REINFORCE = Table("reinforce", REINFORCE_TASKS, family="reinforce", seeds=tuple(range(5)),
                  markers=("<!-- reinforce -->", "<!-- /reinforce -->"), figure="reinforce.png",
                  subdirectory="reinforce")
TABLES = {table.name: table for table in (SOLVER, REINFORCE)}


def stem(env_id):
    return env_id.replace("/", "-")


def preset_env_steps(options):
    """The env steps of a run of `options`: E envs × T steps × epochs."""
    return options.num_envs * options.T * options.epochs


def measure_floor(env_id, table=SOLVER):
    """The task's env-alone floor for its preset's budget (floor.env_floor_seconds, on a slice of
    at most 100,000 env steps, scaled): {env_id, num_envs, T, vectorization, env_steps, seconds}."""
    options = table.preset(env_id)[1]
    env_steps = preset_env_steps(options)
    seconds = env_floor_seconds(env_id, options.num_envs, env_steps, options.vectorization, T=options.T)
    return {"env_id": env_id, "num_envs": options.num_envs, "T": options.T, "vectorization": options.vectorization,
            "env_steps": env_steps, "seconds": seconds}


def run(env_ids, extra=(), table=SOLVER):
    """Train each task of `table` for its seeds with `python -m minipg` (JOBS at once; with the table's
    family, `--preset` it), writing into its runs directory; the task's env-alone floor first, into
    <task>.floor.json there with the seconds the task took in all."""
    runs = table.runs()
    for env_id in env_ids:
        floor = measure_floor(env_id, table)  # first: a task that cannot run leaves no directory behind
        runs.mkdir(parents=True, exist_ok=True)
        base = runs / stem(env_id)
        family = [] if table.family is None else ["--preset", table.family]
        command = [sys.executable, "-m", "minipg", "--env", env_id, *family, "--seeds", *map(str, table.seeds),
                   "--jobs", str(JOBS), "--eval", str(table.tasks[env_id][2]), "--results", f"{base}.json",
                   "--csv", f"{base}.csv", "--save", f"{base}.safetensors", "--plot", f"{base}.png", *extra]
        print(f"== {env_id} (env-alone floor {floor['seconds']:.1f} s for {floor['env_steps']:,} env steps): "
              f"{' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True)
        floor["total_seconds"] = time.perf_counter() - started
        (runs / f"{stem(env_id)}.floor.json").write_text(json.dumps(floor))


def other_backend(vectorization):
    """The backend a lone run is compared with: gymnasium's auto for EnvPool, else EnvPool."""
    return "auto" if vectorization == "envpool" else "envpool"


def lone_run(env_id, vectorization):
    """One run of the task's preset with `vectorization` (seed 0, --eval 0), just after its floor:
    {vectorization, env_steps, floor, wall} in seconds; its plot goes to a directory removed after.
    Raises ValueError if the env cannot be made with that backend, CalledProcessError if the run fails."""
    options = load_presets()[env_id]
    env_steps = preset_env_steps(options)
    floor = env_floor_seconds(env_id, options.num_envs, env_steps, vectorization, T=options.T)
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, "-m", "minipg", "--env", env_id, "--vectorization", vectorization, "--eval", "0",
                   "--plot", os.path.join(scratch, "curve.png")]
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
    return {"vectorization": vectorization, "env_steps": env_steps, "floor": floor, "wall": wall}


def lone_row(env_id, env_steps, runs):
    """A markdown row: the task, then per backend (the preset's, the other) "backend: floor → run
    (× floor)", or "backend: —" where `runs` holds None for it."""
    cells = [f"{backend}: —" if run is None else
             f"{backend}: {run['floor']:.1f} s → {run['wall']:.1f} s ({run['wall'] / run['floor']:.1f}×)"
             for backend, run in runs.items()]
    return f"| {env_id} ({env_steps:,} steps) | " + " | ".join(cells) + " |"


def lone(env_ids):
    """`lone`: each task's lone runs, preset's backend first; a backend that cannot run is skipped
    with a line on stderr (its cell "—"), and the other tasks go on."""
    RUNS.mkdir(parents=True, exist_ok=True)
    results = {}
    print("| task (env steps) | the preset's backend: floor → run (× floor) | the other backend |")
    print("|---|---|---|")
    for env_id in env_ids:
        options = load_presets()[env_id]
        runs = {}
        for vectorization in (options.vectorization, other_backend(options.vectorization)):
            try:
                runs[vectorization] = lone_run(env_id, vectorization)
            except (ValueError, subprocess.CalledProcessError) as error:  # EnvPool missing, the task not in it
                print(f"{env_id}, {vectorization}: skipped: {error}", file=sys.stderr, flush=True)
                runs[vectorization] = None
        results[env_id] = runs
        print(lone_row(env_id, preset_env_steps(options), runs), flush=True)
        (RUNS / "lone.json").write_text(json.dumps(results, indent=1))  # after each task: a failure loses none


def load(env_id, table=SOLVER):
    """The task's results JSON with its floor (the .floor.json's dict, or None), or None if it was not run."""
    path = table.runs() / f"{stem(env_id)}.json"
    if not path.exists():
        return None
    results = json.loads(path.read_text())
    floor_path = table.runs() / f"{stem(env_id)}.floor.json"
    results["floor"] = json.loads(floor_path.read_text()) if floor_path.exists() else None
    return results


def summarize(results):
    """{median, worst, per_seed, env_steps, wall, floor, backend, wall_over_floor} of one task's
    results (per_seed: {seed: its evaluation's mean return}); backend: what stepped the envs
    ("EnvPool" or "gymnasium", from the options' vectorization); wall, the median seed's wall seconds;
    floor, the env-alone seconds for the run's env steps (the measured floor per env step × the
    run's env steps), or None without a floor."""
    per_seed = {seed["seed"]: float(np.mean(seed["eval_returns"])) for seed in results["seeds"]}
    means = list(per_seed.values())
    walls = [seed["wall_seconds"] for seed in results["seeds"]]
    wall = float(np.median(walls))
    env_steps = results["seeds"][0]["env_steps"]
    measured = results["floor"]
    floor = None if measured is None else measured["seconds"] * env_steps / measured["env_steps"]
    backend = "EnvPool" if results.get("options", {}).get("vectorization") == "envpool" else "gymnasium"
    return {"median": float(np.median(means)), "worst": min(means), "per_seed": per_seed,
            "env_steps": env_steps, "wall": wall, "floor": floor, "backend": backend,
            "wall_over_floor": None if floor is None else wall / floor}


def times(ratio):
    """A ratio as the table prints it: 1.6×, 48×."""
    return f"{ratio:.1f}×" if ratio < 10 else f"{ratio:.0f}×"


def seeds_at_anchor(per_seed, anchor):
    """"7/10": how many of the seeds' evaluations reach the anchor, of the seeds run."""
    return f"{sum(value >= anchor for value in per_seed.values())}/{len(per_seed)}"


def seed_range(seeds):
    """"0–9" for consecutive seeds, else the list: "0, 2, 5"."""
    seeds = sorted(seeds)
    if len(seeds) > 1 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(map(str, seeds))


def beyond_family(env_id, spec, presets=None):
    """What presets.toml's table for `env_id` in `spec`'s family changes from the family itself, as
    the file writes it: "log_std_init = -1.0" (fields joined by "; "), or "—" when the task has no
    table of its own; None for a Table without a family."""
    if spec.family is None:
        return None
    presets = load_presets() if presets is None else presets
    name = preset_for(presets, spec.family, env_id)
    changes = presets[name].changes(presets[spec.family])
    return "; ".join(f"{field} = {toml_value(value)}" for field, (value, _) in changes.items()
                     if field != "env") or "—"


def table(rows, spec=SOLVER, presets=None):
    """The results table (markdown) of Table `spec` for {env_id: summary, a row kept as is, or None}.  A family's
    table has one more column: what each task's own table in presets.toml changes from the family."""
    family = spec.family is not None
    presets = load_presets() if family and presets is None else presets
    lines = ["| env | backend | median | worst seed | anchor | env steps (anchor's) | wall per run (× env floor) | "
             "reached | seeds at the anchor | per seed |" + (f" beyond [{spec.family}] |" if family else ""),
             "|---|---|---|---|---|---|---|---|---|---|" + ("---|" if family else "")]
    for env_id, (zoo, zoo_steps, _) in spec.tasks.items():
        row = rows.get(env_id)
        last = f" {beyond_family(env_id, spec, presets)} |" if family else ""
        if row is None:
            lines.append(f"| {env_id} | | not run | | {zoo:g} | ({zoo_steps:,}) | | | | |{last}")
            continue
        if isinstance(row, str):  # a row kept as the page has it (report)
            lines.append(row)
            continue
        ratio = "?" if row["wall_over_floor"] is None else times(row["wall_over_floor"])
        reached = "yes" if row["median"] >= zoo else "**no**"
        per_seed = f"{seed_range(row['per_seed'])}: " + ", ".join(f"{value:.1f}" for value in row["per_seed"].values())
        budget = f"{zoo_steps:,}"
        if row["env_steps"] > zoo_steps and env_id in ALLOWED_STEPS:  # the larger budget allowed for it
            budget += f"; {ALLOWED_STEPS[env_id]:,} allowed"
        lines.append(f"| {env_id} | {row['backend']} | {row['median']:.1f} | {row['worst']:.1f} | {zoo:g} | "
                     f"{row['env_steps']:,} ({budget}) | {row['wall']:.0f} s ({ratio}) | "
                     f"{reached} | {seeds_at_anchor(row['per_seed'], zoo)} | {per_seed} |{last}")
    return "\n".join(lines)


def write_table(text, readme=ROOT / "docs" / "results.md", markers=MARKERS):
    """Replace what stands between the results page's `markers` with `text`."""
    content = readme.read_text()
    start, end = (content.index(marker) for marker in markers)
    readme.write_text(content[:start + len(markers[0])] + "\n" + text + "\n" + content[end:])


def curves(env_id, table=SOLVER):
    """(env steps, mean, std) of the training mean return over the seeds whose CSVs are in the
    table's runs directory (an epoch in which no seed ended an episode is nan), each of shape
    (epochs,) (the shortest run's), or None if there is none."""
    runs = []
    for seed in table.seeds:
        path = table.runs() / f"{stem(env_id)}-seed{seed}.csv"
        if path.exists():
            data = np.genfromtxt(path, delimiter=",", names=True, ndmin=1)  # a one-epoch run too
            runs.append((data["env_steps"], data["mean_return"]))
    if not runs:
        return None
    length = min(len(steps) for steps, _ in runs)
    returns = np.array([values[:length] for _, values in runs])
    with warnings.catch_warnings():  # an epoch where no seed ended an episode is NaN, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, std = np.nanmean(returns, axis=0), np.nanstd(returns, axis=0)
    return runs[0][0][:length], mean, std


def curve_path(env_id, page, table=SOLVER):
    """Where the results page `page` keeps the task's learning curve: docs/data/curves/<table>/<task>.csv."""
    return page.parent / "data" / "curves" / table.name / f"{stem(env_id)}.csv"


def store_curve(env_id, path, table=SOLVER):
    """Write curves(env_id, table) to `path` as a CSV (env_steps, mean, std; nan for an epoch in which
    no seed ended an episode).  If the table has no CSVs of the task, remove the file `path` held (a
    curve of other runs than the task's row) and return False."""
    data = curves(env_id, table)
    if data is None:
        path.unlink(missing_ok=True)
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, np.column_stack(data), fmt="%.10g", delimiter=",", header="env_steps,mean,std", comments="")
    return True


def stored_curve(path):
    """(env steps, mean, std) as store_curve wrote them."""
    data = np.genfromtxt(path, delimiter=",", names=True, ndmin=1)
    return data["env_steps"], data["mean"], data["std"]


def figure(env_ids, path=ROOT / "docs" / "suite.png", table=SOLVER, page=ROOT / "docs" / "results.md"):
    """One small panel per task: mean ± std over seeds of the training episodes' mean return, from
    each task's stored curve (curve_path; a task without one gets an empty panel with its anchor)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = min(4, max(1, len(env_ids)))
    rows = math.ceil(len(env_ids) / columns)
    fig = Figure(figsize=(3.2 * columns, 2.4 * rows))
    FigureCanvasAgg(fig)
    for index, env_id in enumerate(env_ids):
        ax = fig.add_subplot(rows, columns, index + 1)
        stored = curve_path(env_id, page, table)
        if stored.exists():
            steps, mean, std = stored_curve(stored)
            ax.plot(steps, mean, color="tab:blue", linewidth=1.2, label=f"minipg (seeds {seed_range(table.seeds)})")
            ax.fill_between(steps, mean - std, mean + std, color="tab:blue", alpha=0.25, linewidth=0)
        ax.axhline(table.tasks[env_id][0], color="black", linestyle="--", linewidth=0.8, label="anchor")
        ax.set_title(env_id, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.xaxis.get_offset_text().set_fontsize(7)
        if index == 0:
            ax.legend(fontsize=7, loc="lower right")
    fig.supxlabel("env steps", fontsize=8)
    fig.supylabel("training episodes' mean return", fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def differs_from_preset(results, env_id, table=SOLVER):
    """{field: (the run's value, the preset's)} of the options a task's results were run with that
    are not its preset's in `table` (a field the results do not hold, older than it, is not compared)."""
    ran = results.get("options", {})
    preset = table.preset(env_id)[1].asdict()
    return {name: (ran[name], value) for name, value in preset.items() if name in ran and ran[name] != value}


def rows_on_page(markers, readme=ROOT / "docs" / "results.md"):
    """{env_id: its row as the results page holds it between `markers`}."""
    content = readme.read_text()
    start, end = (content.index(marker) for marker in markers)
    return {line.split("|")[1].strip(): line for line in content[start:end].splitlines()
            if line.startswith("| ") and not line.startswith("| env |")}


def measured(row):
    """Whether a table row holds results: summarize's dict, or a line of the page whose median cell
    is not "not run" (None: no row)."""
    if isinstance(row, dict):
        return True
    cells = [cell.strip() for cell in (row or "").split("|")]  # "", env, backend, median, …
    return len(cells) > 3 and cells[3] != "not run"


def report(spec=SOLVER, page=ROOT / "docs" / "results.md"):
    """Write `spec`'s table into the results page, store the learning curve of each task it has runs
    of (curve_path), and draw the table's figure from the stored curves.  A task whose runs were made
    with other options than its preset's (a comparison run into the same files) keeps the row and
    the curve the page has, and a note on stderr says so.  A task with no runs here (a fresh clone
    that ran only some tasks) keeps its row and its curve too.  The figure is drawn when every task
    with a measured row has a stored curve; else it is left as it is, and a note names the tasks
    without one."""
    rows, on_page, absent = {}, rows_on_page(spec.markers, page), []
    for env_id in spec.tasks:
        results = load(env_id, spec)
        if results is None:
            kept = on_page.get(env_id)
            rows[env_id] = kept if measured(kept) else None  # a "not run" row is rebuilt from TASKS
            absent += [env_id] if measured(kept) else []
            continue
        changed = differs_from_preset(results, env_id, spec)
        if changed:
            differences = ", ".join(f"{name} = {toml_value(ran)} (its preset: {toml_value(value)})"
                                    for name, (ran, value) in changed.items())
            print(f"note: {env_id}: {spec.runs() / stem(env_id)}.json was run with {differences}; its row and "
                  "learning curve are kept as the page has them", file=sys.stderr, flush=True)
            rows[env_id] = on_page.get(env_id)
            continue
        rows[env_id] = summarize(results)
        store_curve(env_id, curve_path(env_id, page, spec), spec)
    text = table(rows, spec)
    print(text)
    write_table(text, page, spec.markers)
    if absent:
        kept = "its row is kept as the page has it" if len(absent) == 1 else "their rows are kept as the page has them"
        print(f"note: {spec.runs()} has no runs of {', '.join(absent)}: {kept}", file=sys.stderr, flush=True)
    panels = [env_id for env_id, row in rows.items() if measured(row)]
    missing = [env_id for env_id in panels if not curve_path(env_id, page, spec).exists()]
    if missing:
        make = "make suite" + ("" if spec is SOLVER else f" TABLE={spec.name}") + f" SUITE='{' '.join(missing)}'"
        print(f"note: {curve_path(missing[0], page, spec).parent} has no learning curve of {', '.join(missing)}: "
              f"{page.parent / spec.figure} is not redrawn until `{make}` stores them", file=sys.stderr, flush=True)
    elif panels:
        print(f"figure: {figure(panels, page.parent / spec.figure, spec, page)}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m minipg.tools.suite", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="train the tasks of a table (all by default)")
    run_parser.add_argument("env_ids", nargs="*", metavar="ENV_ID",
                            help=f"tasks among {', '.join(TASKS)} (--table reinforce: {', '.join(REINFORCE_TASKS)})")
    run_parser.add_argument("--table", choices=list(TABLES), default=SOLVER.name,
                            help="solver: each task's preset (default); reinforce: the post's algorithm, "
                                 "--preset reinforce")
    report_parser = commands.add_parser("report", help="docs/results.md's tables and their figures from runs/suite/")
    report_parser.add_argument("--table", choices=list(TABLES), default=None, help="only this table (default: both)")
    lone_parser = commands.add_parser("lone", help="one run of each task at a time against its env-alone floor, "
                                                   "with both backends (docs/speed.md)")
    lone_parser.add_argument("env_ids", nargs="*", metavar="ENV_ID", help=f"tasks among {', '.join(TASKS)}")
    args = parser.parse_args(argv)
    if args.command in ("run", "lone"):
        table = TABLES[getattr(args, "table", SOLVER.name)]
        unknown = [env_id for env_id in args.env_ids if env_id not in table.tasks]
        if unknown:
            parser.error(f"not in the {table.name} table: {', '.join(unknown)} (its tasks: {', '.join(table.tasks)})")
        try:
            if args.command == "run":
                run(args.env_ids or list(table.tasks), table=table)
            else:
                lone(args.env_ids or list(TASKS))
        except ValueError as error:  # make_env's one line: an optional dependency not installed
            sys.exit(f"python -m minipg.tools.suite: {error}")
    else:
        tables = [TABLES[args.table]] if args.table else [table for table in TABLES.values() if table.runs().is_dir()]
        for table in tables:
            report(table)


if __name__ == "__main__":
    main()
