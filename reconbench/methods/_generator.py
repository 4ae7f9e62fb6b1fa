"""Generator stage of divide-and-conquer: a conditional U-Net, a PatchGAN and their training.

The generator is a U-Net of the pix2pix family (Isola et al. 2017): the shape
map (1 channel) goes in at full resolution, strided convolutions bring it down
to a small bottleneck, where the semantic vector, projected by a linear layer,
is tiled over the bottleneck grid and concatenated to its channels; transposed
convolutions with skip connections bring it back up to an RGB image in [0, 1].

The discriminator is a conditional PatchGAN: it sees the shape map beside a
real or generated image and scores overlapping patches; the semantic vector
enters by projection (Miyato & Koyama 2018: an inner product of an embedding of
the vector with the last feature map). Training uses the least-squares GAN loss
(Mao et al. 2017) plus a weighted L1 pixel loss and, as an option, a weighted
LPIPS perceptual loss (v0.1, AlexNet, the pretrained weights of the metrics;
Zhang et al. 2018), Adam (lr 2e-4, betas 0.5/0.999)
and a linear learning-rate decay over the second half of the iterations.

Training is deterministic on CPU for a given seed: every random draw (weight
initialisation, batch order, augmentation) comes from the seed, inside
``torch.random.fork_rng`` so the caller's global torch state is untouched, and
the number of torch threads is fixed by the preset (the summation order of the
CPU kernels, hence the last bits of the result, can depend on it).

On a CUDA device (``device="cuda"``, :mod:`reconbench.core.device`) the same
code runs there under torch's deterministic settings
(:func:`reconbench.core.device.deterministic`), so two runs on one GPU give the
same weights. The networks are initialised on the CPU and moved, and the batch
order and augmentation are drawn from a seeded CPU generator as on the CPU:
both devices see the same batches, and no draw waits for the GPU. Dropout draws
from the GPU's generator, seeded with the same seed. The losses are summed on
the GPU and read back only at the logging steps. On the CPU the operations and
their order are exactly those of the CPU-only code.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Callable, Iterator, Mapping

import numpy as np

from reconbench.core.device import deterministic, device_kind
from reconbench.core.errors import ReconbenchError
from reconbench.decoders.torch_utils import seeded_torch, torch_threads
from reconbench.metrics.weights import load_lpips


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture and training schedule of the generator stage.

    Attributes
    ----------
    resolution : int
        Side of the generated images (and of the shape map fed to the U-Net).
    base_channels : int
        Channels of the first U-Net layer; layer i has ``base * min(2**i, 8)``.
    depth : int
        Number of down-sampling steps; the bottleneck is ``resolution / 2**depth`` wide.
    semantic_channels : int
        Channels of the projected semantic vector concatenated at the bottleneck.
    disc_channels : int
        Channels of the first discriminator layer.
    disc_layers : int
        Strided layers of the PatchGAN (2 -> 22-pixel patches, 3 -> 46-pixel).
    iterations : int
        Optimisation steps (batches); fixed per preset so the time does not grow
        with the number of training images.
    batch_size : int
    learning_rate : float
    pixel_weight : float
        Weight of the L1 pixel loss against the least-squares adversarial loss.
    perceptual_weight : float
        Weight of the LPIPS (AlexNet) perceptual loss; 0 turns it off (the
        presets' default). Needs ``reconbench weights fetch``.
    augment : bool
        Random horizontal flips and small translations of (shape map, image) pairs.
    norm : {"batch", "instance"}
        Normalisation layers of both networks. ``instance`` (pix2pix's choice for its
        published models) leaves the innermost down-sampling layer unnormalised, as
        pix2pix does (a 1x1 feature map has no spatial statistics).
    dropout : float
        Dropout of the innermost up-sampling blocks (at most 3, as pix2pix: 0.5);
        active in training only (generation runs in eval mode).
    pixel_loss : {"l1", "mse"}
        The pixel loss weighted by ``pixel_weight``.
    lr_schedule : {"linear", "step"}
        ``linear``: constant, then linear decay to 0 over the second half;
        ``step``: multiplied by 0.1 after half of the steps (``torch.optim.lr_scheduler.StepLR``).
    disc_semantic : bool
        The discriminator also sees the semantic vector (projection); False: it sees
        the shape map and the image only, as the published PatchGAN.
    threads : int
        torch CPU threads during training and generation (0: leave torch's
        setting). Fixed per preset because the float summation order, hence the
        exact result, can depend on it; 1 thread is also far faster than 2 when
        the cores are shared with other jobs.
    """

    resolution: int = 64
    base_channels: int = 32
    depth: int = 4
    semantic_channels: int = 64
    disc_channels: int = 32
    disc_layers: int = 2
    iterations: int = 400
    batch_size: int = 32
    learning_rate: float = 2e-4
    pixel_weight: float = 100.0
    perceptual_weight: float = 0.0
    augment: bool = True
    threads: int = 1
    norm: str = "batch"
    dropout: float = 0.0
    pixel_loss: str = "l1"
    lr_schedule: str = "linear"
    disc_semantic: bool = True

    def __post_init__(self):
        choices = {"norm": ("batch", "instance"), "pixel_loss": ("l1", "mse"), "lr_schedule": ("linear", "step")}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ReconbenchError(f"generator {name}={getattr(self, name)!r} is not one of {', '.join(valid)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ReconbenchError(f"generator dropout must be in [0, 1), got {self.dropout}")
        if self.resolution % (2**self.depth) != 0:
            raise ReconbenchError(f"generator resolution {self.resolution} must be divisible by 2**depth = {2**self.depth}")
        if self.iterations < 1 or self.batch_size < 2:
            raise ReconbenchError(f"generator iterations must be >= 1 and batch_size >= 2, got {self.iterations}, {self.batch_size}")
        if self.pixel_weight < 0 or self.perceptual_weight < 0:
            raise ReconbenchError(f"generator pixel_weight and perceptual_weight must be >= 0, got {self.pixel_weight}, {self.perceptual_weight}")

    def as_dict(self) -> dict:
        """The fields, without those at their default that older configs lacked (so the stage-cache
        keys of existing presets are unchanged by the addition of new fields)."""
        values = asdict(self)
        for name, default in NEW_FIELD_DEFAULTS.items():
            if values[name] == default:
                del values[name]
        return values


#: Fields added after the first presets, with the value that reproduces the earlier behaviour.
NEW_FIELD_DEFAULTS = {"norm": "batch", "dropout": 0.0, "pixel_loss": "l1", "lr_schedule": "linear", "disc_semantic": True}


#: Size presets. ``default`` is sized for a shared 2-core CPU: 400 steps take about 3-4 min (docs/divide-and-conquer.md has the
#: measured time); ``full`` is the pix2pix-size model (256x256, 8 levels) for a GPU.
GENERATOR_PRESETS: dict[str, GeneratorConfig] = {
    "tiny": GeneratorConfig(
        resolution=32, base_channels=8, depth=3, semantic_channels=8, disc_channels=8, disc_layers=2, iterations=24, batch_size=16, threads=1
    ),
    "small": GeneratorConfig(
        resolution=32, base_channels=16, depth=3, semantic_channels=32, disc_channels=16, disc_layers=2, iterations=300, batch_size=16, threads=1
    ),
    "default": GeneratorConfig(
        resolution=64, base_channels=32, depth=4, semantic_channels=64, disc_channels=32, disc_layers=2, iterations=400, batch_size=32, threads=1
    ),
    "full": GeneratorConfig(
        resolution=256, base_channels=64, depth=8, semantic_channels=256, disc_channels=64, disc_layers=3, iterations=15000, batch_size=16, threads=0
    ),
}


#: Generator styles: ``default`` (the presets as they are) and ``published``, the pix2pix settings of the published
#: divide-and-conquer code on top of a size preset (its resolution, widths, steps and batch): down-sampling to a
#: 1x1 bottleneck (depth log2(resolution)), instance norm, dropout 0.5 in the innermost up blocks, 150 x MSE pixel
#: loss, step decay of the learning rate (x0.1 at half the steps), a 3-layer PatchGAN that does not see the
#: semantic vector.
GENERATOR_STYLES = ("default", "published")
PUBLISHED_STYLE = {
    "norm": "instance",
    "dropout": 0.5,
    "pixel_loss": "mse",
    "pixel_weight": 150.0,
    "lr_schedule": "step",
    "disc_semantic": False,
    "disc_layers": 3,
}


def generator_config(size: str, style: str = "default", **overrides) -> GeneratorConfig:
    """Return the preset ``size`` in ``style`` with some fields replaced (``None`` values are ignored)."""
    if size not in GENERATOR_PRESETS:
        raise ReconbenchError(f"unknown size preset {size!r}; valid: {', '.join(GENERATOR_PRESETS)}")
    if style not in GENERATOR_STYLES:
        raise ReconbenchError(f"unknown generator style {style!r}; valid: {', '.join(GENERATOR_STYLES)}")
    config = GENERATOR_PRESETS[size]
    if style == "published":
        depth = int(round(np.log2(config.resolution)))
        config = replace(config, depth=depth, **PUBLISHED_STYLE)
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})


