"""Options (options.py): every field carries its doc, default and check; bad values and bad
combinations raise OptionsError naming the fields (as Python names or as flags); the command
line has one flag per field, made from the same metadata."""

import dataclasses
import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the run_*.py scripts live at the repository root
    sys.path.insert(0, str(REPO))

import run_cartpole  # noqa: E402
import run_swingup  # noqa: E402
from conftest import exactly  # noqa: E402
from minipg import Options, OptionsError  # noqa: E402
from minipg.options import (FIELDS, FINITE, NAMES, POSITIVE, POSITIVE_INT, RULES, choice, flag,  # noqa: E402
                            PresetsError, load_presets, option, optional, preset_for, render)
from minipg.tools import cli  # noqa: E402


def test_every_field_has_a_doc_a_check_and_a_group_and_its_default_passes_its_check():
    for spec in dataclasses.fields(Options):
        meta = spec.metadata
        assert meta["doc"] and meta["group"], spec.name
        assert meta["check"](spec.default), spec.name


def test_the_defaults_are_the_posts_cartpole_experiment():
    options = Options()
    assert (options.env, options.num_envs, options.T, options.epochs, options.lr, options.gamma, options.hidden) \
        == ("CartPole-v0", 32, 1000, 100, 0.1, 0.99, ())
    assert options.is_posts_algorithm()
    assert run_cartpole.CARTPOLE.presets["blog"] == options


@pytest.mark.parametrize("fields, message", [
    ({"num_envs": 0}, "num_envs must be a positive integer, got num_envs=0"),
    ({"num_envs": 2.0}, "num_envs must be a positive integer, got num_envs=2.0"),
    ({"epochs": True}, "epochs must be a positive integer, got epochs=True"),
    ({"gamma": 1.5}, "gamma must be a number in [0, 1], got gamma=1.5"),
    ({"gamma": float("nan")}, "gamma must be a number in [0, 1], got gamma=nan"),
    ({"lr": 0.0}, "lr must be a positive finite number, got lr=0.0"),
    ({"lr": float("inf")}, "lr must be a positive finite number, got lr=inf"),
    ({"clip_ratio": 0}, "clip_ratio must be a positive finite number or None, got clip_ratio=0"),
    ({"minibatch_size": 0, "clip_ratio": 0.2},
     "minibatch_size must be a positive integer or None, got minibatch_size=0"),
    ({"hidden": (64, 0)}, "hidden must be a sequence of positive integers, got hidden=(64, 0)"),
    ({"baseline": "values"}, "baseline must be one of none, time, value, got baseline='values'"),
    ({"dtype": "float16"}, "dtype must be one of float64, float32, got dtype='float16'"),
    ({"mirror": 1}, "mirror must be True or False, got mirror=1"),
    ({"terminal_value": float("-inf"), "baseline": "value", "gae_lambda": 0.9},
     "terminal_value must be a finite number, got terminal_value=-inf"),
    ({"env": ""}, "env must be a gymnasium environment id, got env=''"),
    ({"count_bonus": -0.1}, "count_bonus must be a non-negative finite number, got count_bonus=-0.1"),
    ({"count_bonus": 0.1, "count_bits": 63}, "count_bits must be an integer from 1 to 62, got count_bits=63"),
])
def test_a_bad_value_names_its_field(fields, message):
    with pytest.raises(OptionsError, match=exactly(message)):
        Options(**fields)


