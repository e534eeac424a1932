"""The frozen teacher detector.

``Teacher`` is a plain Python object, deliberately not an ``nn.Module`` child of the student:
detectron2's name-matching checkpoint loader would otherwise see ``backbone.*`` twice, the
trainer's ``model.train()`` would flip it into train mode, and DDP and the optimizer would see
its parameters. The owning meta-architecture moves it along with itself (see ``DistillMixin``).

The class puts together the pieces of this package: building and loading (:mod:`.build`), the
student's batch as the teacher's input (:mod:`.inputs`), precision and memory layout
(:mod:`.precision`), the features handed over (:mod:`.capture`) and a DETR teacher's passes
(:mod:`.detr`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import torch
from torch import nn

from ..utils.features import feature_shapes
from .build import LazyCheckpoint, build_frozen, check_source
from .capture import backbone_features
from .detr import DetrPasses
from .inputs import InputSpec, StudentInput
from .precision import (
    autocast_for,
    check_precision,
    input_layout,
    runs_channels_last,
    set_weights_layout,
)


class Teacher(DetrPasses):
    """A frozen detector that produces named features for distillation.

    Args:
        config: a config file path (relative to the working directory or the relkd
            repository): a LazyConfig ``.py``/``.yaml`` or a detectron2 yacs ``.yaml``; or a
            LazyConfig node, either a full config with a ``model`` entry or the model node.
        weights: checkpoint path or ``DetectionCheckpointer`` URL, loaded strictly by
            :meth:`prepare` at the teacher's first run (relkd's training loop calls it before
            training): a distilled model built to evaluate or export the student needs no
            teacher checkpoint on disk.
        model: an already-built detector instead of ``config`` (a LazyConfig can import the
            teacher config's ``model`` node: ``L(Teacher)(model=teacher_cfg.model, ...)``).
        loaded: ``True`` to say that ``model`` already holds its trained weights (loaded by
            the caller) and that ``weights`` is left empty on purpose. Without ``weights``
            and without ``loaded=True`` the constructor raises :class:`TeacherLoadError`: a
            teacher built from a config starts random, and a random teacher trains a student
            to imitate noise without any other sign.
        dtype: the precision of the teacher's forward. ``None`` (default): the caller's, fp32
            or, under AMP, AMP's autocast dtype. ``"fp32"``: fp32 even under AMP. ``"bf16"`` /
            ``"fp16"``: under ``torch.autocast`` of that dtype (the weights stay fp32), whatever
            the student runs in. The features and DETR outputs handed to distillers are fp32
            in every case. ``"fp16"`` is for GPUs; ``"bf16"`` runs on recent CPUs too.
        channels_last: the layout of the weights and inputs of the teacher's forward;
            ``None`` (default): channels-last with a half ``dtype``, NCHW otherwise.

    The teacher knows the student only by its :class:`InputSpec`, given once with
    :meth:`attach` (the distilling meta-architecture does it at construction): the student's
    batches are re-normalised into the teacher's input from it.

    :meth:`prepare` loads the weights and puts the model into eval mode and its layout; the
    runs (:meth:`features`, the DETR passes) call it at their first use and after a change of
    ``dtype`` or ``channels_last``, not on every step.
    """

    def __init__(
        self,
        config=None,
        weights: str = "",
        *,
        model: nn.Module | None = None,
        dtype: str | None = None,
        channels_last: bool | None = None,
        loaded: bool = False,
    ):
        check_source(config, model, weights, loaded)
        check_precision(dtype, channels_last)
        self.model = build_frozen(config, model)
        self.dtype = dtype
        self.channels_last = channels_last
        self._checkpoint = LazyCheckpoint(self.model, weights or "")
        self._input: StudentInput | None = None
        self._prepared_layout: bool | None = None  # the layout prepare() left; None: not run

    # --- building and loading ------------------------------------------------------------------
    @property
    def weights(self) -> str:
        """The checkpoint's path or URL (empty for a model given with ``loaded=True``)."""
        return self._checkpoint.path

    def load(self) -> Teacher:
        """Load the weights (strictly, raising :class:`TeacherLoadError`) unless done already."""
        self._checkpoint.load()
        return self

    @property
    def loaded(self) -> bool:
        """Whether the teacher holds its checkpoint's weights (or was given a built model)."""
        return not self._checkpoint.pending

    def prepare(self) -> nn.Module:
        """Make the teacher ready to run and return its model: weights loaded, eval mode, the
        weights in the layout of :attr:`uses_channels_last` (read from the weights, so a model
        that its caller or another ``Teacher`` converted is converted back). The runs call it
        once; call it again after changing the model's mode or layout yourself."""
        self.load()
        self.model.eval()
        want = self.uses_channels_last
        set_weights_layout(self.model, want)
        self._prepared_layout = want
        return self.model

    def frozen_model(self) -> nn.Module:
        """Deprecated name of :meth:`prepare`."""
        warnings.warn(
            "Teacher.frozen_model() is deprecated: call Teacher.prepare(), which loads the "
            "weights and sets eval mode and layout, once, and returns the model",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.prepare()

    def ready_model(self) -> nn.Module:
        """The model, prepared (:meth:`prepare`) at the first call and again when ``dtype`` or
        ``channels_last`` has changed the layout the teacher runs in since; what a distiller
        that applies the teacher's modules itself reads, once per step."""
        if self._prepared_layout is not self.uses_channels_last:
            self.prepare()
        return self.model

    # --- the teacher's model ------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.model.pixel_mean.device

    @property
    def backbone(self) -> nn.Module:
        return self.model.backbone

    def feature_shapes(self) -> dict:
        """``{name: ShapeSpec}`` for every feature the teacher backbone can produce."""
        return feature_shapes(self.backbone)

    def to(self, device) -> Teacher:
        self.model.to(device)
        if self._input is not None:
            self._input.to(self.device)
        return self

    # --- the student's input ------------------------------------------------------------------
    def attach(self, student_input: InputSpec) -> Teacher:
        """Take the student's input spec: what the batches given to :meth:`features`,
        :meth:`prepare_images` and :meth:`detr_encode` are normalised with."""
        self._input = StudentInput(student_input, self.model)
        return self

    @property
    def student_input(self) -> InputSpec | None:
        """The student's input spec given to :meth:`attach`; ``None`` before."""
        return None if self._input is None else self._input.spec

    def _student(self) -> StudentInput:
        if self._input is None:
            raise RuntimeError(
                "Teacher: the student's input spec is unknown; call teacher.attach("
                "InputSpec.of(student)) (distilling meta-architectures do it when built)"
            )
        return self._input

    def in_teacher_format(self, image: torch.Tensor) -> torch.Tensor:
        """One raw ``(3, H, W)`` image in the student's channel order, in the teacher's."""
        return self._student().image(image)

    def prepare_images(
        self, images: torch.Tensor, image_sizes: list[tuple[int, int]]
    ) -> torch.Tensor:
        """The student's ``(B, 3, H, W)`` normalised, zero-padded batch (unpadded sizes
        ``image_sizes``) as the teacher's ``(B, 3, H', W')`` input:
        :meth:`.inputs.StudentInput.batch`."""
        return self._student().batch(images, image_sizes)

    # --- precision and layout -----------------------------------------------------------------
    def precision(self):
        """The autocast context of the teacher's forward: none for ``dtype=None``, autocast
        off for ``"fp32"``, on with the half dtype otherwise."""
        return autocast_for(self.dtype, self.device)

    @property
    def uses_channels_last(self) -> bool:
        """Whether the teacher runs channels-last (``channels_last``, or its default from
        ``dtype``)."""
        return runs_channels_last(self.dtype, self.channels_last)

    def _teacher_input(self, images: torch.Tensor, image_sizes: list[tuple[int, int]]):
        """The student's batch as the teacher's input, in the teacher's layout."""
        x = self.prepare_images(images, image_sizes)
        return input_layout(x, self.uses_channels_last)

    # --- running ------------------------------------------------------------------------------
    @torch.no_grad()
    def features(
        self, images: torch.Tensor, image_sizes: list[tuple[int, int]], names: Iterable[str]
    ) -> dict[str, torch.Tensor]:
        """Run the teacher backbone (and neck) only, returning the requested named features.

        Args:
            images: the student's preprocessed ``(B, 3, H, W)`` batch.
            image_sizes: unpadded size of each image.
            names: feature names, e.g. ``("p3", "res4")``.

        Returns:
            ``{name: (B, C, H_l, W_l)}``, detached, fp32 whatever ``dtype`` the forward ran in.
        """
        self.ready_model()
        x = self._teacher_input(images, image_sizes)
        with self.precision():
            return backbone_features(self.backbone, x, names)
