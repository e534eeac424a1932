"""Detectors sized for ``digits_det`` on a CPU, derived from detectron2's model-zoo configs.

Same depths as the papers (ResNet-50 teacher, ResNet-18 student) at a reduced base width, BN
(trained from scratch: nothing may be downloaded), anchors scaled to 8-64 px objects and a
2-conv head. ``width=64, fpn_channels=256`` would give the standard model-zoo widths.
"""

from detectron2 import model_zoo
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec

from relkd.modeling import resnet_stages

NUM_CLASSES = 10


def _backbone(model, depth: int, width: int, fpn_channels: int) -> None:
    bottom_up = model.backbone.bottom_up
    bottom_up.stem.out_channels = width
    bottom_up.stem.norm = "BN"
    bottom_up.freeze_at = 0
    bottom_up.stages = L(resnet_stages)(depth=depth, width=width, stride_in_1x1=True, norm="BN")
    model.backbone.out_channels = fpn_channels
    # detectron2's MSRA std of 1.0 suits its pretrained weights; from scratch, unit-variance
    # inputs keep the first layers' gradients in range
    model.pixel_std = [57.375, 57.120, 58.395]


def retinanet(depth: int, width: int = 32, fpn_channels: int = 64, head_convs: int = 2):
    """RetinaNet config node: ResNet-``depth``-FPN on p2-p6 (strides 4-64), BN, 8-161 px anchors
    of aspect ratios (h/w) 1 and 2.

    digits are narrow (val box widths 4 / 12 / 35 px at percentiles 5 / 50 / 95, heights 9 / 19 /
    57): on the model zoo's p3-p7 grid only 54% of val GT boxes had an anchor at the matcher's
    foreground IoU 0.5 (2.1 foreground anchors per GT). A stride-4 p2 and tall anchors give 95%
    and 6.4 (``python tools/anchor_coverage.py configs/digits/retinanet_R50_teacher.py``).
    """
    from detectron2.modeling.backbone.fpn import LastLevelMaxPool

    model = model_zoo.get_config("common/models/retinanet.py").model
    _backbone(model, depth, width, fpn_channels)
    levels = ["res2", "res3", "res4", "res5"]
    model.backbone.bottom_up.out_features = levels
    model.backbone.in_features = levels
    model.backbone.top_block = L(LastLevelMaxPool)()  # p6: stride 2 subsampling of p5
    model.head_in_features = ["p2", "p3", "p4", "p5", "p6"]
    model.head.input_shape = [ShapeSpec(channels=fpn_channels)] * 5
    model.head.conv_dims = [fpn_channels] * head_convs
    model.anchor_generator.sizes = [
        [x, x * 2 ** (1 / 3), x * 2 ** (2 / 3)] for x in (8, 16, 32, 64, 128)
    ]
    model.anchor_generator.aspect_ratios = [1.0, 2.0]
    model.anchor_generator.strides = [4, 8, 16, 32, 64]
    model.head.num_anchors = 6
    model.num_classes = NUM_CLASSES
    return model


def faster_rcnn(depth: int, width: int = 32, fpn_channels: int = 64, fc_dim: int = 256):
    """Faster R-CNN config node: ResNet-``depth``-FPN (p2-p6), BN, 8-128 px RPN anchors."""
    model = model_zoo.get_config("common/models/mask_rcnn_fpn.py").model
    model.roi_heads.update(mask_in_features=None, mask_pooler=None, mask_head=None)
    _backbone(model, depth, width, fpn_channels)
    rpn = model.proposal_generator
    rpn.head.in_channels = fpn_channels
    rpn.anchor_generator.sizes = [[8], [16], [32], [64], [128]]
    rpn.pre_nms_topk = (1000, 500)
    rpn.post_nms_topk = (500, 300)
    heads = model.roi_heads
    heads.num_classes = NUM_CLASSES
    heads.batch_size_per_image = 128
    heads.box_head.input_shape = ShapeSpec(channels=fpn_channels, height=7, width=7)
    heads.box_head.fc_dims = [fc_dim, fc_dim]
    heads.box_predictor.input_shape = ShapeSpec(channels=fc_dim)
    return model


def mask_rcnn(
    depth: int,
    width: int = 32,
    fpn_channels: int = 64,
    fc_dim: int = 256,
    mask_dim: int | None = None,
):
    """Mask R-CNN config node: :func:`faster_rcnn` with the mask branch of detectron2's
    ``common/models/mask_rcnn_fpn.py`` kept (p2-p5, 14x14 ROIAlignV2, four 3x3 convs and a
    2x deconvolution to 28x28 per-class masks).

    The zoo sizes that head like its box head, at the FPN's width (256): here its input and
    its convolutions are ``fpn_channels`` wide unless ``mask_dim`` says otherwise.
    """
    model = faster_rcnn(depth, width, fpn_channels, fc_dim)
    zoo = model_zoo.get_config("common/models/mask_rcnn_fpn.py").model.roi_heads
    heads = model.roi_heads
    heads.update(
        mask_in_features=zoo.mask_in_features, mask_pooler=zoo.mask_pooler, mask_head=zoo.mask_head
    )
    dim = mask_dim or fpn_channels
    heads.mask_head.input_shape = ShapeSpec(channels=fpn_channels, height=14, width=14)
    heads.mask_head.conv_dims = [dim] * len(zoo.mask_head.conv_dims)  # the last: the deconv
    return model


def dab_detr(
    depth: int,
    width: int = 32,
    in_feature: str = "res4",
    d_model: int = 128,
    num_encoder_layers: int = 3,
    num_decoder_layers: int = 3,
    num_queries: int = 50,
):
    """DAB-DETR config node for 128-px digits: ResNet-``depth`` (BN, from scratch) cut after
    ``in_feature``, a ``d_model``-wide transformer with 8 heads and a 4x FFN.

    ``res4`` rather than the papers' C5: at 128 px, C5 is a 4x4 map, too coarse for 8-50 px
    digits; C4 gives 8x8 tokens. At most 10 digits per image, so 50 queries suffice.
    """
    from detectron2.modeling.backbone import BasicStem, ResNet

    from relkd.modeling import DABDETR

    return L(DABDETR)(
        backbone=L(ResNet)(
            stem=L(BasicStem)(in_channels=3, out_channels=width, norm="BN"),
            stages=L(resnet_stages)(depth=depth, width=width, stride_in_1x1=True, norm="BN"),
            out_features=[in_feature],
            freeze_at=0,
        ),
        in_feature=in_feature,
        num_classes=NUM_CLASSES,
        pixel_mean=[103.530, 116.280, 123.675],
        pixel_std=[57.375, 57.120, 58.395],
        d_model=d_model,
        nhead=8,
        num_encoder_layers=num_encoder_layers,
        num_decoder_layers=num_decoder_layers,
        dim_feedforward=4 * d_model,
        dropout=0.0,
        activation="prelu",
        num_queries=num_queries,
        num_detections=100,
        # The memory's temperature is the official 20. The anchors' is 20 here, not the official
        # 10000: these runs had one temperature for both, and 20 was the one measured to train
        # on an 8x8 map (R50 teacher, GIoU loss at iteration 1,300: 0.96 with 20, 1.64 with
        # 10000; BENCHMARKS.md, DAB-DETR). 10000 for the anchors alone is not measured yet.
        memory_temperature=20.0,
        anchor_temperature=20.0,
    )
