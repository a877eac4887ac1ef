# One command each, from a fresh clone:
#   make demo    set up .venv and train the post's CartPole experiment (run_cartpole.py)
#   make test    set up .venv and run the test suite (gradient checks included)
#   make gradcheck  only the gradient checks: every hand-written gradient against finite differences (pytest -m gradcheck)
#   make notebook  install JupyterLab into .venv (first time) and open docs/reinforce.ipynb, the post as a notebook
# Other targets: make setup, make swingup, make bench, make figures, make failures, make suite, make mutation,
#   make clean.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.minipg-installed

.PHONY: setup demo swingup test gradcheck notebook bench figures failures suite lone mutation clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[swingup,test,box2d,mujoco,cluster,envpool]"
	# gym-cartpole-swingup declares gym<0.19 (unbuildable on Python 3.11); its env works with gym 0.26.2
	$(BIN)/python -m pip install --quiet --no-deps gym-cartpole-swingup==0.1.4 poetry-version==0.2.0
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python run_cartpole.py

swingup: $(STAMP)
	$(BIN)/python run_swingup.py

test: $(STAMP)
	$(BIN)/ruff check --no-cache minipg tests run_cartpole.py run_swingup.py
	$(BIN)/python -m pytest -q

# The tests marked gradcheck (pyproject.toml): each hand-written gradient against central finite differences.
gradcheck: $(STAMP)
	$(BIN)/python -m pytest -m gradcheck -q

# The post as a notebook: JupyterLab is installed into .venv on first use (not by make setup), then
# opens docs/reinforce.ipynb in the venv's kernel.  As root (this machine), JupyterLab needs --allow-root.
notebook: $(STAMP)
	$(BIN)/python -c "import jupyterlab" 2>/dev/null || $(BIN)/python -m pip install --quiet "jupyterlab>=4"
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) docs/reinforce.ipynb

# The benchmarks in tests/benchmarks (pytest-benchmark; see docs/speed.md), about 80 s; the
# figures also go to runs/bench.json.  Their reference is the env alone, measured in the same run: the
# blog configs' env stepped with no policy, and each installed suite task's env-alone floor (short; with
# BENCH_ARGS='--bench-suite-floors' over the preset's budget as `make suite` measures it, about 2 minutes more).
# More: BENCH_ARGS='--bench-full-grid', '-k busy', '-k envpool' (EnvPool against gymnasium per suite task),
# '-k minibatch' (Acrobot's minibatch Adam step), '-k solve' (the solve epoch in GFLOP against the
# machine's matrix-product rate), '--bench-dtype float32' and the other --bench-* options of
# tests/benchmarks/conftest.py.
BENCH_ARGS ?=
bench: $(STAMP)
	mkdir -p runs
	$(BIN)/python -m pytest tests/benchmarks -m benchmark -p no:cacheprovider --benchmark-sort=name \
		--benchmark-columns=median,iqr,min,max,rounds --benchmark-json=runs/bench.json $(BENCH_ARGS)

# Mutation testing of the math and the loop (configured in pyproject.toml, [tool.mutmut]); not part
# of `make test`: about 25 minutes on 2 cores.  It prints the score per module and the survivors,
# explained in docs/mutation.md.  One child process, one thread: the machine is shared.
# A subset, keeping the other results:  make mutation MUTANTS='minipg.returns.*'
MUTMUT_VERSION := 3.8.1
mutation: $(STAMP)
	$(BIN)/python -m pip show mutmut 2>/dev/null | grep -qx 'Version: $(MUTMUT_VERSION)' \
		|| $(BIN)/python -m pip install --quiet mutmut==$(MUTMUT_VERSION)
	$(if $(MUTANTS),,rm -rf mutants)
	OPENBLAS_NUM_THREADS=1 MINIPG_THREADS=1 $(BIN)/mutmut run --max-children 1 $(foreach name,$(MUTANTS),'$(name)')
	$(BIN)/python .ci/mutation_score.py

