# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint venv bench clean default-data native-data default-model-v2 default-model-v3 default-model heldout-data native-test-data \
	v3-data v3-val-data v4-learned-data v5-robust-data default-model-v4 ae-val-data model-card-data model-card need-photos need-weights need-masks

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

# Lint and format check (settings in pyproject.toml, [tool.ruff]); `ruff format .` fixes the format.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/generation.py

clean:
	rm -rf $(VENV) build *.egg-info

# The default detector's recipe (see configs/default.yaml and src/inpaintscope/weights/MODEL_CARD.md).
# Its photos, masks and TAEF2 weights are third-party data that does not ship with inpaintscope: the
# recipes read them from $(SHARED) (../shared/data beside the clone; `make default-data SHARED=/path`
# to point elsewhere). Each target checks first and stops with one line when they are missing.
SHARED ?= ../shared/data
need-photos:
	@test -d "$(SHARED)/photos" || { echo "error: $(SHARED)/photos not found: the dataset recipes need the shared photos \
	(set SHARED=/path/to/data; see the README, 'Data for the recipes')" >&2; exit 2; }
need-weights:
	@test -f "$(SHARED)/weights/taef2_encoder.pth" -a -f "$(SHARED)/weights/taef2_decoder.pth" || { echo "error: \
	TAEF2 weights not found in $(SHARED)/weights (taef2_encoder.pth, taef2_decoder.pth): fakefake and the autoencoder \
	inpainter need them (set SHARED=/path/to/data; see the README, 'Data for the recipes')" >&2; exit 2; }
need-masks:
	@test -d "$(SHARED)/masks/irregular" || { echo "error: $(SHARED)/masks/irregular not found: the held-out sets use \
	the NVIDIA irregular masks (set SHARED=/path/to/data; see the README, 'Data for the recipes')" >&2; exit 2; }

default-data: need-photos need-weights $(STAMP)
	$(BIN)/inpaintscope dataset build $(SHARED)/photos data/default \
	  --masks rectangle,strokes,shapes,objects --inpainters telea,ns,patchmatch,autoencoder \
	  --modes realfake,fakefake --per-image 3 --size 256 --split configs/splits/shared_photos.txt \
	  --seed 0 --autoencoder $(SHARED)/weights --post none,none,jpeg:90,jpeg:75,webp:80 --authentic

# Native-resolution supplement (train/val photos only): teaches what untouched full-size photos look like.
native-data: need-photos need-weights $(STAMP)
	$(BIN)/inpaintscope dataset build $(SHARED)/photos data/native \
	  --masks rectangle,strokes,shapes,objects --inpainters telea,ns,patchmatch,autoencoder \
	  --modes realfake,fakefake --per-image 2 --resize none --split configs/splits/shared_photos_trainval.txt \
	  --seed 1 --autoencoder $(SHARED)/weights --post none,none,jpeg:90,jpeg:75,webp:80,resize:0.5 --authentic

# v0.2 (scope_fast): stage 1 from scratch on the 256² data, stage 2 fine-tunes on both, then the image
# score is calibrated on the val photos (equal priors): runs/default/calibrated.safetensors, the start of v0.3.
# Each model step is a file target: a finished step is skipped, and a training run that an earlier
# `make` left unfinished (or killed) is resumed, because `train` refuses a run folder that holds a run.
# The data targets come after `|`: they always run (a built dataset resumes as a no-op in seconds) but
# do not make a finished model step run again. Delete a step's output to redo it.
# $(call train_run,CONFIG,RUN_FOLDER): train CONFIG into RUN_FOLDER (its `out`), or resume the run there
train_run = if [ -f $(2)/config.yaml ]; then $(BIN)/inpaintscope train --resume $(2); \
	else $(BIN)/inpaintscope train --config $(1); fi

default-model-v2: runs/default/calibrated.safetensors
runs/default/calibrated.safetensors: | default-data native-data
	$(call train_run,configs/default_stage1.yaml,runs/default_stage1)
	$(call train_run,configs/default.yaml,runs/default)
	$(BIN)/inpaintscope calibrate runs/default/best.safetensors --data data/default --data data/native \
	  --split val -o $@

# v0.3 (scope_cue, configs/default_v3.yaml): v0.2 widened to the copy cue and fine-tuned on native-size
# data with exemplar fills, clone stamp, splices and autoencoder regions; calibrated on the val photos;
# then the autoencoder-cue fusion is fitted: runs/default_v3/shipped.safetensors, the start of v0.4.
v3-data: need-photos $(STAMP)
	$(BIN)/inpaintscope dataset build $(SHARED)/photos data/v3 --split configs/splits/shared_photos_trainval.txt \
	  --masks rectangle,strokes,shapes,objects \
	  --inpainters telea,ns,patchmatch,patchmatch_sharp,clone,splice,autoencoder --modes realfake --per-image 4 \
	  --resize none --authentic --post none,jpeg:90,jpeg:75,webp:80,resize:0.5 --seed 3 --autoencoder taef2

