"""GloRe and InstanceRelation (docs/methods.md, "DRKD")."""

import pytest
import torch

from relkd.layers import GloRe, InstanceRelation


def test_glore_shape_and_identity_with_zero_bn():
    torch.manual_seed(0)
    g = GloRe(16, 4)
    x = torch.randn(2, 16, 5, 7)
    y = g(x)
    assert y.shape == x.shape and not torch.allclose(y, x)
    with torch.no_grad():
        g.bn.weight.zero_()
        g.bn.bias.zero_()
    assert torch.equal(g(x), x)


def glore_as_defined(g, x):
    """The unit in its definition's order, through its own modules: states and projection
    ``(B, 2m, L)``, ``(B, m, L)``, node mixing, state update, back-projection, ``conv_extend``."""
    b, c, h, w = x.shape
    states = g.conv_state(x).flatten(2)
    proj = g.conv_proj(x).flatten(2)
    v = states @ proj.transpose(1, 2)  # (B, 2m, m)
    v = g.node_conv(v.transpose(1, 2)).transpose(1, 2) + v
    z = g.state_conv(torch.relu(v))
    y = (z @ proj).view(b, -1, h, w)
    return x + g.bn(g.conv_extend(y))


# (B, C, H, W, m): maps of at least 2m pixels mix the nodes on V, smaller ones on the projection
# (the last three), each with m below and above C
GLORE_SHAPES = [(2, 6, 5, 7, 3), (1, 4, 9, 2, 8), (3, 5, 1, 1, 2), (2, 6, 2, 2, 3), (2, 4, 3, 3, 8)]


@pytest.mark.parametrize("shape", GLORE_SHAPES)
def test_glore_regrouped_products_equal_the_definition(shape):
    # forward() regroups the products (docs of GloRe.forward); in float64 the two orders agree
    # to rounding, in values and in every gradient
    b, c, h, w, m = shape
    torch.manual_seed(0)
    g = GloRe(c, m).double().train()
    with torch.no_grad():  # non-trivial BN affine and biases
        g.bn.weight.uniform_(0.5, 1.5)
        g.bn.bias.uniform_(-1, 1)
    x = torch.randn(b, c, h, w, dtype=torch.float64, requires_grad=True)
    wanted, got = glore_as_defined(g, x), g(x)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, wanted, rtol=1e-10, atol=1e-10)
    seed = torch.randn_like(wanted)
    inputs = [x, *g.parameters()]
    g_want = torch.autograd.grad((wanted * seed).sum(), inputs)
    g_got = torch.autograd.grad((got * seed).sum(), inputs)
    for a, e in zip(g_got, g_want):
        torch.testing.assert_close(a, e, rtol=1e-9, atol=1e-10)


