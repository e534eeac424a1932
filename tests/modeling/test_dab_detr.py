"""relkd's DAB-DETR: matcher and set loss on hand-made values, training step, inference
coordinates and COCOEvaluator."""

import math

import pytest
import torch
from detectron2.modeling.backbone import BasicStem, ResNet
from detectron2.structures import Boxes, Instances

from relkd.modeling import DABDETR, HungarianMatcher, SetCriterion, resnet_stages
from relkd.modeling.dab_detr import assign, focal_class_cost


def tiny_kwargs(depth=18, num_decoder_layers=3, num_queries=12, seed=0, **kw) -> dict:
    """Constructor arguments of a tiny DAB-DETR (its backbone built with ``seed``)."""
    torch.manual_seed(seed)
    backbone = ResNet(
        BasicStem(3, 8, norm="BN"), resnet_stages(depth, 8, norm="BN"), out_features=["res4"]
    )
    args = dict(
        backbone=backbone,
        in_feature="res4",
        num_classes=10,
        pixel_mean=(100.0, 110.0, 120.0),
        pixel_std=(50.0, 50.0, 50.0),
        d_model=32,
        nhead=4,
        num_encoder_layers=2,
        num_decoder_layers=num_decoder_layers,
        dim_feedforward=64,
        num_queries=num_queries,
    )
    args.update(kw)
    return args


def tiny_detr(**kw) -> DABDETR:
    return DABDETR(**tiny_kwargs(**kw))


def tiny_inputs(n=2, size=64, boxes=((4.0, 6.0, 30.0, 40.0), (33.0, 20.0, 60.0, 50.0))):
    g = torch.Generator().manual_seed(1)
    out = []
    for i in range(n):
        inst = Instances((size, size))
        inst.gt_boxes = Boxes(torch.tensor(boxes[: i + 1]).reshape(-1, 4))
        inst.gt_classes = torch.arange(i + 1) + 2
        image = torch.rand(3, size, size, generator=g) * 255
        out.append({"image": image, "instances": inst, "height": size, "width": size})
    return out


# --- matcher --------------------------------------------------------------------------------
def test_assign_finds_the_optimum_where_greedy_fails():
    # greedy (cheapest first) takes (0, 0) then (1, 1): 101; the optimum is 3.5
    rows, cols = assign(torch.tensor([[1.0, 2.0], [1.5, 100.0]]))
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]


def test_focal_class_cost_hand_value():
    # p = 0.5: pos = 0.25 * 0.25 * ln 2, neg = 0.75 * 0.25 * ln 2
    cost = focal_class_cost(torch.zeros(1, 3), torch.tensor([2]))
    assert cost.item() == pytest.approx(-0.125 * math.log(2), rel=1e-5)


def test_matcher_recovers_a_permutation_and_handles_empty_targets():
    boxes = torch.tensor([[[0.2, 0.2, 0.1, 0.1], [0.5, 0.5, 0.3, 0.2], [0.8, 0.3, 0.2, 0.4]]])
    logits = torch.full((1, 3, 4), -5.0)
    logits[0, [0, 1, 2], [1, 3, 0]] = 5.0
    perm = [2, 0, 1]  # target j is prediction perm[j]
    targets = [{"labels": torch.tensor([0, 1, 3]), "boxes": boxes[0, perm]}]
    ((pred, gt),) = HungarianMatcher()(logits, boxes, targets)
    assert dict(zip(gt.tolist(), pred.tolist())) == {0: 2, 1: 0, 2: 1}
    empty = [{"labels": torch.zeros(0, dtype=torch.long), "boxes": torch.zeros(0, 4)}]
    ((pred, gt),) = HungarianMatcher()(logits, boxes, empty)
    assert len(pred) == len(gt) == 0


# --- set loss -------------------------------------------------------------------------------
def test_set_loss_without_targets_is_focal_on_negatives_only():
    crit = SetCriterion(3, HungarianMatcher())
    logits = torch.zeros(2, 1, 4, 3, requires_grad=True)  # L=2 layers, B=1, N=4, K=3
    boxes = torch.full((2, 1, 4, 4), 0.5, requires_grad=True)
    empty = [{"labels": torch.zeros(0, dtype=torch.long), "boxes": torch.zeros(0, 4)}]
    out = crit(logits, boxes, empty)
    assert set(out) == {f"loss_{t}{s}" for t in ("class", "bbox", "giou") for s in ("", "_0")}
    # every logit a negative at p = 0.5: alpha_t 0.75, (1 - p_t)^2 = 0.25, CE ln 2; / max(0, 1)
    assert out["loss_class"].item() == pytest.approx(12 * 0.75 * 0.25 * math.log(2), rel=1e-5)
    assert out["loss_bbox"].item() == 0 and out["loss_giou"].item() == 0
    sum(out.values()).backward()  # the box terms stay in the graph
    assert boxes.grad is not None