v3-val-data: need-photos $(STAMP)
	$(BIN)/inpaintscope dataset build $(SHARED)/photos data/v3val --split configs/splits/shared_photos_val_only.txt \
	  --masks strokes,shapes,objects --inpainters telea,ns,patchmatch,patchmatch_sharp,clone,splice,autoencoder \
	  --modes realfake --per-image 2 --resize none --authentic --post none,jpeg:90 --seed 4 --autoencoder taef2

ae-val-data: need-photos $(STAMP)
	$(BIN)/inpaintscope dataset build $(SHARED)/photos data/ae_val --split configs/splits/shared_photos_val_only.txt \
	  --masks rectangle,strokes,shapes,objects --inpainters autoencoder --modes inpainted,realfake,fakefake \
	  --per-image 2 --resize none --authentic --post none,jpeg:90 --seed 11 --autoencoder taef2

default-model-v3: runs/default_v3/shipped.safetensors
runs/default_v3/calibrated.safetensors: runs/default/calibrated.safetensors | v3-data v3-val-data
	$(call train_run,configs/default_v3.yaml,runs/default_v3)
	$(BIN)/inpaintscope calibrate runs/default_v3/best.safetensors --data data/v3val --split val -o $@
runs/default_v3/shipped.safetensors: runs/default_v3/calibrated.safetensors | ae-val-data
	$(BIN)/inpaintscope calibrate $< --cues autoencoder --data data/ae_val --split val --limit 100 -o $@

# v0.4, what ships (configs/default_v4.yaml): v0.3 fine-tuned with deep-inpainting fills by three of our
# learned inpainters (gated, edgeconnect, safepaint; fourier stays out) added to data/v3, calibrated on
# the val photos of both sets, the autoencoder-cue fusion refitted. runs/default_v4/shipped.safetensors ships.
# v0.4 trained and was measured on the fills of the first shipped SafePaint (step 1000, in git at aa508ca);
# the shipped `safepaint` has changed since, so these recipes read those weights back from git (same bytes)
SAFEPAINT_V1 := runs/safepaint_step1000.safetensors
$(SAFEPAINT_V1):
	mkdir -p runs && git show aa508ca:src/inpaintscope/weights/inpainters/safepaint.safetensors > $@.tmp && mv $@.tmp $@

v4-learned-data: need-photos $(STAMP) $(SAFEPAINT_V1)
	$(BIN)/inpaintscope dataset build $(SHARED)/photos data/v4_learned --split configs/splits/shared_photos.txt \
	  --masks rectangle,strokes,shapes,objects --inpainters gated,edgeconnect,safepaint:$(SAFEPAINT_V1) --modes realfake \
	  --per-image 2 --resize none --authentic --post none,jpeg:90,webp:80,resize:0.5 --seed 71

default-model-v4: runs/default_v4/shipped.safetensors
runs/default_v4/calibrated.safetensors: runs/default_v3/shipped.safetensors \
	  | v3-data v3-val-data v4-learned-data
	$(call train_run,configs/default_v4.yaml,runs/default_v4)
	$(BIN)/inpaintscope calibrate runs/default_v4/best.safetensors --data data/v3val --data data/v4_learned \
	  --split val -o $@
runs/default_v4/shipped.safetensors: runs/default_v4/calibrated.safetensors | ae-val-data
	$(BIN)/inpaintscope calibrate $< --cues autoencoder --data data/ae_val --split val --limit 100 -o $@

# v0.5, what ships (configs/default_v5.yaml): v0.4 fine-tuned on fills and authentic photos laundered with
# blur, blur + noise, JPEG 60/75, sharpening, noise and half-size + JPEG, so that an honest photo that was
# blurred or recompressed is not called inpainted; calibrated on the val photos of all three sets, the
# autoencoder-cue fusion refitted. runs/default_v5/shipped.safetensors ships.
v5-robust-data: need-photos $(STAMP)
	$(BIN)/inpaintscope dataset build $(SHARED)/photos data/v5_robust --split configs/splits/shared_photos.txt \
	  --masks rectangle,strokes,shapes,objects --inpainters telea,ns,gated,edgeconnect --modes realfake \
	  --per-image 1 --resize none --authentic --seed 91 \
	  --post blur:0.7,blur:1,blur:1.5,blur:2.5,blur:1.5+noise:2,jpeg:60,jpeg:75,sharpen:1,noise:3,resize:0.5+jpeg:75