def test_glore_fp32_inside_bf16_autocast():
    g = GloRe(8, 2)
    x = torch.randn(1, 8, 4, 4, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = g(x)
    assert y.dtype == torch.bfloat16 and torch.isfinite(y.float()).all()


def test_glore_projection_is_reused_on_the_way_back():
    # with 1 node and the state path fixed, the output is rank-1 in the pixels: y ∝ proj
    torch.manual_seed(0)
    g = GloRe(4, 1).eval()
    x = torch.randn(1, 4, 3, 3)
    proj = g.conv_proj(x).flatten(2)  # (1, 1, 9)
    delta = (g(x) - x).flatten(2)  # (1, 4, 9) = BN(conv_extend(z @ proj)), BN affine in eval
    bn = g.bn
    scale = (bn.weight / (bn.running_var + bn.eps).sqrt())[:, None]
    shift = (bn.bias - bn.running_mean * bn.weight / (bn.running_var + bn.eps).sqrt())[:, None]
    core = (delta[0] - shift) / scale  # (4, 9): conv_extend(z) times proj, a rank-1 matrix
    assert torch.linalg.matrix_rank(core, atol=1e-4) == 1
    assert torch.allclose(core / core[:, :1], (proj[0] / proj[0, :, :1]).expand_as(core), atol=1e-3)


@pytest.mark.parametrize("mode", ["code", "none"])
def test_relation_shapes_and_row_sums(mode):
    r = InstanceRelation(18, mode, generator=torch.Generator().manual_seed(0))
    z, a = r(torch.randn(5, 18))
    assert z.shape == (5, 18) and a.shape == (5, 5)
    assert torch.allclose(a.sum(1), torch.ones(5))
    w, b = r.random_filter(5, torch.device("cpu"))
    fm = torch.softmax(torch.randn(5, 18) @ w.t() + b, 1)
    assert fm.shape == (5, 5) and torch.allclose(fm.sum(1), torch.ones(5))
    assert w.abs().max() <= 1 / 18**0.5  # nn.Linear's default init bound 1/sqrt(d)


def test_code_filter_is_fresh_per_call_and_seeded():
    torch.manual_seed(0)
    r = InstanceRelation(12, "code", generator=torch.Generator().manual_seed(1))
    x = torch.randn(4, 12)
    _, a1 = r(x)
    _, a2 = r(x)
    assert not torch.allclose(a1, a2)  # a new random filter every call
    r.generator = torch.Generator().manual_seed(1)
    _, a3 = r(x)
    assert torch.equal(a1, a3)  # same seed, same filter
    none = InstanceRelation(12, "none")
    none.load_state_dict(r.state_dict())
    assert torch.equal(none(x)[1], none(x)[1])


def test_none_filter_is_permutation_equivariant():
    torch.manual_seed(0)
    r = InstanceRelation(10, "none")
    x = torch.randn(6, 10)
    perm = torch.randperm(6)
    z, a = r(x)
    zp, ap = r(x[perm])
    assert torch.allclose(zp, z[perm], atol=1e-6)
    assert torch.allclose(ap, a[perm][:, perm], atol=1e-6)


@pytest.mark.parametrize("mode", ["code", "none"])
def test_filter_gradient_reaches_input(mode):
    # constant similarity logits: without a filter A is uniform whatever x is; the code's filter
    # Fm(x) makes A depend on x, and gradients flow through it (docs/methods.md, "DRKD")
    r = InstanceRelation(8, mode, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for lin in (r.theta, r.phi):
            lin.weight.zero_()
            lin.bias.fill_(1.0)
    x = torch.randn(3, 8, requires_grad=True)
    _, a = r(x)
    a[0, 0].backward()
    if mode == "none":
        assert torch.allclose(a, torch.full((3, 3), 1 / 3)) and torch.count_nonzero(x.grad) == 0
    else:
        assert torch.count_nonzero(x.grad) > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="relation_filter must be one of .* got 'learned'"):
        InstanceRelation(8, "learned")
    with pytest.raises(ValueError, match="num_nodes must be > 0"):
        GloRe(8, 0)


def test_safe_batchnorm_single_value_uses_running_stats():
    from relkd.layers import SafeBatchNorm2d

    bn = SafeBatchNorm2d(3).train()
    bn.running_mean.copy_(torch.tensor([1.0, 2.0, 3.0]))
    bn.running_var.copy_(torch.tensor([4.0, 1.0, 0.25]))
    x = torch.tensor([3.0, 2.0, 4.0]).view(1, 3, 1, 1)
    y = bn(x)  # torch.nn.BatchNorm2d raises here
    expected = (x.view(3) - bn.running_mean) / (bn.running_var + bn.eps).sqrt()
    assert torch.allclose(y.view(3), expected)
    assert bn.num_batches_tracked.item() == 0 and bn.running_mean[0].item() == 1.0
    z = torch.randn(2, 3, 2, 2)
    assert torch.allclose(
        bn(z), torch.nn.functional.batch_norm(z, None, None, bn.weight, bn.bias, True)
    )
    assert bn.num_batches_tracked.item() == 1  # a normal batch still updates the statistics


@pytest.mark.parametrize("mode", ["code", "none"])
def test_grouped_relation_equals_image_by_image(mode):
    # three images of 3, 0 and 4 instances in one pass: the same z and A blocks as calling the
    # module per image (same generator state: the filters' rows are drawn in the same order),
    # no attention across images, and the same gradients
    counts = [3, 0, 4]
    torch.manual_seed(0)
    r = InstanceRelation(10, mode, generator=torch.Generator().manual_seed(5))
    x = torch.randn(7, 10, requires_grad=True)
    z, a = r(x, counts)
    z.pow(2).sum().backward()
    grad, x.grad = x.grad.clone(), None
    r.generator = torch.Generator().manual_seed(5)
    parts = [r(c) for c in x.split(counts) if len(c)]
    z_ref = torch.cat([p[0] for p in parts])
    z_ref.pow(2).sum().backward()
    assert torch.allclose(z, z_ref, atol=1e-5) and torch.allclose(grad, x.grad, atol=1e-5)
    assert torch.allclose(a[:3, :3], parts[0][1], atol=1e-6)
    assert torch.allclose(a[3:, 3:], parts[1][1], atol=1e-6)
    assert a[:3, 3:].abs().max() == 0 and a[3:, :3].abs().max() == 0
    assert torch.allclose(a.sum(1), torch.ones(7))
    with pytest.raises(ValueError, match=r"counts \[3, 3\] sum to 6, not the 7 rows"):
        r(x, [3, 3])
