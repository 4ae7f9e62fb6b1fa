"""Network definitions against torchvision's AlexNet and VGG16 layouts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reconbench.metrics.networks import ConvTrunk, LPIPSNet, min_input_size

# torchvision/models/alexnet.py, AlexNet.features: Conv2d(3, 64, 11, stride 4, padding 2),
# Conv2d(64, 192, 5, padding 2), Conv2d(192, 384, 3, padding 1), Conv2d(384, 256, 3, padding 1),
# Conv2d(256, 256, 3, padding 1), at indices 0, 3, 6, 8, 10; ReLUs at 1, 4, 7, 9, 11;
# MaxPool2d(3, 2) at 2, 5, 12.
TORCHVISION_ALEXNET = {
    "features.0.weight": (64, 3, 11, 11),
    "features.3.weight": (192, 64, 5, 5),
    "features.6.weight": (384, 192, 3, 3),
    "features.8.weight": (256, 384, 3, 3),
    "features.10.weight": (256, 256, 3, 3),
}
TORCHVISION_ALEXNET_GEOMETRY = {0: (11, 4, 2), 3: (5, 1, 2), 6: (3, 1, 1), 8: (3, 1, 1), 10: (3, 1, 1)}
# torchvision/models/vgg.py, cfg "D" (VGG16): 64, 64, M, 128, 128, M, 256 x3, M, 512 x3, M, 512 x3.
TORCHVISION_VGG16_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
TORCHVISION_VGG16_OUT = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]


def test_alexnet_layers_match_torchvision() -> None:
    trunk = ConvTrunk("alexnet")
    shapes = {key: tuple(value.shape) for key, value in trunk.state_dict().items() if key.endswith("weight")}
    assert shapes == TORCHVISION_ALEXNET
    for index, (kernel, stride, padding) in TORCHVISION_ALEXNET_GEOMETRY.items():
        conv = trunk.features[index]
        assert (conv.kernel_size, conv.stride, conv.padding) == ((kernel,) * 2, (stride,) * 2, (padding,) * 2)
    assert [i for i, m in enumerate(trunk.features) if isinstance(m, nn.ReLU)] == [1, 4, 7, 9, 11]
    assert [i for i, m in enumerate(trunk.features) if isinstance(m, nn.MaxPool2d)] == [2, 5, 12]


def test_vgg16_layers_match_torchvision() -> None:
    trunk = ConvTrunk("vgg16")
    convs = [(i, m) for i, m in enumerate(trunk.features) if isinstance(m, nn.Conv2d)]
    assert [i for i, _ in convs] == TORCHVISION_VGG16_CONV_INDICES
    assert [m.out_channels for _, m in convs] == TORCHVISION_VGG16_OUT
    assert all(m.kernel_size == (3, 3) and m.padding == (1, 1) for _, m in convs)


@pytest.mark.parametrize(
    "net, layer, size, channels, side",
    [("alexnet", "conv1", 256, 64, 63), ("alexnet", "conv2", 256, 192, 31), ("alexnet", "conv5", 256, 256, 15),
     ("vgg16", "conv1", 64, 64, 64), ("vgg16", "conv3_3", 64, 256, 16), ("vgg16", "conv5", 64, 512, 4)],
)  # fmt: skip
def test_layer_output_shapes(net: str, layer: str, size: int, channels: int, side: int) -> None:
    trunk = ConvTrunk(net).eval()
    with torch.no_grad():
        (out,) = trunk(torch.zeros(1, 3, size, size), [layer])
    assert tuple(out.shape) == (1, channels, side, side)


def test_taps_are_after_relu_and_match_a_sequential_run() -> None:
    trunk = ConvTrunk("alexnet").eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        conv2, conv5 = trunk(x, ["conv2", "conv5"])
        reference = x
        for index, module in enumerate(trunk.features):
            reference = module(reference.clone())
            if index == 4:
                assert torch.equal(conv2, reference)
            if index == 11:
                assert torch.equal(conv5, reference)
    assert (conv2 >= 0).all() and (conv5 >= 0).all()


def test_min_input_size() -> None:
    assert min_input_size("alexnet", "conv1") == 7
    assert min_input_size("alexnet", "conv5") == 31
    assert min_input_size("vgg16", "conv5") == 16


def test_lpips_net_has_one_linear_layer_per_tap() -> None:
    model = LPIPSNet("alexnet")
    assert [tuple(lin.weight.shape) for lin in model.lins] == [(1, c, 1, 1) for c in (64, 192, 384, 256, 256)]
    assert all(lin.bias is None for lin in model.lins)
