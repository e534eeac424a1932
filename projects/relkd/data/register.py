"""Register ``digits_det_train`` / ``digits_det_val`` with detectron2's catalogs, and their
instance-segmentation variant ``digits_det_segm_train`` / ``digits_det_segm_val`` (the same
images; json files ``segm_<split>.json`` beside the others, written on the variant's first use).

Registration is cheap and idempotent. The files are generated on first use (the first
``DatasetCatalog.get``), under an inter-process file lock, into a temporary folder that is
renamed into place, so several processes (``launch`` workers, parallel tests) can race safely.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict

from .digits_det import CLASS_NAMES, DigitsDetSpec, generate_split, write_subset
from .digits_segm import generate_segm_split

logger = logging.getLogger("relkd")

SPLITS = ("train", "val")
# registered subsets: name -> (split, first N images). digits_det_val_mini evaluates in about a
# tenth of the time of the whole val split: for plumbing checks (`tools/demo.py --quick`, the
# tests), not for AP figures
SUBSETS = {"val_mini": ("val", 100)}
# the instance-segmentation variant of each split and subset: its json's name (and dataset
# name after "digits_det_") is the box one's with "segm_" in front; the PNGs are shared
SEGM = "segm_"
_DONE = "READY"


def _repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def default_root() -> str:
    """``$RELKD_DATASETS/digits_det``, else ``$DETECTRON2_DATASETS/digits_det``, else
    ``<relkd repository>/datasets/digits_det`` (independent of the working directory)."""
    base = os.environ.get("RELKD_DATASETS", os.environ.get("DETECTRON2_DATASETS"))
    return os.path.join(base or os.path.join(_repo_root(), "datasets"), "digits_det")


def _stamp(spec: DigitsDetSpec) -> str:
    return repr(sorted(asdict(spec).items()))


def build_digits_det(root: str | None = None, spec: DigitsDetSpec | None = None) -> str:
    """Generate the dataset files under ``root`` unless an identical copy is there.

    Returns:
        The dataset root. ``root/train.json``, ``root/val.json`` and the PNG folders exist.
    """
    root = os.path.abspath(root or default_root())
    spec = spec or DigitsDetSpec()
    ready = os.path.join(root, _DONE)

    def is_ready() -> bool:
        if not os.path.exists(ready):
            return False
        with open(ready) as f:
            return f.read() == _stamp(spec)

    if is_ready():
        _write_missing_subsets(root)
        return root
    parent = os.path.dirname(root)
    os.makedirs(parent, exist_ok=True)
    with open(os.path.join(parent, f".{os.path.basename(root)}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if is_ready():  # another process built it while we waited
            return root
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(root)}-", dir=parent)
        t0 = time.perf_counter()
        for split in SPLITS:
            generate_split(tmp, split, spec)
        _write_missing_subsets(tmp)
        with open(os.path.join(tmp, _DONE), "w") as f:
            f.write(_stamp(spec))
        if os.path.exists(root):
            shutil.rmtree(root)
        os.rename(tmp, root)
        # one line on the console of train_net.py (relkd logger at INFO), first use only
        logger.info(f"digits_det built in {root} in {time.perf_counter() - t0:.0f} s (once)")
    return root


def _write_missing_subsets(root: str) -> None:
    """The subsets' json files, for a dataset built before a subset was added."""
    for name, (split, num) in SUBSETS.items():
        if not os.path.exists(os.path.join(root, f"{name}.json")):
            write_subset(root, split, name, num)


def _segm_files(root: str) -> list[str]:
    parts = list(SPLITS) + list(SUBSETS)
    return [os.path.join(root, f"{SEGM}{part}.json") for part in parts]


def build_digits_det_segm(root: str | None = None, spec: DigitsDetSpec | None = None) -> str:
    """:func:`build_digits_det`, then the instance-segmentation variant's json files
    (``segm_train.json``, ``segm_val.json``, ``segm_val_mini.json``) where missing: masks of
    the same images, computed by rendering the splits again
    (:func:`relkd.data.digits_segm.generate_segm_split`), under the same file lock. The box
    dataset's files are read, never rewritten.

    Returns:
        The dataset root.
    """
    root = build_digits_det(root, spec)
    spec = spec or DigitsDetSpec()
    if all(os.path.exists(p) for p in _segm_files(root)):
        return root
    parent = os.path.dirname(root)
    with open(os.path.join(parent, f".{os.path.basename(root)}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        t0 = time.perf_counter()
        # what no other process wrote while this one waited for the lock
        missing = [p for p in _segm_files(root) if not os.path.exists(p)]
        for split in SPLITS:
            if os.path.join(root, f"{SEGM}{split}.json") in missing:
                generate_segm_split(root, split, spec)  # written under a temporary name
        for name, (split, num) in SUBSETS.items():
            if os.path.join(root, f"{SEGM}{name}.json") in missing:
                write_subset(root, f"{SEGM}{split}", f"{SEGM}{name}", num)
        if missing:
            logger.info(f"digits_det masks written in {root} in {time.perf_counter() - t0:.0f} s")
    return root


def register_digits_det(root: str | None = None, spec: DigitsDetSpec | None = None) -> list[str]:
    """Register ``digits_det_train``, ``digits_det_val`` and the subsets of :data:`SUBSETS`
    (``digits_det_val_mini``: the first 100 val images), and the instance-segmentation variant
    of each (``digits_det_segm_train``, ``digits_det_segm_val``, ``digits_det_segm_val_mini``:
    the same images, annotations with masks); files are built on first use.

    Calling it again with the same arguments, or with none, is a no-op; with a different root or
    spec it raises, because detectron2's catalogs hold one definition per name.

    Returns:
        The registered dataset names.
    """
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.data.datasets import load_coco_json

    boxes = {s: s for s in SPLITS} | {name: split for name, (split, _) in SUBSETS.items()}
    # json part -> the folder of its PNGs
    parts = boxes | {f"{SEGM}{part}": split for part, split in boxes.items()}
    if root is None and spec is None and all(f"digits_det_{p}" in DatasetCatalog for p in parts):
        return [f"digits_det_{p}" for p in parts]
    root = os.path.abspath(root or default_root())
    spec = spec or DigitsDetSpec()
    names = []
    for part, split in parts.items():
        name = f"digits_det_{part}"
        names.append(name)
        json_file = os.path.join(root, f"{part}.json")
        if name in DatasetCatalog.list():
            old = MetadataCatalog.get(name).get("json_file")
            if old != json_file or MetadataCatalog.get(name).get("spec") != _stamp(spec):
                raise ValueError(
                    f"{name} is already registered with json_file={old!r}; cannot re-register it "
                    f"at {json_file!r} with a different spec in the same process"
                )
            continue

        build = build_digits_det_segm if part.startswith(SEGM) else build_digits_det

        def load(split=split, json_file=json_file, name=name, build=build):
            build(root, spec)
            return load_coco_json(json_file, os.path.join(root, split), name)

        DatasetCatalog.register(name, load)
        MetadataCatalog.get(name).set(
            json_file=json_file,
            image_root=os.path.join(root, split),
            evaluator_type="coco",
            thing_classes=list(CLASS_NAMES),
            spec=_stamp(spec),
        )
    return names
