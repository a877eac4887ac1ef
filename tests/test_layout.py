"""The package's shape as the README describes it: the math never imports the tooling, the
public names import from `minipg`, the README's library example runs as printed, every
finite-difference test is marked for `make gradcheck`, and the reference curves of
`make figures` are in the repository."""

import ast
import json
import re
import sys
from pathlib import Path

import gymnasium

import minipg
from minipg.tools.cli import reference_curves

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "minipg"
CORE_MODULES = ("layers", "distributions", "optim", "returns", "policies", "baselines", "ppo", "reinforce",
                "options", "solver", "normalization", "exploration", "parallel", "state", "exact")


def imported_modules(path):
    """Every module a file imports, relative imports resolved against the minipg package."""
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            names.append(module)
            names += [f"{module}.{alias.name}" for alias in node.names]
    return names


def test_minipg_holds_only_the_math_and_the_loop():
    # __main__.py is `python -m minipg`: the command line's entry point, not a module of the math
    modules = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem not in ("__init__", "__main__"))
    assert modules == sorted(CORE_MODULES)
    assert sorted(path.name for path in PACKAGE.iterdir() if path.is_dir() and path.name != "__pycache__") \
        == ["envs", "tools"]


def test_no_core_or_env_module_imports_the_tools():
    for path in [*PACKAGE.glob("*.py"), *(PACKAGE / "envs").glob("*.py")]:
        if path.name == "__main__.py":  # the command line's entry point (python -m minipg)
            continue
        offending = [name for name in imported_modules(path) if name.startswith("minipg.tools")]
        assert offending == [], f"{path.relative_to(ROOT)} imports {offending}"


def module_name(path):
    """minipg.tools.cli for minipg/tools/cli.py, minipg.envs for minipg/envs/__init__.py."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_cycle_in_the_package():
    """Following the imports between the package's modules never comes back to where it started.
    (A submodule importing its own package is no cycle that bites: importing a submodule runs
    the package first, so those edges are left out.)"""
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    graph = {}
    for path in paths:
        name = module_name(path)
        imported = {module for name_ in imported_modules(path) for module in (name_, name_.rsplit(".", 1)[0])}
        graph[name] = {module for module in imported
                       if module in modules and module != name and not name.startswith(module + ".")}

    def cycle_from(start):
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for target in graph[node]:
                if target == start:
                    return trail + [start]
                if target not in seen:
                    seen.add(target)
                    stack.append((target, trail + [target]))
        return None

    assert [cycle for name in graph if (cycle := cycle_from(name))] == []
    # the check can fail: tools/cli.py and tools/sweep.py importing each other was one
    graph["minipg.tools.sweep"].add("minipg.tools.cli")
    assert cycle_from("minipg.tools.cli")


def test_the_import_resolver_sees_relative_imports():
    """The check above would be empty-handed if relative imports were not resolved."""
    assert "minipg.tools.checkpoint" in imported_modules(PACKAGE / "tools" / "cli.py")
    assert "minipg.envs.vector.autoreset_mode" in imported_modules(PACKAGE / "reinforce.py")


def test_public_api():
    for name in minipg.__all__:
        assert hasattr(minipg, name)
    assert gymnasium.spec("CartPoleSwingUp-v0").vector_entry_point.startswith("minipg.envs.swingup:")


def test_package_docstring_lists_every_module():
    for name in CORE_MODULES:
        assert f"{name}.py" in minipg.__doc__
    for name in ("envs/", "tools/"):
        assert name in minipg.__doc__


def test_readme_library_example_runs(capsys):
    """The README's Python block, as printed (it trains the post's CartPole run: a few seconds)."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) == 1
    namespace = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert namespace["returns"].shape == (100,)
    assert namespace["returns"].mean() >= 195  # seed 0 solves CartPole (deterministic)
    assert capsys.readouterr().out.strip()


def finite_difference_tests():
    """(file, test name, whether it carries @pytest.mark.gradcheck) of every test function that
    differentiates by central differences: it calls numerical_gradient (conftest.py) or a helper
    around it, or divides by 2h itself."""
    found = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        source = path.read_text()
        for node in ast.parse(source).body:
            if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
                continue
            body = ast.get_source_segment(source, node)
            if re.search(r"numerical_gradient\(|_match_finite_differences\(|/ \(2 \* h\)", body):
                marked = any(ast.unparse(decorator) == "pytest.mark.gradcheck" for decorator in node.decorator_list)
                found.append((path.name, node.name, marked))
    return found


def test_every_finite_difference_check_is_marked_gradcheck():
    """`make gradcheck` (pytest -m gradcheck) runs all of them: none is left out by a missing marker."""
    found = finite_difference_tests()
    assert {name for name, _, _ in found} >= {"test_layers.py", "test_distributions.py", "test_policies.py",
                                               "test_baselines.py", "test_mirror.py", "test_ppo.py"}
    assert [(name, test) for name, test, marked in found if not marked] == []


def test_the_reference_curves_in_the_repository_are_the_blog_presets_runs():
    """docs/data/original_pytorch_curves.json (make figures' --reference) holds the original code's
    curves for each script's `blog` preset, one value per epoch, and the scripts find them."""
    if str(ROOT) not in sys.path:  # the scripts live at the repository's root
        sys.path.insert(0, str(ROOT))
    from run_cartpole import CARTPOLE
    from run_swingup import SWINGUP

    path = ROOT / "docs" / "data" / "original_pytorch_curves.json"
    runs = json.loads(path.read_text())
    for experiment, seeds in ((CARTPOLE, 3), (SWINGUP, 2)):
        blog = experiment.presets["blog"]
        curves = reference_curves(str(path), experiment.name)
        assert len(curves) == seeds
        assert all(len(curve) == blog.epochs for curve in curves.values())
        for name, run in runs.items():
            if name.startswith(experiment.name + "_"):
                config = run["config"]
                assert (config["env_id"], config["num_envs"], config["T"], config["lr"], config["gamma"]) \
                    == (blog.env, blog.num_envs, blog.T, blog.lr, blog.gamma)
