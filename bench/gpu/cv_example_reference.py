#!/usr/bin/env python3
"""Reference run of HF accelerate's Pets example (cv_example.py), in plain PyTorch.

The C++ trainer (examples/cv_example) reproduces accelerate's `cv_example.py`: timm's resnet50d
on Oxford-IIIT Pets, only the classifier trained, Adam under OneCycleLR, one line
`epoch N: XX.XX` per epoch. This script is the Python side of side-by-side measurements: the
same recipe, run on the same GPU and data, timed the same way, so that the C++ trainer's
throughput and accuracy can be compared with what PyTorch itself does.

It is written in plain PyTorch rather than with accelerate because on one device accelerate adds
nothing but autocast around the forward pass, outputs converted to float32 and, for fp16, a
GradScaler; spelling those out keeps the script runnable where accelerate is not installed.

The model comes from timm when timm can be imported. Otherwise a built-in ResNet with timm's
architecture and state_dict names is used; it exists only so that the script can be dry-run (and
its weight files checked against the C++ trainer) on machines without timm. Measurements meant to
stand for "the Python recipe" should use timm.

Both sides can start from one network: `--save_initial_weights FILE` writes the freshly created
model as safetensors (read by `cv_example --weights FILE`), and `--weights FILE` loads such a file,
whichever side wrote it.
"""

import argparse
import json
import math
import os
import random
import re
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

PROGRAM = "cv_example_reference"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class UsageError(Exception):
    """A problem with the command line, the data or a file: reported as one line, exit 1."""


# ---------------------------------------------------------------------------------------------
# Data


def label_of(file_name):
    """`great_pyrenees_101.jpg` -> `great_pyrenees`."""
    return re.sub(r"_\d+\.jpg$", "", file_name)


def list_images(data_dir):
    """The sorted .jpg files directly in data_dir (the .mat files of the archive drop out)."""
    try:
        names = sorted(name for name in os.listdir(data_dir) if name.endswith(".jpg"))
    except OSError as error:
        raise UsageError(f"{data_dir}: {error.strerror}") from None
    if not names:
        raise UsageError(f"{data_dir}: no .jpg files")
    return [os.path.join(data_dir, name) for name in names]


class PetsDataset(Dataset):
    """Images with labels from their file names; items as the original's {"image", "label"}."""

    def __init__(self, paths, label_to_id, transform):
        self.paths = paths
        self.label_to_id = label_to_id
        self.transform = transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        path = self.paths[index]
        # convert("RGB") also takes the grayscale, palette and RGBA files the archive holds.
        image = Image.open(path).convert("RGB")
        label = self.label_to_id[label_of(os.path.basename(path))]
        return {"image": self.transform(image), "label": label}


def split_files(paths, seed):
    """The original's split: a seeded NumPy permutation, first 80% (floor) for training."""
    np.random.seed(seed)
    order = np.random.permutation(len(paths))
    cut = int(0.8 * len(paths))
    return [paths[i] for i in order[:cut]], [paths[i] for i in order[cut:]]


class ReplayedBatches:
    """The training batches another run wrote (cv_example --dump_batches DIR): for each epoch,
    epoch<E>_step<S>.safetensors in step order, "images" uint8 NCHW and "labels" int64. Trained on
    in place of this script's own DataLoader, they make the two trainers see the same pixels in
    the same order, so that their per-step losses can be compared."""

    def __init__(self, directory, epochs):
        self.directory = directory
        self.epoch = 0
        self.steps = [self._count(epoch) for epoch in range(epochs)]
        if not self.steps[0]:
            raise UsageError(f"{directory}: no epoch0_step0.safetensors (cv_example --dump_batches)")

    def _count(self, epoch):
        steps = 0
        while os.path.exists(self._path(epoch, steps)):
            steps += 1
        return steps

    def _path(self, epoch, step):
        return os.path.join(self.directory, f"epoch{epoch}_step{step}.safetensors")

    def __len__(self):
        return self.steps[0]

    def __iter__(self):
        epoch, self.epoch = self.epoch, self.epoch + 1
        if epoch >= len(self.steps) or self.steps[epoch] != self.steps[0]:
            raise UsageError(f"{self.directory}: epoch {epoch} has no batches, or another count")
        for step in range(self.steps[epoch]):
            path = self._path(epoch, step)
            try:
                batch = read_safetensors(path)
                images, labels = batch["images"], batch["labels"]
            except (OSError, ValueError, KeyError) as error:
                raise UsageError(f"{path}: not a dumped batch: {error}") from None
            yield {"image": images.float() / 255, "label": labels}


