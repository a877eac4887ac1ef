"""python -m minipg on the suite's tasks with their presets (a couple of tiny epochs each), the
presets table itself, and the suite tool's table, the block it writes into docs/results.md, and its figure."""

import inspect
import json

import numpy as np
import pytest
from PIL import Image

from minipg import Options
from minipg.__main__ import run as minipg_main
from minipg.options import OptionsError, family_tables, load_presets
from minipg.tools import suite


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("env_id", list(suite.TASKS))
def test_each_task_of_the_suite_trains_with_its_preset(env_id, tmp_path, capsys):
    """Its preset, scaled down to 2 epochs of 2 envs × 30 steps, trains and evaluates."""
    policy, history = minipg_main(["--env", env_id, "--epochs", "2", "--num-envs", "2", "--T", "30", "--eval", "2",
                                   "--plot", str(tmp_path / "curve.png"), "--results", str(tmp_path / "r.json")])
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()
    out = capsys.readouterr().out
    assert out.startswith(f"python -m minipg: {env_id}, 2 envs × T 30, 2 epochs")
    assert f"\nnote: T 30 is shorter than {env_id}'s time limit of " in out  # every task's is longer
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["options"] == load_presets()[env_id].replace(epochs=2, num_envs=2, T=30).asdict()
    assert len(results["seeds"][0]["eval_returns"]) == 2


def test_a_rollout_as_long_as_the_time_limit_gets_no_note(tmp_path, capsys):
    minipg_main(["--env", "CartPole-v1", "--epochs", "1", "--num-envs", "1", "--T", "500", "--eval", "0",
                 "--plot", str(tmp_path / "curve.png")])
    assert "note:" not in capsys.readouterr().out


def test_every_task_of_the_suite_has_a_preset_within_the_zoos_budget():
    presets = load_presets()
    for env_id, (_, zoo_steps, _) in suite.TASKS.items():
        options = presets[env_id]
        steps = options.num_envs * options.T * options.epochs
        allowed = suite.ALLOWED_STEPS.get(env_id, zoo_steps)
        assert steps <= allowed, (env_id, steps)
        assert options.env == env_id


def test_an_unknown_task_gets_the_default_preset(capsys, tmp_path):
    _, history = minipg_main(["--env", "Pendulum-v1", "--preset", "default", "--epochs", "1", "--T", "10",
                              "--num-envs", "2", "--eval", "0", "--plot", str(tmp_path / "c.png")])
    assert len(history["loss"]) == 1
    default = load_presets()["default"]
    assert default.clip_ratio == 0.2 and default.normalize_observations and default.baseline == "value"


def test_python_m_minipg_needs_an_env(capsys):
    with pytest.raises(SystemExit) as exit_:
        minipg_main([])
    assert exit_.value.code == 2
    assert "python -m minipg: error: --env ENV_ID is needed" in capsys.readouterr().err


def test_list_shows_each_tasks_preset_as_its_changes_from_default(capsys):
    with pytest.raises(SystemExit) as exit_:
        minipg_main(["--list"])
    assert exit_.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    presets = load_presets()
    family = next(i for i, line in enumerate(lines) if line.startswith("family reinforce"))
    tasks = [line.split(":")[0].strip() for line in lines[1:family] if line.startswith("  ")]
    assert tasks == [name for name in presets
                     if name != "default" and name not in presets.families and name not in family_tables(presets)]
    assert lines[family].startswith("family reinforce (python -m minipg --env ID --preset reinforce), what it changes "
                                    "from [default]: --num-envs 2 --T 1000 --epochs 1500")
    # Each of the family's task tables, below it, as its changes from the family.
    assert [line.split(":")[0].strip() for line in lines[family + 1:]] == list(presets.families["reinforce"])
    assert "  InvertedDoublePendulum-v5: --log-std-init -1.0" in lines[family + 1:]
    assert "  CartPole-v1: --num-envs 8 --T 500 --epochs 25" in lines
    assert "  MountainCarContinuous-v0: --num-envs 8 --T 999 --epochs 20 --lr 0.01 --hidden none --update-epochs 4 " \
           "--minibatch-size 1000 --count-bonus 2.0" in lines


