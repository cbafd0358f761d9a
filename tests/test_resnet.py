"""Torch ResNet blocks: the skip/branch gradient split, the plain twin, GN+WS, ResNet-50's configuration."""
import pytest
import torch
import torch.nn.functional as F

from engines.torch_engine.resnet import (BasicBlock, Bottleneck, Conv2dWS, count_params, mnist_resnet, resnet50,
                                         split_by_autograd)

torch.set_num_threads(1)


def _block_backward(block, x, g):
    x = x.detach().requires_grad_(True)  # the block's input as a leaf, as the staged runner keeps it
    y = block(x)
    y.backward(g)
    return x.grad


@pytest.mark.parametrize("norm", ["bn", "gnws", "none"])
@pytest.mark.parametrize("make", [
    lambda norm, skip: BasicBlock(8, 8, 1, norm, skip),
    lambda norm, skip: BasicBlock(4, 8, 2, norm, skip, shortcut="A"),
    lambda norm, skip: BasicBlock(4, 8, 2, norm, skip, shortcut="B"),
    lambda norm, skip: Bottleneck(8, 4, 2, norm, skip),
])
def test_split_matches_autograd_and_sums_to_total(norm, make):
    torch.manual_seed(0)  # the test's own data; engines never seed globally
    block = make(norm, True).double()
    x = torch.randn(2, block.c_in, 6, 6, dtype=torch.float64)
    y = block(x)
    g = torch.randn_like(y)
    gx = _block_backward(block, x, g)
    gs, gb = block.grad_split()
    torch.testing.assert_close(gs + gb, gx, rtol=1e-12, atol=1e-12)
    rs, rb = split_by_autograd(block, x, g)
    torch.testing.assert_close(gs, rs, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gb, rb, rtol=1e-10, atol=1e-12)
    n = block.grad_norms()
    assert n["total"] == pytest.approx(float(gx.norm()), rel=1e-12)
    assert n["skip"] > 0 and n["branch"] > 0


def test_plain_block_has_zero_skip_and_same_parameters():
    torch.manual_seed(0)
    res = BasicBlock(4, 8, 2, "bn", skip=True, shortcut="A").double()
    plain = BasicBlock(4, 8, 2, "bn", skip=False, shortcut="A").double()
    plain.load_state_dict(res.state_dict())  # option A shortcuts have no parameters: the sets are identical
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    g = torch.randn(2, 8, 3, 3, dtype=torch.float64)
    gx = _block_backward(plain, x, g)
    gs, gb = plain.grad_split()
    assert not gs.any()
    torch.testing.assert_close(gb, gx)
    assert plain.grad_norms()["skip"] == 0.0
    # with the same parameters, the plain block is the residual block minus the shortcut
    torch.testing.assert_close(torch.relu(res.shortcut(x) + res.branch(x)), res(x))
    torch.testing.assert_close(torch.relu(res.branch(x)), plain(x))


def test_residual_and_plain_nets_share_init():
    res = mnist_resnet(14, norm="bn", skip=True, generator=torch.Generator().manual_seed(3))
    plain = mnist_resnet(14, norm="bn", skip=False, generator=torch.Generator().manual_seed(3))
    for (k, a), (k2, b) in zip(res.state_dict().items(), plain.state_dict().items()):
        assert k == k2
        assert torch.equal(a, b)
    assert len(res.residual_indices()) == 6  # depth 14 = 6·2 + 2: 3 stages of 2 blocks


def test_net_block_grad_norms_split_in_a_whole_net():
    net = mnist_resnet(8, norm="gnws", generator=torch.Generator().manual_seed(0)).double()
    x = torch.rand(4, 1, 28, 28, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 3])
    F.cross_entropy(net(x), y).backward()
    norms = net.block_grad_norms()
    assert len(norms) == 3 and all(n["total"] > 0 for n in norms)
    for i in net.residual_indices():
        gs, gb = net.blocks[i].grad_split()
        assert gs.shape == gb.shape == net.blocks[i]._x_branch.shape


def test_conv2d_ws_standardizes_weights():
    torch.manual_seed(0)
    conv = Conv2dWS(3, 5, 3, padding=1, bias=False).double()
    with torch.no_grad():
        conv.weight.mul_(7).add_(2)
    x = torch.randn(1, 3, 4, 4, dtype=torch.float64)
    w = conv.weight
    w_hat = (w - w.mean(dim=(1, 2, 3), keepdim=True)) / torch.sqrt(w.var(dim=(1, 2, 3), keepdim=True, unbiased=False) + 1e-5)
    torch.testing.assert_close(conv(x), F.conv2d(x, w_hat, padding=1))
    # scaling or shifting a filter does not change the output (up to eps)
    before = conv(x)
    with torch.no_grad():
        conv.weight.mul_(3.0).add_(1.0)
    torch.testing.assert_close(conv(x), before, rtol=1e-5, atol=1e-5)


def test_resnet50_configuration():
    net = resnet50(n_classes=1000)
    assert count_params(net) == 25_557_032  # torchvision's resnet50
    assert [type(b).__name__ for b in net.blocks].count("Bottleneck") == 16
    gn = resnet50(n_classes=10, norm="gnws")
    assert any(isinstance(m, Conv2dWS) for m in gn.modules())


def test_bad_depth_rejected():
    with pytest.raises(ValueError):
        mnist_resnet(15)
