"""The inpainting dataset builder (issue 2): masks × inpainters × compositing modes over photos.

Layout of a built dataset ``OUT`` (the Bochum report's naming, read by :mod:`inpaintscope.data.readers`)::

    OUT/build.json                      the options the dataset was built with (checked on resume)
    OUT/manifest.jsonl                  one JSON record per sample, sorted by id
    OUT/summary.json                    counts, skipped sources, wall time, throughput
    OUT/<split>/<id>.original.png       the prepared photo (post-processed like the fakes)
    OUT/<split>/<id>.mask.png           the soft 0–255 mask (255 = inpainted core)
    OUT/<split>/<id>.<mode>.png         one per mode: inpainted / realfake / fakefake
    OUT/.records/<id>.json              per-sample record, written last (the resume marker)

**Determinism.** Sample ``k`` of the photo with relative path ``rel`` draws all its randomness
from ``SeedSequence([seed, stable_hash(rel), k])`` (spawned into independent mask, inpainter and
post-processing streams). Mask kind, inpainter and post-processing are cycled over the global
sample index (photo position in the sorted source list × per-image + k), so every combination
is equally represented. Nothing depends on worker count, scheduling or absolute paths: the same
photos and seed give byte-identical files and manifest (timings live only in summary.json).
Torch and OpenCV run single-threaded in every worker, which also keeps float reductions in the
same order whatever the worker count.

**Resume.** Every file is written atomically and the per-sample record last, so a sample counts
as done only when its record and all its files exist. A killed run leaves at most ``.tmp-*``
files, which nothing reads and the next run deletes. ``build.json`` pins the options: resuming
with different ones is refused instead of mixing two datasets in one folder (a learned inpainter
counts by its weights' bytes and runtime options, so a retrained file or an upgrade that changes
its fills is a different option, while a moved file is not). A full disk stops
the build with one line (:class:`DatasetWriteError`); what was written is complete, so the same
command resumes once there is space. Worker processes die with the build process (Linux:
``PR_SET_PDEATHSIG``; elsewhere they stop before their next sample), so a killed build never
leaves workers writing without its lock.

**Sources.** Folders are listed with :func:`~inpaintscope.io.images.list_image_files` (the rule
``detect`` uses). Sources that cannot be used (empty, not an image, smaller than ``min_side``,
larger than ``max_pixels``, a dangling symbolic link) are skipped with their reason in the
summary. Byte-identical copies of a photo under several names all go to the split of the
first copy (so no photo is both trained and tested on); they are listed in the summary's
``duplicate_sources`` and reported on stderr.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import json
import math
import os
import signal
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ImageReadError, InpaintscopeError, one_line
from ..io import DEFAULT_MAX_PIXELS, atomic_write_text, printable, read_image, write_image
from ..io.atomic import TMP_PREFIX
from ..io.outputs import is_within
from .sources import (
    DEFAULT_MIN_SIDE,
    RESIZE_MODES,
    Source,
    discover_sources,
    find_duplicates,
    prepare_image,
    probe_source,
    source_base_id,
    stable_hash,
)
from .splits import DEFAULT_SPLIT, assign_splits, parse_split

FORMAT = "inpaintscope-dataset/1"
#: samples per source photo at most (each is a mask, a fill and its files)
MAX_PER_IMAGE = 10_000
RECORDS_DIR = ".records"
#: Modes whose image comes from the inpainter (``fakefake`` needs only the autoencoder).
INPAINTER_MODES = ("inpainted", "realfake")
ROLE_ORIGINAL, ROLE_MASK = "original", "mask"


class BuildConfigError(InpaintscopeError):
    """An unusable builder option (unknown name, missing weights, bad range...)."""


class BuildMismatchError(InpaintscopeError):
    """``OUT`` holds a dataset built with other options, or files that are not a dataset."""


class DatasetWriteError(InpaintscopeError):
    """Writing into ``OUT`` failed (disk full, read-only, ...); the files written are complete."""


@dataclass(frozen=True)
class BuildConfig:
    """Options of one dataset build (everything that changes the output; workers do not)."""

    masks: tuple[str, ...] = ("rectangle",)
    inpainters: tuple[str, ...] = ("telea",)
    modes: tuple[str, ...] = ("realfake",)
    per_image: int = 1
    size: int | None = 512
    resize: str = "crop"
    split: str = DEFAULT_SPLIT
    seed: int = 0
    autoencoder: str | None = None
    mask_dir: str | None = None
    mask_area: tuple[float, float] | None = None
    post: tuple[str, ...] = ("none",)
    authentic: bool = False
    min_side: int = DEFAULT_MIN_SIDE
    blur_radius: float = 3.0
    # Stable Diffusion (``diffusers:PATH`` inpainters) and SD-VAE options; see inpaint.diffusers_sd.
    captions: str | None = None
    steps: int = 50
    guidance: float = 7.5
    vae_range: str = "correct"
    max_pixels: int = DEFAULT_MAX_PIXELS

    @property
    def needs_inpainter(self) -> bool:
        return any(m in INPAINTER_MODES for m in self.modes)

    @property
    def needs_autoencoder(self) -> bool:
        return "fakefake" in self.modes or (self.needs_inpainter and "autoencoder" in self.inpainters)


@dataclass(frozen=True)
class SampleSpec:
    """What one sample will be: decided in the main process, built in a worker."""

    id: str
    index: int  # k, the sample index within its photo ("authentic" samples: -1)
    global_index: int
    mask_kind: str | None
    inpainter: str | None
    post: str
    entropy: tuple[int, ...]


@dataclass(frozen=True)
class SourceTask:
    source: Source
    split: str
    samples: tuple[SampleSpec, ...]
    #: relpath of the first byte-identical copy of this photo, when this one is a later copy
    duplicate_of: str | None = None


# --------------------------------------------------------------------------- validation


def _split_list(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        item = str(item).strip()
        if item and item not in out:
            out.append(item)
    return tuple(out)


def validate_config(cfg: BuildConfig) -> BuildConfig:
    """Check every option before any work starts; return the normalised config.

    Raises :class:`BuildConfigError` (one clear line) for anything unusable.
    """
    # Importing the packages registers every generator / inpainter.
    import inpaintscope.inpaint  # noqa: F401
    import inpaintscope.masks  # noqa: F401

    from ..inpaint.base import INPAINTERS
    from ..inpaint.compose import MODES
    from ..masks.base import MASKS

    masks, inpainters, modes, posts = (
        _split_list(cfg.masks),
        _split_list(cfg.inpainters),
        _split_list(cfg.modes),
        _split_list(cfg.post) or ("none",),
    )
    if not masks:
        raise BuildConfigError(f"no mask generator given; choose from: {', '.join(MASKS.names())}")
    for m in masks:
        if m not in MASKS:
            raise BuildConfigError(f"unknown mask generator {m!r}; choose from: {', '.join(MASKS.names())}")
    if not modes:
        raise BuildConfigError(f"no compositing mode given; choose from: {', '.join(MODES)}")
    for m in modes:
        if m not in MODES:
            raise BuildConfigError(f"unknown mode {m!r}; choose from: {', '.join(MODES)}")
    modes = tuple(m for m in MODES if m in modes)  # canonical order, so "a,b" == "b,a"
    inpainters = tuple(dict.fromkeys(_check_inpainter_spec(name) for name in inpainters))
    needs_inpainter = any(m in INPAINTER_MODES for m in modes)
    if needs_inpainter and not inpainters:
        raise BuildConfigError(
            f"modes {', '.join(m for m in modes if m in INPAINTER_MODES)} need an "
            f"inpainter; choose from: {', '.join(INPAINTERS.names())}"
        )
    if not needs_inpainter:
        inpainters = ()  # fakefake alone never calls an inpainter; do not pretend it does
    autoencoder = cfg.autoencoder
    uses_ae = "fakefake" in modes or "autoencoder" in inpainters
    ae_kind = None
    if uses_ae:
        if not autoencoder:
            what = "mode fakefake" if "fakefake" in modes else "inpainter autoencoder"
            raise BuildConfigError(
                f"{what} needs autoencoder weights: pass --autoencoder taef2 (shipped) or "
                "--autoencoder DIR (a folder with taef2_encoder.pth and taef2_decoder.pth, or a "
                "diffusers AutoencoderKL / SD pipeline folder)"
            )
        from ..inpaint.autoencoder import resolve_autoencoder_dir

        ae_path = resolve_autoencoder_dir(autoencoder)
        if ae_path.is_file():
            raise BuildConfigError(
                f"--autoencoder {autoencoder} is a file; give the folder that holds taef2_encoder.pth and "
                "taef2_decoder.pth (or a diffusers AutoencoderKL / SD pipeline folder), or 'taef2' for "
                "the shipped weights"
            )
        if not ae_path.is_dir():
            raise BuildConfigError(f"--autoencoder {autoencoder}: no such folder")
        ae_kind, ae_dir = _check_autoencoder(autoencoder)
        autoencoder = str(ae_dir.resolve())
    else:
        autoencoder = None
    steps, guidance, captions = _check_diffusion_options(cfg, inpainters)
    if cfg.vae_range not in ("correct", "report"):
        raise BuildConfigError(f"--vae-range must be correct or report, got {cfg.vae_range!r}")
    if cfg.vae_range != "correct" and ae_kind != "autoencoderkl":
        raise BuildConfigError(
            "--vae-range report applies to a diffusers AutoencoderKL (--autoencoder); "
            "TAEF2 takes [0, 1] input as trained"
        )
    mask_dir = cfg.mask_dir
    if "folder" in masks:
        if not mask_dir:
            raise BuildConfigError("mask generator 'folder' needs --mask-dir DIR (a folder of mask images)")
        if not Path(mask_dir).expanduser().is_dir():
            raise BuildConfigError(f"--mask-dir {mask_dir}: no such folder")
        from ..masks.folder import mask_index

        # indexed here, once: an empty folder or one with no readable mask fails now rather than
        # every sample in a worker, and unreadable files are reported in one warning
        try:
            mask_index(Path(mask_dir).expanduser())
        except InpaintscopeError as e:  # the message names the folder
            raise BuildConfigError(f"--mask-dir: {e}") from None
        mask_dir = str(Path(mask_dir).expanduser().resolve())
    else:
        mask_dir = None
    area = cfg.mask_area
    if area is not None:
        lo, hi = (float(a) for a in area)
        if not 0.0 < lo <= hi < 1.0:
            raise BuildConfigError(f"--mask-area must be 'lo,hi' with 0 < lo <= hi < 1, got {lo},{hi}")
        area = (lo, hi)
    for spec in posts:
        _load_post(spec)  # parse now: a typo must fail before hours of work, not in a worker
    parse_split(cfg.split)
    if not 1 <= cfg.per_image <= MAX_PER_IMAGE:
        # every sample is planned before the first is written: a typo of 10^9 would fill memory
        raise BuildConfigError(f"--per-image must be in 1..{MAX_PER_IMAGE}, got {cfg.per_image}")
    if cfg.resize not in RESIZE_MODES:
        raise BuildConfigError(f"--resize must be one of {', '.join(RESIZE_MODES)}, got {cfg.resize!r}")
    size = None if cfg.resize == "none" else cfg.size
    if cfg.resize != "none" and (size is None or size < 32):
        raise BuildConfigError(f"--size must be at least 32 px, got {size}")
    if cfg.min_side < 1:
        raise BuildConfigError(f"--min-side must be at least 1, got {cfg.min_side}")
    if not (isinstance(cfg.max_pixels, int) and not isinstance(cfg.max_pixels, bool) and cfg.max_pixels >= 1):
        raise BuildConfigError(f"--max-pixels must be a positive integer, got {cfg.max_pixels!r}")
    if size is not None and size * size > cfg.max_pixels:
        raise BuildConfigError(
            f"--size {size} asks for {size}×{size} = {size * size:,} px images, over the limit of "
            f"{cfg.max_pixels:,} px (--max-pixels); use --size {math.isqrt(cfg.max_pixels)} or less"
        )
    if not (isinstance(cfg.seed, int) and 0 <= cfg.seed < 2**63):
        raise BuildConfigError(f"--seed must be an integer in [0, 2^63), got {cfg.seed!r}")
    return BuildConfig(
        masks=masks,
        inpainters=inpainters,
        modes=modes,
        per_image=int(cfg.per_image),
        size=size,
        resize=cfg.resize,
        split=str(cfg.split),
        seed=int(cfg.seed),
        autoencoder=autoencoder,
        mask_dir=mask_dir,
        mask_area=area,
        post=posts,
        authentic=bool(cfg.authentic),
        min_side=int(cfg.min_side),
        blur_radius=float(cfg.blur_radius),
        captions=captions,
        steps=steps,
        guidance=guidance,
        vae_range=cfg.vae_range,
        max_pixels=int(cfg.max_pixels),
    )


def _check_inpainter_spec(spec: str) -> str:
    """``name`` or ``name:PATH`` (``diffusers:PATH``) -> the spec with PATH resolved."""
    from ..inpaint.base import INPAINTERS

    name, colon, arg = spec.partition(":")
    if name not in INPAINTERS:
        raise BuildConfigError(
            f"unknown inpainter {name!r}; choose from: {', '.join(INPAINTERS.names())} (diffusers as diffusers:PATH)"
        )
    cls = INPAINTERS.get(name)
    path_option = getattr(cls, "path_option", None)
    if path_option is None or (not colon and getattr(cls, "path_optional", False)):
        if colon:
            raise BuildConfigError(
                f"inpainter {name!r} takes no ':' argument (diffusers:PATH and the learned inpainters' NAME:WEIGHTS do)"
            )
        return name
    if not arg:
        raise BuildConfigError(
            f"inpainter {name} needs a local model folder: --inpainters {name}:PATH (nothing is downloaded)"
        )
    if not _is_diffusion(name):  # a learned inpainter with weights of the user's own training
        if not Path(arg).expanduser().is_file():
            raise BuildConfigError(f"--inpainters {name}:{arg}: no such weights file")
        return f"{name}:{Path(arg).expanduser().resolve()}"
    from ..inpaint.diffusers_sd import check_pipeline_dir, require_diffusers

    try:
        folder = check_pipeline_dir(arg)
        require_diffusers()
    except InpaintscopeError as e:
        raise BuildConfigError(f"--inpainters {name}:{arg}: {e}") from None
    return f"{name}:{folder}"


def _is_diffusion(spec: str | None) -> bool:
    return spec is not None and spec.partition(":")[0] == "diffusers"


def _check_autoencoder(directory: str) -> tuple[str, Path]:
    from ..inpaint.autoencoder import AUTOENCODER_KL, autoencoder_layout

    try:
        kind, folder = autoencoder_layout(directory)
        if kind == AUTOENCODER_KL:
            from ..inpaint.diffusers_sd import require_diffusers

            require_diffusers()
    except InpaintscopeError as e:
        raise BuildConfigError(f"--autoencoder {directory}: {e}") from None
    return kind, folder


def _check_diffusion_options(cfg: BuildConfig, inpainters: tuple[str, ...]) -> tuple[int, float, str | None]:
    """--steps, --guidance and --captions: checked, and refused without a diffusers inpainter."""
    diffusion = any(_is_diffusion(s) for s in inpainters)
    if not diffusion:
        given = [
            o
            for o, v, d in (
                ("--captions", cfg.captions, None),
                ("--steps", cfg.steps, BuildConfig.steps),
                ("--guidance", cfg.guidance, BuildConfig.guidance),
            )
            if v != d
        ]
        if given:
            raise BuildConfigError(f"{', '.join(given)}: used only by diffusers:PATH inpainters (none in --inpainters)")
        return BuildConfig.steps, BuildConfig.guidance, None
    from ..inpaint.diffusers_sd import _check_guidance, _check_steps

    try:
        steps, guidance = _check_steps(cfg.steps), _check_guidance(cfg.guidance)
    except InpaintscopeError as e:
        raise BuildConfigError(str(e).replace("inpainter option ", "--")) from None
    if cfg.captions is None:
        return steps, guidance, None
    from .captions import load_captions

    try:
        return steps, guidance, load_captions(cfg.captions).path
    except InpaintscopeError as e:
        raise BuildConfigError(f"--captions: {e}") from None


def _load_post(spec: str) -> Any:
    """The PostProcess for a ``--post`` item (``none`` -> ``None``)."""
    if spec == "none":
        return None
    from ..inpaint.postprocess import parse_postprocess

    try:
        return parse_postprocess(spec)
    except InpaintscopeError as e:
        raise BuildConfigError(f"--post {spec!r}: {e}") from None
    except ValueError as e:  # a parser that reports with ValueError is still the user's typo
        raise BuildConfigError(f"--post {spec!r}: {e}") from None


# --------------------------------------------------------------------------- planning


def plan_build(sources: list[Source], cfg: BuildConfig) -> tuple[list[SourceTask], list[dict[str, str]], int]:
    """Decide every sample (id, split, seed, mask kind, inpainter, post) from the sorted sources.

    Sources failing the header probe (empty, not an image, too small, too large, a dangling
    link) are skipped before the split is drawn. Byte-identical copies then all take the split
    of the first copy (:attr:`SourceTask.duplicate_of`). Returns the tasks (one per photo), the
    skipped sources with reasons, and how many usable sources a split file leaves out: those
    are a choice, not a problem with the file, so they are only counted, never listed among
    the skipped ones.
    """
    spec = parse_split(cfg.split)
    skipped: list[dict[str, str]] = []
    usable: set[str] = set()
    for src in sources:
        reason = probe_source(src.path, min_side=cfg.min_side, max_pixels=cfg.max_pixels)
        if reason is None:
            usable.add(src.relpath)
        else:
            skipped.append({"source": src.label, "reason": reason})
    # Only photos that pass the header probe take a place in the split proportions.
    splits = assign_splits(sorted(usable), spec, seed=cfg.seed)
    duplicate_of = _keep_copies_together(find_duplicates([s for s in sources if s.relpath in usable]), splits)
    not_in_split = sum(1 for s in splits.values() if s is None)
    if spec.assignment and usable and not_in_split == len(usable):
        # Almost always relpaths written against another root (or without the folder prefix
        # several SRCs get); building an empty dataset would hide that.
        example = printable(sorted(usable)[0])
        raise BuildConfigError(
            f"--split {cfg.split}: lists none of the {len(usable)} source photos; relative "
            f"paths must be as the builder names them, e.g. {example!r}"
        )
    if spec.assignment:
        named = {k for s in sources for k in (s.relpath, printable(s.relpath).replace("\\", "/"))}
        absent = sorted(set(spec.assignment) - named)
        if absent:
            warnings.warn(
                f"--split {cfg.split}: {len(absent)} listed photo(s) are not among the sources "
                f"(e.g. {absent[0]!r}); their splits are built without them",
                stacklevel=2,
            )
    combos = list(itertools.product(cfg.inpainters or (None,), cfg.post, cfg.masks))
    width = len(str(max(cfg.per_image - 1, 0)))
    tasks: list[SourceTask] = []
    for pos, src in enumerate(sources):
        if src.relpath not in usable:
            continue
        split = splits[src.relpath]
        if split is None:  # counted in not_in_split
            continue
        h = stable_hash(src.relpath)
        base = source_base_id(src.relpath)
        samples: list[SampleSpec] = []
        for k in range(cfg.per_image):
            g = pos * cfg.per_image + k
            inpainter, post, mask = combos[g % len(combos)]  # mask varies fastest
            samples.append(
                SampleSpec(
                    id=f"{base}-{k:0{width}d}",
                    index=k,
                    global_index=g,
                    mask_kind=mask,
                    inpainter=inpainter,
                    post=post,
                    entropy=(cfg.seed, h, k),
                )
            )
        if cfg.authentic:
            samples.append(
                SampleSpec(
                    id=f"{base}-a",
                    index=-1,
                    global_index=pos,
                    mask_kind=None,
                    inpainter=None,
                    post=cfg.post[pos % len(cfg.post)],
                    entropy=(cfg.seed, h, 2**32),
                )
            )
        tasks.append(
            SourceTask(source=src, split=split, samples=tuple(samples), duplicate_of=duplicate_of.get(src.relpath))
        )
    return tasks, skipped, not_in_split


def _check_captions_cover(tasks: list[SourceTask], cfg: BuildConfig) -> None:
    """A captions file that names none of the photos is almost always keyed differently; say so
    before any work (single photos it lacks fail as samples, with the reason)."""
    if cfg.captions is None:
        return
    from .captions import load_captions

    captions = load_captions(cfg.captions)
    prompted = sorted({t.source.relpath for t in tasks if any(_is_diffusion(s.inpainter) for s in t.samples)})
    if prompted and all(captions.lookup(rel) is None for rel in prompted):
        raise BuildConfigError(
            f"--captions {cfg.captions}: has a caption for none of the {len(prompted)} photos "
            f"to inpaint with diffusers; keys must be a relative path, file name or stem, "
            f"e.g. {prompted[0]!r}"
        )


def _keep_copies_together(groups: list[list[Source]], splits: dict[str, str | None]) -> dict[str, str]:
    """Give every used copy in a group of identical photos the split of the first used copy
    (in ``splits``, in place); return ``{relpath of a later copy: relpath of the first}``.
    Every other photo keeps the split it was drawn or listed with."""
    duplicate_of: dict[str, str] = {}
    for group in groups:
        used = [s for s in group if splits.get(s.relpath) is not None]
        for copy in used[1:]:
            splits[copy.relpath] = splits[used[0].relpath]
            duplicate_of[copy.relpath] = used[0].relpath
    return duplicate_of


def duplicate_groups(tasks: list[SourceTask]) -> list[dict[str, Any]]:
    """The summary's ``duplicate_sources``: each set of identical photos and its one split."""
    by_first: dict[str, list[SourceTask]] = {}
    for t in tasks:
        if t.duplicate_of is not None:
            by_first.setdefault(t.duplicate_of, []).append(t)
    first = {t.source.relpath: t for t in tasks}
    return [
        {"split": first[rel].split, "sources": [printable(rel)] + [t.source.label for t in copies]}
        for rel, copies in sorted(by_first.items())
    ]


