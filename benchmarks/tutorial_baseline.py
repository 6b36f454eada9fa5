"""A faithful re-implementation of the PyTorch "Neural Transfer" tutorial's loop.

Source: pytorch/tutorials, ``advanced_source/neural_style_tutorial.py`` (Alexis Jacq,
edited by Winston Herring), kept as the tutorial has it so that ``bench_transfer.py``
compares the course engine with what most people run: loss modules inserted into a copy
of ``vgg19().features`` (out-of-place ReLUs, cut after the last loss layer, layers named by
counting: ``conv4_2`` is ``conv_10``), Grams divided by ``a·b·c·d``, ``style_weight=1e6``,
``optim.LBFGS`` with its defaults, the image clamped at the start of every closure, and
``run[0]`` counting closure calls as "steps". The only addition, ``on_eval``, observes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

#: The paper's layer names → the tutorial's counting names.
PAPER_TO_TUTORIAL = {
    "conv1_1": "conv_1", "conv2_1": "conv_3", "conv3_1": "conv_5",
    "conv4_1": "conv_9", "conv4_2": "conv_10", "conv5_1": "conv_13",
}  # fmt: skip


class ContentLoss(nn.Module):
    def __init__(self, target):
        super().__init__()
        self.target = target.detach()

    def forward(self, input):
        self.loss = F.mse_loss(input, self.target)
        return input


def gram_matrix(input):
    a, b, c, d = input.size()  # a=batch size(=1), b=number of feature maps, (c,d)=dimensions
    features = input.view(a * b, c * d)
    G = torch.mm(features, features.t())
    return G.div(a * b * c * d)


class StyleLoss(nn.Module):
    def __init__(self, target_feature):
        super().__init__()
        self.target = gram_matrix(target_feature).detach()

    def forward(self, input):
        G = gram_matrix(input)
        self.loss = F.mse_loss(G, self.target)
        return input


class Normalization(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)

    def forward(self, img):
        return (img - self.mean) / self.std


def get_style_model_and_losses(cnn, normalization_mean, normalization_std, style_img, content_img,
                               content_layers, style_layers):
    normalization = Normalization(normalization_mean, normalization_std)
    content_losses = []
    style_losses = []
    model = nn.Sequential(normalization)
    i = 0
    for layer in cnn.children():
        if isinstance(layer, nn.Conv2d):
            i += 1
            name = f"conv_{i}"
        elif isinstance(layer, nn.ReLU):
            name = f"relu_{i}"
            layer = nn.ReLU(inplace=False)  # the in-place one would overwrite what the losses saw
        elif isinstance(layer, nn.MaxPool2d):
            name = f"pool_{i}"
        elif isinstance(layer, nn.BatchNorm2d):
            name = f"bn_{i}"
        else:
            raise RuntimeError(f"Unrecognized layer: {layer.__class__.__name__}")
        model.add_module(name, layer)
        if name in content_layers:
            target = model(content_img).detach()
            content_loss = ContentLoss(target)
            model.add_module(f"content_loss_{i}", content_loss)
            content_losses.append(content_loss)
        if name in style_layers:
            target_feature = model(style_img).detach()
            style_loss = StyleLoss(target_feature)
            model.add_module(f"style_loss_{i}", style_loss)
            style_losses.append(style_loss)
    for i in range(len(model) - 1, -1, -1):  # cut after the last loss layer
        if isinstance(model[i], ContentLoss) or isinstance(model[i], StyleLoss):
            break
    model = model[: (i + 1)]
    return model, style_losses, content_losses


def get_input_optimizer(input_img):
    return optim.LBFGS([input_img])


def run_style_transfer(cnn, normalization_mean, normalization_std, content_img, style_img, input_img,
                       num_steps=300, style_weight=1000000, content_weight=1,
                       content_layers: Sequence[str] = ("conv_10",),
                       style_layers: Sequence[str] = ("conv_1", "conv_3", "conv_5", "conv_9", "conv_13"),
                       on_eval: Callable[[int, float], None] | None = None):
    """Run the style transfer (the tutorial's function; ``on_eval(run, loss)`` observes)."""
    model, style_losses, content_losses = get_style_model_and_losses(
        cnn, normalization_mean, normalization_std, style_img, content_img, content_layers, style_layers)
    input_img.requires_grad_(True)
    model.eval()
    model.requires_grad_(False)
    optimizer = get_input_optimizer(input_img)
    run = [0]
    while run[0] <= num_steps:

        def closure():
            with torch.no_grad():
                input_img.clamp_(0, 1)
            optimizer.zero_grad()
            model(input_img)
            style_score = 0
            content_score = 0
            for sl in style_losses:
                style_score += sl.loss
            for cl in content_losses:
                content_score += cl.loss
            style_score *= style_weight
            content_score *= content_weight
            loss = style_score + content_score
            loss.backward()
            run[0] += 1
            if on_eval is not None:
                on_eval(run[0], loss.item())
            return style_score + content_score

        optimizer.step(closure)
    with torch.no_grad():
        input_img.clamp_(0, 1)
    return input_img, run[0]


def tutorial_loss(cnn, content_img, style_img, image, content_layers, style_layers,
                  style_weight=1e6, content_weight=1.0, mean=(0.485, 0.456, 0.406),
                  std=(0.229, 0.224, 0.225)) -> float:
    """The tutorial's objective at ``image`` (no optimisation): for comparing results."""
    model, sls, cls = get_style_model_and_losses(cnn, mean, std, style_img, content_img,
                                                 content_layers, style_layers)
    with torch.no_grad():
        model(image)
    return float(style_weight * sum(s.loss for s in sls) + content_weight * sum(c.loss for c in cls))

