"""FGD (Yang et al., CVPR 2022): focal and global distillation of one feature level.

Pure tensor functions; the trained global-context blocks (GcBlocks) live in
:class:`relkd.layers.GlobalContext` and the distiller (:class:`relkd.distillers.FGD`) hands
their outputs to :func:`fgd_global_loss`. See docs/methods.md, "FGD".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .fgd_masks import fgd_masks

__all__ = [
    "FGD_PARTS",
    "FGD_TEMPERATURE",
    "fgd_attention",
    "fgd_attention_loss",
    "fgd_feature_loss",
    "fgd_global_loss",
    "fgd_loss",
    "fgd_masks",
    "fgd_parts",
]

# the official default temperature of both attentions
FGD_TEMPERATURE = 0.5
# the four parts of the per-level loss, in the order the official code adds them
FGD_PARTS = ("fg", "bg", "attention", "global")


def _compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """float32 for half-precision inputs, float64 when one input is float64."""
    dtype = torch.float32
    for t in tensors:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def _check_same_shape(what: str, **maps: torch.Tensor) -> None:
    (na, a), (nb, b) = maps.items()
    if a.shape != b.shape:
        raise ValueError(f"{what}: shapes differ, {na} {tuple(a.shape)} vs {nb} {tuple(b.shape)}")


def fgd_attention(
    x: torch.Tensor, temperature: float = FGD_TEMPERATURE
) -> tuple[torch.Tensor, torch.Tensor]:
    """FGD's spatial and channel attention of a map.

    With ``|x|`` the absolute values: spatial ``H W softmax_{h,w}(mean_c |x| / T)`` and channel
    ``C softmax_c(mean_{h,w} |x| / T)``, each image apart; they average 1 over the positions and
    over the channels.

    Args:
        x: ``(N, C, H, W)``.
        temperature: ``T > 0``.

    Returns:
        ``(spatial (N, H, W), channel (N, C))`` in float32 (float64 for a float64 ``x``).
    """
    if x.dim() != 4:
        raise ValueError(f"fgd_attention: expected (N, C, H, W), got shape {tuple(x.shape)}")
    if not temperature > 0:
        raise ValueError(f"fgd_attention: temperature must be > 0, got {temperature}")
    n, c, h, w = x.shape
    value = x.to(_compute_dtype(x)).abs()
    spatial = F.softmax(value.mean(dim=1).reshape(n, h * w) / temperature, dim=1)
    channel = F.softmax(value.mean(dim=(2, 3)) / temperature, dim=1)
    return (h * w) * spatial.reshape(n, h, w), c * channel


def fgd_feature_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    fg: torch.Tensor,
    bg: torch.Tensor,
    spatial_t: torch.Tensor,
    channel_t: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """FGD's focal (feature) loss, its foreground and background parts.

    ``sum_{n,c,h,w} M[n,h,w] A_S[n,h,w] A_C[n,c] (s - t)^2 / N`` with ``M`` the foreground
    or the background mask and ``A_S``, ``A_C`` the *teacher's* attentions, on both sides. The
    official code multiplies each map by ``sqrt(M A_S A_C)`` before a summed squared error:
    the same value, and the same gradient for the student.

    Args:
        student: ``(N, C, H, W)``, aligned to the teacher's channels.
        teacher: ``(N, C, H, W)``.
        fg, bg: ``(N, H, W)`` from :func:`fgd_masks`.
        spatial_t, channel_t: ``(N, H, W)`` and ``(N, C)``, :func:`fgd_attention` of the
            teacher.

    Returns:
        ``(fg_loss, bg_loss)``, scalars in float32 (float64 for float64 inputs).
    """
    _check_same_shape("fgd_feature_loss", student=student, teacher=teacher)
    n, c, h, w = student.shape
    if fg.shape != (n, h, w) or bg.shape != (n, h, w):
        raise ValueError(
            f"fgd_feature_loss: masks {tuple(fg.shape)} and {tuple(bg.shape)}, expected "
            f"{(n, h, w)}"
        )
    if spatial_t.shape != (n, h, w) or channel_t.shape != (n, c):
        raise ValueError(
            f"fgd_feature_loss: attentions {tuple(spatial_t.shape)} and "
            f"{tuple(channel_t.shape)}, expected {(n, h, w)} and {(n, c)}"
        )
    dtype = _compute_dtype(student, teacher)
    diff = student.to(dtype) - teacher.to(dtype)
    weighted = diff.pow(2) * (spatial_t[:, None] * channel_t[:, :, None, None]).to(dtype)
    fg_loss = (weighted * fg[:, None].to(dtype)).sum() / n
    bg_loss = (weighted * bg[:, None].to(dtype)).sum() / n
    return fg_loss, bg_loss


def fgd_attention_loss(
    spatial_s: torch.Tensor,
    channel_s: torch.Tensor,
    spatial_t: torch.Tensor,
    channel_t: torch.Tensor,
) -> torch.Tensor:
    """FGD's attention loss (the official ``mask_loss``): the summed absolute differences of
    the student's and the teacher's channel and spatial attentions, each over the batch size.

    Args:
        spatial_s, spatial_t: ``(N, H, W)``.
        channel_s, channel_t: ``(N, C)``.

    Returns:
        A scalar.
    """
    _check_same_shape("fgd_attention_loss", spatial_s=spatial_s, spatial_t=spatial_t)
    _check_same_shape("fgd_attention_loss", channel_s=channel_s, channel_t=channel_t)
    n = spatial_s.shape[0]
    return (channel_s - channel_t).abs().sum() / n + (spatial_s - spatial_t).abs().sum() / n


def fgd_global_loss(global_s: torch.Tensor, global_t: torch.Tensor) -> torch.Tensor:
    """FGD's global (relation) loss: the summed squared error over the batch size between the
    outputs of the student's and the teacher's GcBlock (each map plus its own
    :class:`~relkd.layers.GlobalContext` channel term).

    Args:
        global_s: ``(N, C, H, W)``, the student's (aligned) map through its GcBlock.
        global_t: ``(N, C, H, W)``, the teacher's map through its GcBlock.

    Returns:
        A scalar in float32 (float64 for float64 inputs).
    """
    _check_same_shape("fgd_global_loss", global_s=global_s, global_t=global_t)
    dtype = _compute_dtype(global_s, global_t)
    return (global_s.to(dtype) - global_t.to(dtype)).pow(2).sum() / global_s.shape[0]


def fgd_parts(
    student: torch.Tensor,
    teacher: torch.Tensor,
    fg: torch.Tensor,
    bg: torch.Tensor,
    global_s: torch.Tensor,
    global_t: torch.Tensor,
    temperature: float = FGD_TEMPERATURE,
) -> dict[str, torch.Tensor]:
    """The four unweighted parts of FGD's loss on one level, ``{part: ()}`` for the parts of
    :data:`FGD_PARTS`: ``fg`` and ``bg`` (:func:`fgd_feature_loss`), ``attention``
    (:func:`fgd_attention_loss` of both maps' :func:`fgd_attention`) and ``global``
    (:func:`fgd_global_loss`).

    Args:
        student: ``(N, C, H, W)``, aligned to the teacher's channels.
        teacher: ``(N, C, H, W)``.
        fg, bg: ``(N, H, W)``, :func:`fgd_masks` at this map's size.
        global_s, global_t: ``(N, C, H, W)``, the GcBlocks' outputs.
        temperature: of both attentions.
    """
    _check_same_shape("fgd_parts", student=student, teacher=teacher)
    spatial_t, channel_t = fgd_attention(teacher, temperature)
    spatial_s, channel_s = fgd_attention(student, temperature)
    fg_loss, bg_loss = fgd_feature_loss(student, teacher, fg, bg, spatial_t, channel_t)
    return {
        "fg": fg_loss,
        "bg": bg_loss,
        "attention": fgd_attention_loss(spatial_s, channel_s, spatial_t, channel_t),
        "global": fgd_global_loss(global_s, global_t),
    }


def fgd_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    fg: torch.Tensor,
    bg: torch.Tensor,
    global_s: torch.Tensor,
    global_t: torch.Tensor,
    *,
    temperature: float = FGD_TEMPERATURE,
    alpha: float = 1e-3,
    beta: float = 5e-4,
    gamma: float = 5e-4,
    lambda_: float = 5e-6,
) -> torch.Tensor:
    """FGD's loss on one level as the official code returns it:
    ``alpha * fg + beta * bg + gamma * attention + lambda_ * global`` (:func:`fgd_parts`).

    The default weights are the official RetinaNet configs'; its Faster R-CNN configs use
    ``alpha=5e-5, beta=2.5e-5, gamma=5e-5, lambda_=5e-7``.

    Args:
        student, teacher, fg, bg, global_s, global_t, temperature: see :func:`fgd_parts`.
        alpha, beta, gamma, lambda_: the official ``alpha_fgd``, ``beta_fgd``, ``gamma_fgd``,
            ``lambda_fgd``.

    Returns:
        A scalar in float32 (float64 for float64 inputs).
    """
    p = fgd_parts(student, teacher, fg, bg, global_s, global_t, temperature)
    return alpha * p["fg"] + beta * p["bg"] + gamma * p["attention"] + lambda_ * p["global"]