def _config_record(cfg: BuildConfig, sources: list[Source]) -> dict[str, Any]:
    # raw name bytes: the same as UTF-8 for ordinary names, and defined for the others
    digest = hashlib.blake2b(b"\n".join(os.fsencode(s.relpath) for s in sources), digest_size=16)
    conf = asdict(cfg)
    if conf["max_pixels"] == DEFAULT_MAX_PIXELS:
        del conf["max_pixels"]  # datasets built before the option existed resume unchanged
    conf["split"] = parse_split(cfg.split).describe()
    # Paths of weights / mask folders may move between machines; their contents define the data.
    conf["autoencoder"] = _dir_digest(cfg.autoencoder) if cfg.autoencoder else None
    _diffusion_record(cfg, conf)
    _learned_record(conf)
    conf["mask_dir"] = _dir_digest(cfg.mask_dir, names_only=True) if cfg.mask_dir else None
    return _jsonable(
        {"format": FORMAT, "config": conf, "sources": {"count": len(sources), "digest": digest.hexdigest()}}
    )


def _diffusion_record(cfg: BuildConfig, conf: dict[str, Any]) -> None:
    """Model folders by fingerprint, the captions file by digest; the SD-only options only when
    used, so datasets built before they existed still resume."""
    if any(_is_diffusion(s) for s in cfg.inpainters):
        from ..inpaint.diffusers_sd import folder_fingerprint

        conf["inpainters"] = [
            f"{s.partition(':')[0]}:{folder_fingerprint(s.partition(':')[2])}" if _is_diffusion(s) else s
            for s in cfg.inpainters
        ]
        if cfg.captions:
            from .captions import load_captions

            conf["captions"] = load_captions(cfg.captions).digest
    else:
        for key in ("captions", "steps", "guidance"):
            conf.pop(key)
    if cfg.vae_range == "correct" and not (cfg.autoencoder and _check_autoencoder(cfg.autoencoder)[0] != "taef2"):
        conf.pop("vae_range")  # TAEF2 or no autoencoder: the range is not an option


