"""``DABDETR``: DAB-DETR built from detectron2 parts, with separate encode and decode calls.
Its training targets are built by ``targets.py``, its detections by ``postprocess.py``."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from detectron2.layers import ShapeSpec
from detectron2.modeling import Backbone
from detectron2.structures import ImageList, Instances
from torch import nn

from ...utils.resize import valid_mask
from .blocks import MLP
from .checks import check_arguments
from .criterion import SetCriterion
from .matcher import HungarianMatcher
from .memory import EncoderOutput
from .position import memory_positions
from .postprocess import detections
from .targets import detr_targets
from .transformer import AnchorDecoder, Encoder


class DABDETR(nn.Module):
    """DAB-DETR (Liu et al., ICLR 2022) on one backbone feature map.

    Training returns DETR's set losses on every decoder layer; inference returns detectron2
    ``Instances`` in input-image coordinates (so ``COCOEvaluator`` works).

    Args:
        backbone: a detectron2 backbone (e.g. ``ResNet`` with ``out_features=[in_feature]``).
        in_feature: the single feature map used (``"res5"`` for the papers' C5 models).
        num_classes: K; the head has K sigmoid logits, no background.
        pixel_mean, pixel_std: input normalisation.
        d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout,
            activation: transformer sizes (DAB-DETR: 256, 8, 6, 6, 2048, 0.0, "prelu").
        num_queries: learned anchor queries (300).
        modulate_hw: width/height-modulated cross-attention.
        criterion: the set loss; default DAB-DETR's (focal 1, L1 5, GIoU 2; costs 2, 5, 2).
        aux_loss: losses on every decoder layer, not only the last.
        num_detections: detections kept per image at inference (top scores over queries x
            classes).
        input_format: ``"BGR"`` or ``"RGB"``.
        memory_temperature: temperature of the memory positions' sine embedding (the official
            code's 20).
        anchor_temperature: temperature of the anchor queries' sine embedding (the official
            code's 10000).
    """

    def __init__(
        self,
        *,
        backbone: Backbone,
        in_feature: str = "res5",
        num_classes: int,
        pixel_mean: tuple[float, float, float],
        pixel_std: tuple[float, float, float],
        d_model: int = 256,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.0,
        activation: str = "prelu",
        num_queries: int = 300,
        modulate_hw: bool = True,
        criterion: SetCriterion | None = None,
        aux_loss: bool = True,
        num_detections: int = 100,
        input_format: str = "BGR",
        memory_temperature: float = 20.0,
        anchor_temperature: float = 10000.0,
    ):
        super().__init__()
        shapes = backbone.output_shape()
        check_arguments(shapes, in_feature, d_model, nhead)
        self.backbone = backbone
        self.in_feature = in_feature
        self.num_classes = num_classes
        self.input_format = input_format
        self.num_detections = num_detections
        self.aux_loss = aux_loss
        self.d_model, self.nhead = d_model, nhead
        self.input_proj = nn.Conv2d(shapes[in_feature].channels, d_model, kernel_size=1)
        self.encoder = Encoder(
            d_model, nhead, dim_feedforward, dropout, activation, num_encoder_layers
        )
        self.decoder = AnchorDecoder(
            d_model,
            nhead,
            dim_feedforward,
            dropout,
            activation,
            num_decoder_layers,
            modulate_hw,
            anchor_temperature,
        )
        self.memory_temperature = memory_temperature
        self.refpoint_embed = nn.Embedding(num_queries, 4)
        self.class_embed = nn.Linear(d_model, num_classes)
        self.bbox_embed = MLP(d_model, d_model, 4, 3)
        self.criterion = criterion or SetCriterion(num_classes, HungarianMatcher())
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        self._init_heads()

    def _init_heads(self) -> None:
        prior = 0.01
        nn.init.constant_(self.class_embed.bias, -math.log((1 - prior) / prior))
        last = self.bbox_embed.layers[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        nn.init.xavier_uniform_(self.input_proj.weight)
        nn.init.zeros_(self.input_proj.bias)

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    @property
    def num_queries(self) -> int:
        return self.refpoint_embed.num_embeddings

    def output_shape(self) -> dict[str, ShapeSpec]:
        return self.backbone.output_shape()

    # --- the two halves of the transformer ----------------------------------------------------
    def encode(self, images: torch.Tensor, image_sizes: list[tuple[int, int]]) -> EncoderOutput:
        """Backbone, input projection and encoder.

        Args:
            images: ``(B, 3, H, W)`` normalised, zero-padded batch.
            image_sizes: unpadded ``(h, w)`` per image.
        """
        feat = self.backbone(images)[self.in_feature]
        h, w = feat.shape[-2:]
        # the padding at the memory's resolution, built on the host from the image sizes, so
        # that asking whether any key is padding (attention takes no mask otherwise) does not
        # make the host wait for the device
        pad = ~valid_mask(image_sizes, images.shape[-2], images.shape[-1], "cpu")
        pad = F.interpolate(pad[:, None].float(), size=(h, w)).bool()[:, 0]
        any_pad = bool(pad.any())
        pad = pad.to(feat.device)
        pos = memory_positions(pad, self.d_model // 2, self.memory_temperature).to(feat.dtype)
        src = self.input_proj(feat).flatten(2).transpose(1, 2)
        pad_mask = pad.flatten(1) if any_pad else None
        return EncoderOutput(self.encoder(src, pos, pad_mask), pos, pad_mask)

    def decode(
        self, enc: EncoderOutput, anchors: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the decoder on ``anchors`` with zero content queries.

        Args:
            enc: the encoder output.
            anchors: ``(N, 4)`` (shared by the batch) or ``(B, N, 4)`` unsigmoided cxcywh.

        Returns:
            ``logits (L, B, N, K)`` and ``boxes (L, B, N, 4)`` (sigmoided cxcywh), one per
            decoder layer.
        """
        b = enc.memory.shape[0]
        if anchors.dim() == 2:
            anchors = anchors[None].expand(b, -1, -1)
        states, boxes = self.decoder(
            enc.memory, enc.pos, enc.pad_mask, anchors, self.bbox_embed, enc.cache
        )
        return self.class_embed(states), boxes

    def decode_sets(
        self, enc: EncoderOutput, anchor_sets: list[torch.Tensor]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """:meth:`decode` of each anchor set, in one decoder pass: the sets are concatenated
        along the queries and kept apart in self-attention, so each set's output is the one
        its own pass gives (up to float rounding), with fewer, larger operations.

        Args:
            enc: the encoder output.
            anchor_sets: each ``(N_i, 4)`` or ``(B, N_i, 4)`` unsigmoided cxcywh.

        Returns:
            per set, ``logits (L, B, N_i, K)`` and ``boxes (L, B, N_i, 4)``.
        """
        b = enc.memory.shape[0]
        sets = [a[None].expand(b, -1, -1) if a.dim() == 2 else a for a in anchor_sets]
        sizes = [a.shape[1] for a in sets]
        states, boxes = self.decoder(
            enc.memory,
            enc.pos,
            enc.pad_mask,
            torch.cat(sets, dim=1),
            self.bbox_embed,
            enc.cache,
            group_sizes=sizes,
        )
        logits = self.class_embed(states)
        return list(zip(logits.split(sizes, dim=2), boxes.split(sizes, dim=2)))

    # --- detectron2 interface ------------------------------------------------------------------
    def preprocess_image(self, batched_inputs: list[dict]) -> ImageList:
        images = [
            (x["image"].to(self.device) - self.pixel_mean) / self.pixel_std for x in batched_inputs
        ]
        return ImageList.from_tensors(images, self.backbone.size_divisibility)

    def forward(self, batched_inputs: list[dict]):
        images = self.preprocess_image(batched_inputs)
        enc = self.encode(images.tensor, images.image_sizes)
        logits, boxes = self.decode(enc, self.refpoint_embed.weight)
        if self.training:
            gt = [x["instances"].to(self.device) for x in batched_inputs]
            return self.forward_training(images, enc, (logits, boxes), gt)
        return self.inference(logits[-1], boxes[-1], images.image_sizes, batched_inputs)

    def forward_training(
        self, images: ImageList, enc: EncoderOutput, outputs: tuple, gt_instances: list[Instances]
    ) -> dict[str, torch.Tensor]:
        """Set losses; subclasses add terms (see ``DistillDABDETR``)."""
        logits, boxes = outputs
        if not self.aux_loss:
            logits, boxes = logits[-1:], boxes[-1:]
        return self.criterion(logits, boxes, self.targets(gt_instances, images.image_sizes))

    # ``{"labels", "boxes"}`` per image, boxes cxcywh normalised by the image size
    targets = staticmethod(detr_targets)

    def inference(self, logits, boxes, image_sizes, batched_inputs) -> list[dict]:
        """Top-scoring (query, class) pairs per image as detectron2 ``Instances``.

        Args:
            logits: ``(B, N, K)``; boxes: ``(B, N, 4)`` sigmoided cxcywh.
        """
        return detections(
            logits, boxes, image_sizes, batched_inputs, self.num_classes, self.num_detections
        )
