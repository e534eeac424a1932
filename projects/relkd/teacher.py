"""The frozen teacher detector.

``Teacher`` is a plain Python object, deliberately not an ``nn.Module`` child of the student:
detectron2's name-matching checkpoint loader would otherwise see ``backbone.*`` twice, the
trainer's ``model.train()`` would flip it into train mode, and DDP and the optimizer would see
its parameters. The owning meta-architecture moves it along with itself (see ``DistillMixin``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .loading import (  # noqa: F401  (public here too: relkd.teacher.load_strict, ...)
    CheckpointLoadError,
    TeacherLoadError,
    build_model_from_config,
    is_yacs_file,
    load_strict,
    resolve_path,
)
from .utils.features import capture_features, feature_shapes
from .utils.resize import valid_mask

# Teacher(dtype=...): the autocast dtype of the teacher's forward (None: autocast off, fp32)
TEACHER_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _full(x: torch.Tensor) -> torch.Tensor:
    """``x`` in fp32 if an autocast forward left it in half precision."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x


def weights_channels_last(model: nn.Module) -> bool | None:
    """Whether ``model``'s convolution weights are channels-last, read from the first 4-D
    parameter with more than one input channel and a kernel over one pixel (a 1x1 weight is
    NCHW and channels-last at once); ``None`` when no weight tells."""
    for p in model.parameters():
        if p.dim() == 4 and p.shape[1] > 1 and p.shape[2] * p.shape[3] > 1:
            return p.is_contiguous(memory_format=torch.channels_last)
    return None


def _check_weights(config, model: nn.Module | None, weights: str | None, loaded: bool) -> None:
    """Refuse a teacher that would stay random: no ``weights`` and no ``loaded=True``, or
    ``loaded=True`` for a model built here from ``config`` (it cannot hold trained weights)."""
    if not isinstance(loaded, bool):
        raise ValueError(f"Teacher loaded must be True or False, got {loaded!r}")
    if weights is not None and not isinstance(weights, str):
        raise ValueError(f"Teacher weights must be a path or URL string, got {weights!r}")
    if isinstance(config, str):
        source = f"config={config!r}"
    elif config is not None:
        source = "config=<LazyConfig node>"
    else:
        source = f"model={type(model).__name__}"
    if loaded and (weights or config is not None):
        raise ValueError(
            f"Teacher({source}, weights={weights!r}, loaded=True): loaded=True says that an "
            "already-built `model` holds its trained weights; give either `weights` (loaded "
            "by relkd) or `model` with loaded=True"
        )
    if not weights and not loaded:
        raise TeacherLoadError(
            f"Teacher({source}, weights={weights!r}): no teacher weights, so the teacher "
            "would be a random network. Set the trained teacher's checkpoint (LazyConfig: "
            "model.teacher.weights=PATH; yacs: RELKD.TEACHER.WEIGHTS), or, for a model whose "
            "trained weights you loaded yourself, pass Teacher(model=..., loaded=True)"
        )