def test_a_family_preset_takes_its_tasks_table_when_it_has_one(tmp_path, monkeypatch, capsys):
    """--preset reinforce --env ID: the family's table for ID, else the family's own with that env."""
    from minipg import options as options_module

    path = tmp_path / "presets.toml"
    path.write_text('[default]\nnum_envs = 3\n\n[reinforce]\nfamily = true\nlr = 0.125\nT = 7\n\n'
                    '[reinforce.Pendulum-v1]\nT = 9\n')
    monkeypatch.setattr(options_module, "PRESETS_PATH", path)
    for env_id, T in (("Pendulum-v1", 9), ("MountainCarContinuous-v0", 7)):
        minipg_main(["--env", env_id, "--preset", "reinforce", "--epochs", "1", "--eval", "0",
                     "--plot", str(tmp_path / "c.png"), "--results", str(tmp_path / "r.json")])
        options = json.loads((tmp_path / "r.json").read_text())["options"]
        assert options == Options(env=env_id, num_envs=3, lr=0.125, T=T, epochs=1).asdict()
    for argv, message in ((["--preset", "reinforce"], "--preset reinforce is a family of presets, for any task: "
                                                      "give --env ID"),
                          (["--env", "Pendulum-v1", "--preset", "reinforce.Pendulum-v1"],
                           "argument --preset: invalid choice: 'reinforce.Pendulum-v1'")):  # the family's, by --env
        with pytest.raises(SystemExit) as exit_:
            minipg_main(argv)
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        minipg_main(["--list"])
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "family reinforce (python -m minipg --env ID --preset reinforce), what it changes from [default]: --T 7 "
        "--lr 0.125", "  Pendulum-v1: --T 9"]


def test_an_unknown_preset_is_argparses_invalid_choice(capsys):
    with pytest.raises(SystemExit) as exit_:
        minipg_main(["--preset", "Pendulum"])
    assert exit_.value.code == 2
    assert "argument --preset: invalid choice: 'Pendulum'" in capsys.readouterr().err


def test_a_resumed_run_of_another_task_plots_under_its_own_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    minipg_main(["--env", "Pendulum-v1", "--epochs", "1", "--T", "20", "--num-envs", "2", "--eval", "0",
                 "--save", "p.safetensors"])
    minipg_main(["--load", "p.safetensors", "--epochs", "2", "--eval", "0"])
    assert sorted(path.name for path in (tmp_path / "runs").iterdir()) == ["Pendulum-v1-seed0.png"]


def test_a_preset_table_with_an_unknown_field_is_named(tmp_path):
    path = tmp_path / "presets.toml"
    path.write_text('[default]\nnum_envs = 4\n\n["CartPole-v1"]\nlearning_rate = 0.1\n')
    with pytest.raises(OptionsError, match=r"presets.toml, table \[CartPole-v1\]: unknown option 'learning_rate'"):
        load_presets(path)
    path.write_text('[default]\nclip_ratio = 0.2\n\n["CartPole-v1"]\nclip_ratio = "none"\nupdate_epochs = 1\n')
    presets = load_presets(path)
    assert presets["CartPole-v1"] == Options(env="CartPole-v1") and presets["default"].clip_ratio == 0.2
    path.write_text('[default]\nbaseline = "time"\n\n["CartPole-v1"]\nbaseline = "none"\n')  # a choice, not None
    assert load_presets(path)["CartPole-v1"].baseline == "none"


