"""MGD (Yang et al., ECCV 2022): masked generative distillation.

Pure tensor functions; the generation block, which is trained, lives in the distiller
(:class:`relkd.distillers.MGD`). See docs/methods.md, "MGD".
"""

from __future__ import annotations

import torch


def random_keep_mask(
    shape: tuple[int, int, int, int],
    ratio: float,
    *,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A float ``{0, 1}`` mask, ``(N, 1, H, W)``: each position is 0 (masked) with probability
    ``ratio``, independently, the same for every channel.

    A uniform draw ``u`` masks its position where ``u > 1 - ratio``, as the official code does.

    Args:
        shape: the feature's ``(N, C, H, W)``; the mask has one channel.
        ratio: the masked fraction ``lambda_mgd`` in [0, 1].
        device: where the mask lives (and is drawn, unless ``generator`` says otherwise).
        generator: ``None``: the default generator of ``device`` (torch.manual_seed seeds it);
            otherwise the draw happens on the generator's device and moves to ``device``.

    Returns:
        ``(N, 1, H, W)`` float32, 1 where the student's feature is kept.
    """
    if not 0 <= ratio <= 1:
        raise ValueError(f"random_keep_mask: ratio must be in [0, 1], got {ratio}")
    n, _, h, w = shape
    where = generator.device if generator is not None else device
    u = torch.rand((n, 1, h, w), generator=generator, device=where)
    return (u <= 1 - ratio).to(device=device, dtype=torch.float32)


def mgd_loss(generated: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """MGD's loss on one level: the summed squared error over the batch size.

    ``sum((g - t)^2) / N`` over all ``N * C * H * W`` elements, the official value before its
    weight ``alpha_mgd``.

    Args:
        generated: ``(N, C, H, W)``, the generation block's output from the masked student.
        teacher: ``(N, C, H, W)``.

    Returns:
        A scalar in float32 (float64 for float64 inputs).
    """
    if generated.shape != teacher.shape:
        raise ValueError(
            f"mgd_loss: shapes differ, generated {tuple(generated.shape)} vs teacher "
            f"{tuple(teacher.shape)}"
        )
    dtype = torch.promote_types(generated.dtype, torch.float32)  # half precision in fp32
    diff = generated.to(dtype) - teacher.to(dtype)
    return diff.pow(2).sum() / generated.shape[0]
