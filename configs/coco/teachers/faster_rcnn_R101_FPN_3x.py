"""Teacher: detectron2 model-zoo Faster R-CNN R101-FPN 3x (42.0 box AP)."""

from detectron2.model_zoo import get_checkpoint_url

from ...common.models.coco import faster_rcnn

model = faster_rcnn(depth=101)
WEIGHTS = get_checkpoint_url("COCO-Detection/faster_rcnn_R_101_FPN_3x.yaml")