def fake_results(tmp_path, monkeypatch, env_ids):
    """runs/suite/ files for env_ids: eval means 10·seed + k, walls 20 + seed s, an env-alone floor of
    2 s for 500 env steps, CSVs of 3 epochs."""
    monkeypatch.setattr(suite, "RUNS", tmp_path)
    for k, env_id in enumerate(env_ids):
        seeds = [{"seed": seed, "env_steps": 1000, "wall_seconds": 20.0 + seed,
                  "eval_returns": [10.0 * seed + k - 1, 10.0 * seed + k + 1]} for seed in suite.SEEDS]
        (tmp_path / f"{suite.stem(env_id)}.json").write_text(json.dumps({"env": env_id, "seeds": seeds}))
        (tmp_path / f"{suite.stem(env_id)}.floor.json").write_text(json.dumps({"env_steps": 500, "seconds": 2.0}))
        for seed in suite.SEEDS:
            (tmp_path / f"{suite.stem(env_id)}-seed{seed}.csv").write_text(
                "epoch,mean_return,env_steps\n1,1.0,100\n2,nan,200\n3,3.0,300\n")


def test_the_table_gives_median_worst_zoo_steps_and_wall_over_the_env_floor(tmp_path, monkeypatch):
    fake_results(tmp_path, monkeypatch, ["CartPole-v1", "Pendulum-v1"])
    row = suite.summarize(suite.load("CartPole-v1"))
    assert row["median"] == 45.0 and row["worst"] == 0.0
    assert row["per_seed"] == {seed: 10.0 * seed for seed in range(10)}
    # the floor measured for 500 env steps, scaled to the run's 1,000: 4 s; the median wall 24.5 s
    assert row["wall"] == 24.5 and row["floor"] == 4.0 and row["wall_over_floor"] == 6.125
    assert row["backend"] == "gymnasium"  # the options' vectorization: "envpool" would be EnvPool
    (tmp_path / "Pendulum-v1.floor.json").unlink()
    no_floor = suite.summarize(suite.load("Pendulum-v1"))
    assert no_floor["floor"] is None and no_floor["wall_over_floor"] is None
    text = suite.table({"CartPole-v1": row, "Acrobot-v1": None, "Pendulum-v1": no_floor})
    lines = text.splitlines()
    assert "| env steps (anchor's) | wall per run (× env floor) | reached | seeds at the anchor | per seed |" \
        in lines[0]
    assert lines[2] == ("| CartPole-v1 | gymnasium | 45.0 | 0.0 | 500 | 1,000 (100,000) | 24 s (6.1×) | **no** | "
                        "0/10 | 0–9: 0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0 |")
    assert lines[3] == "| Acrobot-v1 | | not run | | -73.5 | (1,000,000) | | | | |"
    assert "| 1,000 (100,000) | 24 s (?) |" in lines[5]
    # a seed's own evaluation counts: Pendulum's anchor −172.2 is reached by every seed, CartPole's 500 by none
    assert lines[5].endswith("| yes | 10/10 | 0–9: 1.0, 11.0, 21.0, 31.0, 41.0, 51.0, 61.0, 71.0, 81.0, 91.0 |")
    assert suite.seeds_at_anchor({0: 88.3, 1: 88.2, 2: 93.0}, 88.3) == "2/3"
    assert suite.seed_range([3, 0, 1, 2]) == "0–3" and suite.seed_range([0, 2, 5]) == "0, 2, 5"
    assert suite.times(1.64) == "1.6×" and suite.times(47.6) == "48×"


def test_run_measures_each_tasks_floor_for_its_preset_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(suite, "RUNS", tmp_path)
    events = []
    monkeypatch.setattr(suite, "env_floor_seconds", lambda *args, **kwargs: events.append(("floor", args, kwargs))
                        or 12.5)
    monkeypatch.setattr(suite.subprocess, "run", lambda command, **kwargs: events.append(("train", command[4])))
    suite.run(["Pendulum-v1"])
    preset = load_presets()["Pendulum-v1"]
    budget = preset.num_envs * preset.T * preset.epochs
    assert events == [("floor", ("Pendulum-v1", preset.num_envs, budget, preset.vectorization), {"T": preset.T}),
                      ("train", "Pendulum-v1")]
    floor = json.loads((tmp_path / "Pendulum-v1.floor.json").read_text())
    assert floor["seconds"] == 12.5 and floor["env_steps"] == budget and floor["total_seconds"] >= 0
    assert (floor["num_envs"], floor["T"], floor["vectorization"]) == (preset.num_envs, preset.T, preset.vectorization)


