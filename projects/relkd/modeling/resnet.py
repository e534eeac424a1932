"""ResNet stage builders with a configurable base width.

detectron2's ``ResNet.make_default_stages`` fixes the widths at 64 base channels. The
``digits_det`` configs use the same depths (18, 50) at a reduced width so that they train on a
2-core CPU; ``width=64`` reproduces the standard stages exactly.
"""

from __future__ import annotations

from detectron2.modeling.backbone.resnet import BasicBlock, BottleneckBlock, ResNet

_BLOCKS = {
    18: [2, 2, 2, 2],
    34: [3, 4, 6, 3],
    50: [3, 4, 6, 3],
    101: [3, 4, 23, 3],
    152: [3, 8, 36, 3],
}


def _stage_args(
    depth: int, width: int, num_groups: int, width_per_group: int | None, kwargs: dict
) -> list[dict]:
    """The ``ResNet.make_stage`` keyword arguments of stages ``res2..res5``."""
    if depth not in _BLOCKS:
        raise ValueError(f"resnet_stages: depth must be one of {sorted(_BLOCKS)}, got {depth}")
    bottleneck = depth >= 50
    kwargs = dict(kwargs)
    if not bottleneck:
        kwargs.pop("stride_in_1x1", None)  # BasicBlock has no such argument
        if num_groups != 1:
            raise ValueError(
                f"resnet_stages: depth {depth} uses basic blocks, which have no groups"
            )
    bottleneck_base = num_groups * (width_per_group or width // num_groups)
    expansion = 4 if bottleneck else 1
    out_channels = [width * expansion * 2**i for i in range(4)]
    in_channels = [width] + out_channels[:3]
    stages = []
    for i, n in enumerate(_BLOCKS[depth]):
        extra = {}
        if bottleneck:
            extra = {"bottleneck_channels": bottleneck_base * 2**i, "num_groups": num_groups}
        stages.append(
            dict(
                block_class=BottleneckBlock if bottleneck else BasicBlock,
                num_blocks=n,
                stride_per_block=[1 if i == 0 else 2] + [1] * (n - 1),
                in_channels=in_channels[i],
                out_channels=out_channels[i],
                **extra,
                **kwargs,
            )
        )
    return stages


def resnet_stages(
    depth: int, width: int = 64, num_groups: int = 1, width_per_group: int | None = None, **kwargs
) -> list:
    """Stages ``res2..res5`` of a ResNet (or ResNeXt) of ``depth`` after a ``width``-channel stem.

    Args:
        depth: 18, 34, 50, 101 or 152.
        width: base width (64 for the standard ResNets).
        num_groups: ResNeXt cardinality (bottleneck depths only).
        width_per_group: ResNeXt group width; the res2 bottleneck has
            ``num_groups * width_per_group`` channels (default ``width // num_groups``).
        **kwargs: passed to every block (``norm``, ``stride_in_1x1`` for bottlenecks, ...).

    Returns:
        A list of 4 lists of blocks, for ``ResNet(stages=...)``.
    """
    args = _stage_args(depth, width, num_groups, width_per_group, kwargs)
    return [ResNet.make_stage(**a) for a in args]


def resnet_stage_nodes(
    depth: int, width: int = 64, num_groups: int = 1, width_per_group: int | None = None, **kwargs
) -> list:
    """The stages of :func:`resnet_stages` as four LazyConfig nodes of detectron2's
    ``ResNet.make_stage``, for ``ResNet(stages=...)`` in a config: the config then names
    detectron2 alone, so the student it builds needs no relkd (``tools/export_student.py``
    writes exported students' configs so)."""
    from detectron2.config import LazyCall as L

    args = _stage_args(depth, width, num_groups, width_per_group, kwargs)
    return [L(ResNet.make_stage)(**a) for a in args]
