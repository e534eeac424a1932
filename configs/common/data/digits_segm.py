"""Data loaders and evaluator for the instance-segmentation variant of ``digits_det``
(``digits_det_segm_*``: the same 128x128 images, each digit's visible mask as COCO RLE).

As detectron2's COCO dataloader for Mask R-CNN, the train mapper keeps the instance masks
(``use_instance_mask=True``); RLE masks are read as bitmasks. ``recompute_boxes`` stays off:
the boxes are those of ``digits_det`` (a partly covered digit's box spans its whole ink), and
with no augmentation there is nothing to recompute them after.
"""

from detectron2.config import LazyCall as L
from detectron2.evaluation import COCOEvaluator

from .digits import dataloader

dataloader.train.dataset.names = "digits_det_segm_train"
dataloader.train.mapper.update(use_instance_mask=True, instance_mask_format="bitmask")
dataloader.test.dataset.names = "digits_det_segm_val"
dataloader.evaluator = L(COCOEvaluator)(dataset_name="digits_det_segm_val", tasks=("bbox", "segm"))