def test_set_loss_of_a_perfect_box_and_a_shifted_one():
    crit = SetCriterion(2, HungarianMatcher(), class_weight=0.0)
    gt = torch.tensor([[0.3, 0.3, 0.2, 0.2], [0.7, 0.7, 0.2, 0.2]])
    pred = torch.tensor([[[[0.3, 0.3, 0.2, 0.2], [0.7, 0.8, 0.2, 0.2]]]])
    logits = torch.tensor([[[[5.0, -5.0], [-5.0, 5.0]]]])
    out = crit(logits, pred, [{"labels": torch.tensor([0, 1]), "boxes": gt}])
    # one box off by 0.1 in y: L1 0.1 x weight 5 / 2 boxes; IoU 0.1/0.3... computed below
    assert out["loss_bbox"].item() == pytest.approx(5 * 0.1 / 2, rel=1e-5)
    inter, union = 0.2 * 0.1, 2 * 0.04 - 0.2 * 0.1
    enclose = 0.2 * 0.3
    giou = inter / union - (enclose - union) / enclose
    assert out["loss_giou"].item() == pytest.approx(2 * (1 - giou) / 2, rel=1e-4)


# --- the detector ---------------------------------------------------------------------------
def test_training_step_losses_and_gradients():
    model = tiny_detr().train()
    losses = model(tiny_inputs())
    expected = {f"loss_{t}{s}" for t in ("class", "bbox", "giou") for s in ("", "_0", "_1")}
    assert set(losses) == expected
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    for i, layer in enumerate(model.decoder.layers):
        assert all(p.grad is not None for p in layer.parameters()), i
        assert layer.ca_qc.weight.grad.abs().sum() > 0, i
    assert model.refpoint_embed.weight.grad.abs().sum() > 0
    assert model.backbone.stem.conv1.weight.grad.abs().sum() > 0


def test_invalid_arguments_name_the_value():
    with pytest.raises(ValueError, match="'res5'.*available: \\['res4'\\]"):
        tiny_detr(in_feature="res5")
    with pytest.raises(ValueError, match="d_model=30"):
        tiny_detr(d_model=30)


# Shared anchors take a broadcast path through the decoder, per-image anchors a batched matmul:
# two computations whose float32 sums round differently on some CPUs' kernels (4.8e-7 measured
# on an AMD EPYC). Logits and boxes here are O(1) after three layers of d_model 32, so 1e-5 is
# about 20x that rounding and 4 orders of magnitude below a real anchor mix-up (>= 1e-1).
DECODE_TOL = dict(rtol=1e-5, atol=1e-5)


def _decode_agrees(got: tuple, want: tuple) -> bool:
    return all(torch.allclose(g, w, **DECODE_TOL) for g, w in zip(got, want))


def test_decode_with_shared_or_batched_anchors_agrees():
    model = tiny_detr().eval()
    images = model.preprocess_image(tiny_inputs())
    g = torch.Generator().manual_seed(0)
    per_image = torch.randn(2, 5, 4, generator=g)  # different anchors for the two images
    with torch.no_grad():
        enc = model.encode(images.tensor, images.image_sizes)
        batched = model.decode(enc, per_image)
        # image i of the batched decode is image i of a shared decode with image i's anchors
        shared = [model.decode(enc, per_image[i]) for i in range(2)]
        # a decoder that used the first image's anchors for every image
        first_only = model.decode(enc, per_image[:1].expand(2, -1, -1).clone())
    assert batched[0].shape == (3, 2, 5, 10) and batched[1].shape == (3, 2, 5, 4)
    for i in range(2):
        assert _decode_agrees([x[:, i] for x in batched], [x[:, i] for x in shared[i]]), i
    # the tolerance still tells a real anchor mix-up apart
    assert not _decode_agrees([x[:, 1] for x in first_only], [x[:, 1] for x in shared[1]])


