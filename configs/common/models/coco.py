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