def test_the_reinforce_table_runs_its_seeds_with_the_family_preset_into_its_own_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(suite, "RUNS", tmp_path)
    commands = []
    monkeypatch.setattr(suite, "env_floor_seconds", lambda *args, **kwargs: 3.0)
    monkeypatch.setattr(suite.subprocess, "run", lambda command, **kwargs: commands.append(command))
    suite.run(["Hopper-v5"], table=suite.REINFORCE)
    command = commands[0]
    assert command[command.index("--env"):command.index("--env") + 4] == ["--env", "Hopper-v5", "--preset", "reinforce"]
    assert command[command.index("--seeds") + 1:command.index("--jobs")] == ["0", "1", "2", "3", "4"]
    assert command[command.index("--results") + 1] == str(tmp_path / "reinforce" / "Hopper-v5.json")
    floor = json.loads((tmp_path / "reinforce" / "Hopper-v5.floor.json").read_text())
    name, options = suite.REINFORCE.preset("Hopper-v5")
    assert name == "reinforce" and options.env == "Hopper-v5" and options.clip_ratio is None  # no table of its own
    assert floor["env_steps"] == suite.preset_env_steps(options) <= suite.REINFORCE_TASKS["Hopper-v5"][1]


def test_a_task_whose_env_cannot_be_made_is_one_line(tmp_path, monkeypatch):
    def missing(*args, **kwargs):
        raise ValueError("BipedalWalker-v3 needs Box2D, which is not installed")

    monkeypatch.setattr(suite, "env_floor_seconds", missing)
    monkeypatch.setattr(suite, "RUNS", tmp_path / "runs" / "suite")
    with pytest.raises(SystemExit, match=r"^python -m minipg.tools.suite: BipedalWalker-v3 needs Box2D"):
        suite.main(["run", "BipedalWalker-v3"])
    assert not (tmp_path / "runs").exists()  # nothing written for a run that could not start


def test_a_budget_beyond_the_anchors_names_the_allowed_one(tmp_path, monkeypatch):
    fake_results(tmp_path, monkeypatch, ["MountainCarContinuous-v0"])
    row = dict(suite.summarize(suite.load("MountainCarContinuous-v0")), env_steps=159_840)
    line = suite.table({"MountainCarContinuous-v0": row}).splitlines()[6]
    assert "| 159,840 (20,000; 1,000,000 allowed) |" in line


