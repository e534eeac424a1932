"""Teacher: detectron2 model-zoo Mask R-CNN X101-32x8d-FPN 3x (44.3 box AP, 39.5 mask AP), the
Mask R-CNN of the Faster R-CNN X101-32x8d-FPN teacher's backbone."""

from detectron2.model_zoo import get_checkpoint_url

from ...common.models.coco import mask_rcnn_x101_32x8d

model = mask_rcnn_x101_32x8d()
WEIGHTS = get_checkpoint_url("COCO-InstanceSegmentation/mask_rcnn_X_101_32x8d_FPN_3x.yaml")