def make_loaders(paths, label_to_id, args):
    train_paths, eval_paths = split_files(paths, args.seed)
    if not train_paths or not eval_paths:
        raise UsageError(f"{args.data_dir}: {len(paths)} images are too few for an 80/20 split")
    train_transform = transforms.Compose(
        [transforms.RandomResizedCrop(args.image_size, scale=(0.5, 1.0)), transforms.ToTensor()])
    # A square squash, as the original: no centre crop, aspect ratio not kept.
    eval_transform = transforms.Compose(
        [transforms.Resize((args.image_size, args.image_size)), transforms.ToTensor()])
    train_set = PetsDataset(train_paths, label_to_id, train_transform)
    eval_set = PetsDataset(eval_paths, label_to_id, eval_transform)
    common = {"batch_size": args.batch_size, "num_workers": args.num_workers,
              "pin_memory": args.pin_memory}
    return (DataLoader(train_set, shuffle=True, **common),
            DataLoader(eval_set, shuffle=False, **common))


# ---------------------------------------------------------------------------------------------
# Built-in ResNet (dry runs without timm only)
#
# timm's layer layout and state_dict names, for the configurations the C++ trainer knows, so that
# a weight file written here loads strictly there and vice versa.

BUILTIN_MODELS = {
    # name: (bottleneck blocks, blocks per stage, deep stem widths or None, avg_down shortcut)
    "resnet10t": (False, (1, 1, 1, 1), (24, 32), True),
    "resnet18": (False, (2, 2, 2, 2), None, False),
    "resnet18d": (False, (2, 2, 2, 2), (32, 32), True),
    "resnet26d": (True, (2, 2, 2, 2), (32, 32), True),
    "resnet34": (False, (3, 4, 6, 3), None, False),
    "resnet50": (True, (3, 4, 6, 3), None, False),
    "resnet50d": (True, (3, 4, 6, 3), (32, 32), True),
}


def conv(in_channels, out_channels, kernel, stride=1):
    return nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2,
                     bias=False)


def shortcut(in_channels, out_channels, stride, avg_down):
    """Where a block changes shape. With avg_down the stride moves into a 2x2 average pool so the
    1x1 convolution sees every pixel; index 0 stays the pool (Identity at stride 1) so the names
    (downsample.1 conv, downsample.2 norm) are timm's."""
    if not avg_down:
        return nn.Sequential(conv(in_channels, out_channels, 1, stride),
                             nn.BatchNorm2d(out_channels))
    pool = (nn.Identity() if stride == 1 else
            nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False))
    return nn.Sequential(pool, conv(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))


class Block(nn.Module):
    """BasicBlock (two 3x3) or Bottleneck (1x1, 3x3 with the stride, 1x1; expansion 4)."""

    def __init__(self, bottleneck, in_channels, width, stride, avg_down):
        super().__init__()
        out_channels = width * 4 if bottleneck else width
        self.bottleneck = bottleneck
        if bottleneck:
            self.conv1, self.bn1 = conv(in_channels, width, 1), nn.BatchNorm2d(width)
            self.conv2, self.bn2 = conv(width, width, 3, stride), nn.BatchNorm2d(width)
            self.conv3, self.bn3 = conv(width, out_channels, 1), nn.BatchNorm2d(out_channels)
        else:
            self.conv1, self.bn1 = conv(in_channels, width, 3, stride), nn.BatchNorm2d(width)
            self.conv2, self.bn2 = conv(width, width, 3), nn.BatchNorm2d(width)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = shortcut(in_channels, out_channels, stride, avg_down)

    def last_bn(self):
        return self.bn3 if self.bottleneck else self.bn2

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        if self.bottleneck:
            x = self.bn3(self.conv3(F.relu(x)))
        return F.relu(x + identity)