def _channels(config: GeneratorConfig, level: int) -> int:
    return config.base_channels * min(2**level, 8)


def build_generator(config: GeneratorConfig, semantic_dim: int):
    """Return an untrained U-Net generator (a ``torch.nn.Module``)."""
    import torch
    from torch import nn

    instance = config.norm == "instance"
    norm = _norm_layer(config)

    class UNetGenerator(nn.Module):
        """U-Net: shape map (N, 1, R, R) [+ semantic (N, D)] -> image (N, 3, R, R) in [0, 1]."""

        def __init__(self):
            super().__init__()
            self.semantic_dim = semantic_dim
            downs = []
            in_channels = 1
            for level in range(config.depth):
                out_channels = _channels(config, level)
                normalised = level > 0 and not (instance and level == config.depth - 1)
                layers = [nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=not normalised)]
                if normalised:
                    layers.append(norm(out_channels))
                layers.append(nn.LeakyReLU(0.2))
                downs.append(nn.Sequential(*layers))
                in_channels = out_channels
            self.downs = nn.ModuleList(downs)
            extra = 0
            if semantic_dim > 0:
                self.semantic_projection = nn.Sequential(nn.Linear(semantic_dim, config.semantic_channels), nn.LeakyReLU(0.2))
                extra = config.semantic_channels
            ups = []
            in_channels = _channels(config, config.depth - 1) + extra
            for level in range(config.depth - 1, 0, -1):
                out_channels = _channels(config, level - 1)
                block = [nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False), norm(out_channels), nn.ReLU()]
                if config.dropout > 0 and config.depth - 1 - level < 3:
                    block.append(nn.Dropout(config.dropout))
                ups.append(nn.Sequential(*block))
                in_channels = 2 * out_channels  # skip connection
            ups.append(nn.Sequential(nn.ConvTranspose2d(in_channels, 3, 4, 2, 1), nn.Tanh()))
            self.ups = nn.ModuleList(ups)

        def forward(self, shape, semantic=None):
            skips = []
            h = shape
            for down in self.downs:
                h = down(h)
                skips.append(h)
            if self.semantic_dim > 0:
                if semantic is None:
                    raise ReconbenchError("this generator needs a semantic vector")
                s = self.semantic_projection(semantic)[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])
                h = torch.cat([h, s], dim=1)
            for index, up in enumerate(self.ups):
                h = up(h)
                if index < len(self.ups) - 1:
                    h = torch.cat([h, skips[-2 - index]], dim=1)
            return 0.5 * (h + 1.0)

    return UNetGenerator()


