"""What ``tools/export_student.py`` reads of a distilled run: its config (a LazyConfig or a yacs
config, overrides checked), the plain student with the exported weights, and an example input
for the trace."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn


def load_config(path: str, opts: Sequence[str] = ()):
    """The distilled config at ``path`` with ``opts`` applied: a LazyConfig (``.py``, or the
    ``config.yaml`` relkd's ``train_net.py`` saves), or a yacs ``CfgNode`` (the ``config.yaml``
    of a ``DefaultTrainer`` run); either kind's overrides are checked against its keys."""
    from detectron2.config import LazyConfig

    from relkd.loading import is_yacs_file

    if not is_yacs_file(path):
        from relkd.engine.overrides import apply_overrides

        return apply_overrides(LazyConfig.load(path), list(opts))
    from detectron2.config import get_cfg

    from relkd.config import add_relkd_config

    cfg = get_cfg()
    add_relkd_config(cfg)
    cfg.merge_from_file(path)
    pairs = []
    for item in opts:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"Override {item!r} is not of the form KEY=VALUE")
        pairs += [key, value]
    cfg.merge_from_list(pairs)  # yacs refuses a key the config does not have
    return cfg


def build_plain(config: str, weights: str, opts: Sequence[str] = ()) -> tuple[object, nn.Module]:
    """``(cfg, model)``: the plain student of ``config`` with ``weights`` loaded strictly (eval
    mode)."""
    from detectron2.config import CfgNode, instantiate
    from detectron2.modeling import build_model

    from relkd.export.student import student_config, yacs_student_config
    from relkd.loading import load_strict

    cfg = load_config(config, opts)
    if isinstance(cfg, CfgNode):
        model = build_model(yacs_student_config(cfg))
    else:
        model = instantiate(student_config(cfg.model))
    # raises on any missing, unexpected or mis-shaped key
    load_strict(model, weights, what="Student")
    return cfg, model.eval()


class NoExampleImage(RuntimeError):
    """The config's test set is not registered in this process and no ``--image`` was given."""


def example_image(cfg, image: str = "") -> torch.Tensor:
    """A ``(3, H, W)`` input for the trace: ``image`` read through the config's test mapper, or
    the first image of the config's test set."""
    from detectron2.config import CfgNode, instantiate
    from detectron2.data import DatasetMapper, build_detection_test_loader

    from relkd.data import register_digits_det

    yacs = isinstance(cfg, CfgNode)
    if image:
        if yacs:
            mapper = DatasetMapper(cfg, is_train=False)
        else:
            mapper = instantiate(cfg.dataloader.test.mapper)
        return mapper({"file_name": image})["image"]
    register_digits_det()
    try:
        if yacs:
            loader = build_detection_test_loader(cfg, cfg.DATASETS.TEST[0])
        else:
            loader = instantiate(cfg.dataloader.test)
    except KeyError as e:  # DatasetCatalog: the config's dataset is not registered here
        name = str(e).split("!")[0].strip("'\" ")
        raise NoExampleImage(
            f"[export] {name}: the config's test dataset is not registered in this process (a "
            "config.yaml saved with a run carries no registration code). Pass --image FILE "
            "(any image: the trace's example input), or --config-file with the .py config "
            "that registers the dataset"
        ) from None
    return next(iter(loader))[0]["image"]