class ResNet(nn.Module):
    """Stem (7x7 `conv1`, or deep `conv1.0/.3/.6` with BN+ReLU between), bn1, ReLU, 3x3 max-pool,
    layer1..4, global average pool, fc."""

    def __init__(self, bottleneck, layers, stem_widths, avg_down, num_classes):
        super().__init__()
        stem_out = 64
        if stem_widths is None:
            self.conv1 = conv(3, stem_out, 7, 2)
        else:
            w0, w1 = stem_widths
            self.conv1 = nn.Sequential(
                conv(3, w0, 3, 2), nn.BatchNorm2d(w0), nn.ReLU(inplace=True),
                conv(w0, w1, 3), nn.BatchNorm2d(w1), nn.ReLU(inplace=True),
                conv(w1, stem_out, 3))
        self.bn1 = nn.BatchNorm2d(stem_out)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = stem_out
        for stage, blocks in enumerate(layers):
            width = 64 << stage
            stage_blocks = []
            for i in range(blocks):
                stride = 2 if stage > 0 and i == 0 else 1
                stage_blocks.append(Block(bottleneck, channels, width, stride, avg_down))
                channels = width * 4 if bottleneck else width
            setattr(self, f"layer{stage + 1}", nn.Sequential(*stage_blocks))
        self.fc = nn.Linear(channels, num_classes)
        self.init_weights()

    def init_weights(self):
        # timm's initialisation: Kaiming-normal convolutions (fan_out), unit BatchNorms with the
        # last one of each block zeroed so every block starts as the identity; default Linear.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        for module in self.modules():
            if isinstance(module, Block):
                nn.init.zeros_(module.last_bn().weight)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean(dim=(2, 3)))


def create_model(name, num_classes):
    """timm's model when timm imports, else the built-in one; returns (model, source)."""
    try:
        import timm
    except ImportError:
        timm = None
    if timm is not None:
        try:
            return timm.create_model(name, pretrained=False, num_classes=num_classes), "timm"
        except RuntimeError as error:  # timm's "Unknown model"
            raise UsageError(f"model {name}: {error}") from None
    if name not in BUILTIN_MODELS:
        raise UsageError(f"unknown model {name} (timm is not installed; built-in models: "
                         f"{', '.join(sorted(BUILTIN_MODELS))})")
    return ResNet(*BUILTIN_MODELS[name], num_classes=num_classes), "built-in"


# ---------------------------------------------------------------------------------------------
# safetensors (own reader/writer where the safetensors package is missing)

DTYPE_NAMES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}
DTYPES_BY_NAME = {name: dtype for dtype, name in DTYPE_NAMES.items()}