def test_decode_sets_equals_a_decode_per_set_and_needs_its_mask():
    model = tiny_detr().eval()
    images = model.preprocess_image(tiny_inputs())
    g = torch.Generator().manual_seed(0)
    sets = [torch.randn(5, 4, generator=g), torch.randn(2, 7, 4, generator=g)]
    with torch.no_grad():
        enc = model.encode(images.tensor, images.image_sizes)
        together = model.decode_sets(enc, sets)
        apart = [model.decode(enc, a) for a in sets]
        # the same queries in one pass without the mask: the sets attend to each other
        mixed = model.decode(enc, torch.cat([sets[0][None].expand(2, -1, -1), sets[1]], dim=1))
    assert [x[0].shape for x in together] == [(3, 2, 5, 10), (3, 2, 7, 10)]
    for got, want in zip(together, apart):
        assert _decode_agrees(got, want)
    assert not _decode_agrees([x[:, :, :5] for x in mixed], apart[0])


def test_inference_is_in_input_image_coordinates():
    model = tiny_detr().eval()
    inputs = tiny_inputs()
    with torch.no_grad():
        same = model(inputs)
        for x in inputs:
            x["height"], x["width"] = 128, 96  # the original image was larger
        scaled = model(inputs)
    for a, b in zip(same, scaled):
        a, b = a["instances"], b["instances"]
        assert len(a) == 100  # num_detections, out of 12 queries x 10 classes
        assert b.image_size == (128, 96)
        factor = torch.tensor([96 / 64, 128 / 64, 96 / 64, 128 / 64])
        assert torch.allclose(b.pred_boxes.tensor, a.pred_boxes.tensor * factor, atol=1e-4)
        assert torch.equal(a.scores, b.scores) and (a.scores[:-1] >= a.scores[1:]).all()


def test_oracle_outputs_score_100_ap_with_coco_evaluator(tmp_path):
    """Decoder outputs equal to the normalised GT must give AP 100 through COCOEvaluator:
    checks target normalisation, box conversion and rescaling end to end."""
    from detectron2.config import instantiate
    from detectron2.data import DatasetCatalog
    from detectron2.evaluation import COCOEvaluator

    from ..conftest import load_cfg

    cfg = load_cfg("digits/dab_detr_R18_student.py", "dataloader.test.num_workers=0")
    dicts = DatasetCatalog.get("digits_det_val")[:6]
    cfg.dataloader.test.dataset = dicts
    loader = instantiate(cfg.dataloader.test)
    model = tiny_detr(num_queries=12).eval()
    real_decode = model.decode
    batch_gt: list = []

    def oracle(enc, anchors):
        logits, boxes = real_decode(enc, anchors)
        logits, boxes = torch.full_like(logits, -20.0), boxes.clone()
        for b, d in enumerate(batch_gt):
            for q, ann in enumerate(d["annotations"]):
                x, y, w, h = ann["bbox"]  # XYWH_ABS in the 128 x 128 image
                boxes[:, b, q] = torch.tensor([x + w / 2, y + h / 2, w, h]) / 128
                logits[:, b, q, ann["category_id"]] = 20.0
        return logits, boxes

    model.decode = oracle
    evaluator = COCOEvaluator("digits_det_val", output_dir=str(tmp_path))
    evaluator.reset()
    it = iter(dicts)
    with torch.no_grad():
        for inputs in loader:
            batch_gt[:] = [next(it) for _ in inputs]
            evaluator.process(inputs, model(inputs))
    # score only these images (by default COCOEvaluator counts every val image)
    results = evaluator.evaluate(img_ids=[d["image_id"] for d in dicts])
    assert results["bbox"]["AP"] == pytest.approx(100.0, abs=0.5)


@pytest.mark.parametrize("temperature", [20.0, 10000.0])
def test_anchor_and_memory_embeddings_agree_at_pixel_centres(temperature):
    from relkd.modeling.dab_detr.position import anchor_embed, memory_positions

    mask = torch.zeros(1, 4, 8, dtype=torch.bool)
    mask[:, :, 6:] = True  # the image covers 6 of the 8 columns
    pos = memory_positions(mask, 16, temperature).view(4, 8, 32)
    for row, col in ((0, 0), (2, 5), (3, 1)):
        centre = torch.tensor([(col + 1) / 6, (row + 1) / 4, 0.3, 0.2])
        emb = anchor_embed(centre, 16, temperature)
        assert emb.shape == (64,)
        assert torch.allclose(emb[:32], pos[row, col], atol=1e-5), (row, col)
    # the lowest frequency is one period over the image: sin(2 pi x) at x = 1 / 6
    assert pos[0, 0, 0].item() == pytest.approx(math.sin(2 * math.pi * 1 / 6), abs=1e-5)