@pytest.mark.parametrize("fields, python, command_line", [
    ({"gae_lambda": 0.9}, "gae_lambda needs baseline='value' (GAE uses the learned value V)",
     "--gae-lambda needs --baseline value (GAE uses the learned value V)"),
    ({"baseline": "value", "bootstrap": True}, "bootstrap needs gae_lambda (1 for Monte-Carlo returns with "
     "bootstrapped cuts)", "--bootstrap needs --gae-lambda (1 for Monte-Carlo returns with bootstrapped cuts)"),
    ({"terminal_value": -10.0}, "terminal_value needs gae_lambda (it is V after a termination, in GAE)",
     "--terminal-value needs --gae-lambda (it is V after a termination, in GAE)"),
    ({"update_epochs": 4}, "update_epochs and minibatch_size need clip_ratio (several steps on one rollout need "
     "the clipped surrogate; REINFORCE's one step is update_epochs 1 with minibatch_size none)",
     "--update-epochs and --minibatch-size need --clip-ratio (several steps on one rollout need the clipped "
     "surrogate; REINFORCE's one step is --update-epochs 1 with --minibatch-size none)"),
    ({"minibatch_size": 64}, "update_epochs and minibatch_size need clip_ratio (several steps on one rollout need "
     "the clipped surrogate; REINFORCE's one step is update_epochs 1 with minibatch_size none)",
     "--update-epochs and --minibatch-size need --clip-ratio (several steps on one rollout need the clipped "
     "surrogate; REINFORCE's one step is --update-epochs 1 with --minibatch-size none)"),
    ({"count_bits": 8}, "count_bits needs count_bonus (the cells of the exploration bonus)",
     "--count-bits needs --count-bonus (the cells of the exploration bonus)"),
    ({"select_after": 10}, "select_after needs learners of 2 or more and fewer epochs than epochs (it chooses "
     "among the learners before the end)", "--select-after needs --learners of 2 or more and fewer epochs than "
     "--epochs (it chooses among the learners before the end)"),
    ({"learners": 2, "select_after": 100}, "select_after needs learners of 2 or more and fewer epochs than epochs "
     "(it chooses among the learners before the end)", "--select-after needs --learners of 2 or more and fewer "
     "epochs than --epochs (it chooses among the learners before the end)"),
])
def test_a_bad_combination_names_its_fields_in_python_and_as_flags(fields, python, command_line):
    with pytest.raises(OptionsError) as error:
        Options(**fields)
    assert str(error.value) == python
    assert error.value.command_line() == command_line


def test_every_rule_is_met_by_the_defaults_and_broken_by_one_change():
    assert not any(broken(Options()) for broken, _ in RULES)
    assert len(RULES) == 6


def test_render_names_fields_for_python_or_for_the_command_line():
    assert render("{num_envs} and {baseline=value}") == "num_envs and baseline='value'"
    assert render("{num_envs} and {baseline=value}", command_line=True) == "--num-envs and --baseline value"
    assert flag("T") == "--T" and flag("log_std_final") == "--log-std-final"


