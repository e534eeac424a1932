"""digits_det: the ResNet-18 RetinaNet student distilled with FGFI from the ResNet-50 *Faster
R-CNN* teacher (`faster_rcnn_R50_teacher.py`), a teacher of another detector family.

Distillers pair features by name. On digits_det both detectors' FPNs have p2-p6, so FGFI keeps
the levels, mask and weight of `retinanet_R18_fgfi.py` (the RetinaNet-teacher recipe it is
measured against); only the teacher changes. Where the families' levels differ (COCO: RetinaNet
p3-p7, Faster R-CNN p2-p6) name the shared ones: `configs/coco/retinanet_R50_fgfi_frcnn_teacher.py`.
"""

from .faster_rcnn_R50_teacher import model as _teacher
from .retinanet_R18_fgfi import dataloader, lr_multiplier, model, optimizer, train

model.teacher.update(
    model=_teacher, weights="output/digits/faster_rcnn_R50_teacher/model_final.pth"
)
train.output_dir = "output/digits/retinanet_R18_fgfi_frcnn_teacher"
