# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test venv bench clean default-data default-model

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first from the pinned version, so no other requirement pulls a different build
	$(BIN)/python -m pip install -q -c constraints.txt torch
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev,eval]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/inpaintscope demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/generation.py

clean:
	rm -rf $(VENV) build *.egg-info

# The default detector's recipe (see configs/default.yaml and src/inpaintscope/weights/MODEL_CARD.md).
SHARED ?= ../shared/data
default-data: $(STAMP)
	$(BIN)/inpaintscope dataset build $(SHARED)/photos data/default \
	  --masks rectangle,strokes,shapes,objects --inpainters telea,ns,patchmatch,autoencoder \
	  --modes realfake,fakefake --per-image 3 --size 256 --split configs/splits/shared_photos.txt \
	  --seed 0 --autoencoder $(SHARED)/weights --post none,none,jpeg:90,jpeg:75,webp:80 --authentic

default-model: default-data
	$(BIN)/inpaintscope train --config configs/default.yaml
