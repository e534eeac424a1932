"""The papers' COCO detectors (standard widths), from detectron2's model-zoo configs."""

from detectron2 import model_zoo
from detectron2.config import LazyCall as L

from relkd.modeling import resnet_stages


def retinanet(depth: int = 50):
    """RetinaNet ResNet-``depth``-FPN exactly as in the model zoo (FrozenBN, 80 classes)."""
    model = model_zoo.get_config("common/models/retinanet.py").model
    model.backbone.bottom_up.stages.depth = depth
    model.backbone.bottom_up.freeze_at = 2
    return model


def faster_rcnn(depth: int = 50):
    """Faster R-CNN ResNet-``depth``-FPN: the model-zoo Mask R-CNN FPN without its mask branch."""
    model = model_zoo.get_config("common/models/mask_rcnn_fpn.py").model
    model.roi_heads.update(mask_in_features=None, mask_pooler=None, mask_head=None)
    model.backbone.bottom_up.stages.depth = depth
    model.backbone.bottom_up.freeze_at = 2
    return model


def faster_rcnn_x101_32x8d():
    """Faster R-CNN X101-32x8d-FPN as ``COCO-Detection/faster_rcnn_X_101_32x8d_FPN_3x``."""
    model = faster_rcnn()
    model.backbone.bottom_up.stages = L(resnet_stages)(
        depth=101, num_groups=32, width_per_group=8, stride_in_1x1=False, norm="FrozenBN"
    )
    model.pixel_std = [57.375, 57.120, 58.395]
    return model


def mask_rcnn(depth: int = 50):
    """Mask R-CNN ResNet-``depth``-FPN exactly as in the model zoo (FrozenBN, 80 classes)."""
    model = model_zoo.get_config("common/models/mask_rcnn_fpn.py").model
    model.backbone.bottom_up.stages.depth = depth
    model.backbone.bottom_up.freeze_at = 2
    return model


def mask_rcnn_x101_32x8d():
    """Mask R-CNN X101-32x8d-FPN as ``COCO-InstanceSegmentation/mask_rcnn_X_101_32x8d_FPN_3x``
    (the backbone of :func:`faster_rcnn_x101_32x8d`)."""
    model = mask_rcnn()
    model.backbone.bottom_up.stages = L(resnet_stages)(
        depth=101, num_groups=32, width_per_group=8, stride_in_1x1=False, norm="FrozenBN"
    )
    model.pixel_std = [57.375, 57.120, 58.395]
    return model


def dab_detr(depth: int = 50):
    """DAB-DETR-R``depth`` (single-scale C5) as in KD-DETR's code: d 256, 8 heads, 6 + 6 layers,
    FFN 2048, dropout 0, PReLU, 300 queries, torchvision-style ResNet (RGB, FrozenBN, stem and
    res2 frozen). 80 classes: detectron2's contiguous COCO ids (the official code uses 91 logits
    for the raw ids, which only changes the KL's 1/K factor)."""
    from detectron2.modeling.backbone import BasicStem, ResNet

    from relkd.modeling import DABDETR

    return L(DABDETR)(
        backbone=L(ResNet)(
            stem=L(BasicStem)(in_channels=3, out_channels=64, norm="FrozenBN"),
            stages=L(resnet_stages)(depth=depth, stride_in_1x1=False, norm="FrozenBN"),
            out_features=["res5"],
            freeze_at=2,
        ),
        in_feature="res5",
        num_classes=80,
        pixel_mean=[123.675, 116.280, 103.530],
        pixel_std=[58.395, 57.120, 57.375],
        input_format="RGB",
        d_model=256,
        nhead=8,
        num_encoder_layers=6,
        num_decoder_layers=6,
        dim_feedforward=2048,
        dropout=0.0,
        activation="prelu",
        num_queries=300,
        num_detections=100,
        memory_temperature=20.0,  # the official code's two sine temperatures
        anchor_temperature=10000.0,
    )