def test_the_reinforce_table_says_what_each_tasks_own_table_changes_from_the_family(tmp_path, monkeypatch):
    """Its last column: the fields of presets.toml's [reinforce.ID], as the file writes them."""
    from minipg import options as options_module

    assert suite.beyond_family("InvertedDoublePendulum-v5", suite.REINFORCE) == "log_std_init = -1.0"
    assert suite.beyond_family("Hopper-v5", suite.REINFORCE) == "—"  # no table of its own
    assert suite.beyond_family("Hopper-v5", suite.SOLVER) is None
    path = tmp_path / "presets.toml"
    path.write_text('[default]\nnum_envs = 3\n\n[reinforce]\nfamily = true\nlr = 0.125\n\n'
                    '[reinforce.Hopper-v5]\ngamma = 0.999\nbaseline = "time"\nlr_decay = true\n'
                    'hidden = [32]\nclip_ratio = "none"\nnum_envs = 3\n')
    monkeypatch.setattr(options_module, "PRESETS_PATH", path)
    presets = load_presets()
    # only what differs from the family, in the fields' order (clip_ratio and num_envs are the family's)
    assert suite.beyond_family("Hopper-v5", suite.REINFORCE, presets) == \
        'gamma = 0.999; hidden = [32]; baseline = "time"; lr_decay = true'
    fake_results(tmp_path, monkeypatch, ["CartPole-v1"])
    row = suite.summarize(suite.load("CartPole-v1"))
    lines = suite.table({"Hopper-v5": row}, suite.REINFORCE, presets).splitlines()
    assert lines[0].endswith("| per seed | beyond [reinforce] |")
    # every row, run or not, has the column
    assert [line.count("|") for line in lines[1:]] == [lines[0].count("|")] * (len(suite.REINFORCE_TASKS) + 1)
    assert next(line for line in lines if line.startswith("| Hopper-v5 ")).endswith(
        '| 0–9: 0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0 | gamma = 0.999; hidden = [32]; '
        'baseline = "time"; lr_decay = true |')
    assert lines[2].startswith("| InvertedPendulum-v5 | | not run |") and lines[2].endswith("| — |")
    assert suite.table({"CartPole-v1": row}).splitlines()[0].endswith("| per seed |")  # the solver's: no column


def test_a_value_is_shown_as_presets_toml_writes_it():
    from minipg.options import toml_value

    assert [toml_value(value) for value in (None, True, False, 8, -1.0, 1e-3, "envpool", (64, 64), ())] == \
        ['"none"', "true", "false", "8", "-1.0", "0.001", '"envpool"', "[64, 64]", "[]"]


def test_report_without_a_table_reports_each_table_that_has_runs(tmp_path, monkeypatch):
    """A clone without runs/suite/reinforce/ keeps the page's REINFORCE rows (runs/ is not in git)."""
    monkeypatch.setattr(suite, "RUNS", tmp_path)
    reported = []
    monkeypatch.setattr(suite, "report", lambda table: reported.append(table.name))
    suite.main(["report"])
    (tmp_path / "reinforce").mkdir()
    suite.main(["report"])
    suite.main(["report", "--table", "reinforce"])
    assert reported == ["solver", "solver", "reinforce", "reinforce"]


def test_the_block_between_the_markers_is_replaced(tmp_path):
    page = tmp_path / "results.md"
    page.write_text("before\n<!-- suite -->\nold table\n<!-- /suite -->\nafter\n")
    suite.write_table("| new |", page)
    assert page.read_text() == "before\n<!-- suite -->\n| new |\n<!-- /suite -->\nafter\n"


def test_the_report_writes_into_the_results_page_between_its_markers():
    """`make suite` rewrites docs/results.md's table: the page holds each marker once, in order."""
    page = inspect.signature(suite.write_table).parameters["readme"].default
    assert page == suite.ROOT / "docs" / "results.md"
    content = page.read_text()
    for table in suite.TABLES.values():
        assert [content.count(marker) for marker in table.markers] == [1, 1]
        assert content.index(table.markers[0]) < content.index(table.markers[1])


def test_the_figure_has_a_panel_per_task_from_its_stored_curve(tmp_path, monkeypatch):
    fake_results(tmp_path, monkeypatch, ["CartPole-v1", "Pendulum-v1"])
    steps, mean, std = suite.curves("CartPole-v1")
    np.testing.assert_array_equal(steps, [100, 200, 300])
    assert mean[0] == 1.0 and np.isnan(mean[1]) and std[2] == 0.0
    page = tmp_path / "docs" / "results.md"
    stored = suite.curve_path("CartPole-v1", page)
    assert stored == tmp_path / "docs" / "data" / "curves" / "solver" / "CartPole-v1.csv"
    assert suite.store_curve("CartPole-v1", stored) and not suite.store_curve("Acrobot-v1", tmp_path / "a.csv")
    assert stored.read_text().splitlines()[0] == "env_steps,mean,std" and not (tmp_path / "a.csv").exists()
    for stored_column, column in zip(suite.stored_curve(stored), (steps, mean, std)):
        np.testing.assert_array_equal(stored_column, column)  # nan where no seed ended an episode
    monkeypatch.setattr(suite, "curves", None)  # the figure reads the stored curves, not the runs
    path = suite.figure(["CartPole-v1", "Pendulum-v1", "Acrobot-v1"], tmp_path / "suite.png", page=page)
    with Image.open(path) as image:  # Pendulum's and Acrobot's panels: their anchors only
        assert image.format == "PNG" and image.width > image.height
        drawn = np.asarray(image)
    stored.unlink()
    with Image.open(suite.figure(["CartPole-v1", "Pendulum-v1", "Acrobot-v1"], tmp_path / "suite.png",
                                 page=page)) as image:
        assert (np.asarray(image) != drawn).any()  # CartPole's curve was drawn from its file


