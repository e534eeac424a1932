"""``DistillRCNN``: detectron2's GeneralizedRCNN with a teacher branch."""

from __future__ import annotations

from detectron2.modeling import GeneralizedRCNN

from .distill import DistillMixin


class DistillRCNN(DistillMixin, GeneralizedRCNN):
    """GeneralizedRCNN (Faster R-CNN, or Mask R-CNN) whose training losses include the
    distillers' terms.

    GeneralizedRCNN does not expose its features, so only its short training branch is
    re-implemented here (as detectron2's PanopticFPN does); inference is inherited. The ROI
    heads get the whole ground truth, ``gt_masks`` included where the mapper loads them
    (``use_instance_mask=True``), so a mask head trains as in detectron2 (``loss_mask``).

    Args:
        teacher: the frozen teacher.
        distillers: distillers whose terms are added to the detection losses.
        nonfinite: ``"raise"`` (a non-finite distillation term stops training with its name
            and iteration) or ``"skip"`` (the iteration makes no update and is logged).
        max_consecutive_skips: with ``"skip"``, stop with an error naming the non-finite
            losses when more iterations than this are skipped in a row.
        grad_log_period: every this many iterations, log the gradient norm that the
            detection losses and each distiller send into the student, and their ratio
            (``relkd/<name>/grad_ratio`` in ``metrics.json``); 0 (default): never.
        **kwargs: GeneralizedRCNN's keyword arguments.
    """

    def _anchor_levels(self) -> list[str]:
        if self.proposal_generator is None:
            raise ValueError("DistillRCNN needs a proposal_generator (an RPN)")
        return list(self.proposal_generator.in_features)

    def _anchor_generator(self):
        return self.proposal_generator.anchor_generator

    def forward(self, batched_inputs):
        if not self.training:
            return self.inference(batched_inputs)
        images = self.preprocess_image(batched_inputs)
        if "instances" not in batched_inputs[0]:
            raise ValueError("DistillRCNN training needs 'instances' in every input")
        gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
        # recorded through the heads too: distillers may name submodules of the ROI heads
        with self._record_student():
            features = self.backbone(images.tensor)
            proposals, proposal_losses = self.proposal_generator(images, features, gt_instances)
            # every ground-truth field (boxes, classes and, for a mask head, gt_masks)
            _, detector_losses = self.roi_heads(images, features, proposals, gt_instances)
        if self.vis_period > 0:
            from detectron2.utils.events import get_event_storage

            if get_event_storage().iter % self.vis_period == 0:
                self.visualize_training(batched_inputs, proposals)
        losses = {**detector_losses, **proposal_losses}
        losses.update(self.distill_losses(images, self._take_student_features(), gt_instances))
        return self._finish_losses(losses)
