"""FGD's masks, attentions and loss against a transcription of the official code, and by hand
(docs/methods.md, "FGD")."""

import pytest
import torch
import torch.nn.functional as F

from relkd.layers import GlobalContext
from relkd.losses.fgd import (
    fgd_attention,
    fgd_attention_loss,
    fgd_feature_loss,
    fgd_global_loss,
    fgd_loss,
    fgd_masks,
    fgd_parts,
)

RETINANET = {"alpha": 1e-3, "beta": 5e-4, "gamma": 5e-4, "lambda_": 5e-6}
FASTER_RCNN = {"alpha": 5e-5, "beta": 2.5e-5, "gamma": 5e-5, "lambda_": 5e-7}


# --- a transcription of the official code ---------------------------------------------------
# yzd-v/FGD, commit c03a6cf3b3cb3cbfd5554dbf4766e7135747d22d, mmdet/distillation/losses/fgd.py,
# FeatureLoss.forward and the methods it calls, in plain torch: the GcBlocks' convs and
# LayerNorm are applied through torch.nn.functional with the weights of relkd's GlobalContext
# modules, and img_metas is reduced to each image's img_shape (h, w).


def _official_attention(preds, temp):
    n, c, h, w = preds.shape
    value = torch.abs(preds)
    fea_map = value.mean(axis=1, keepdim=True)
    s_attention = (h * w * F.softmax((fea_map / temp).view(n, -1), dim=1)).view(n, h, w)
    channel_map = value.mean(axis=2, keepdim=False).mean(axis=2, keepdim=False)
    c_attention = c * F.softmax(channel_map / temp, dim=1)
    return s_attention, c_attention


def _official_masks(s_attention_t, gt_bboxes, img_shapes, h, w):
    mask_fg = torch.zeros_like(s_attention_t)
    mask_bg = torch.ones_like(s_attention_t)
    wmin, wmax, hmin, hmax = [], [], [], []
    for i in range(len(gt_bboxes)):
        new = torch.ones_like(gt_bboxes[i])
        new[:, 0] = gt_bboxes[i][:, 0] / img_shapes[i][1] * w
        new[:, 2] = gt_bboxes[i][:, 2] / img_shapes[i][1] * w
        new[:, 1] = gt_bboxes[i][:, 1] / img_shapes[i][0] * h
        new[:, 3] = gt_bboxes[i][:, 3] / img_shapes[i][0] * h
        wmin.append(torch.floor(new[:, 0]).int())
        wmax.append(torch.ceil(new[:, 2]).int())
        hmin.append(torch.floor(new[:, 1]).int())
        hmax.append(torch.ceil(new[:, 3]).int())
        area = (
            1.0
            / (hmax[i].view(1, -1) + 1 - hmin[i].view(1, -1))
            / (wmax[i].view(1, -1) + 1 - wmin[i].view(1, -1))
        )
        for j in range(len(gt_bboxes[i])):
            rows = slice(int(hmin[i][j]), int(hmax[i][j]) + 1)
            cols = slice(int(wmin[i][j]), int(wmax[i][j]) + 1)
            mask_fg[i][rows, cols] = torch.maximum(mask_fg[i][rows, cols], area[0][j])
        mask_bg[i] = torch.where(mask_fg[i] > 0, 0, 1)
        if torch.sum(mask_bg[i]):
            mask_bg[i] /= torch.sum(mask_bg[i])
    return mask_fg, mask_bg


def _official_fea_loss(preds_s, preds_t, mask_fg, mask_bg, c_t, s_t):
    loss_mse = torch.nn.MSELoss(reduction="sum")
    mask_fg = mask_fg.unsqueeze(dim=1)
    mask_bg = mask_bg.unsqueeze(dim=1)
    c_t = c_t.unsqueeze(dim=-1).unsqueeze(dim=-1)
    s_t = s_t.unsqueeze(dim=1)
    fea_t = torch.mul(torch.mul(preds_t, torch.sqrt(s_t)), torch.sqrt(c_t))
    fg_fea_t = torch.mul(fea_t, torch.sqrt(mask_fg))
    bg_fea_t = torch.mul(fea_t, torch.sqrt(mask_bg))
    fea_s = torch.mul(torch.mul(preds_s, torch.sqrt(s_t)), torch.sqrt(c_t))
    fg_fea_s = torch.mul(fea_s, torch.sqrt(mask_fg))
    bg_fea_s = torch.mul(fea_s, torch.sqrt(mask_bg))
    return (
        loss_mse(fg_fea_s, fg_fea_t) / len(mask_fg),
        loss_mse(bg_fea_s, bg_fea_t) / len(mask_bg),
    )