# The figures of docs/.  REFERENCE: the original PyTorch code's learning curves (docs/data/README.md).
REFERENCE ?= docs/data/original_pytorch_curves.json
REFERENCE_FLAG = $(if $(REFERENCE),--reference $(REFERENCE))
figures: $(STAMP)
	$(BIN)/python run_cartpole.py --seeds 0 1 2 3 4 --eval 100 $(REFERENCE_FLAG) --plot docs/cartpole.png
	$(BIN)/python run_swingup.py --preset blog --eval 100 $(REFERENCE_FLAG) --plot docs/swingup-blog.png
	$(BIN)/python run_swingup.py --seeds 0 1 2 3 4 5 6 7 8 9 --jobs 2 --save runs/swingup.safetensors --plot docs/swingup.png
	$(BIN)/python run_swingup.py --load runs/swingup-seed0.safetensors --eval 0 --gif docs/swingup.gif

# docs/failures.png (docs/seeds.md): what the failing seeds' policies do.  Two swing-up runs of the former
# solve preset (150 epochs: seed 114, which never holds the pole, and seed 113), and
# MountainCarContinuous seed 1001 without and with its exploration bonus; about 5 minutes.
failures: $(STAMP)
	mkdir -p runs
	for seed in 113 114; do $(BIN)/python run_swingup.py --seed $$seed --epochs 150 --eval 0 --plot runs/failures.png \
		--save runs/failures-swingup$$seed.safetensors || exit 1; done
	$(BIN)/python -m minipg --env MountainCarContinuous-v0 --seed 1001 --count-bonus 0 --epochs 20 --eval 0 \
		--plot runs/failures.png --save runs/failures-mcc-former.safetensors --csv runs/failures-mcc-former.csv
	$(BIN)/python -m minipg --env MountainCarContinuous-v0 --seed 1001 --eval 0 --plot runs/failures.png \
		--save runs/failures-mcc.safetensors --csv runs/failures-mcc.csv
	$(BIN)/python docs/failures.py runs/failures-swingup114.safetensors runs/failures-swingup113.safetensors \
		runs/failures-mcc-former.safetensors runs/failures-mcc.safetensors runs/failures-mcc-former.csv runs/failures-mcc.csv

# The results on standard tasks (docs/results.md): each task of minipg/tools/suite.py trained with its preset
# for seeds 0-9 (two at a time), then the table (between docs/results.md's suite markers) and
# docs/suite.png.  Its wall column is each run's wall seconds and its ratio to the task's env-alone
# floor (its env stepped through the preset's env steps with random actions and no policy), measured
# just before the task's runs: "158 s (4.7×)".  About 9 hours on a 2-core machine (Humanoid
# 115 minutes of them, HalfCheetah 95, Ant 85, Walker2d 50, Swimmer ≈ 40 by its screens, BipedalWalker 40).  A
# subset: make suite SUITE='Pendulum-v1' (the
# others keep their rows and their stored curves, docs/data/curves/; docs/suite.png is redrawn from
# those once every task with a row has one).  The post's
# REINFORCE at scale (the page's second table, docs/reinforce.png; --preset reinforce, runs in runs/suite/reinforce/):
# make suite TABLE=reinforce, or one task: make suite TABLE=reinforce SUITE='Hopper-v5' (seeds 0-4, two at a
# time: 14 minutes (Reacher) to 75 (Humanoid) a task in one sitting; some 4.5 hours for all nine)
TABLE ?= solver
suite: $(STAMP)
	$(BIN)/python -m minipg.tools.suite run --table $(TABLE) $(SUITE)
	$(BIN)/python -m minipg.tools.suite report --table $(TABLE)

# One run of each suite task at a time against its env-alone floor, with the preset's backend and the
# other (EnvPool or gymnasium): docs/speed.md's table of lone runs, and runs/suite/lone.json.  Run it on
# an otherwise idle machine; about 50 minutes (BipedalWalker on gymnasium 15 of them).  make lone SUITE='Hopper-v5'
lone: $(STAMP)
	$(BIN)/python -m minipg.tools.suite lone $(SUITE)

clean:
	rm -rf $(VENV) runs .pytest_cache mutants