def _learned_record(conf: dict[str, Any]) -> None:
    """A learned inpainter by what its fills depend on — its weights' bytes and its runtime options
    (both change with a retrained file or a package upgrade) — not by its name or the weights'
    path: resuming after either changed is refused instead of mixing two kinds of fill."""
    from ..inpaint.base import INPAINTERS
    from ..inpaint.learned.runtime import LearnedInpainter, runtime_fingerprint

    specs = []
    for spec in conf["inpainters"]:
        name, _, path = spec.partition(":")
        cls = INPAINTERS.get(name) if name in INPAINTERS else None
        if isinstance(cls, type) and issubclass(cls, LearnedInpainter):
            spec = f"{name}@{runtime_fingerprint(cls, path or None)}"
        specs.append(spec)
    conf["inpainters"] = specs


def _dir_digest(path: str, *, names_only: bool = False) -> str:
    h = hashlib.blake2b(digest_size=16)
    for f in sorted(Path(path).iterdir()):
        if f.is_file() and not f.name.startswith("."):
            h.update(os.fsencode(f.name) + b"\0")
            if not names_only:
                h.update(f.read_bytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- worker side

_STATE: dict[str, Any] = {}


def _init_worker(
    cfg: BuildConfig, out: str, parent: int | None = None, donors: dict[str, tuple[str, ...]] | None = None
) -> None:
    """Per-process setup: one thread per library, and caches for heavy objects. ``parent``: the
    build process's pid when this is a worker process (it must not outlive that process).
    ``donors``: each split's photos, the regions a ``splice`` may paste into that split's photos."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    _STATE.clear()
    _STATE.update(cfg=cfg, out=Path(out), inpainters={}, posts={}, parent=parent, donors=donors or {})
    if parent is not None:
        from ..masks.folder import UnreadableMasksWarning

        _die_with_parent(parent)
        # the build process indexed the mask folder and reported its unreadable files once
        warnings.simplefilter("ignore", UnreadableMasksWarning)
    _limit_threads()


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when the build process dies (Linux); the parent-pid
    check in :func:`_run_task` covers other systems between samples. A worker left running
    after a ``kill -9`` of the build would go on writing into OUT without holding its lock."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # no usable libc: the pid check still applies
            pass
    _stop_if_orphaned()  # the parent may have died before prctl took effect


def _stop_if_orphaned() -> None:
    parent = _STATE.get("parent")
    if parent is not None and os.getppid() != parent:
        os._exit(1)  # between samples: nothing is half-written


def _limit_threads() -> None:
    cv2.setNumThreads(1)
    if "torch" in sys.modules:  # never import torch just to configure it
        torch = sys.modules["torch"]
        if torch.get_num_threads() != 1:
            torch.set_num_threads(1)


def _get_inpainter(name: str, split: str) -> Any:
    # a splice takes its donors from the photos of the same split, so no photo crosses splits
    key = f"{name}@{split}" if name == "splice" else name
    cache = _STATE["inpainters"]
    if key not in cache:
        from ..inpaint.base import create_inpainter

        cfg: BuildConfig = _STATE["cfg"]
        options: dict[str, Any] = {"weights": cfg.autoencoder} if name == "autoencoder" else {}
        if name == "splice":
            options = {"donors": _STATE["donors"].get(split, ())}
        if name == "autoencoder" and cfg.vae_range != "correct":
            options["vae_range"] = cfg.vae_range
        if _is_diffusion(name):
            options = {"model": name.partition(":")[2], "steps": cfg.steps, "guidance": cfg.guidance}
        elif ":" in name:  # NAME:WEIGHTS of a learned inpainter
            options = {"weights": name.partition(":")[2]}
        cache[key] = create_inpainter(name.partition(":")[0], **options)
        _limit_threads()
    return cache[key]


def _get_autoencoder() -> Any:
    # the process-wide cache the ``autoencoder`` inpainter also uses: one copy of the weights
    from ..inpaint.autoencoder import load_autoencoder

    cfg: BuildConfig = _STATE["cfg"]
    ae = load_autoencoder(cfg.autoencoder, vae_range=cfg.vae_range)
    _limit_threads()
    return ae


def _get_post(spec: str) -> Any:
    cache = _STATE["posts"]
    if spec not in cache:
        cache[spec] = _load_post(spec)
    return cache[spec]


def _run_task(task: SourceTask) -> dict[str, Any]:
    """Build every pending sample of one photo (the photo is read and prepared once)."""
    cfg: BuildConfig = _STATE["cfg"]
    out: Path = _STATE["out"]
    rel = task.source.label
    result: dict[str, Any] = {"source": rel, "built": [], "failed": [], "skipped": None}
    _stop_if_orphaned()
    try:
        photo = read_image(task.source.path, max_pixels=cfg.max_pixels)
    except ImageReadError as e:
        # The message starts with the absolute path; report the relative one instead.
        msg = str(e).replace(str(task.source.path), "").lstrip(": ").strip() or "unreadable"
        result["skipped"] = msg
        return result
    src_h, src_w = photo.shape[:2]
    if min(src_h, src_w) < cfg.min_side:
        result["skipped"] = (
            f"too small ({src_w}×{src_h} px; the shorter side must be at least {cfg.min_side} px, see --min-side)"
        )
        return result
    try:
        image = prepare_image(photo, size=cfg.size, resize=cfg.resize)  # type: ignore[arg-type]
    except (cv2.error, MemoryError) as e:  # e.g. no memory for the resized photo: each of its samples fails
        reason = f"cannot prepare the photo: {failure_reason(e)}"
        result["failed"].extend({"id": spec.id, "source": rel, "reason": reason} for spec in task.samples)
        return result
    reconstruction: dict[str, np.ndarray] = {}  # the photo's autoencoder round trip, shared by its samples
    for spec in task.samples:
        _stop_if_orphaned()
        try:
            record = _build_sample(spec, task, photo, image, cfg, out, reconstruction)
        except InpaintscopeError as e:
            result["failed"].append({"id": spec.id, "source": rel, "reason": str(e)})
            continue
        except (cv2.error, MemoryError) as e:  # OpenCV or numpy out of memory on this sample: record it, go on
            result["failed"].append({"id": spec.id, "source": rel, "reason": failure_reason(e)})
            continue
        except OSError as e:  # reading went through read_image: this is OUT refusing a write
            raise write_failure(e, out) from None
        result["built"].append(record["id"])
    return result


def failure_reason(error: BaseException) -> str:
    """One line for a sample's failure: OpenCV's messages span lines and start with a source path,
    so its own text (``cv2.error.err``) or else the message's last line is kept."""
    if isinstance(error, MemoryError):
        return f"out of memory ({error})" if str(error) else "out of memory"
    return one_line(getattr(error, "err", None) or error, last=True) or type(error).__name__


def write_failure(error: OSError, out: Path) -> DatasetWriteError:
    """The one-line error for a failed write into ``out``, saying how to go on."""
    reason = error.strerror or str(error)
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return DatasetWriteError(
            f"disk full while writing the dataset to {out} ({reason}); every sample written "
            "so far is complete: free some space and run the same command again to resume"
        )
    return DatasetWriteError(
        f"cannot write the dataset to {out} ({reason}); fix that and run the same command again to resume"
    )


def _build_sample(
    spec: SampleSpec,
    task: SourceTask,
    photo: np.ndarray,
    image: np.ndarray,
    cfg: BuildConfig,
    out: Path,
    reconstruction: dict[str, np.ndarray],
) -> dict[str, Any]:
    seq = np.random.SeedSequence(list(spec.entropy))
    mask_rng, inpaint_rng, post_rng = (np.random.default_rng(s) for s in seq.spawn(3))
    post = _get_post(spec.post)
    # one seed per sample for post-processing noise: original and composites get the same noise
    post_seed = int(post_rng.integers(2**31))
    split_dir = out / task.split
    files: dict[str, str] = {}
    record: dict[str, Any] = {
        "id": spec.id,
        "split": task.split,
        "source": task.source.label,
        "authentic": spec.mask_kind is None,
        "seed": {"entropy": list(spec.entropy), "sample_index": spec.index, "global_index": spec.global_index},
        "source_size": [int(photo.shape[0]), int(photo.shape[1])],
        "resize": cfg.resize,
        "post": None if post is None else _jsonable(post.describe()),
        "post_spec": spec.post,
    }
    if spec.mask_kind is None:  # an authentic sample: the prepared photo only
        original = image
        if post is not None:
            original, _ = post.apply(image, np.zeros(image.shape[:2], np.uint8), seed=post_seed)
        files[ROLE_ORIGINAL] = _write(split_dir, spec.id, ROLE_ORIGINAL, original, out)
        record.update(
            mask=None, inpainter=None, modes={}, files=files, size=[int(original.shape[0]), int(original.shape[1])]
        )
        return _finish(record, out)

    mask = _make_sample_mask(spec.mask_kind, task.source, photo, image, cfg, mask_rng)
    from ..inpaint.compose import blend, make_composites

    inpainter = _get_inpainter(spec.inpainter, task.split) if (spec.inpainter and cfg.needs_inpainter) else None
    if spec.inpainter == "splice" and inpainter is not None:
        inpainter = inpainter.excluding(str(task.source.path))  # never a region of the photo itself
    if inpainter is not None and _is_diffusion(spec.inpainter):
        # Prompt and torch seed are per sample; the bound copy records both in the manifest.
        inpainter = inpainter.for_sample(prompt=_prompt_for(task.source.relpath, cfg), rng=inpaint_rng)
    others = tuple(m for m in cfg.modes if m != "fakefake")
    composites = make_composites(image, mask["soft"], others, inpainter=inpainter, rng=inpaint_rng) if others else {}
    if "fakefake" in cfg.modes:
        # fakefake = the round trip of the *photo* pasted with the soft mask (compose's
        # definition); the round trip is the costly part and the same for every sample of
        # this photo, so it is computed once per photo.
        if "image" not in reconstruction:
            reconstruction["image"] = _get_autoencoder().roundtrip(image)
        composites["fakefake"] = blend(image, reconstruction["image"], mask["soft"])
        record["autoencoder"] = _jsonable(_get_autoencoder().describe())
    original, soft = image, mask["soft"]
    if post is not None:
        original, soft = post.apply(image, mask["soft"], seed=post_seed)
        composites = {m: post.apply(img, mask["soft"], seed=post_seed)[0] for m, img in composites.items()}
    files[ROLE_ORIGINAL] = _write(split_dir, spec.id, ROLE_ORIGINAL, original, out)
    files[ROLE_MASK] = _write(split_dir, spec.id, ROLE_MASK, soft, out)
    modes = {}
    for m in cfg.modes:
        modes[m] = files[m] = _write(split_dir, spec.id, m, composites[m], out)
    record.update(
        mask={
            "kind": mask["kind"],
            "requested": spec.mask_kind,
            "params": _jsonable(mask["params"]),
            "core_fraction": round(float((soft == 255).mean()), 6),
        },
        inpainter=None if inpainter is None else _jsonable(inpainter.describe()),
        modes=modes,
        files=files,
        size=[int(original.shape[0]), int(original.shape[1])],
    )
    return _finish(record, out)


def _prompt_for(relpath: str, cfg: BuildConfig) -> str:
    if cfg.captions is None:
        return ""
    from .captions import load_captions

    return load_captions(cfg.captions).caption_for(relpath)


def _make_sample_mask(
    kind: str, source: Source, photo: np.ndarray, image: np.ndarray, cfg: BuildConfig, rng: np.random.Generator
) -> dict[str, Any]:
    from ..masks.base import make_mask, soften

    shape = image.shape[:2]
    common: dict[str, Any] = {"area": cfg.mask_area, "blur_radius": cfg.blur_radius}
    if kind == "folder":
        ms = make_mask(kind, shape, rng=rng, directory=cfg.mask_dir, **common)
        return {"kind": ms.kind, "params": ms.params, "soft": ms.soft}
    if kind != "objects":
        ms = make_mask(kind, shape, rng=rng, **common)
        return {"kind": ms.kind, "params": ms.params, "soft": ms.soft}

    from ..masks.objects import MaskUnavailable, find_label_file

    labels = find_label_file(source.path)
    reason = "no label file for this photo"
    if labels is not None:
        try:
            # Polygons are normalised to the *source* photo, so draw there and move the hole
            # through the same crop/resize as the pixels; blur at the final size.
            ms = make_mask(kind, photo.shape[:2], rng=rng, labels=labels, **common)
            hole = (
                prepare_image(
                    np.repeat(ms.hole[..., None].astype(np.uint8) * 255, 3, axis=2), size=cfg.size, resize=cfg.resize
                )[..., 0]
                >= 128
            )  # type: ignore[arg-type]
            soft = soften(hole, cfg.blur_radius)
            if (soft == 255).any() and not (soft > 0).all():
                params = dict(ms.params, area_fraction=round(float(hole.mean()), 6))
                return {"kind": ms.kind, "params": params, "soft": soft}
            reason = "the chosen object falls outside the crop"
        except MaskUnavailable as e:
            reason = str(e)
    ms = make_mask("rectangle", shape, rng=rng, **common)
    return {
        "kind": ms.kind,
        "params": dict(ms.params, fallback_from="objects", fallback_reason=reason),
        "soft": ms.soft,
    }


def _write(split_dir: Path, sample_id: str, role: str, image: np.ndarray, out: Path) -> str:
    path = split_dir / f"{sample_id}.{role}.png"
    write_image(path, image)
    return path.relative_to(out).as_posix()


def _finish(record: dict[str, Any], out: Path) -> dict[str, Any]:
    record["bytes"] = {role: (out / rel).stat().st_size for role, rel in sorted(record["files"].items())}
    atomic_write_text(out / RECORDS_DIR / f"{record['id']}.json", _dumps(record) + "\n")
    return record


# --------------------------------------------------------------------------- main side


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _jsonable(v: Any) -> Any:
    """Deep-convert numpy scalars/arrays, tuples and paths so records serialise identically."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


def load_record(out: Path, sample_id: str) -> dict[str, Any] | None:
    """The finished record of a sample, or ``None`` unless the record *and* all its files exist."""
    path = out / RECORDS_DIR / f"{sample_id}.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not all((out / rel).is_file() for rel in record.get("files", {}).values()):
        return None
    return record


def _clean_tmp(out: Path) -> int:
    """Delete ``.tmp-*`` leftovers of an interrupted run (only in the folders we write)."""
    n = 0
    for d in [out, out / RECORDS_DIR, *[p for p in out.iterdir() if p.is_dir()]]:
        if d.is_dir():
            for f in d.glob(TMP_PREFIX + "*"):
                with contextlib.suppress(OSError):
                    f.unlink()
                    n += 1
    return n


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process lock, same as before
        yield
        return
    with open(out / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BuildMismatchError(f"{out} is being written by another build; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _prepare_out(out: Path, build_record: dict[str, Any]) -> None:
    text = json.dumps(build_record, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    meta = out / "build.json"
    if meta.is_file():
        try:
            old = json.loads(meta.read_text(encoding="utf-8"))
        except ValueError:
            raise BuildMismatchError(f"{meta} is not valid JSON; use a new output folder") from None
        if old != json.loads(text):
            diffs = list(dict.fromkeys(_diff(old, build_record)))  # sources.count and .digest say one thing
            raise BuildMismatchError(
                f"{out} was built with different options ({'; '.join(diffs[:4])}); resume with the same "
                "sources and options, or choose a new output folder"
            )
        return
    if out.exists() and any(p.name != ".lock" for p in out.iterdir()):
        raise BuildMismatchError(
            f"{out} is not empty and holds no inpaintscope dataset (no build.json); "
            "choose a new or empty output folder (nothing was written)"
        )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(meta, text)


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for k in sorted(set(old) | set(new)):
            out += _diff(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    if old != new:
        name = prefix.rstrip(".").removeprefix("config.")
        if name.startswith("sources"):
            return ["the source photos differ"]
        if name == "inpainters" and isinstance(old, list) and isinstance(new, list):
            changed = _learned_changes(old, new)
            if changed:
                return [
                    f"the weights or runtime of {', '.join(changed)} changed since this dataset was built"
                    " (a retrained file or an inpaintscope upgrade), so its fills would differ"
                ]
        return [f"{name}: {_short(old)} before, {_short(new)} now"]
    return []


def _learned_changes(old: list[Any], new: list[Any]) -> list[str]:
    """Learned inpainters whose recorded fingerprint changed (recorded as ``name@digest``, or as a
    bare ``name`` by builds before fingerprints), when the list is otherwise the same."""
    if len(old) != len(new):
        return []
    old_names = [str(a).partition("@")[0].partition(":")[0] for a in old]
    new_names = [str(b).partition("@")[0] for b in new]
    if old_names != new_names:
        return []
    return [name for name, a, b in zip(new_names, old, new) if a != b and "@" in str(b)]


def _short(v: Any) -> str:
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= 40 else s[:37] + "..."


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def build_dataset(
    sources: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    config: BuildConfig = BuildConfig(),
    *,
    workers: int | None = None,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build (or resume) an inpainting dataset from ``sources`` into ``out``; return the summary.

    ``sources`` are folders (searched recursively) and/or image files. See the module docstring
    for the layout, determinism and resume rules; :class:`BuildConfig` for the options.
    ``echo`` receives the printed summary; ``warn`` (default: stderr) the warnings, e.g. about
    identical photos under several names.
    """
    t0 = time.perf_counter()
    cfg = validate_config(config)
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise BuildConfigError(f"--workers must be at least 1, got {workers}")
    check_out_outside_sources(sources, out)
    found = discover_sources(list(sources))
    tasks, skipped, not_in_split = plan_build(found, cfg)
    _check_captions_cover(tasks, cfg)
    duplicates = duplicate_groups(tasks)
    if duplicates:
        shown = "; ".join(" = ".join(g["sources"]) for g in duplicates[:3])
        more = f" and {len(duplicates) - 3} more" if len(duplicates) > 3 else ""
        (warn or _stderr_warning)(
            f"{sum(len(g['sources']) - 1 for g in duplicates)} source photo(s) are identical copies of others "
            f"({shown}{more}); each set is kept in one split (see duplicate_sources in summary.json)"
        )
    out = Path(out).expanduser()
    try:
        _prepare_out(out, _config_record(cfg, found))
        with _lock(out):
            summary = _build_locked(
                tasks,
                found,
                cfg,
                out,
                skipped=skipped,
                not_in_split=not_in_split,
                duplicates=duplicates,
                workers=workers,
                progress=progress,
                t0=t0,
            )
    except OSError as e:  # OUT under a file, read-only, disk full...: the user's to fix, so one line
        raise write_failure(e, out) from None
    if echo is not None:
        echo(format_summary(summary, out))
    return summary


def check_out_outside_sources(sources: Sequence[str | os.PathLike], out: str | os.PathLike) -> None:
    """Refuse an output folder that is a source folder or lies inside one (as ``detect`` does):
    source folders are searched recursively, so the dataset's own images would become source
    photos of the next build."""
    out_real = Path(os.path.realpath(Path(out).expanduser()))
    for src in sources:
        src_path = Path(src).expanduser()
        if not src_path.is_dir():
            continue
        src_real = Path(os.path.realpath(src_path))
        if is_within(out_real, src_real):
            where = "is the source folder" if out_real == src_real else "is inside the source folder"
            raise BuildConfigError(
                f"output folder {out} {where} {src}; choose an output folder outside it (source folders "
                "are searched recursively, so the dataset's images would be read as source photos)"
            )


def _stderr_warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _build_locked(
    tasks: list[SourceTask],
    found: list[Source],
    cfg: BuildConfig,
    out: Path,
    *,
    skipped: list[dict[str, str]],
    not_in_split: int,
    duplicates: list[dict[str, Any]],
    workers: int,
    progress: bool,
    t0: float,
) -> dict[str, Any]:
    """Build the pending samples, then write the manifest and summary (under the lock)."""
    _clean_tmp(out)
    pending: list[SourceTask] = []
    n_reused = 0
    for task in tasks:
        todo = tuple(s for s in task.samples if load_record(out, s.id) is None)
        n_reused += len(task.samples) - len(todo)
        if todo:
            pending.append(SourceTask(task.source, task.split, todo, task.duplicate_of))
    donors: dict[str, tuple[str, ...]] = {}
    for task in tasks:
        donors[task.split] = donors.get(task.split, ()) + (str(task.source.path),)
    results = _execute(pending, cfg, out, workers=workers, progress=progress, donors=donors)
    failed = sorted((f for r in results for f in r["failed"]), key=lambda f: f["id"])
    skipped += [{"source": r["source"], "reason": r["skipped"]} for r in results if r["skipped"]]
    skipped.sort(key=lambda d: d["source"])
    records = [rec for task in tasks for s in task.samples if (rec := load_record(out, s.id)) is not None]
    records.sort(key=lambda r: r["id"])
    atomic_write_text(out / "manifest.jsonl", "".join(_dumps(r) + "\n" for r in records))
    wall = time.perf_counter() - t0
    n_built = sum(len(r["built"]) for r in results)
    summary = summarize(records, skipped=skipped, failed=failed, not_in_split=not_in_split, duplicates=duplicates)
    summary["run"] = {
        "built": n_built,
        "reused": n_reused,
        "workers": workers,
        "wall_s": round(wall, 3),
        "samples_per_s": round(n_built / wall, 3) if wall > 0 else None,
    }
    summary["sources"] = {
        "found": len(found),
        "used": len({r["source"] for r in records}),
        "skipped": len(skipped),
        "not_in_split": not_in_split,
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, sort_keys=True, indent=2) + "\n")
    return summary


