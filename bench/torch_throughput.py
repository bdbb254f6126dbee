"""Times the autoprune zoo architectures in PyTorch (CPU, one thread), for scale.

Usage: python3 bench/torch_throughput.py MODEL [THREADS]   (lenet5 | vgg-small | resnet-small | mobilenet-small; default 1 thread)
       python3 bench/torch_throughput.py mobilenetv2-0.35@96 [THREADS [TRAIN_BATCH INFER_BATCH]]   (torchvision's mobilenet_v2, width_mult 0.35, 96x96 RGB)
Prints one JSON line: {"train": images/s, "infer": images/s}, measured like
bench/baselines.ts: Adam step at batch 64, forward at batch 256, median of 5
timed repeats after warm-up.
"""
import json
import statistics
import sys
import time

import torch
from torch import nn


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))


def vgg_small():
    layers, cin = [], 1
    for cout in (32, 64, 128):
        for _ in range(2):
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            cin = cout
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(128 * 3 * 3, 256), nn.ReLU(), nn.Linear(256, 10))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.proj is None else self.proj(x)))


def resnet_small():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        Block(16, 16, 1), Block(16, 32, 2), Block(32, 32, 1), Block(32, 64, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


class InvertedResidual(nn.Module):
    def __init__(self, cin, expansion, cout, stride):
        super().__init__()
        hidden = cin * expansion
        layers = [] if expansion == 1 else [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def mobilenet_small():
    blocks, cin = [], 16
    for expansion, cout, stride in ((1, 16, 1), (4, 24, 2), (4, 24, 1), (4, 32, 2), (4, 32, 1)):
        blocks.append(InvertedResidual(cin, expansion, cout, stride))
        cin = cout
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(), *blocks,
        nn.Conv2d(32, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))


def rate(images, step, warmup=2, repeats=5):
    for _ in range(warmup):
        step()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        rates.append(images / (time.perf_counter() - start))
    return statistics.median(rates)


def main():
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    name, _, size = sys.argv[1].partition("@")
    shape = (3, int(size), int(size)) if size else (1, 28, 28)
    if name.startswith("mobilenetv2"):
        from torchvision.models import mobilenet_v2
        alpha = float(name.split("-")[1]) if "-" in name else 1.0
        model = mobilenet_v2(width_mult=alpha, num_classes=10)
    else:
        model = {"lenet5": lenet5, "vgg-small": vgg_small, "resnet-small": resnet_small, "mobilenet-small": mobilenet_small}[name]()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    train_batch = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    infer_batch = int(sys.argv[4]) if len(sys.argv) > 4 else 256
    xs, ys = torch.rand(train_batch, *shape), torch.randint(0, 10, (train_batch,))

    def train_step():
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(xs), ys).backward()
        optimizer.step()

    model.train()
    train = rate(train_batch, train_step)
    model.eval()
    xs_infer = torch.rand(infer_batch, *shape)
    with torch.no_grad():
        infer = rate(infer_batch, lambda: model(xs_infer))
    print(json.dumps({"train": train, "infer": infer}))


if __name__ == "__main__":
    main()