@dataclass(frozen=True)
class InputSpec:
    """What a detector's input is: the per-channel pixel statistics it normalises with and
    its channel order (``"BGR"``, ``"RGB"``; ``None`` when the model does not say)."""

    pixel_mean: tuple[float, ...]
    pixel_std: tuple[float, ...]
    input_format: str | None = None

    @classmethod
    def of(cls, model: nn.Module) -> InputSpec:
        """The spec of a detectron2 detector (its ``pixel_mean``, ``pixel_std`` buffers and
        ``input_format``)."""
        return cls(
            tuple(model.pixel_mean.flatten().tolist()),
            tuple(model.pixel_std.flatten().tolist()),
            getattr(model, "input_format", None),
        )

    def stats(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, std)`` as ``(3, 1, 1)`` float32 tensors on ``device``."""
        return tuple(
            torch.tensor(v, dtype=torch.float32, device=device).view(-1, 1, 1)
            for v in (self.pixel_mean, self.pixel_std)
        )


class Teacher:
    """A frozen detector that produces named features for distillation.

    Args:
        config: a config file path (relative to the working directory or the relkd
            repository): a LazyConfig ``.py``/``.yaml`` or a detectron2 yacs ``.yaml``; or a
            LazyConfig node, either a full config with a ``model`` entry or the model node.
        weights: checkpoint path or ``DetectionCheckpointer`` URL, loaded strictly by
            :meth:`load`, at the teacher's first use (relkd's training loop calls it before
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

    The teacher knows the student only by its :class:`InputSpec`, given once with
    :meth:`attach` (the distilling meta-architecture does it at construction): the student's
    batches are re-normalised into the teacher's input from it.
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
        if (config is None) == (model is None):
            raise ValueError("Teacher needs exactly one of `config` or `model`")
        _check_weights(config, model, weights, loaded)
        if dtype is not None and dtype not in TEACHER_DTYPES:
            raise ValueError(
                f"Teacher dtype must be None or one of {sorted(TEACHER_DTYPES)}, got {dtype!r}"
            )
        if channels_last is not None and not isinstance(channels_last, bool):
            raise ValueError(
                f"Teacher channels_last must be None, True or False, got {channels_last!r}"
            )
        self.model = model if model is not None else build_model_from_config(config)
        self.weights = weights or ""
        self.dtype = dtype
        self.channels_last = channels_last
        self._pending = bool(weights)  # weights not loaded yet
        self.model.eval()
        self.model.requires_grad_(False)
        self.student_input: InputSpec | None = None
        self._student_stats: tuple[torch.Tensor, torch.Tensor] | None = None

    def attach(self, student_input: InputSpec) -> Teacher:
        """Take the student's input spec: what the batches given to :meth:`features`,
        :meth:`prepare_images` and :meth:`detr_encode` are normalised with."""
        self.student_input = student_input
        self._student_stats = student_input.stats(self.device)
        # the teacher's statistics are config, not loaded weights (relkd.loading): fixed here
        self._same_input = student_input == InputSpec.of(self.model)
        return self

    def load(self) -> Teacher:
        """Load the weights (strictly, raising :class:`TeacherLoadError`) unless done already."""
        if self._pending:
            load_strict(self.model, self.weights)
            self._pending = False
        return self

    @property
    def loaded(self) -> bool:
        """Whether the teacher holds its checkpoint's weights (or was given a built model)."""
        return not self._pending

    # --- properties of the teacher's own preprocessing -----------------------------------------
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
        if self._student_stats is not None and self._student_stats[0].device != self.device:
            self._student_stats = tuple(t.to(self.device) for t in self._student_stats)
        return self

    def _spec(self) -> InputSpec:
        if self.student_input is None:
            raise RuntimeError(
                "Teacher: the student's input spec is unknown; call teacher.attach("
                "InputSpec.of(student)) (distilling meta-architectures do it when built)"
            )
        return self.student_input

    # --- running -------------------------------------------------------------------------------
    def precision(self):
        """The autocast context of the teacher's forward: none for ``dtype=None``, autocast
        off for ``"fp32"``, on with the half dtype otherwise."""
        if self.dtype is None:
            return contextlib.nullcontext()
        half = TEACHER_DTYPES[self.dtype]
        return torch.autocast(self.device.type, dtype=half, enabled=half is not None)

    @property
    def uses_channels_last(self) -> bool:
        """Whether the teacher runs channels-last (``channels_last``, or its default from
        ``dtype``)."""
        if self.channels_last is None:
            return TEACHER_DTYPES.get(self.dtype) is not None
        return self.channels_last

    def frozen_model(self) -> nn.Module:
        """The teacher model with its weights loaded, put back into eval mode if a caller
        flipped it, its convolution weights in the layout of :attr:`uses_channels_last`."""
        self.load()
        if self.model.training:
            self.model.eval()
        current, want = weights_channels_last(self.model), self.uses_channels_last
        if current is not None and current != want:
            # the weights' layout is read, not remembered: a model shared by two Teachers
            # (or converted by its caller) is put into this one's layout before each run
            fmt = torch.channels_last if want else torch.contiguous_format
            self.model.to(memory_format=fmt)
        return self.model

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        """The teacher's input ``(B, 3, H, W)`` in the teacher's layout."""
        return x.contiguous(memory_format=torch.channels_last) if self.uses_channels_last else x

    def in_teacher_format(self, image: torch.Tensor) -> torch.Tensor:
        """One raw ``(3, H, W)`` image in the student's channel order, in the teacher's."""
        student = self._spec().input_format
        if getattr(self.model, "input_format", student) != student:
            return image.flip(0)  # RGB <-> BGR
        return image

    def prepare_images(
        self, images: torch.Tensor, image_sizes: list[tuple[int, int]]
    ) -> torch.Tensor:
        """Turn the student's normalised, padded batch into the teacher's input.

        Args:
            images: ``(B, 3, H, W)`` normalised with the attached student input spec,
                zero-padded.
            image_sizes: the unpadded ``(h, w)`` of each image.

        Returns:
            ``(B, 3, H', W')`` normalised with the teacher's statistics and format, zero outside
            each image, padded to the teacher's size divisibility.
        """
        t, spec = self.model, self._spec()
        x = images
        if not self._same_input:
            mean, std = self._student_stats
            x = x * std + mean
            if getattr(t, "input_format", None) != spec.input_format:
                x = x.flip(1)  # RGB <-> BGR
            x = (x - t.pixel_mean) / t.pixel_std
            x = x * valid_mask(image_sizes, x.shape[-2], x.shape[-1], x.device)[:, None]
        div = self.backbone.size_divisibility
        square = getattr(self.backbone, "padding_constraints", {}).get("square_size", 0)
        h, w = x.shape[-2:]
        if div > 1:
            h, w = -(-h // div) * div, -(-w // div) * div
        if square:
            h, w = max(h, square), max(w, square)
        if (h, w) != tuple(x.shape[-2:]):
            x = F.pad(x, (0, w - x.shape[-1], 0, h - x.shape[-2]))
        return x

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
        self.frozen_model()
        x = self._layout(self.prepare_images(images, image_sizes))
        with self.precision():
            feats = capture_features(self.backbone, x, list(names))
        return {k: _full(v).contiguous() for k, v in feats.items()}

    # --- DETR teachers: encoder and decoder passes (KD-DETR) ---------------------------------
    @torch.no_grad()
    def detr_encode(self, images: torch.Tensor, image_sizes: list[tuple[int, int]]):
        """The teacher DETR's encoder output for the student's preprocessed batch (in the
        teacher's precision: it only feeds :meth:`detr_decode`)."""
        model = self.frozen_model()
        x = self._layout(self.prepare_images(images, image_sizes))
        with self.precision():
            return model.encode(x, image_sizes)

    @torch.no_grad()
    def detr_decode(self, encoded, anchors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The teacher DETR's decoder pass from ``anchors`` (``(Q, 4)`` logit-space boxes):
        ``logits (L, B, Q, K)`` and ``boxes (L, B, Q, 4)``, fp32."""
        with self.precision():
            logits, boxes = self.frozen_model().decode(encoded, anchors)
        return _full(logits), _full(boxes)

    @torch.no_grad()
    def detr_decode_sets(
        self, encoded, anchor_sets: list[torch.Tensor]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """:meth:`detr_decode` of each anchor set, in one decoder pass (``DABDETR.decode_sets``),
        fp32."""
        with self.precision():
            outs = self.frozen_model().decode_sets(encoded, anchor_sets)
        return [(_full(logits), _full(boxes)) for logits, boxes in outs]

    def detr_anchors(self) -> torch.Tensor:
        """The teacher DETR's learned anchors, ``(Q, 4)``, detached."""
        return self.model.refpoint_embed.weight.detach()
