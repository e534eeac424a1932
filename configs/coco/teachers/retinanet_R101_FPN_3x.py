"""Teacher: detectron2 model-zoo RetinaNet R101-FPN 3x (40.4 box AP)."""

from detectron2.model_zoo import get_checkpoint_url

from ...common.models.coco import retinanet

model = retinanet(depth=101)
WEIGHTS = get_checkpoint_url("COCO-Detection/retinanet_R_101_FPN_3x.yaml")