def _official_mask_loss(c_s, c_t, s_s, s_t):
    return torch.sum(torch.abs(c_s - c_t)) / len(c_s) + torch.sum(torch.abs(s_s - s_t)) / len(s_s)


def _official_spatial_pool(x, block):
    batch, channel, width, height = x.size()
    input_x = x.view(batch, channel, height * width).unsqueeze(1)
    context_mask = F.conv2d(x, block.conv_mask.weight, block.conv_mask.bias)
    context_mask = F.softmax(context_mask.view(batch, 1, height * width), dim=2).unsqueeze(-1)
    return torch.matmul(input_x, context_mask).view(batch, channel, 1, 1)


def _official_channel_add(context, block):
    conv1, norm, _, conv2 = block.channel_add
    y = F.conv2d(context, conv1.weight, conv1.bias)
    y = F.layer_norm(y, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
    return F.conv2d(F.relu(y), conv2.weight, conv2.bias)


def _official_rela_loss(preds_s, preds_t, block_s, block_t):
    out_s = preds_s + _official_channel_add(_official_spatial_pool(preds_s, block_s), block_s)
    out_t = preds_t + _official_channel_add(_official_spatial_pool(preds_t, block_t), block_t)
    return torch.nn.MSELoss(reduction="sum")(out_s, out_t) / len(out_s)


def _official_fgd(preds_s, preds_t, gt_bboxes, img_shapes, block_s, block_t, temp, weights):
    """FeatureLoss.forward (no align: equal widths); also returns its four parts."""
    n, c, h, w = preds_s.shape
    s_attention_t, c_attention_t = _official_attention(preds_t, temp)
    s_attention_s, c_attention_s = _official_attention(preds_s, temp)
    mask_fg, mask_bg = _official_masks(s_attention_t, gt_bboxes, img_shapes, h, w)
    fg_loss, bg_loss = _official_fea_loss(
        preds_s, preds_t, mask_fg, mask_bg, c_attention_t, s_attention_t
    )
    mask_loss = _official_mask_loss(c_attention_s, c_attention_t, s_attention_s, s_attention_t)
    rela_loss = _official_rela_loss(preds_s, preds_t, block_s, block_t)
    loss = (
        weights["alpha"] * fg_loss
        + weights["beta"] * bg_loss
        + weights["gamma"] * mask_loss
        + weights["lambda_"] * rela_loss
    )
    parts = {"fg": fg_loss, "bg": bg_loss, "attention": mask_loss, "global": rela_loss}
    return loss, parts


# --- the random case ------------------------------------------------------------------------


def _case(seed=0):
    """Three images on a 10x12 map: overlapping boxes (one nested, one at the image's edge) in
    images of sizes that do not divide the map's, one box, and no box."""
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(3, 6, 10, 12, generator=g, dtype=torch.float64)
    t = torch.randn(3, 6, 10, 12, generator=g, dtype=torch.float64) * 1.5 + 0.2
    boxes = [
        torch.tensor([[3.2, 5.0, 41.7, 30.1], [10.0, 12.5, 20.3, 22.0], [30.0, 40.0, 90.0, 75.0]]),
        torch.tensor([[0.0, 0.0, 17.9, 33.3]]),
        torch.zeros(0, 4),
    ]
    sizes = [(75, 90), (80, 96), (64, 70)]
    return s, t, boxes, sizes


def _blocks(c, seed):
    """Student- and teacher-side GcBlocks in float64, every weight random (the last conv too,
    zero-initialised otherwise, so that gradients reach every parameter)."""
    torch.manual_seed(seed)
    blocks = []
    for _ in range(2):
        b = GlobalContext(c).double()
        with torch.no_grad():
            for p in b.parameters():
                p.add_(torch.randn_like(p) * 0.3)
        blocks.append(b)
    return blocks


@pytest.mark.parametrize(
    "temperature, weights", [(0.5, RETINANET), (0.5, FASTER_RCNN), (1.0, RETINANET)]
)
def test_values_and_gradients_equal_the_official_code(temperature, weights):
    s, t, boxes, sizes = _case()
    block_s, block_t = _blocks(6, 1)
    s_ref = s.clone().requires_grad_(True)
    ref, ref_parts = _official_fgd(s_ref, t, boxes, sizes, block_s, block_t, temperature, weights)
    params = [s_ref, *block_s.parameters(), *block_t.parameters()]
    ref_grads = torch.autograd.grad(ref, params)

    s_ours = s.clone().requires_grad_(True)
    fg, bg = fgd_masks(boxes, (10, 12), image_sizes=sizes, dtype=torch.float64)
    args = (s_ours, t, fg, bg, block_s(s_ours), block_t(t))
    ours = fgd_loss(*args, temperature=temperature, **weights)
    grads = torch.autograd.grad(
        ours, [s_ours, *block_s.parameters(), *block_t.parameters()], allow_unused=True
    )
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=0)
    parts = fgd_parts(*args, temperature=temperature)
    for k, v in ref_parts.items():
        torch.testing.assert_close(parts[k], v, rtol=1e-12, atol=0, msg=k)
    names = ["student"] + [f"s.{n}" for n, _ in block_s.named_parameters()]
    names += [f"t.{n}" for n, _ in block_t.named_parameters()]
    for name, a, b in zip(names, grads, ref_grads):
        # the conv_mask biases: the softmax ignores them, their gradients are rounding noise
        atol = 1e-12 if "conv_mask.bias" in name else 1e-14
        assert a is not None, name
        torch.testing.assert_close(a, b, rtol=1e-9, atol=atol, msg=name)
    assert all(v.item() > 0 for v in ref_parts.values())


