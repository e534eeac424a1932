"""Backbone-only checkpoints cut from trained detectron2 detectors (for ``train.init_checkpoint``).

On ``digits_det`` nothing may be downloaded, so relkd's DAB-DETRs start from the ResNets of its
own trained Faster R-CNNs, in the place of the ImageNet backbones of the papers.
"""

from __future__ import annotations

import os

import torch

STAGES = ("stem", "res2", "res3", "res4", "res5")


def extract_backbone(
    src: str,
    out: str,
    src_prefix: str = "backbone.bottom_up.",
    dst_prefix: str = "backbone.",
    stages: tuple[str, ...] = STAGES,
) -> int:
    """Write ``{"model": backbone weights}`` from the detector checkpoint ``src`` to ``out``.

    Args:
        src: a detectron2 checkpoint (``model_final.pth``) of a detector with a ResNet.
        out: the checkpoint to write.
        src_prefix: the ResNet's prefix in ``src`` (an FPN's bottom-up by default).
        dst_prefix: its prefix in the target model (``backbone.`` for ``DABDETR``).
        stages: the ResNet stages to keep.

    Returns:
        The number of tensors written.
    """
    if not os.path.isfile(src):
        raise FileNotFoundError(f"extract_backbone: no checkpoint {src!r}")
    state = torch.load(src, map_location="cpu", weights_only=True)
    state = state.get("model", state)
    kept = {
        dst_prefix + k[len(src_prefix) :]: v
        for k, v in state.items()
        if k.startswith(src_prefix) and k[len(src_prefix) :].split(".")[0] in stages
    }
    if not kept:
        prefixes = sorted({".".join(k.split(".")[:2]) for k in state})
        raise ValueError(
            f"extract_backbone: no key of {src!r} starts with {src_prefix!r} followed by one of "
            f"{list(stages)}; its prefixes: {prefixes}"
        )
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    torch.save({"model": kept, "__author__": "relkd.extract_backbone"}, out)
    return len(kept)