def _execute(
    tasks: list[SourceTask],
    cfg: BuildConfig,
    out: Path,
    *,
    workers: int,
    progress: bool,
    donors: dict[str, tuple[str, ...]] | None = None,
) -> list[dict[str, Any]]:
    from tqdm import tqdm

    total = sum(len(t.samples) for t in tasks)
    results: list[dict[str, Any]] = []
    bar = tqdm(
        total=total,
        unit="sample",
        desc="building",
        disable=not progress or total == 0,
        dynamic_ncols=True,
        file=sys.stderr,
    )
    try:
        if workers == 1 or len(tasks) <= 1:
            saved = _STATE.copy()
            torch_threads = sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None
            env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
            try:
                _init_worker(cfg, str(out), donors=donors)
                for task in tasks:
                    results.append(_run_task(task))
                    bar.update(len(task.samples))
            finally:  # in-process: give the caller its thread settings back
                _STATE.clear()
                _STATE.update(saved)
                for k, v in env.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
                if torch_threads is not None and "torch" in sys.modules:
                    sys.modules["torch"].set_num_threads(torch_threads)
            return results
        import multiprocessing

        # spawn: safe with torch/OpenCV threads already started in the parent, and the same
        # on Linux, macOS and Windows.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=min(workers, len(tasks)),
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(cfg, str(out), os.getpid(), donors),
        ) as pool:
            futures = {pool.submit(_run_task, t): t for t in tasks}
            remaining = set(futures)
            while remaining:
                done, remaining = wait(remaining, return_when=FIRST_EXCEPTION)
                for fut in done:
                    if fut.exception() is not None:
                        for f in remaining:
                            f.cancel()
                        raise fut.exception()  # type: ignore[misc]
                    results.append(fut.result())
                    bar.update(len(futures[fut].samples))
        return results
    finally:
        bar.close()