def test_masks_equal_the_official_code_in_float32():
    s, _, boxes, sizes = _case(3)
    s_attention, _ = _official_attention(s.float(), 0.5)
    ref_fg, ref_bg = _official_masks(s_attention, boxes, sizes, 10, 12)
    fg, bg = fgd_masks(boxes, (10, 12), image_sizes=sizes)
    assert fg.dtype == bg.dtype == torch.float32
    assert torch.equal(fg, ref_fg) and torch.equal(bg, ref_bg)
    # overlaps keep the smaller box's (larger) value, the image without boxes is all background
    assert fg[0].unique().numel() == 4 and fg[2].sum() == 0
    assert bg[2].sum().item() == pytest.approx(1.0) and (bg[2] > 0).all()


# --- by hand ----------------------------------------------------------------------------------


def test_one_box_on_a_4x4_map_by_hand():
    # image 32 x 32 px, map 4 x 4 (8 px per cell); box x 8..16, y 8..24: cells x 1..2 (the
    # right end ceil(2.0) = 2 is included, as the official slice [1:3]), y 1..3
    fg, bg = fgd_masks([torch.tensor([[8.0, 8.0, 16.0, 24.0]])], (4, 4), image_sizes=[(32, 32)])
    expected_fg = torch.zeros(1, 4, 4)
    expected_fg[0, 1:4, 1:3] = 1 / 6
    expected_bg = torch.ones(1, 4, 4) / 10
    expected_bg[0, 1:4, 1:3] = 0
    assert torch.equal(fg, expected_fg)
    torch.testing.assert_close(bg, expected_bg, rtol=0, atol=0)
    # a box inside one cell covers its cell and the next (floor 0, ceil 1)
    fg, _ = fgd_masks([torch.tensor([[1.0, 1.0, 5.0, 5.0]])], (4, 4), image_sizes=[(32, 32)])
    assert torch.equal(fg[0, :2, :2], torch.full((2, 2), 0.25)) and fg.sum() == 1.0


def test_overlapping_boxes_keep_the_larger_value_by_hand():
    boxes = torch.tensor([[0.0, 0.0, 24.0, 24.0], [8.0, 8.0, 16.0, 16.0]])  # 4x4 and 2x2 cells
    fg, bg = fgd_masks([boxes], (4, 4), image_sizes=[(32, 32)])
    expected = torch.full((4, 4), 1 / 16)
    expected[1:3, 1:3] = 1 / 4
    assert torch.equal(fg[0], expected)
    # every cell is covered: the background stays 0 (the official code skips the division)
    assert torch.equal(bg, torch.zeros(1, 4, 4))


def test_empty_image_and_full_image_box():
    fg, bg = fgd_masks(
        [torch.zeros(0, 4), torch.tensor([[0.0, 0.0, 32.0, 32.0]])], (4, 4), stride=8
    )
    assert torch.equal(fg[0], torch.zeros(4, 4)) and torch.equal(bg[0], torch.full((4, 4), 1 / 16))
    # the count includes the row and column past the edge: 1 / (5 * 5)
    torch.testing.assert_close(fg[1], torch.full((4, 4), 1 / 25))
    assert torch.equal(bg[1], torch.zeros(4, 4))