def tensor_bytes(tensor):
    # Through uint8 so every dtype (bf16 too, which NumPy lacks) is written as stored.
    return tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        tensor = tensors[name]
        if tensor.dtype not in DTYPE_NAMES:
            raise UsageError(f"{path}: tensor {name} has unsupported dtype {tensor.dtype}")
        blob = tensor_bytes(tensor)
        header[name] = {"dtype": DTYPE_NAMES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data section starts 8-aligned, as the library does it
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for blob in blobs:
            out.write(blob)


def read_safetensors(path):
    with open(path, "rb") as source:
        data = source.read()
    if len(data) < 8:
        raise ValueError("truncated: no header length")
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > len(data) - 8:
        raise ValueError(f"truncated: header of {header_size} bytes, file has {len(data)}")
    header = json.loads(data[8:8 + header_size])
    if not isinstance(header, dict):
        raise ValueError("bad header: not a JSON object")
    body = memoryview(data)[8 + header_size:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype_name, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"bad header: tensor {name} needs dtype, shape and two data_offsets")
        dtype = DTYPES_BY_NAME.get(dtype_name)
        if dtype is None:
            raise ValueError(f"tensor {name} has unsupported dtype {dtype_name}")
        element_size = torch.empty((), dtype=dtype).element_size()
        if not 0 <= begin <= end <= len(body) or end - begin != math.prod(shape) * element_size:
            raise ValueError(f"tensor {name}: data_offsets {begin}..{end} do not fit")
        raw = torch.frombuffer(bytearray(body[begin:end]), dtype=torch.uint8)
        tensors[name] = raw.view(dtype).reshape(shape)
    return tensors


def save_weights(path, model):
    """The full state_dict (parameters and buffers, BatchNorm statistics included)."""
    tensors = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    try:
        from safetensors.torch import save_file
    except ImportError:
        save_file = None
    try:
        if save_file is not None:
            save_file(tensors, path)
        else:
            write_safetensors(path, tensors)
    except OSError as error:
        raise UsageError(f"{path}: cannot write: {error.strerror}") from None
    except Exception as error:  # the library reports I/O failures as its own error type
        raise UsageError(f"{path}: cannot write: {error}") from None


def load_weights(path, model):
    try:
        try:
            from safetensors.torch import load_file
        except ImportError:
            load_file = read_safetensors
        tensors = load_file(path)
    except OSError as error:
        raise UsageError(f"{path}: {error.strerror}") from None
    except Exception as error:  # damaged header, truncated data, ...
        raise UsageError(f"{path}: unreadable safetensors: {error}") from None
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        reason = " ".join(str(error).split())  # PyTorch's report spans lines; keep it one
        if len(reason) > 600:
            reason = reason[:600] + " ..."
        raise UsageError(f"{path}: does not fit the model: {reason}") from None


# ---------------------------------------------------------------------------------------------
# Training


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def autocast_dtype(mixed_precision, device):
    if mixed_precision == "no":
        return None
    if mixed_precision == "fp16" and device.type != "cuda":
        raise UsageError("--mixed_precision fp16 needs CUDA (on the CPU use bf16 or no)")
    return torch.bfloat16 if mixed_precision == "bf16" else torch.float16


def make_grad_scaler():
    # torch.amp.GradScaler("cuda") is the current spelling; torch.cuda.amp's is deprecated there
    # but the only one on older releases.
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()


class Runner:
    """One device's training and evaluation, as accelerate runs the recipe."""

    def __init__(self, model, device, dtype, args, steps_per_epoch):
        self.model = model
        self.device = device
        self.dtype = dtype
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
        # Adam over every parameter; the frozen ones simply never get a gradient.
        self.optimizer = torch.optim.Adam(model.parameters(), lr=args.lr / 25)
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch)
        self.scaler = make_grad_scaler() if dtype == torch.float16 else None

    def synchronize(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def forward(self, images):
        inputs = (images.to(self.device) - self.mean) / self.std
        if self.dtype is None:
            return self.model(inputs)
        with torch.autocast(device_type=self.device.type, dtype=self.dtype):
            outputs = self.model(inputs)
        return outputs.float()  # accelerate's convert_outputs_to_fp32

    def step(self, loss):
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
        else:
            self.scaler.scale(loss).backward()
            scale = self.scaler.get_scale()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            # As accelerate: a step skipped for inf/nan gradients does not advance the schedule.
            if self.scaler.get_scale() >= scale:
                self.scheduler.step()
        self.optimizer.zero_grad()

    def train_epoch(self, loader):
        """Returns (train seconds, seconds waiting in the loader, per-batch losses, images)."""
        self.model.train()  # BatchNorm uses batch statistics and updates its running ones
        losses, images, wait = [], 0, 0.0
        start = time.perf_counter()
        batches = iter(loader)
        while True:
            before = time.perf_counter()
            batch = next(batches, None)
            wait += time.perf_counter() - before
            if batch is None:
                break
            outputs = self.forward(batch["image"])
            loss = F.cross_entropy(outputs, batch["label"].to(self.device))
            self.step(loss)
            losses.append(loss.detach())  # kept on the device: no per-step synchronisation
            images += batch["label"].shape[0]
        self.synchronize()
        seconds = time.perf_counter() - start
        return seconds, wait, torch.stack(losses).double().cpu().tolist(), images

    @torch.no_grad()
    def evaluate(self, loader):
        self.model.eval()
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        total = 0
        for batch in loader:
            predictions = self.forward(batch["image"]).argmax(dim=-1)
            correct += (predictions == batch["label"].to(self.device)).long().sum()
            total += batch["label"].shape[0]
        return 100.0 * correct.item() / total


def emit(line):
    print(line, flush=True)


def run(args):
    if args.epochs == 0 and not args.save_initial_weights:
        raise UsageError("--epochs 0 only writes --save_initial_weights, which is missing")
    setup_start = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    dtype = autocast_dtype(args.mixed_precision, device)
    seed_everything(args.seed)

    paths = list_images(args.data_dir)
    label_to_id = {label: i for i, label in
                   enumerate(sorted({label_of(os.path.basename(p)) for p in paths}))}
    train_loader, eval_loader = make_loaders(paths, label_to_id, args)
    if args.batches_from:
        train_loader = ReplayedBatches(args.batches_from, args.epochs)

    model, source = create_model(args.model, len(label_to_id))
    print(f"{PROGRAM}: model {args.model} from {source}"
          + ("" if source == "timm" else " (timm not importable; for dry runs only)"),
          file=sys.stderr, flush=True)
    if args.save_initial_weights:
        save_weights(args.save_initial_weights, model)
        if args.epochs == 0:
            return
    if args.weights:
        load_weights(args.weights, model)
    model = model.to(device)
    for parameter in model.parameters():
        parameter.requires_grad = args.train_all
    classifier = model.get_classifier() if hasattr(model, "get_classifier") else model.fc
    for parameter in classifier.parameters():
        parameter.requires_grad = True

    runner = Runner(model, device, dtype, args, steps_per_epoch=len(train_loader))
    if args.json:
        emit(json.dumps({"setup_seconds": time.perf_counter() - setup_start,
                         "device": torch.cuda.get_device_name(device) if device.type == "cuda"
                         else "cpu",
                         "torch": torch.__version__, "model_source": source,
                         "num_workers": args.num_workers, "mixed_precision": args.mixed_precision,
                         "train_images": (len(train_loader.dataset)
                                          if hasattr(train_loader, "dataset") else None),
                         "eval_images": len(eval_loader.dataset)}))
    for epoch in range(args.epochs):
        train_seconds, wait, losses, images = runner.train_epoch(train_loader)
        eval_start = time.perf_counter()
        accuracy = runner.evaluate(eval_loader)
        eval_seconds = time.perf_counter() - eval_start
        # As cv_example: with --json, stdout holds the JSON lines alone.
        print(f"epoch {epoch}: {accuracy:.2f}", file=sys.stderr if args.json else sys.stdout,
              flush=True)
        if args.json:
            emit(json.dumps({
                "epoch": epoch, "accuracy_pct": accuracy, "train_seconds": train_seconds,
                "eval_seconds": eval_seconds, "images": images,
                "images_per_second": images / train_seconds if train_seconds > 0 else 0.0,
                "data_wait_fraction": wait / train_seconds if train_seconds > 0 else 0.0,
                "train_loss": sum(losses) / len(losses) if losses else 0.0,
                "losses": losses}))


def positive(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def non_negative(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="cv_example_reference.py",
        description=(
            "HF accelerate's cv_example (Oxford-IIIT Pets, timm resnet50d, only the\n"
            "classifier trained, Adam + OneCycleLR) in plain PyTorch: the Python reference\n"
            "for side-by-side runs with the C++ cv_example. Prints 'epoch N: XX.XX'\n"
            "(eval accuracy, %) after each epoch. No pretrained weights: start both sides\n"
            "from one file with --save_initial_weights here and --weights there."),
        epilog="example:\n"
               "  python3 cv_example_reference.py --data_dir images --json \\\n"
               "      --save_initial_weights init.safetensors\n"
               "  cv_example --data_dir images --json --weights init.safetensors",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", required=True, help="directory of <label>_<n>.jpg images")
    parser.add_argument("--epochs", type=non_negative, default=3,
                        help="training epochs (%(default)s; 0 with --save_initial_weights: "
                             "only write them)")
    parser.add_argument("--batch_size", type=positive, default=64,
                        help="images per batch (%(default)s)")
    parser.add_argument("--image_size", type=positive, default=224,
                        help="side of the square model input (%(default)s)")
    parser.add_argument("--lr", type=float, default=3e-2,
                        help="OneCycle peak learning rate (%(default)s)")
    parser.add_argument("--seed", type=int, default=42,
                        help="seed of the split, crops and init (%(default)s)")
    parser.add_argument("--model", default="resnet50d", help="timm model name (%(default)s)")
    parser.add_argument("--mixed_precision", choices=("no", "bf16", "fp16"), default="no",
                        help="autocast dtype (%(default)s); fp16 adds a GradScaler, needs CUDA")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even with CUDA")
    parser.add_argument("--train_all", action="store_true",
                        help="train every layer, not only the classifier (as cv_example's)")
    parser.add_argument("--num_workers", type=non_negative, default=4,
                        help="DataLoader worker processes (%(default)s, as the original)")
    parser.add_argument("--pin_memory", action="store_true",
                        help="pinned DataLoader batches (the original has none)")
    parser.add_argument("--threads", type=positive,
                        help="CPU intra-op threads (torch.set_num_threads)")
    parser.add_argument("--weights", metavar="FILE",
                        help="initial weights, .safetensors with timm's names (strict)")
    parser.add_argument("--save_initial_weights", metavar="FILE",
                        help="write the freshly created model's state_dict as safetensors")
    parser.add_argument("--batches_from", metavar="DIR",
                        help="train on the batches cv_example --dump_batches DIR wrote, in its "
                             "order, instead of this script's own loader (recipe parity)")
    parser.add_argument("--json", action="store_true",
                        help="also one JSON line of timings per epoch on stdout")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        run(args)
    except UsageError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