def test_values_are_normalized_and_replace_checks_again():
    options = Options(lr=1, gamma=1, hidden=[64, 64], num_envs=True + 1)
    assert options.lr == 1.0 and isinstance(options.lr, float) and options.gamma == 1.0
    assert options.hidden == (64, 64)
    with pytest.raises(OptionsError, match="lr must be a positive finite number"):
        options.replace(lr=-1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.lr = 0.5


def test_a_dict_round_trip_through_json_gives_the_same_options():
    options = run_swingup.SWINGUP.presets["solve"]
    assert Options.from_dict(json.loads(json.dumps(options.asdict()))) == options
    with pytest.raises(OptionsError, match="^unknown option 'learning_rate' \\(options: env, num_envs"):
        Options.from_dict({"learning_rate": 0.1})


def test_changes_lists_the_fields_that_differ():
    assert Options().changes(Options(lr=0.5, T=10)) == {"T": (1000, 10), "lr": (0.1, 0.5)}


def test_is_posts_algorithm_is_false_with_any_addition_of_the_solver():
    for name in ("normalize_advantages", "lr_decay"):
        assert not Options(**{name: True}).is_posts_algorithm()
    assert not Options(max_grad_norm=1.0).is_posts_algorithm()
    assert not Options(clip_ratio=0.2).is_posts_algorithm()
    assert Options(env="CartPoleSwingUp-v0", hidden=(64, 64), num_envs=256, lr=1e-2).is_posts_algorithm()


def test_gaussian_only_additions_are_refused_for_a_categorical_policy():
    Options(mirror=True, log_std_init=0.0).check_policy(gaussian=True)
    Options(log_std_init=0.0, output_scale=0.01).check_policy(gaussian=False)  # initial settings: unused
    with pytest.raises(OptionsError, match=exactly("mirror needs a Gaussian policy")):
        Options(mirror=True).check_policy(gaussian=False)
    with pytest.raises(OptionsError, match=exactly("log_std_final needs a Gaussian policy")):
        Options(log_std_final=-1.0).check_policy(gaussian=False)


@pytest.mark.parametrize("experiment", [run_cartpole.CARTPOLE, run_swingup.SWINGUP], ids=["cartpole", "swingup"])
def test_the_command_line_has_one_flag_per_field_with_its_doc(experiment):
    parser = cli.build_parser(experiment)
    flags = {option: action for action in parser._actions for option in action.option_strings}
    help_text = " ".join(parser.format_help().split())
    for name in NAMES:
        assert flag(name) in flags, name
        assert flags[flag(name)].dest == name
        assert " ".join(FIELDS[name].metadata["doc"].split()) in help_text, name


@pytest.mark.parametrize("argv, expected", [
    (["--num-envs", "8", "--T", "50", "--lr", "0.5", "--hidden", "16", "16"], {"num_envs": 8, "T": 50, "lr": 0.5,
                                                                              "hidden": (16, 16)}),
    (["--hidden"], {"hidden": ()}),
    (["--normalize-advantages", "--lr-decay", "--max-grad-norm", "2"],
     {"normalize_advantages": True, "lr_decay": True, "max_grad_norm": 2.0}),
    (["--baseline", "value", "--gae-lambda", "0.9", "--bootstrap", "--terminal-value", "-10", "--value-steps", "3"],
     {"baseline": "value", "gae_lambda": 0.9, "bootstrap": True, "terminal_value": -10.0, "value_steps": 3}),
    (["--clip-ratio", "0.1", "--update-epochs", "4", "--minibatch-size", "none"],
     {"clip_ratio": 0.1, "update_epochs": 4, "minibatch_size": None}),
    (["--dtype", "float32", "--chunk-size", "100", "--vectorization", "sync"],
     {"dtype": "float32", "chunk_size": 100, "vectorization": "sync"}),
])
def test_flags_set_their_fields_over_the_preset(argv, expected):
    args = cli.parse_args(run_cartpole.CARTPOLE, argv + ["--plot", "/tmp/minipg-options-test.png"])
    assert args.options == run_cartpole.CARTPOLE.presets["blog"].replace(**expected)


def test_none_turns_off_a_field_a_preset_turns_on():
    args = cli.parse_args(run_swingup.SWINGUP, ["--clip-ratio", "none", "--update-epochs", "1", "--minibatch-size",
                                                "none", "--log-std-final", "none", "--plot", "/tmp/x.png"])
    assert args.options.clip_ratio is None and args.options.log_std_final is None
    assert args.options == run_swingup.SOLVE.replace(clip_ratio=None, update_epochs=1, minibatch_size=None,
                                                     log_std_final=None)


# ---------------------------------------------------------------- the field helpers, at run time
def test_option_carries_its_metadata_and_default():
    spec = option(3, "three things", POSITIVE_INT, "experiment")
    assert spec.default == 3
    assert dict(spec.metadata) == {"doc": "three things", "check": POSITIVE_INT, "group": "experiment",
                                   "gaussian": False, "fixed": False, "metavar": None}
    spec = option(None, "a bound", optional(FINITE), "solver", gaussian=True, fixed=True, metavar="B")
    assert (spec.metadata["gaussian"], spec.metadata["fixed"], spec.metadata["metavar"]) == (True, True, "B")


def test_optional_accepts_none_and_says_so():
    check = optional(POSITIVE)
    assert check.optional and not POSITIVE.optional
    assert check(None) and check(2.0) and not check(0.0) and not POSITIVE(None)
    assert check.words() == "a positive finite number or None"
    assert check.words(command_line=True) == "a positive finite number or 'none'"
    assert POSITIVE.words(command_line=True) == "a positive finite number"


def test_choice_accepts_its_values_only():
    check = choice("a", "bc")
    assert check("a") and check("bc") and not check("b") and not check(None)
    assert check.expected == "one of a, bc" and check.choices == ("a", "bc")


def test_a_bad_value_names_its_flag_on_the_command_line():
    with pytest.raises(OptionsError) as error:
        Options(num_envs=0)
    assert error.value.command_line() == "--num-envs must be a positive integer, got --num-envs 0"
    with pytest.raises(OptionsError) as error:
        Options(clip_ratio=-1.0)
    assert error.value.command_line() == ("--clip-ratio must be a positive finite number or 'none', "
                                          "got --clip-ratio -1.0")


def test_hidden_sizes_become_a_tuple_of_python_ints():
    import numpy as np

    options = Options(hidden=[np.int64(8), 4])
    assert options.hidden == (8, 4) and all(type(size) is int for size in options.hidden)
    assert Options(num_envs=np.int64(4)).num_envs == 4 and type(Options(num_envs=np.int64(4)).num_envs) is int


# ---------------------------------------------------------------- presets
def write_presets(tmp_path, text):
    path = tmp_path / "presets.toml"
    path.write_text(text)
    return path


def test_a_preset_is_the_default_table_with_its_own_fields_and_its_name_as_env(tmp_path):
    presets = load_presets(write_presets(tmp_path, '[default]\nnum_envs = 4\nlr = 0.5\n\n'
                                                   '["Pendulum-v1"]\nlr = 0.25\nhidden = [8]\n'))
    assert presets["default"] == Options(num_envs=4, lr=0.5)
    assert presets["Pendulum-v1"] == Options(env="Pendulum-v1", num_envs=4, lr=0.25, hidden=(8,))
    assert list(presets) == ["default", "Pendulum-v1"]


def test_a_family_is_default_with_its_fields_and_its_tasks_tables_over_it(tmp_path):
    presets = load_presets(write_presets(tmp_path, '[default]\nnum_envs = 4\nlr = 0.5\n\n'
                                                   '["Pendulum-v1"]\nlr = 0.25\n\n'
                                                   '[reinforce]\nfamily = true\nlr = 0.125\nT = 7\n\n'
                                                   '[reinforce."Pendulum-v1"]\nT = 9\n\n'
                                                   '[reinforce.CartPole-v1]\nnum_envs = 2\nenv = "CartPole-v1"\n'))
    assert list(presets) == ["default", "Pendulum-v1", "reinforce", "reinforce.Pendulum-v1", "reinforce.CartPole-v1"]
    assert presets["reinforce"] == Options(num_envs=4, lr=0.125, T=7)  # not the task's table: [default]'s
    assert presets["reinforce.Pendulum-v1"] == Options(env="Pendulum-v1", num_envs=4, lr=0.125, T=9)
    assert presets["reinforce.CartPole-v1"] == Options(env="CartPole-v1", num_envs=2, lr=0.125, T=7)
    assert preset_for(presets, "reinforce", "Pendulum-v1") == "reinforce.Pendulum-v1"
    assert preset_for(presets, "reinforce", "Acrobot-v1") == "reinforce"  # no table: the family's own
    assert preset_for(presets, "Pendulum-v1", "Pendulum-v1") == "Pendulum-v1"
    assert preset_for(presets, "reinforce") == "reinforce"
    assert presets.families == {"reinforce": {"Pendulum-v1": "reinforce.Pendulum-v1",
                                              "CartPole-v1": "reinforce.CartPole-v1"}}
    alone = load_presets(write_presets(tmp_path, '[default]\n\n[reinforce]\nfamily = true\nT = 7\n'))
    assert alone.families == {"reinforce": {}} and alone["reinforce"] == Options(T=7)  # a family with no task's table


def test_none_in_a_preset_switches_a_field_off(tmp_path):
    presets = load_presets(write_presets(tmp_path, '[default]\nclip_ratio = 0.2\nupdate_epochs = 4\n\n'
                                                   '["CartPole-v1"]\nclip_ratio = "none"\nupdate_epochs = 1\n'))
    assert presets["default"].clip_ratio == 0.2 and presets["CartPole-v1"].clip_ratio is None


@pytest.mark.parametrize("text, message", [
    # a value its field refuses, written as the file writes it
    ('[default]\nnum_envs = "8"\n', ', table [default], field num_envs: must be a positive integer, got "8"'),
    ('[default]\n\n["CartPole-v1"]\nnum_envs = 0\n',
     ", table [CartPole-v1], field num_envs: must be a positive integer, got 0"),
    ('[default]\n\n["CartPole-v1"]\nlr = true\n',
     ", table [CartPole-v1], field lr: must be a positive finite number, got true"),
    ('[default]\nhidden = "64 64"\n',
     ', table [default], field hidden: must be a sequence of positive integers, got "64 64"'),
    ('[default]\nhidden = [64.0, 64]\n',
     ", table [default], field hidden: must be a sequence of positive integers, got [64.0, 64]"),
    ('[default]\ngae_lambda = 2\n', ', table [default], field gae_lambda: must be a number in [0, 1] or "none", got 2'),
    ('[default]\nT = "none"\n', ', table [default], field T: must be a positive integer, got "none"'),
    ('[default]\nbaseline = "Value"\n',
     ', table [default], field baseline: must be one of none, time, value, got "Value"'),
    # an unknown field: the nearest name, else the list
    ('[default]\n\n["CartPole-v1"]\nnum_env = 4\n',
     ", table [CartPole-v1]: unknown option 'num_env' (did you mean num_envs?)"),
    ('[default]\nlearning_rate = 0.1\n',
     f", table [default]: unknown option 'learning_rate' (options: {', '.join(NAMES)})"),
    # the file's shape
    ("", ": no [default] table (the settings for any task, which each task's table changes); its tables: none"),
    ('[defaults]\nclip_ratio = 0.2\nupdate_epochs = 4\n\n["CartPole-v1"]\nupdate_epochs = 4\n',
     ": no [default] table (the settings for any task, which each task's table changes); "
     "its tables: [defaults], [CartPole-v1]"),
    ('lr = 0.1\n[default]\n', ", field lr: set outside any table; a field belongs in [default] or in a task's table"),
    # a task's table for another task
    ('[default]\n\n["CartPole-v1"]\nenv = "Pendulum-v1"\n',
     ', table [CartPole-v1], field env: must be the table\'s own id "CartPole-v1" (or left out), got "Pendulum-v1"; '
     "a task's settings go in the table named after it"),
    # a family's shape
    ('[default]\n\n[reinforce]\nfamily = true\nenv = "CartPole-v1"\n',
     ", table [reinforce], field env: a family of presets is for any task; its tasks' tables are named after them"),
    ('[default]\n\n[reinforce]\nfamily = 1\n', ", table [reinforce], field family: must be true (it marks a "
     "family of presets), got 1"),
    ('[default]\nfamily = true\n', ", table [default], field family: [default] is the settings for any task, "
     "not a family"),
    ('[default]\n\n[reinforce]\nfamily = true\n\n[reinforce.Pendulum-v1]\nT = 5\n\n'
     '[reinforce.Pendulum-v1.deeper]\nT = 6\n',
     ", table [reinforce.Pendulum-v1.deeper]: a task's table holds fields, not tables"),
    ('[default]\n\n[Foo.Bar-v0]\nT = 6\n',
     ', table [Foo.Bar-v0]: a table inside [Foo], which is not a family (a family says family = true); a task '
     'id with a dot is written quoted: ["Foo.Bar-v0"]'),
    ('[default]\nT = 5\n\n[default.Pendulum-v1]\nT = 6\n',
     ', table [default.Pendulum-v1]: a table inside [default], which is not a family (a family says family = '
     'true); a task id with a dot is written quoted: ["default.Pendulum-v1"]'),
    ('[default]\n\n["reinforce.Pendulum-v1"]\nT = 4\n\n[reinforce]\nfamily = true\n\n'
     '[reinforce.Pendulum-v1]\nT = 5\n',
     ", table [reinforce.Pendulum-v1]: defined twice, as a task's table and as family reinforce's table for "
     "Pendulum-v1"),
    ('[default]\n\n[reinforce]\nfamily = true\n\n[reinforce.Pendulum-v1]\nenv = "CartPole-v1"\n',
     ', table [reinforce.Pendulum-v1], field env: must be the table\'s own id "Pendulum-v1" (or left out), got '
     '"CartPole-v1"; a task\'s settings go in the table named after it'),
    ('[default]\n\n[reinforce]\nfamily = true\nnum_envs = 0\n',
     ", table [reinforce], field num_envs: must be a positive integer, got 0"),
    ('[default]\n\n[reinforce]\nfamily = true\nclip_ratio = 0.2\n\n[reinforce.Pendulum-v1]\n'
     'clip_ratio = "none"\nupdate_epochs = 4\n',
     ", table [reinforce.Pendulum-v1]: update_epochs and minibatch_size need clip_ratio (several steps on one rollout "
     "need the clipped surrogate; REINFORCE's one step is update_epochs 1 with minibatch_size none)"),
    # fields that break a rule once [default] is under the table
    ('[default]\nclip_ratio = 0.2\nupdate_epochs = 4\n\n["CartPole-v1"]\nclip_ratio = "none"\n',
     ", table [CartPole-v1]: update_epochs and minibatch_size need clip_ratio (several steps on one rollout "
     "need the clipped surrogate; REINFORCE's one step is update_epochs 1 with minibatch_size none)"),
])
def test_a_bad_presets_file_is_one_line_naming_the_file_the_table_and_the_field(text, message, tmp_path):
    path = write_presets(tmp_path, text)
    with pytest.raises(PresetsError, match=exactly(f"{path}{message}")) as error:
        load_presets(path)
    assert isinstance(error.value, OptionsError) and error.value.command_line() == str(error.value)


def test_a_presets_file_that_is_not_toml_is_named_with_tomllibs_line_and_column(tmp_path):
    path = write_presets(tmp_path, "[default]\nlr = \n")
    with pytest.raises(PresetsError, match=f"^{re.escape(str(path))}: not valid TOML: .*line 2, column 6\\)$"):
        load_presets(path)


def test_a_presets_file_that_cannot_be_read_or_decoded_is_a_presets_error(tmp_path):
    with pytest.raises(PresetsError, match=exactly(f"{tmp_path / 'none.toml'}: cannot be read "
                                                   "(No such file or directory)")):
        load_presets(tmp_path / "none.toml")
    path = tmp_path / "latin1.toml"
    path.write_bytes("[default]\n# café\n".encode("latin-1"))
    with pytest.raises(PresetsError, match=exactly(f"{path}: not UTF-8 text (byte 0xe9 at offset 15)")):
        load_presets(path)


def test_a_tasks_table_may_write_its_own_env_and_default_may_set_the_default_task(tmp_path):
    presets = load_presets(write_presets(tmp_path, '[default]\nenv = "Pendulum-v1"\n\n'
                                                   '["CartPole-v1"]\nenv = "CartPole-v1"\nT = 5\n'))
    assert presets == {"default": Options(env="Pendulum-v1"), "CartPole-v1": Options(env="CartPole-v1", T=5)}


def test_a_rule_broken_in_default_is_blamed_on_default_wherever_it_stands(tmp_path):
    path = write_presets(tmp_path, '["CartPole-v1"]\nT = 5\n\n[default]\nupdate_epochs = 4\n')
    with pytest.raises(PresetsError, match=r"^.*presets.toml, table \[default\]: update_epochs and minibatch_size"):
        load_presets(path)


def test_run_swingup_raises_the_error_of_a_bad_package_presets_file(tmp_path, monkeypatch):
    """run_swingup.py reads the presets when its Script is first used (run_swingup.SWINGUP,
    .SOLVE): a broken file is an exception there (the command line reports it: test_cli), not
    an exit."""
    import importlib

    from minipg import options as options_module

    path = write_presets(tmp_path, '[default]\n\n["CartPoleSwingUp-v0"]\nnum_envs = "8"\n')
    monkeypatch.setattr(options_module, "PRESETS_PATH", path)
    monkeypatch.delitem(sys.modules, "run_swingup")
    with pytest.raises(PresetsError, match=exactly(f'{path}, table [CartPoleSwingUp-v0], field num_envs: '
                                                   'must be a positive integer, got "8"')):
        importlib.import_module("run_swingup").SWINGUP


def test_the_shipped_presets_load_and_the_swingup_table_is_the_solve_preset():
    presets = load_presets()
    assert {"default", "CartPoleSwingUp-v0", "CartPole-v1", "LunarLander-v3"} <= set(presets)
    assert presets["CartPoleSwingUp-v0"] == run_swingup.SOLVE
    assert set(presets.families) == {"reinforce"}
    assert presets["reinforce"].env == presets["default"].env  # a family: for any task
    tasks = {name: task for family, tables in presets.families.items() for task, name in tables.items()}
    assert all(options.env == tasks.get(name, name) for name, options in presets.items()
               if name != "default" and name not in presets.families)


def test_the_docstring_lists_every_field_with_its_default_and_doc():
    from minipg.options import FIELDS
    for name, spec in FIELDS.items():
        assert f"    {name} = {spec.default!r}: {spec.metadata['doc']}" in Options.__doc__
    assert "Raises OptionsError" in Options.__doc__