def test_a_one_epoch_curve_is_stored_and_read(tmp_path, monkeypatch):
    fake_results(tmp_path, monkeypatch, ["CartPole-v1"])
    for seed in suite.SEEDS:
        (tmp_path / f"CartPole-v1-seed{seed}.csv").write_text("epoch,mean_return,env_steps\n1,2.0,100\n")
    path = tmp_path / "curve.csv"
    assert suite.store_curve("CartPole-v1", path)
    assert [column.tolist() for column in suite.stored_curve(path)] == [[100.0], [2.0], [0.0]]


def test_a_task_whose_runs_have_no_curves_loses_its_stored_one(tmp_path, monkeypatch, capsys):
    """A stored curve is of the row it was stored with: a new row without CSVs does not keep it."""
    fake_results(tmp_path, monkeypatch, ["CartPole-v1"])
    for seed in suite.SEEDS:
        (tmp_path / f"CartPole-v1-seed{seed}.csv").unlink()
    page = tmp_path / "results.md"
    page.write_text("<!-- suite -->\n<!-- /suite -->\n")
    stored = suite.curve_path("CartPole-v1", page)
    stored.parent.mkdir(parents=True)
    stored.write_text("env_steps,mean,std\n100,-1000,10\n")
    monkeypatch.setattr(suite, "figure", None)  # not drawn: nothing to draw CartPole's panel from
    suite.report(suite.SOLVER, page)
    assert not stored.exists()
    assert "has no learning curve of CartPole-v1" in capsys.readouterr().err


def test_run_refuses_a_task_outside_the_table(monkeypatch, capsys):
    monkeypatch.setattr(suite, "run", None)  # were it accepted, nothing would train
    with pytest.raises(SystemExit) as exit_:
        suite.main(["run", "Pusher-v5"])
    assert exit_.value.code == 2
    assert "not in the solver table: Pusher-v5 (its tasks: CartPole-v1, " in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        suite.main(["run", "--table", "reinforce", "CartPole-v1"])
    assert exit_.value.code == 2
    assert "not in the reinforce table: CartPole-v1 (its tasks: InvertedPendulum-v5, " in capsys.readouterr().err


def test_run_without_ids_runs_every_task(monkeypatch):
    ran = []
    monkeypatch.setattr(suite, "run", lambda env_ids, table: ran.append((table.name, env_ids)))
    suite.main(["run"])
    suite.main(["run", "Hopper-v5"])
    suite.main(["run", "--table", "reinforce"])
    suite.main(["run", "--table", "reinforce", "Walker2d-v5"])
    assert ran == [("solver", list(suite.TASKS)), ("solver", ["Hopper-v5"]),
                   ("reinforce", list(suite.REINFORCE_TASKS)), ("reinforce", ["Walker2d-v5"])]