def summarize(
    records: list[dict[str, Any]],
    *,
    skipped: list[dict[str, str]] | None = None,
    failed: list[dict[str, str]] | None = None,
    not_in_split: int = 0,
    duplicates: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Counts per split / inpainter / mask kind / mode / post-processing for manifest records."""
    fakes = [r for r in records if not r.get("authentic")]
    by_split: dict[str, Counter] = {}
    for r in records:
        c = by_split.setdefault(r["split"], Counter())
        c["authentic" if r.get("authentic") else "samples"] += 1
        c["files"] += len(r["files"])
    return {
        "samples": len(fakes),
        "authentic": len(records) - len(fakes),
        "files": sum(len(r["files"]) for r in records),
        "by_split": {k: dict(sorted(v.items())) for k, v in sorted(by_split.items())},
        "by_inpainter": dict(sorted(Counter((r["inpainter"] or {}).get("name", "none") for r in fakes).items())),
        "by_mask": dict(sorted(Counter(r["mask"]["kind"] for r in fakes).items())),
        "mask_fallbacks": sum(1 for r in fakes if "fallback_from" in r["mask"]["params"]),
        "by_mode": dict(sorted(Counter(m for r in fakes for m in r["modes"]).items())),
        "by_post": dict(sorted(Counter(r["post_spec"] for r in records).items())),
        "skipped_sources": list(skipped or []),
        "not_in_split": int(not_in_split),
        "failed_samples": list(failed or []),
        "duplicate_sources": list(duplicates or []),
    }


def format_summary(summary: dict[str, Any], out: str | os.PathLike | None = None) -> str:
    """A short human-readable summary (what ``inpaintscope dataset build`` prints)."""

    def fmt(d: dict[str, Any]) -> str:
        return ", ".join(f"{k} {v}" for k, v in d.items()) or "-"

    lines = [f"dataset: {out}" if out is not None else "dataset:"]
    lines.append(
        f"  samples   {summary['samples']} manipulated + {summary['authentic']} authentic, "
        f"{summary['files']} image files"
    )
    for split, c in summary["by_split"].items():
        lines.append(f"  {split:<9} {c.get('samples', 0)} samples, {c.get('authentic', 0)} authentic")
    lines.append(f"  inpainter {fmt(summary['by_inpainter'])}")
    fb = f" ({summary['mask_fallbacks']} object masks fell back to rectangle)" if summary["mask_fallbacks"] else ""
    lines.append(f"  masks     {fmt(summary['by_mask'])}{fb}")
    lines.append(f"  modes     {fmt(summary['by_mode'])}")
    lines.append(f"  post      {fmt(summary['by_post'])}")
    run = summary.get("run")
    if run:
        rate = f", {run['samples_per_s']:.2f} samples/s" if run.get("samples_per_s") else ""
        lines.append(
            f"  run       built {run['built']}, reused {run['reused']}, {run['workers']} worker(s), "
            f"{run['wall_s']:.1f} s{rate}"
        )
    if summary.get("not_in_split"):
        lines.append(f"  not in the split file: {summary['not_in_split']}")
    skipped = summary["skipped_sources"]
    if skipped:
        lines.append(f"  skipped {len(skipped)} source(s):")
        lines += [f"    {s['source']}: {s['reason']}" for s in skipped[:20]]
        if len(skipped) > 20:
            lines.append(f"    ... and {len(skipped) - 20} more (see summary.json)")
    duplicates = summary.get("duplicate_sources") or []
    if duplicates:
        lines.append(f"  identical photos under several names, each set kept in one split: {len(duplicates)}")
        lines += [f"    {g['split']}: {' = '.join(g['sources'])}" for g in duplicates[:20]]
    failed = summary["failed_samples"]
    if failed:
        lines.append(f"  failed {len(failed)} sample(s):")
        lines += [f"    {f['id']}: {f['reason']}" for f in failed[:20]]
    return "\n".join(lines)
