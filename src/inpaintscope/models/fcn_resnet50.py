"""FCN-ResNet50: the Bochum report's baseline (docs/references.md, §3), in plain torch.

Architecture (Long et al., "Fully Convolutional Networks for Semantic Segmentation", CVPR 2015,
on a ResNet-50 backbone, He et al. CVPR 2016, as torchvision's ``fcn_resnet50`` builds it):

* ResNet-50 with bottleneck blocks [3, 4, 6, 3] (expansion 4), no ``avgpool``/``fc``; the
  strides of layers 3 and 4 are replaced by dilation (2 and 4), so the output stride is 8.
  As in torchvision, the first block of a dilated layer keeps the previous dilation.
* FCN head: Conv 3×3 2048→512 (no bias) → BN → ReLU → Dropout(0.1) → Conv 1×1 512→1 (bias),
  then bilinear upsampling (align_corners=False) to the input size.
* ``aux=True`` adds torchvision's auxiliary head on layer 3 (Conv 3×3 1024→256 → BN → ReLU →
  Dropout(0.1) → Conv 1×1 256→1). The Bochum report's model had it, but only the main output entered
  the loss, so it never trained; it is off by default and :meth:`FCNResNet50.forward` never
  computes it (use :meth:`FCNResNet50.forward_aux` for an auxiliary loss).

Parameter counts (checked in the tests): backbone 23,508,032 + main head 9,438,721 =
**32,946,753** with ``aux=False`` (the Bochum report's "excluding the untrained aux head" figure);
the aux head adds 2,360,065 for **35,306,818** with ``aux=True`` (the Bochum report's total).

**No pretrained weights exist here**: the model starts from random initialisation and trains
from scratch (the Bochum report fine-tuned torchvision's COCO/VOC weights, which we do not ship or
download). Module names follow torchvision (``backbone.conv1``, ``backbone.layer1.0.conv1``,
``backbone.layer3.0.downsample.0``, ``classifier.0``, ``classifier.4``, ``aux_classifier.0``...)
so a converted torchvision state dict loads with ``create_model("fcn_resnet50",
checkpoint=...)`` once its ``classifier.4`` (and ``aux_classifier.4``) are 1-class convs.

Input: RGB in [0, 1] without mean/std normalisation, as the Bochum report trained it;
``imagenet_norm=True`` switches the preprocessing to ImageNet mean/std, which suits
ImageNet-initialised backbones.

The Bochum report: P. Adler, H. Günther, D. Gann, H. Ehringfeld, "Inpainting Detection", student
project report (MPDL project, group 2), Ruhr-Universität Bochum, 2023.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InpaintscopeError
from .base import Detector, DetectorOutput, Preprocessing, register_model

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck (stride on the 3×3 conv, as torchvision): 1×1 → 3×3 → 1×1 (×4)."""

    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, *, stride: int = 1, dilation: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)


class DilatedResNet50(nn.Module):
    """ResNet-50 trunk with ``replace_stride_with_dilation=[False, True, True]`` (output stride 8)."""

    def __init__(self) -> None:
        super().__init__()
        self.inplanes = 64
        self.dilation = 1
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, 3)
        self.layer2 = self._make_layer(128, 4, stride=2)
        self.layer3 = self._make_layer(256, 6, stride=2, dilate=True)
        self.layer4 = self._make_layer(512, 3, stride=2, dilate=True)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        # Zero-init the last BN of each residual branch (Goyal et al. 2017, "Accurate, large
        # minibatch SGD") so every block starts as an identity:
        # training from scratch (there are no pretrained weights here) converges more reliably.
        for m in self.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)

    def _make_layer(self, planes: int, blocks: int, *, stride: int = 1, dilate: bool = False) -> nn.Sequential:
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * Bottleneck.expansion),
            )
        layers = [Bottleneck(self.inplanes, planes, stride=stride, dilation=previous_dilation, downsample=downsample)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes, dilation=self.dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (layer3, layer4) features, both at stride 8."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        c3 = self.layer3(x)
        return c3, self.layer4(c3)


class FCNHead(nn.Sequential):
    """Conv 3×3 (no bias) → BN → ReLU → Dropout(0.1) → Conv 1×1 with bias; indices as torchvision."""

    def __init__(self, cin: int, cout: int) -> None:
        mid = cin // 4
        super().__init__(
            nn.Conv2d(cin, mid, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Dropout(0.1),
            nn.Conv2d(mid, cout, 1),
        )


class FCNResNet50(Detector):
    """FCN-ResNet50 with a 1-class head (mask logits only; no image-level logit). Any H, W ≥ 1."""

    size_multiple = 1

    def __init__(self, *, aux: bool = False, imagenet_norm: bool = False) -> None:
        super().__init__()
        self.aux = aux
        self.imagenet_norm = imagenet_norm
        # An instance attribute, so the two settings of the flag can coexist in one process.
        self.preprocessing = Preprocessing(mean=IMAGENET_MEAN, std=IMAGENET_STD) if imagenet_norm else Preprocessing()  # type: ignore[misc]
        self.backbone = DilatedResNet50()
        self.classifier = FCNHead(2048, 1)
        self.aux_classifier = FCNHead(1024, 1) if aux else None

    def forward(self, x: torch.Tensor) -> DetectorOutput:
        self.check_input(x)
        _, c4 = self.backbone(x)
        logits = F.interpolate(self.classifier(c4), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return DetectorOutput(mask_logits=logits, image_logit=None)

    def forward_aux(self, x: torch.Tensor) -> tuple[DetectorOutput, torch.Tensor]:
        """Main output plus the aux head's B×1×H×W logits (needs ``aux=True``)."""
        self.check_input(x)
        if self.aux_classifier is None:
            raise InpaintscopeError("this FCN-ResNet50 has no aux head; create it with aux=True")
        c3, c4 = self.backbone(x)
        size = x.shape[-2:]
        main = F.interpolate(self.classifier(c4), size=size, mode="bilinear", align_corners=False)
        aux = F.interpolate(self.aux_classifier(c3), size=size, mode="bilinear", align_corners=False)
        return DetectorOutput(mask_logits=main, image_logit=None), aux

    def adapt_state_dict(self, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Drop ``aux_classifier.*`` keys when this model has no aux head (torchvision checkpoints
        always carry one; the Bochum report never trained it)."""
        if self.aux_classifier is None:
            sd = {k: v for k, v in sd.items() if not k.startswith("aux_classifier.")}
        return sd


@register_model("fcn_resnet50")
def fcn_resnet50(*, aux: bool = False, imagenet_norm: bool = False) -> FCNResNet50:
    """The Bochum report's FCN-ResNet50 baseline, trained from scratch here. 32,946,753 params
    (35,306,818 with ``aux=True``)."""
    return FCNResNet50(aux=aux, imagenet_norm=imagenet_norm)