def test_lone_times_each_backend_after_its_floor_and_prints_a_row(tmp_path, monkeypatch, capsys):
    """`lone`: per task, the preset's backend then the other, each a floor for the same backend
    and budget followed by one --eval 0 run whose plot goes to a scratch directory; a backend
    that cannot be made, or whose run fails, is skipped with a line on stderr and a "—" in its
    own column; a markdown row per task and runs/suite/lone.json."""
    monkeypatch.setattr(suite, "RUNS", tmp_path)
    events = []

    def floor(env_id, num_envs, steps, vectorization, T):
        if env_id == "LunarLander-v3" and vectorization == "envpool":  # the preset's own backend missing
            raise ValueError("no such backend here")
        events.append(("floor", env_id, vectorization, steps))
        return 2.0

    def train(command, cwd, **kwargs):
        assert command[command.index("--eval") + 1] == "0" and cwd == suite.ROOT
        assert not command[command.index("--plot") + 1].startswith(str(suite.ROOT))
        backend = command[command.index("--vectorization") + 1]
        events.append(("train", command[command.index("--env") + 1], backend))
        if command[command.index("--env") + 1] == "Pendulum-v1" and backend == "envpool":
            raise suite.subprocess.CalledProcessError(1, command)

    monkeypatch.setattr(suite, "env_floor_seconds", floor)
    monkeypatch.setattr(suite.subprocess, "run", train)
    suite.main(["lone", "Pendulum-v1", "LunarLander-v3"])
    pendulum, lander = load_presets()["Pendulum-v1"], load_presets()["LunarLander-v3"]
    budget = pendulum.num_envs * pendulum.T * pendulum.epochs
    lander_budget = lander.num_envs * lander.T * lander.epochs
    assert (pendulum.vectorization, lander.vectorization) == ("auto", "envpool")
    assert events == [("floor", "Pendulum-v1", "auto", budget), ("train", "Pendulum-v1", "auto"),
                      ("floor", "Pendulum-v1", "envpool", budget), ("train", "Pendulum-v1", "envpool"),
                      ("floor", "LunarLander-v3", "auto", lander_budget), ("train", "LunarLander-v3", "auto")]
    out, err = capsys.readouterr()
    rows = out.splitlines()
    assert rows[0].startswith("| task (env steps) |") and len(rows) == 4
    assert rows[2].startswith(f"| Pendulum-v1 ({budget:,} steps) | auto: 2.0 s → ")
    assert rows[2].endswith("| envpool: — |")
    assert rows[3].startswith(f"| LunarLander-v3 ({lander_budget:,} steps) | envpool: — | auto: 2.0 s → ")
    assert "LunarLander-v3, envpool: skipped: no such backend here" in err
    assert "Pendulum-v1, envpool: skipped:" in err
    saved = json.loads((tmp_path / "lone.json").read_text())
    assert saved["Pendulum-v1"]["envpool"] is None and saved["LunarLander-v3"]["envpool"] is None
    assert saved["LunarLander-v3"]["auto"]["floor"] == 2.0 and saved["LunarLander-v3"]["auto"]["wall"] >= 0


