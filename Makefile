# spreadtrace: `make demo` and `make test` are the two commands a fresh clone needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint format browser ffmpeg java bench sample clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,spark]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/spreadtrace demo

browser:
	@bash scripts/ensure-chromium.sh

# Debian's ffmpeg: video hashing (`media hash`) and the video tests' clips.
ffmpeg:
	@bash scripts/ensure-ffmpeg.sh

# Debian's Java 17: the JVM pyspark starts (`spark build` and the Spark engine's tests).
java:
	@bash scripts/ensure-java.sh

test: $(STAMP) browser ffmpeg java
	$(PY) -m ruff check spreadtrace tests bench
	$(PY) -m ruff format --check spreadtrace tests bench
	$(PY) -m mypy spreadtrace
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check spreadtrace tests bench

format: $(STAMP)
	$(PY) -m ruff format spreadtrace tests bench
	$(PY) -m ruff check --fix spreadtrace tests bench

bench: $(STAMP)
	$(PY) -m bench

sample: $(STAMP)
	$(VENV)/bin/spreadtrace synth --sample --out data/sample

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
