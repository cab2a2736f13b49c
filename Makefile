# The course's verbs. Each one installs what is missing first (scripts/bootstrap).
VENV := $(shell scripts/venv-path)
PRIMER := $(VENV)/bin/primer

.PHONY: hub test test-fast env release strip check lock bench-grading bench-notebooks bench-hub book

hub: env            ## start the course hub on http://127.0.0.1:8000 (as root)
	$(PRIMER) hub

# The test tools live beside the course venv, not in it (scripts/test-tools): kernels cannot import them.
PYTEST = PYTHONPATH=$$(scripts/test-tools) $(VENV)/bin/python -m pytest

test: env           ## run the whole test suite (one file: make test PYTEST_ARGS=tests/test_x.py)
	$(PYTEST) $(PYTEST_ARGS)

test-fast: env      ## the tests that need neither root, a hub nor a browser (< 3 min; any user)
	$(PYTEST) -m "not hub and not browser and not root and not slow" $(PYTEST_ARGS)

env:
	@scripts/bootstrap

release: env        ## regenerate release/ from source/
	$(PRIMER) release

strip: env          ## clear outputs of the notebooks in source/
	$(PRIMER) strip

check: env          ## source/ without outputs, release/ in sync
	$(PRIMER) check

lock: env           ## re-pin constraints.txt from the current venv
	(echo '# Every package of the course environment, pinned (pip freeze of a working install).'; \
	 echo '# Regenerate with `make lock` after changing pyproject.toml.'; \
	 ($(VENV)/bin/pip freeze --exclude primer-course; $(VENV)/bin/pip freeze --path $$(scripts/test-tools)) \
	   | sed 's/+cpu$$//' | $(VENV)/bin/python -c "import sys; print(''.join(sorted(set(sys.stdin), key=lambda line: line.split('==')[0].lower())), end='')") > constraints.txt

bench-grading: env  ## benchmark: one grading cold vs warm vs plain nbclient; plain nbgrader autograde vs primer autograde -j 2 (as root; prints figures)
	$(VENV)/bin/python benchmarks/grading_benchmark.py $(BENCH_ARGS)

bench-notebooks: env  ## benchmark: run time of each solution notebook (median of 3; budget 20 s each, 10 s over the course)
	$(VENV)/bin/python benchmarks/notebook_times.py $(BENCH_ARGS)

book: env           ## build the course website into book/_build/html (slides, link check)
	book/build

bench-hub: env      ## benchmark: the morning rush, 30 students log in and run code at once (as root; prints figures; PRIMER_SPAWNER=slurm: local and Slurm side by side)
	$(VENV)/bin/python benchmarks/hub_rush.py $(BENCH_ARGS)

.PHONY: slurm bench-cluster
slurm: env          ## start a one-node Slurm cluster here, for `primer autograde --backend slurm` (as root; scripts/slurm-cluster stop|status)
	scripts/slurm-cluster start

bench-cluster: env  ## benchmark: one class graded by local -j 2 and by Slurm on the local cluster (as root; prints figures)
	$(VENV)/bin/python benchmarks/cluster_benchmark.py $(BENCH_ARGS)

.PHONY: bench-queue
bench-queue: env    ## benchmark: grading on submit, 30 students submit within a minute, old and new queue side by side (as root; prints figures)
	$(VENV)/bin/python benchmarks/queue_benchmark.py $(BENCH_ARGS)

.PHONY: bench-kernel-memory
bench-kernel-memory: env  ## benchmark: memory of a warm kernel of its own vs one forked from a kernel zygote, side by side (as root; prints figures)
	$(VENV)/bin/python benchmarks/kernel_memory.py $(BENCH_ARGS)