def test_image_scale_stretches_a_small_image_where_stride_scale_does_not():
    # a 16 x 16 image padded to 32 x 32 (map 4 x 4, stride 8), box 0..8
    box = [torch.tensor([[0.0, 0.0, 8.0, 8.0]])]
    by_image, _ = fgd_masks(box, (4, 4), image_sizes=[(16, 16)])  # 8 / 16 * 4 = 2: cells 0..2
    by_stride, _ = fgd_masks(box, (4, 4), stride=8)  # 8 / 8 = 1: cells 0..1
    assert (by_image[0] > 0).sum() == 9 and by_image[0, 0, 0] == pytest.approx(1 / 9)
    assert (by_stride[0] > 0).sum() == 4 and by_stride[0, 0, 0] == 0.25
    # an image that fills the padded batch: both agree
    full, _ = fgd_masks(box, (4, 4), image_sizes=[(32, 32)])
    assert torch.equal(full, by_stride)


def test_attention_by_hand():
    x = torch.ones(2, 3, 4, 5)
    x[:, 1] = -1.0  # the absolute value: still uniform
    spatial, channel = fgd_attention(x, 0.5)
    assert torch.allclose(spatial, torch.ones(2, 4, 5)) and torch.allclose(
        channel, torch.ones(2, 3)
    )
    # one hot position: softmax over the positions of mean_c |x| / T, times H W
    x = torch.zeros(1, 2, 2, 2)
    x[0, :, 0, 0] = 1.0
    spatial, channel = fgd_attention(x, 0.5)
    e = torch.exp(torch.tensor(2.0))  # (1 / 0.5) at the hot position, 0 elsewhere
    assert spatial[0, 0, 0].item() == pytest.approx(4 * e / (e + 3))
    assert channel.tolist() == [[1.0, 1.0]]  # both channels alike


def test_parts_by_hand():
    # uniform attentions (|x| constant): the feature loss is the masked sum of squares / N
    s = torch.ones(2, 2, 2, 2)
    t = -torch.ones(2, 2, 2, 2)  # |t| = 1: the teacher's attentions are all 1
    fg = torch.zeros(2, 2, 2)
    fg[0, 0, 0] = 0.5
    bg = torch.full((2, 2, 2), 0.25)
    st, ct = fgd_attention(t)
    fg_loss, bg_loss = fgd_feature_loss(s, t, fg, bg, st, ct)
    assert fg_loss.item() == pytest.approx(0.5 * 4 * 2 / 2)  # 2 channels, (1 - -1)^2 = 4
    assert bg_loss.item() == pytest.approx(0.25 * 4 * 2 * 8 / 2)
    ss, cs = fgd_attention(s)
    assert fgd_attention_loss(ss, cs, st, ct).item() == 0.0
    assert fgd_global_loss(s, t).item() == pytest.approx(4 * 16 / 2)


def test_half_precision_computes_in_float32():
    s = torch.randn(2, 4, 3, 3).bfloat16()
    t = torch.randn(2, 4, 3, 3)
    fg, bg = fgd_masks([torch.tensor([[0.0, 0.0, 8.0, 8.0]])] * 2, (3, 3), stride=8)
    assert fgd_loss(s, t, fg, bg, s, t).dtype == torch.float32
    assert fgd_attention(s)[0].dtype == torch.float32


def test_errors_name_the_bad_value():
    box = [torch.zeros(0, 4)]
    with pytest.raises(ValueError, match="give exactly one of image_sizes and stride"):
        fgd_masks(box, (2, 2))
    with pytest.raises(ValueError, match="give exactly one of image_sizes and stride"):
        fgd_masks(box, (2, 2), image_sizes=[(8, 8)], stride=4)
    with pytest.raises(ValueError, match="1 images of boxes but 2 image sizes"):
        fgd_masks(box, (2, 2), image_sizes=[(8, 8)] * 2)
    with pytest.raises(ValueError, match="stride must be > 0, got 0"):
        fgd_masks(box, (2, 2), stride=0)
    with pytest.raises(ValueError, match="temperature must be > 0, got 0"):
        fgd_attention(torch.zeros(1, 2, 2, 2), 0)
    with pytest.raises(ValueError, match=r"expected \(N, C, H, W\), got shape \(2, 2, 2\)"):
        fgd_attention(torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match=r"shapes differ, student \(1, 2, 3, 3\) vs teacher"):
        fgd_parts(*[torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 4, 3)] * 3)
    z = torch.zeros(1, 2, 3, 3)
    with pytest.raises(ValueError, match=r"masks \(1, 2, 2\) and \(1, 3, 3\), expected"):
        fgd_feature_loss(z, z, torch.zeros(1, 2, 2), torch.zeros(1, 3, 3), *fgd_attention(z))