def _norm_layer(config: GeneratorConfig):
    from torch import nn

    if config.norm == "instance":
        return lambda channels: nn.InstanceNorm2d(channels, affine=True)
    return nn.BatchNorm2d


def build_discriminator(config: GeneratorConfig, semantic_dim: int):
    """Return an untrained conditional PatchGAN discriminator (a ``torch.nn.Module``)."""
    from torch import nn

    norm = _norm_layer(config)
    semantic_dim = semantic_dim if config.disc_semantic else 0

    class PatchDiscriminator(nn.Module):
        """(shape map (N,1,R,R), image (N,3,R,R) [, semantic (N,D)]) -> patch scores (N,1,r,r)."""

        def __init__(self):
            super().__init__()
            layers = [nn.Conv2d(4, config.disc_channels, 4, 2, 1), nn.LeakyReLU(0.2)]
            channels = config.disc_channels
            for level in range(1, config.disc_layers):
                out_channels = config.disc_channels * min(2**level, 8)
                layers += [nn.Conv2d(channels, out_channels, 4, 2, 1, bias=False), norm(out_channels), nn.LeakyReLU(0.2)]
                channels = out_channels
            out_channels = config.disc_channels * min(2**config.disc_layers, 8)
            layers += [nn.Conv2d(channels, out_channels, 3, 1, 1, bias=False), norm(out_channels), nn.LeakyReLU(0.2)]
            self.features = nn.Sequential(*layers)
            self.score = nn.Conv2d(out_channels, 1, 3, 1, 1)
            self.semantic_dim = semantic_dim
            if semantic_dim > 0:
                self.semantic_embedding = nn.Linear(semantic_dim, out_channels, bias=False)

        def forward(self, shape, image, semantic=None):
            import torch

            h = self.features(torch.cat([shape, 2.0 * image - 1.0], dim=1))
            out = self.score(h)
            if self.semantic_dim > 0:
                embedding = self.semantic_embedding(semantic)[:, :, None, None]
                out = out + (embedding * h).sum(1, keepdim=True) / h.shape[1] ** 0.5
            return out

    return PatchDiscriminator()