default-model: runs/default_v5/shipped.safetensors
runs/default_v5/calibrated.safetensors: runs/default_v4/shipped.safetensors \
	  | v3-data v3-val-data v4-learned-data v5-robust-data
	$(call train_run,configs/default_v5.yaml,runs/default_v5)
	$(BIN)/inpaintscope calibrate runs/default_v5/best.safetensors --data data/v3val --data data/v4_learned \
	  --data data/v5_robust --split val -o $@
runs/default_v5/shipped.safetensors: runs/default_v5/calibrated.safetensors | ae-val-data
	$(BIN)/inpaintscope calibrate $< --cues autoencoder --data data/ae_val --split val --limit 100 -o $@

# Evaluation sets of the model cards (test photos only, never trained on). v0.2: biharmonic + unseen masks
# at 256², and native-resolution photos (three trained-on inpainters and biharmonic).
heldout-data: need-photos need-masks $(STAMP)
	$(BIN)/inpaintscope dataset build $(SHARED)/photos data/heldout --masks rectangle,strokes,folder \
	  --mask-dir $(SHARED)/masks/irregular --inpainters biharmonic --modes realfake --size 256 \
	  --mask-area 0.03,0.3 --split configs/splits/shared_photos_test_only.txt --seed 1 --authentic

native-test-data: need-photos need-masks $(STAMP)
	$(BIN)/inpaintscope dataset build $(SHARED)/photos data/native_test --masks rectangle,strokes,shapes,folder \
	  --mask-dir $(SHARED)/masks/irregular --inpainters telea,ns,patchmatch,biharmonic --modes realfake \
	  --resize none --split configs/splits/shared_photos_test_only.txt --seed 2 --authentic

# v0.3 (what ships): native-size test photos with unseen NVIDIA masks, per edit family; every test photo
# once classical + authentic; the learned inpainters (never trained on); autoencoder round trips.
# the model card's holes: the NVIDIA irregular masks for `folder` (never trained on), 3–25 % of the image
CARD_HOLES := --mask-dir $(SHARED)/masks/irregular --mask-area 0.03,0.25

model-card-data: need-photos need-masks $(STAMP) $(SAFEPAINT_V1)
	$(BIN)/inpaintscope dataset build $(SHARED)/photos data/v3test --split configs/splits/model_card_test60.txt \
	  --masks folder,shapes $(CARD_HOLES) \
	  --inpainters telea,ns,biharmonic,patchmatch,patchmatch_sharp,criminisi,clone,splice,autoencoder \
	  --modes realfake --per-image 3 --resize none --authentic --seed 31 --autoencoder taef2
	$(BIN)/inpaintscope dataset build $(SHARED)/photos data/v3test_cls --split configs/splits/shared_photos_test_only.txt \
	  --masks folder,shapes,strokes $(CARD_HOLES) \
	  --inpainters telea,ns,biharmonic --modes realfake --resize none --authentic --seed 41
	$(BIN)/inpaintscope dataset build $(SHARED)/photos data/v3test_learned --split configs/splits/model_card_test60.txt \
	  --masks folder,shapes $(CARD_HOLES) \
	  --inpainters fourier,edgeconnect,safepaint:$(SAFEPAINT_V1),gated --modes realfake --per-image 2 --resize none --seed 61
	$(BIN)/inpaintscope dataset build $(SHARED)/photos data/v3test_ae --split configs/splits/model_card_test60.txt \
	  --masks folder,shapes $(CARD_HOLES) --inpainters autoencoder \
	  --modes inpainted,realfake,fakefake --resize none --authentic --seed 51 --autoencoder taef2

# v0.4 as shipped, read back from git, for the laundered-authentic comparison of v0.5's card
DEFAULT_V04 := runs/default_v04.safetensors
$(DEFAULT_V04):
	mkdir -p runs && git show 64b598f:src/inpaintscope/weights/default.safetensors > $@.tmp && mv $@.tmp $@

model-card: model-card-data $(DEFAULT_V04)
	$(BIN)/python benchmarks/default_model_report.py
	$(BIN)/python benchmarks/autoencoder_cue.py --data data/v3test_ae --split test --per-mode 15
	$(BIN)/python benchmarks/authentic_robustness.py --checkpoint $(DEFAULT_V04) \
	  --checkpoint src/inpaintscope/weights/default.safetensors
