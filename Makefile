# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PY      := .venv/bin/python
STAMP   := .venv/.installed
export CHATLEDGER_JWT_SECRET ?= local-dev-secret-change-me-0123456789abcdef

.PHONY: venv stack stack-scale stack-scale-down migrate demo run procs test test-unit lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

stack: venv
	tools/stack.sh up

# The scale-out stack of DESIGN §12: a MariaDB replica on :3307 and a Redis Cluster on
# :7001-7003 (tools/stack_scale.sh). Point a process at them with
# CHATLEDGER_MYSQL_READ_DSN=mysql://root@127.0.0.1:3307/chatledger and
# CHATLEDGER_REDIS_CLUSTER_NODES=127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003.
stack-scale: stack
	tools/stack.sh up-scale

stack-scale-down:
	tools/stack.sh down-scale

migrate: stack
	$(PY) -m chatledger migrate

demo: migrate
	$(PY) tools/demo_accounts.py

run: demo
	CHATLEDGER_DEV=1 $(PY) -m chatledger serve

# The production layout on one machine (Procfile, run by honcho): two api+gateway processes
# sharing the API port, two ledgers, two history projectors; Ctrl-C stops them all. Each process's
# probes and metrics: the "listening" line of its log, and .stack/prometheus/*.json (file_sd).
PROCS ?= web=2,ledger=2,history=2
procs: demo
	CHATLEDGER_DEV=1 CHATLEDGER_LOG_FORMAT=$${CHATLEDGER_LOG_FORMAT:-text} \
	CHATLEDGER_METRICS_TARGETS_DIR=$${CHATLEDGER_METRICS_TARGETS_DIR:-.stack/prometheus} \
	.venv/bin/honcho start -f Procfile -c $(PROCS)

# The suite runs on TEST_WORKERS pytest-xdist workers, whole files per worker (module-scoped
# services start once), each worker with its own database and prefix (tests/conftest.py). The
# tests mostly wait on I/O (broker fetch waits), so one worker more than the 2 cores pays off;
# more overloads the CPU with process start-ups. `make test TEST_WORKERS=0` runs it serially.
TEST_WORKERS ?= 3
test: stack-scale
	tools/browser.sh
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

# Benchmark: one run of every scenario, baseline and peer; writes bench/results.json,
# bench/latency.png and the report block of docs/performance.md. Uses its own
# database (chatledger_bench) and prefix. `make bench BENCH_ARGS=--quick` is a short smoke run.
BENCH_ARGS ?=
bench: stack
	cd tools/bench/node && npm ci --no-audit --no-fund --loglevel=error
	$(PY) -m tools.bench $(BENCH_ARGS)

test-unit: venv
	$(PY) -m pytest -q tests/unit

lint: venv
	.venv/bin/ruff check .
	.venv/bin/mypy chatledger

clean:
	tools/stack.sh down-kafka
	rm -rf .stack

# The fault nemesis (tests/nemesis): mixed load and 200+ reconnecting viewers while a seeded
# schedule kills and pauses processes of a private stack. CI runs one minute inside the suite;
# `make nemesis MINUTES=10 SEED=1234` runs longer or replays a seed printed by a failed run.
MINUTES ?= 1
SEED ?=
.PHONY: nemesis
nemesis: venv
	NEMESIS_MINUTES=$(MINUTES) NEMESIS_SEED=$(SEED) $(PY) -m pytest -q -s -p no:warnings tests/nemesis
