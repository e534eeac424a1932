"""A LazyConfig student for detectron2's ``DefaultPredictor``, which runs where relkd is not
installed but builds models from yacs configs only.

- :func:`relkd.export.to_yacs.yacs_config` writes the student's config as a yacs one;
- detectron2's yacs ResNet builder makes ResNet-18/34 only at base width 64, while the digits
  students are 32 wide. A narrower ResNet-18/34 is written as the 64-wide one holding the
  student's weights in its first channels and zeros in the others (:func:`embed_state`): a
  zero channel stays zero through every convolution, norm, ReLU and residual sum, so the wider
  network computes the student's outputs, at the wider network's cost.

Nothing is assumed to be right: :func:`write_predictor_config` builds both models and compares
them (:func:`compare`) before it writes the files.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .to_yacs import yacs_config


def _is_norm(module: nn.Module) -> bool:
    return hasattr(module, "running_var")


def embed_state(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s state with ``state`` (a narrower model's) in the first entries of every
    tensor and zeros elsewhere; the padded entries of norms' running variances are 1.

    The one tensor ``model`` has that ``state`` lacks is a shortcut projection where the narrow
    block had an identity shortcut (equal in and out widths; the wide one's widths differ): it
    is set to the identity on the narrow channels (1x1 conv of eye, its norm the identity).

    Raises:
        ValueError: a key of ``state`` absent from ``model``, narrower in ``model``, or another
            key of ``model`` missing from ``state``.
    """
    out = {}
    target = model.state_dict()
    modules = dict(model.named_modules())
    extra = sorted(set(state) - set(target))
    if extra:
        raise ValueError(f"embed_state: keys {extra[:5]} are not in the wider model")
    for key, wide in target.items():
        owner, _, leaf = key.rpartition(".")
        if key in state:
            narrow = state[key]
            if narrow.dim() != wide.dim() or any(n > w for n, w in zip(narrow.shape, wide.shape)):
                raise ValueError(f"embed_state: {key} {tuple(narrow.shape)} > {tuple(wide.shape)}")
            fill = 1.0 if leaf == "running_var" else 0.0
            value = torch.full_like(wide, fill)
            value[tuple(slice(0, n) for n in narrow.shape)] = narrow
            out[key] = value
        elif owner.endswith("shortcut") or owner.endswith("shortcut.norm"):
            out[key] = _identity(wide, leaf, modules[owner])
        else:
            raise ValueError(f"embed_state: {key} of the wider model has no value in the state")
    return out


def _identity(wide: torch.Tensor, leaf: str, module: nn.Module) -> torch.Tensor:
    """A shortcut's tensor ``leaf`` that makes it pass its input channels through unchanged."""
    if _is_norm(module):
        eps = getattr(module, "eps", 0.0)
        # (x - 0) / sqrt(var + eps) * 1 + 0 with var = 1 - eps: x, to float rounding
        values = {"weight": 1.0, "bias": 0.0, "running_mean": 0.0, "running_var": 1.0 - eps}
        return torch.full_like(wide, values.get(leaf, 0.0))
    if leaf != "weight" or wide.dim() != 4 or wide.shape[2:] != (1, 1):
        raise ValueError(f"embed_state: cannot make an identity of shortcut {leaf} {wide.shape}")
    eye = torch.zeros_like(wide)
    n = min(wide.shape[:2])
    eye[range(n), range(n), 0, 0] = 1.0
    return eye


def compare(model: nn.Module, wide: nn.Module, image: torch.Tensor) -> float:
    """How far the yacs-built ``wide`` is from the student ``model`` on ``image``: the largest
    relative difference of their backbone features, or ``inf`` when their input statistics
    differ or, given the same features, their detections differ at all.

    The embedding changes the backbone only; what follows it is the same modules with the same
    weights. Feeding both the student's features makes that part the same computation, so its
    detections must be equal bitwise, and near-equal scores cannot swap ranks and hide or
    fake a difference in the translated settings (thresholds, anchors, top-k).
    """
    from .student import max_output_difference

    same_input = all(
        torch.equal(getattr(model, k), getattr(wide, k)) for k in ("pixel_mean", "pixel_std")
    )
    if not same_input or model.input_format != wide.input_format:
        return float("inf")
    with torch.no_grad():
        x = model.preprocess_image([{"image": image}]).tensor
        want, got = model.backbone(x), wide.backbone(x)
        if want.keys() != got.keys():
            return float("inf")
        worst = max(((want[k] - got[k]).abs().max() / want[k].abs().max()).item() for k in want)
        wide.backbone.forward = lambda _: want  # the heads on the student's own features
        try:
            after = max_output_difference(model([{"image": image}]), wide([{"image": image}]))
        finally:
            del wide.backbone.forward
    return worst if after == 0.0 else float("inf")


def write_predictor_config(cfg: Any, model: nn.Module, weights: str, image: torch.Tensor) -> dict:
    """Write the yacs config (and, for a narrowed ResNet-18/34, the embedded weights) with which
    ``DefaultPredictor`` runs the plain student ``model`` of the LazyConfig ``cfg``, after
    checking that the yacs-built model gives ``model``'s detections on ``image``.

    Args:
        cfg: the (distilled) LazyConfig.
        model: its plain student in eval mode, with the weights of ``weights`` loaded.
        weights: the student checkpoint (``student.pth``); the files go beside it
            (``student_predictor.yaml`` and, when embedded, ``student_predictor.pth``).
        image: ``(3, H, W)`` input in the model's format for the check.

    Returns:
        ``{"config", "weights", "max_diff"}`` (``max_diff``: see :func:`compare`).

    Raises:
        NotExpressible: the student has no yacs form (nothing is written).
        RuntimeError: the yacs-built model differs (nothing is written).
    """
    import os

    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    from .student import student_config

    loaders = cfg.dataloader if "dataloader" in cfg else {}
    test, train = loaders.get("test", {}), loaders.get("train", {})
    mask_format = (train.get("mapper") or {}).get("instance_mask_format")
    ycfg = yacs_config(student_config(cfg.model), test.get("mapper"), mask_format)
    ycfg.MODEL.DEVICE = "cpu"
    wide = build_model(ycfg).eval()
    state = embed_state(model.state_dict(), wide)
    wide.load_state_dict(state)
    diff = compare(model, wide, image)
    if diff > 1e-4:
        raise RuntimeError(f"the yacs-built student differs from the student by {diff:.3g}")
    base = os.path.splitext(weights)[0] + "_predictor"
    same = all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    if same and len(state) == len(model.state_dict()):
        ycfg.MODEL.WEIGHTS = weights
    else:
        ycfg.MODEL.WEIGHTS = base + ".pth"
        torch.save({"model": state}, ycfg.MODEL.WEIGHTS)
    ycfg.MODEL.DEVICE = cfg.train.get("device", "cuda") if "train" in cfg else "cuda"
    with open(base + ".yaml", "w") as f:
        f.write(ycfg.dump())
    get_cfg().merge_from_file(base + ".yaml")  # what DefaultPredictor's users will do
    return {"config": base + ".yaml", "weights": ycfg.MODEL.WEIGHTS, "max_diff": diff}
