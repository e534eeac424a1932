"""Data loaders and evaluator for the embedded ``digits_det`` dataset (128x128 images)."""

from detectron2.config import LazyCall as L
from detectron2.data import (
    DatasetMapper,
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from detectron2.evaluation import COCOEvaluator
from omegaconf import OmegaConf

from relkd.data import register_digits_det

register_digits_det()  # cheap and idempotent; the files are built on first use

dataloader = OmegaConf.create()
dataloader.train = L(build_detection_train_loader)(
    dataset=L(get_detection_dataset_dicts)(names="digits_det_train"),
    # no flips or resizes: a mirrored digit is another symbol, and the images are small
    mapper=L(DatasetMapper)(is_train=True, augmentations=[], image_format="BGR"),
    total_batch_size=8,
    num_workers=1,
)
dataloader.test = L(build_detection_test_loader)(
    dataset=L(get_detection_dataset_dicts)(names="digits_det_val", filter_empty=False),
    mapper=L(DatasetMapper)(is_train=False, augmentations=[], image_format="BGR"),
    batch_size=8,
    num_workers=1,
)
dataloader.evaluator = L(COCOEvaluator)(dataset_name="digits_det_val")
