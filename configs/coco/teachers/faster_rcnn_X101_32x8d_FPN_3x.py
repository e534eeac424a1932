"""Teacher: detectron2 model-zoo Faster R-CNN X101-32x8d-FPN 3x (43.0 box AP). The zoo's
closest match to DRKD's ResNeXt-101 teacher."""

from detectron2.model_zoo import get_checkpoint_url

from ...common.models.coco import faster_rcnn_x101_32x8d

model = faster_rcnn_x101_32x8d()
WEIGHTS = get_checkpoint_url("COCO-Detection/faster_rcnn_X_101_32x8d_FPN_3x.yaml")