def _official_sine_hw(mask, num_pos_feats, temperature):
    """IDEA-Research/DAB-DETR 723ddb8, models/DAB_DETR/position_encoding.py,
    PositionEmbeddingSineHW(normalize=True).forward, transcribed: ``(B, 2 F, H, W)``, y's
    channels first."""
    not_mask = ~mask
    y_embed = not_mask.cumsum(1, dtype=torch.float32)
    x_embed = not_mask.cumsum(2, dtype=torch.float32)
    eps, scale = 1e-6, 2 * math.pi
    y_embed = y_embed / (y_embed[:, -1:, :] + eps) * scale
    x_embed = x_embed / (x_embed[:, :, -1:] + eps) * scale
    dim_t = torch.arange(num_pos_feats, dtype=torch.float32)
    dim_t = temperature ** (2 * (dim_t // 2) / num_pos_feats)
    pos_x = x_embed[:, :, :, None] / dim_t
    pos_y = y_embed[:, :, :, None] / dim_t
    pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
    pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
    return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)


@pytest.mark.parametrize("temperature", [20.0, 10000.0])
def test_memory_positions_equal_the_official_code(temperature):
    from relkd.modeling.dab_detr.position import memory_positions

    mask = torch.zeros(2, 5, 7, dtype=torch.bool)
    mask[0, 3:, :] = True  # image 0: 3 rows of 5, all 7 columns
    mask[1, :, 4:] = True  # image 1: 4 columns of 7
    got = memory_positions(mask, 16, temperature)  # (B, H * W, 32): x's 16 channels, then y's
    want = _official_sine_hw(mask, 16, temperature).flatten(2).transpose(1, 2)
    want = torch.cat((want[..., 16:], want[..., :16]), dim=-1)  # the official puts y first
    assert torch.allclose(got, want, atol=1e-5)
    # image 0's first pixel is at y = 1 / 3 (its centre, 0.5 / 3, gives sin(pi / 3) = 0.87)
    assert got[0, 0, 16].item() == pytest.approx(math.sin(2 * math.pi / 3), abs=1e-5)


def test_inverse_sigmoid_clamps_as_the_official_code():
    from relkd.layers.boxes import inverse_sigmoid

    # IDEA-Research/DAB-DETR 723ddb8, util/misc.py, inverse_sigmoid: clamp to [1e-3, 1 - 1e-3]
    x = torch.tensor([0.0, 1e-6, 5e-4, 1e-3, 0.2, 0.5, 1 - 1e-6, 1.0])
    want = torch.log(x.clamp(min=1e-3) / (1 - x).clamp(min=1e-3))
    assert torch.allclose(inverse_sigmoid(x), want)
    assert inverse_sigmoid(torch.tensor(0.0)).item() == pytest.approx(math.log(1e-3), rel=1e-6)


def _decode_recording_layers(model, seed=0):
    """Decode the model's anchors with a non-zero box head; return the decoder's outputs, each
    layer's raw output (before the decoder's final LayerNorm) and the learned anchors."""
    torch.manual_seed(seed)
    torch.nn.init.normal_(model.bbox_embed.layers[-1].weight, std=0.5)  # zero at init
    # the layers end in their own LayerNorm, so the decoder's final norm is the identity until
    # its affine parameters train: give them trained-like values
    torch.nn.init.normal_(model.decoder.norm.weight, mean=1.0, std=0.5)
    torch.nn.init.normal_(model.decoder.norm.bias, std=0.5)
    raw = []
    hooks = [
        layer.register_forward_hook(lambda m, i, o: raw.append(o)) for layer in model.decoder.layers
    ]
    images = model.preprocess_image(tiny_inputs())
    enc = model.encode(images.tensor, images.image_sizes)
    states, boxes = model.decode(enc, model.refpoint_embed.weight)
    for h in hooks:
        h.remove()
    return states, boxes, raw


def test_next_anchor_from_raw_output_and_box_from_undetached_previous_anchor():
    """The official code's two boxes per layer (differences 1 and 2 of relkd's earlier decoder):
    layer l reports sigmoid(bbox(norm(out_l)) + logit(a_l)) with a_0 the learned anchors and
    a_{l+1} = sigmoid(bbox(out_l) + logit(a_l)) from the layer's *un-normalised* output."""
    model = tiny_detr().train()
    _, boxes, raw = _decode_recording_layers(model)
    bbox, norm = model.bbox_embed, model.decoder.norm
    a = model.refpoint_embed.weight.sigmoid()[None].expand(2, -1, -1)
    from relkd.layers.boxes import inverse_sigmoid

    for i, out in enumerate(raw):
        want = (bbox(norm(out)) + inverse_sigmoid(a)).sigmoid()
        # the same operations on the same tensors as the decoder: equal up to nothing but the
        # order autograd-free recomputation might choose, so a tight float32 tolerance
        torch.testing.assert_close(boxes[i], want, rtol=1e-6, atol=1e-6)
        a = (bbox(out) + inverse_sigmoid(a)).sigmoid()
    # with the normalised state for the next anchor the boxes would differ clearly
    wrong = (bbox(norm(raw[0])) + inverse_sigmoid(model.refpoint_embed.weight.sigmoid())).sigmoid()
    wrong_box1 = (bbox(norm(raw[1])) + inverse_sigmoid(wrong)).sigmoid()
    assert (wrong_box1 - boxes[1]).abs().max() > 1e-3


def test_box_loss_of_a_layer_trains_the_previous_layers_refinement():
    """ "Look forward once": layer 1's box gradient reaches the box head through layer 0's
    anchor refinement too (the official code does not detach it for the loss)."""
    model = tiny_detr().train()
    _, boxes, raw = _decode_recording_layers(model)
    w = model.bbox_embed.layers[-1].weight
    (got,) = torch.autograd.grad(boxes[1].sum(), w, retain_graph=True)
    from relkd.layers.boxes import inverse_sigmoid

    bbox, norm = model.bbox_embed, model.decoder.norm
    a0 = model.refpoint_embed.weight.sigmoid().detach()
    out0, out1 = raw[0].detach(), raw[1].detach()  # the layers' states do not depend on w
    a1 = (bbox(out0) + inverse_sigmoid(a0)).sigmoid()
    (both,) = torch.autograd.grad((bbox(norm(out1)) + inverse_sigmoid(a1)).sigmoid().sum(), w)
    a1 = a1.detach()
    (direct,) = torch.autograd.grad((bbox(norm(out1)) + inverse_sigmoid(a1)).sigmoid().sum(), w)
    torch.testing.assert_close(got, both, rtol=1e-5, atol=1e-6)  # two paths summed by autograd
    assert (got - direct).abs().max() > 1e-3 * direct.abs().max()  # the forward path counts
    # and layer 1's box loss reaches the learned anchors through layer 0's refinement
    (g,) = torch.autograd.grad(boxes[1].sum(), model.refpoint_embed.weight)
    assert g.abs().sum() > 0


def test_transformer_weights_have_xavier_init():
    model = tiny_detr()
    for part in (model.encoder, model.decoder):
        for name, p in part.named_parameters():
            if p.dim() < 2:
                continue
            fan_out, fan_in = p.shape[0], p[0].numel()
            xavier = (6 / (fan_in + fan_out)) ** 0.5
            assert p.abs().max() <= xavier + 1e-6, name
            if p.numel() >= 256 and fan_in == fan_out:
                # Linear's default bound is 1/sqrt(fan_in) = xavier / sqrt(3): some weights of
                # a xavier-initialised square matrix lie beyond it (P(none) < 3^-128)
                assert p.abs().max() > fan_in**-0.5, name


def test_memory_and_anchor_temperatures_are_separate_with_official_defaults():
    from relkd.modeling.dab_detr.position import memory_positions

    model = tiny_detr().eval()
    assert model.memory_temperature == 20.0 and model.decoder.temperature == 10000.0
    images = model.preprocess_image(tiny_inputs())
    with torch.no_grad():
        enc = model.encode(images.tensor, images.image_sizes)
    h, w = images.tensor.shape[-2] // 16, images.tensor.shape[-1] // 16  # res4: stride 16
    want = memory_positions(torch.zeros(2, h, w, dtype=torch.bool), 16, 20.0)
    torch.testing.assert_close(enc.pos, want, rtol=0, atol=1e-6)
    other = tiny_detr(anchor_temperature=20.0).eval()
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        a = model.decode(enc, model.refpoint_embed.weight)
        b = other.decode(enc, model.refpoint_embed.weight)
    assert (a[0] - b[0]).abs().max() > 1e-4  # the anchor temperature reaches the logits