def _augment(shape, image, generator, max_shift: int):
    """Flip each pair horizontally with probability 1/2; shift the whole batch by up to ``max_shift`` pixels."""
    import torch

    flip = torch.rand(shape.shape[0], generator=generator) < 0.5
    if flip.device != shape.device:  # drawn on the CPU (the generator's device), applied where the batch is
        flip = flip.to(shape.device, non_blocking=True)
    shape = torch.where(flip[:, None, None, None], shape.flip(3), shape)
    image = torch.where(flip[:, None, None, None], image.flip(3), image)
    if max_shift > 0:
        dy, dx = (torch.randint(-max_shift, max_shift + 1, (2,), generator=generator)).tolist()
        pad = (max_shift, max_shift, max_shift, max_shift)
        size = shape.shape[2]
        top, left = max_shift + dy, max_shift + dx
        shape = torch.nn.functional.pad(shape, pad, mode="replicate")[:, :, top : top + size, left : left + size]
        image = torch.nn.functional.pad(image, pad, mode="replicate")[:, :, top : top + size, left : left + size]
    return shape, image


def train_generator(
    shape_inputs: np.ndarray,
    semantic_inputs: np.ndarray | None,
    images: np.ndarray,
    config: GeneratorConfig,
    seed: int,
    progress: bool = False,
    checkpoint: Callable[[int, object], None] | None = None,
    checkpoint_every: int = 0,
    device: str = "cpu",
) -> tuple[dict[str, np.ndarray], dict]:
    """Train the conditional GAN on (shape map, semantic vector, image) triples.

    Parameters
    ----------
    shape_inputs : ndarray, shape (N, 1, R, R), float32
        Normalised shape maps (see :func:`prepare_shape_inputs`), ``R = config.resolution``.
    semantic_inputs : ndarray, shape (N, D), float32, or None
        Semantic vectors; ``None`` trains a generator without semantics.
    images : ndarray, shape (N, 3, R, R), float32 in [0, 1]
        Target images.
    config : GeneratorConfig
    seed : int
    progress : bool
        Show a rich progress bar over iterations.
    checkpoint : callable or None
        ``checkpoint(step, generator)`` is called every ``checkpoint_every`` steps
        with the generator in eval mode (learning curves; it must not change the
        generator). Training resumes in train mode; the result is unchanged.
    checkpoint_every : int
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (:mod:`reconbench.core.device`); see the module docstring.

    Returns
    -------
    state : dict of str to ndarray
        The generator's ``state_dict`` as numpy arrays (see :func:`load_generator`).
    log : dict
        ``semantic_dim``, mean losses ``loss_g``, ``loss_d``, ``loss_pixel``,
        ``loss_perceptual`` (0 when off) over every ``log_every`` steps, and ``seconds``.

    Raises
    ------
    ReconbenchError
        Bad array shapes; ``WeightsMissingError`` when the perceptual loss is on
        and the LPIPS weights have not been fetched.
    """
    import torch
    import torch.nn.functional as F

    shape_inputs = np.asarray(shape_inputs, dtype=np.float32)
    images = np.asarray(images, dtype=np.float32)
    n = shape_inputs.shape[0]
    r = config.resolution
    if shape_inputs.shape != (n, 1, r, r) or images.shape != (n, 3, r, r):
        raise ReconbenchError(
            f"generator training expects shape maps (N, 1, {r}, {r}) and images (N, 3, {r}, {r}); got {shape_inputs.shape} and {images.shape}"
        )
    semantic_dim = 0 if semantic_inputs is None else int(semantic_inputs.shape[1])
    if semantic_inputs is not None and semantic_inputs.shape[0] != n:
        raise ReconbenchError(f"{semantic_inputs.shape[0]} semantic vectors for {n} images")

    perceptual_net = None
    if config.perceptual_weight > 0:
        from reconbench.metrics.networks import min_input_size  # lazy: loads torch

        if r < min_input_size("alexnet", "conv5"):
            raise ReconbenchError(f"the perceptual loss needs a generator resolution of at least {min_input_size('alexnet', 'conv5')}, got {r}")
        perceptual_net = load_lpips("alexnet", device=device)  # frozen (requires_grad False), shared with the metric

    on_cpu = device_kind(device) == "cpu"
    start = time.perf_counter()
    with seeded_torch(seed, config.threads, device):
        generator_net = build_generator(config, semantic_dim)
        discriminator = build_discriminator(config, semantic_dim)
        if not on_cpu:  # initialised on the CPU as there, then moved
            generator_net, discriminator = generator_net.to(device), discriminator.to(device)
        draws = torch.Generator().manual_seed(int(seed))
        opt_g = torch.optim.Adam(generator_net.parameters(), lr=config.learning_rate, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.learning_rate, betas=(0.5, 0.999))
        decay_start = config.iterations // 2

        def lr_factor(step: int) -> float:
            if step < decay_start:
                return 1.0
            return 1.0 - (step - decay_start) / float(config.iterations - decay_start + 1)

        if config.lr_schedule == "step":
            step_size = max(1, config.iterations // 2)
            sched_g = torch.optim.lr_scheduler.StepLR(opt_g, step_size, gamma=0.1)
            sched_d = torch.optim.lr_scheduler.StepLR(opt_d, step_size, gamma=0.1)
        else:
            sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, lr_factor)
            sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, lr_factor)
        pixel_loss_fn = F.mse_loss if config.pixel_loss == "mse" else F.l1_loss
        shapes_t = torch.from_numpy(shape_inputs)
        images_t = torch.from_numpy(images)
        semantics_t = None if semantic_inputs is None else torch.from_numpy(np.asarray(semantic_inputs, dtype=np.float32))
        if not on_cpu:  # the whole training set goes to the device once
            shapes_t, images_t = shapes_t.to(device), images_t.to(device)
            semantics_t = None if semantics_t is None else semantics_t.to(device)
            loss_sums = torch.zeros(4, dtype=torch.float64, device=device)
        max_shift = max(1, r // 16) if config.augment else 0
        batch_size = min(config.batch_size, n)
        log = {"semantic_dim": semantic_dim, "loss_g": [], "loss_d": [], "loss_pixel": [], "loss_perceptual": [], "log_every": 0}
        log_every = max(1, config.iterations // 20)
        log["log_every"] = log_every

        def batches() -> Iterator[torch.Tensor]:
            # Shuffled passes over the data; the last partial batch of a pass is dropped.
            while True:
                order = torch.randperm(n, generator=draws)
                for begin in range(0, n - batch_size + 1, batch_size):
                    yield order[begin : begin + batch_size]

        bar = None
        if progress:
            from rich.progress import Progress

            bar = Progress()
            bar.start()
            task = bar.add_task("training generator", total=config.iterations)
        try:
            generator_net.train()
            discriminator.train()
            sums = np.zeros(4)
            for step, rows in zip(range(config.iterations), batches()):
                if not on_cpu:
                    rows = rows.to(device, non_blocking=True)
                shape_batch, image_batch = shapes_t[rows], images_t[rows]
                semantic_batch = None if semantics_t is None else semantics_t[rows]
                if config.augment:
                    shape_batch, image_batch = _augment(shape_batch, image_batch, draws, max_shift)

                fake = generator_net(shape_batch, semantic_batch)
                real_score = discriminator(shape_batch, image_batch, semantic_batch)
                fake_score = discriminator(shape_batch, fake.detach(), semantic_batch)
                loss_d = 0.5 * (((real_score - 1.0) ** 2).mean() + (fake_score**2).mean())
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()

                fake_score = discriminator(shape_batch, fake, semantic_batch)
                loss_adv = 0.5 * ((fake_score - 1.0) ** 2).mean()
                loss_pixel = pixel_loss_fn(fake, image_batch)
                loss_g = loss_adv + config.pixel_weight * loss_pixel
                loss_perceptual = torch.zeros(()) if on_cpu else torch.zeros((), device=device)
                if perceptual_net is not None:
                    loss_perceptual = perceptual_net(2.0 * fake - 1.0, 2.0 * image_batch - 1.0, norm_eps=1e-12).mean()
                    loss_g = loss_g + config.perceptual_weight * loss_perceptual
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
                sched_g.step()
                sched_d.step()
                if on_cpu:
                    sums += [loss_g.item(), loss_d.item(), loss_pixel.item(), loss_perceptual.item()]
                else:  # summed on the device: no wait for the GPU at every step
                    loss_sums += torch.stack([loss_g.detach(), loss_d.detach(), loss_pixel.detach(), loss_perceptual.detach()]).double()
                if (step + 1) % log_every == 0:
                    if not on_cpu:
                        sums += loss_sums.cpu().numpy()
                        loss_sums.zero_()
                    for name, value in zip(("loss_g", "loss_d", "loss_pixel", "loss_perceptual"), sums / log_every):
                        log[name].append(float(value))
                    sums[:] = 0
                if checkpoint is not None and checkpoint_every > 0 and (step + 1) % checkpoint_every == 0:
                    generator_net.eval()
                    checkpoint(step + 1, generator_net)
                    generator_net.train()
                if bar is not None:
                    bar.advance(task)
        finally:
            if bar is not None:
                bar.stop()
    log["seconds"] = time.perf_counter() - start
    state = {name: tensor.detach().cpu().numpy().copy() for name, tensor in generator_net.state_dict().items()}
    return state, log


def load_generator(state: Mapping[str, np.ndarray], config: GeneratorConfig, semantic_dim: int, device: str = "cpu"):
    """Rebuild a trained generator (in eval mode, on ``device``) from :func:`train_generator`'s state arrays."""
    import torch

    net = build_generator(config, semantic_dim)
    net.load_state_dict({name: torch.from_numpy(np.asarray(value).copy()) for name, value in state.items()})
    if device_kind(device) != "cpu":
        net = net.to(device)
    return net.eval()


def generate(net, shape_inputs: np.ndarray, semantic_inputs: np.ndarray | None, batch_size: int = 64, threads: int = 0) -> np.ndarray:
    """Run a trained generator.

    Parameters
    ----------
    net : torch.nn.Module from :func:`load_generator`
        It runs on the device its parameters are on.
    shape_inputs : ndarray, shape (M, 1, R, R)
    semantic_inputs : ndarray, shape (M, D), or None

    Returns
    -------
    ndarray, shape (M, 3, R, R), float32 in [0, 1]
    """
    import torch

    device = next(net.parameters()).device
    on_cpu = device.type == "cpu"
    out = []
    with torch.no_grad(), torch_threads(threads), deterministic(str(device)):
        for begin in range(0, shape_inputs.shape[0], batch_size):
            shape_batch = torch.from_numpy(np.asarray(shape_inputs[begin : begin + batch_size], dtype=np.float32))
            semantic_batch = None
            if semantic_inputs is not None:
                semantic_batch = torch.from_numpy(np.asarray(semantic_inputs[begin : begin + batch_size], dtype=np.float32))
            if on_cpu:
                out.append(net(shape_batch, semantic_batch).numpy())
            else:
                semantic_batch = None if semantic_batch is None else semantic_batch.to(device, non_blocking=True)
                out.append(net(shape_batch.to(device, non_blocking=True), semantic_batch).cpu().numpy())
    return np.clip(np.concatenate(out, axis=0), 0.0, 1.0).astype(np.float32)


def prepare_shape_inputs(shape_maps: np.ndarray, resolution: int) -> np.ndarray:
    """Normalise shape maps for the generator.

    Each map is divided by its own standard deviation (decoded maps are shrunk
    toward zero by ridge; this puts decoded and true maps on one scale) and
    resized to the generator resolution with the pinned resize (bilinear,
    antialiased; no clipping, the maps are signed).

    Parameters
    ----------
    shape_maps : ndarray, shape (N, S, S) or (N, S*S)
    resolution : int

    Returns
    -------
    ndarray, shape (N, 1, resolution, resolution), float32
    """
    import torch
    import torch.nn.functional as F

    maps = np.asarray(shape_maps, dtype=np.float32)
    if maps.ndim == 2:
        side = int(round(np.sqrt(maps.shape[1])))
        if side * side != maps.shape[1]:
            raise ReconbenchError(f"flattened shape maps of length {maps.shape[1]} are not square")
        maps = maps.reshape(-1, side, side)
    maps = maps - maps.mean(axis=(1, 2), keepdims=True)
    maps = maps / (maps.std(axis=(1, 2), keepdims=True) + 1e-6)
    maps = maps[:, None]
    if maps.shape[2] != resolution:
        with torch.no_grad():
            maps = F.interpolate(torch.from_numpy(maps), size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False).numpy()
    return np.ascontiguousarray(maps, dtype=np.float32)