def test_runs_made_with_other_options_than_the_preset_keep_the_row_the_page_has(tmp_path, monkeypatch, capsys):
    """A comparison run into the same files (e.g. --vectorization envpool) must not silently become
    the task's row: the report keeps the page's row, draws no panel for it, and says why."""
    fake_results(tmp_path, monkeypatch, ["CartPole-v1", "Pendulum-v1"])
    results = json.loads((tmp_path / "Pendulum-v1.json").read_text())
    results["options"] = {**load_presets()["Pendulum-v1"].asdict(), "vectorization": "envpool", "lr": 1.0}
    (tmp_path / "Pendulum-v1.json").write_text(json.dumps(results))
    assert suite.differs_from_preset(results, "Pendulum-v1") == {"vectorization": ("envpool", "auto"),
                                                                 "lr": (1.0, load_presets()["Pendulum-v1"].lr)}
    page = tmp_path / "results.md"
    kept = "| Pendulum-v1 | gymnasium | -160.6 | as measured before |"
    page.write_text(f"<!-- suite -->\n| env | backend |\n|---|---|\n{kept}\n<!-- /suite -->\n")
    drawn = []
    monkeypatch.setattr(suite, "figure", lambda env_ids, path, table, page: drawn.append((env_ids, path)) or path)
    suite.report(suite.SOLVER, page)
    out, err = capsys.readouterr()
    assert kept in out.splitlines() and kept in page.read_text().splitlines()
    assert "| CartPole-v1 | gymnasium | 45.0 |" in out
    curves = tmp_path / "data" / "curves" / "solver"
    assert sorted(path.name for path in curves.iterdir()) == ["CartPole-v1.csv"]  # not the comparison run's
    assert drawn == []  # Pendulum's row has no stored curve
    assert err.splitlines() == [
        f"note: Pendulum-v1: {tmp_path / 'Pendulum-v1'}.json was run with lr = 1.0 (its preset: "
        f"{load_presets()['Pendulum-v1'].lr}), vectorization = \"envpool\" (its preset: \"auto\"); its "
        "row and learning curve are kept as the page has them",
        f"note: {curves} has no learning curve of Pendulum-v1: {tmp_path / 'suite.png'} is not redrawn "
        "until `make suite SUITE='Pendulum-v1'` stores them"]
    (curves / "Pendulum-v1.csv").write_text("env_steps,mean,std\n100,-1000,10\n")  # as the page's row was measured
    suite.report(suite.SOLVER, page)
    assert (curves / "Pendulum-v1.csv").read_text() == "env_steps,mean,std\n100,-1000,10\n"
    assert drawn == [(["CartPole-v1", "Pendulum-v1"], tmp_path / "suite.png")]


def test_a_task_with_no_runs_here_keeps_its_row_and_the_figure_is_not_redrawn(tmp_path, monkeypatch, capsys):
    """A clone that ran one task must not wipe the others' measured rows (nor their panels)."""
    fake_results(tmp_path, monkeypatch, ["CartPole-v1"])
    page = tmp_path / "results.md"
    kept = "| Pendulum-v1 | gymnasium | -160.6 | as measured before |"
    page.write_text(f"<!-- suite -->\n| env | backend |\n|---|---|\n{kept}\n"
                    "| Acrobot-v1 | | not run | | -1.0 | (1) | | | | |\n<!-- /suite -->\n")
    drawn = []
    monkeypatch.setattr(suite, "figure", lambda env_ids, path, table, page: drawn.append((env_ids, path)) or path)
    suite.report(suite.SOLVER, page)
    out, err = capsys.readouterr()
    assert kept in page.read_text().splitlines() and "| CartPole-v1 | gymnasium | 45.0 |" in out
    # a "not run" row is rebuilt from TASKS (its anchor and budget as they are now)
    assert "| Acrobot-v1 | | not run | | -73.5 | (1,000,000) | | | | |" in out
    assert "| MountainCar-v0 | | not run |" in out
    assert drawn == []
    curves = tmp_path / "data" / "curves" / "solver"
    assert err.splitlines() == [
        f"note: {tmp_path} has no runs of Pendulum-v1: its row is kept as the page has it",
        f"note: {curves} has no learning curve of Pendulum-v1: {tmp_path / 'suite.png'} is not redrawn "
        "until `make suite SUITE='Pendulum-v1'` stores them"]
    (curves / "Pendulum-v1.csv").write_text("env_steps,mean,std\n100,-1000,10\n")  # stored when it ran
    suite.report(suite.SOLVER, page)  # its row and curve kept: the figure has both panels
    assert drawn == [(["CartPole-v1", "Pendulum-v1"], tmp_path / "suite.png")]
    (tmp_path / "results.md").write_text(page.read_text().replace(kept + "\n", ""))
    suite.report(suite.SOLVER, page)  # no measured row without its runs: CartPole's panel alone
    assert drawn[-1] == (["CartPole-v1"], tmp_path / "suite.png")
