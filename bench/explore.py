"""How long a 16-tile grid of the lesson's combined pipeline (output 224) takes, four ways, on two images.

    pip install -r bench/requirements.txt   # albumentations, for the baseline only
    python bench/explore.py [--repeats 15] [--baselines] [--api]

Prints medians (wall and CPU) and the ratio to albumentations, measured in the same run, then a summary of
issue 12's targets (augtune <= albumentations for the combined pipeline, <= 1.5x for the five-op one):
  augtune.sample_grid         our fast path (params drawn by the v2 transforms, pixels from a cached pyramid)
  lesson: v1 on PIL           the lesson's way: torchvision.transforms v1 Compose on a PIL image, one sample at a time
  v2 on uint8 tensor          plain torchvision.transforms.v2 on a uint8 CHW tensor, one sample at a time
  albumentations              HorizontalFlip + ColorJitter + RandomResizedCrop on a uint8 HWC array
(the v1 and plain v2 baselines only with --baselines: they take minutes on the 12-MP picture). With --api it also starts the app on 127.0.0.1 and times /augment through gradio_client (the time from a slider
release to a grid, minus the browser's own drawing).

Then the same for issue 12's five-op pipeline, RandomRotation(30) + RandomPerspective + ColorJitter + GaussianBlur +
RandomResizedCrop(224), as a spec of steps (augtune.fast: the geometry as one warp from the pyramid, colour and
blur on the warped tile), against albumentations' equivalent (and plain v2 on PIL with --baselines) (Rotate, Perspective, ColorJitter, GaussianBlur, RandomResizedCrop).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import augtune  # noqa: E402
from augtune import AugSpec  # noqa: E402

TILES = 16
SPEC = AugSpec(crop_size=224, samples=TILES)


def test_images() -> dict[str, Image.Image]:
    cat = augtune.load_image(ROOT / "assets" / "cat.png")
    rocket = augtune.load_image(ROOT / "assets" / "rocket.jpg")
    big = Image.new("RGB", (4032, 3024))
    big.paste(cat.resize((2016, 3024), Image.Resampling.BICUBIC), (0, 0))
    big.paste(rocket.resize((2016, 3024), Image.Resampling.BICUBIC), (2016, 0))
    # The cat as bundled is issue 12's picture; the same enlarged to 500x400 is what earlier runs reported.
    return {"451x300": cat, "500x400": cat.resize((500, 400), Image.Resampling.BICUBIC), "4032x3024": big}


def ways(image: Image.Image) -> dict[str, callable]:
    from torchvision import transforms as v1
    from torchvision.transforms import v2

    lesson = v1.Compose(
        [
            v1.RandomHorizontalFlip(),
            v1.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.5),
            v1.RandomResizedCrop(224, scale=(0.1, 1), ratio=(0.5, 2)),
        ]
    )
    tensor = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).contiguous()
    plain_v2 = augtune.build_pipeline(SPEC)
    result = {
        "augtune.sample_grid": lambda: augtune.sample_grid(image, SPEC, TILES, 0),
        "lesson: v1 on PIL": lambda: [lesson(image) for _ in range(TILES)],
        "v2 on uint8 tensor": lambda: [plain_v2(tensor) for _ in range(TILES)],
    }
    try:
        import albumentations as A

        array = np.asarray(image).copy()
        albu = A.Compose(
            [
                A.HorizontalFlip(p=0.5),
                A.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.5, p=1.0),
                A.RandomResizedCrop(size=(224, 224), scale=(0.1, 1), ratio=(0.5, 2), p=1.0),
            ]
        )
        result["albumentations"] = lambda: [albu(image=array)["image"] for _ in range(TILES)]
    except ImportError:
        print("albumentations is not installed (pip install -r bench/requirements.txt): skipping that baseline")
    assert isinstance(v2, object)
    return result


FIVE_OPS = AugSpec.from_dict({"samples": TILES, "steps": [
    {"op": "RandomRotation", "degrees": 30, "interpolation": "bilinear"},
    {"op": "RandomPerspective", "distortion_scale": 0.5, "p": 0.5},
    {"op": "ColorJitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1},
    {"op": "GaussianBlur", "kernel_size": 9, "sigma": [0.1, 2.0]},
    {"op": "RandomResizedCrop", "size": 224},
]})


def five_op_ways(image: Image.Image) -> dict[str, callable]:
    plain_v2 = augtune.build_pipeline(FIVE_OPS)
    result = {
        "augtune.sample_grid": lambda: augtune.sample_grid(image, FIVE_OPS, TILES, 0),
        "v2 on PIL": lambda: [plain_v2(image) for _ in range(TILES)],
    }
    try:
        import albumentations as A

        array = np.asarray(image).copy()
        albu = A.Compose([
            A.Rotate(limit=30, p=1.0),
            A.Perspective(scale=(0.05, 0.25), p=0.5),
            A.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, p=1.0),
            A.GaussianBlur(blur_limit=(9, 9), sigma_limit=(0.1, 2.0), p=1.0),
            A.RandomResizedCrop(size=(224, 224), p=1.0),
        ])
        result["albumentations"] = lambda: [albu(image=array)["image"] for _ in range(TILES)]
    except ImportError:
        pass
    return result


def medians_ms(ways: dict[str, callable], repeats: int, slow_repeats: int) -> dict[str, tuple[float, float]]:
    """Median wall-clock and CPU milliseconds of each way (CPU time of all threads: fair on a busy machine).
    The ways take turns, one call each a round, so that a machine that speeds up or slows down during the
    run (this one drifts by a third) moves all of them alike and leaves their ratio alone."""
    runs = {}
    for label, fn in ways.items():
        fn()  # warm-up: first-call costs (imports, the pyramid) are reported separately
        start = time.perf_counter()
        fn()
        runs[label] = repeats if time.perf_counter() - start < 1.0 else slow_repeats
    wall, cpu = {label: [] for label in ways}, {label: [] for label in ways}
    for round_ in range(max(runs.values())):
        for label, fn in ways.items():
            if round_ < runs[label]:
                start, start_cpu = time.perf_counter(), time.process_time()
                fn()
                wall[label].append(time.perf_counter() - start)
                cpu[label].append(time.process_time() - start_cpu)
    return {label: (statistics.median(wall[label]) * 1000, statistics.median(cpu[label]) * 1000) for label in ways}


def first_call_ms(image: Image.Image) -> float:
    fresh = image.copy()  # a new object: no cached pyramid yet
    start = time.perf_counter()
    augtune.sample_grid(fresh, SPEC, TILES, 0)
    return (time.perf_counter() - start) * 1000


def api_latency(repeats: int) -> list[tuple[str, float]]:
    from gradio_client import Client, handle_file

    from tests.conftest import free_port

    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while True:
            try:
                client = Client(url, verbose=False)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        rows = []
        for label, name in (("API /augment, cat 451x300", "cat.png"), ("API /augment, rocket 640x427", "rocket.jpg")):
            image = handle_file(str(ROOT / "assets" / name))
            times = []
            for i in range(repeats + 1):
                start = time.perf_counter()
                client.predict(image, SPEC.to_json(), TILES, i, api_name="/augment")
                times.append(time.perf_counter() - start)
            rows.append((label, statistics.median(times[1:]) * 1000))
        return rows
    finally:
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--slow-repeats", type=int, default=3, help="repeats for ways slower than 1 s a grid")
    parser.add_argument("--baselines", action="store_true",
                        help="also time the lesson's v1 and plain v2 (minutes on 12 MP; not needed for the targets)")
    parser.add_argument("--api", action="store_true", help="also time /augment through gradio_client")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"{TILES} tiles at 224, torch {torch.__version__}, {os.cpu_count()} cores, "
          f"load average {' '.join(f'{value:.1f}' for value in os.getloadavg())}\n", flush=True)
    summary = []
    for title, make in (("lesson's combined pipeline", ways), ("five-op pipeline of steps", five_op_ways)):
        print(title, flush=True)
        for name, image in test_images().items():
            chosen = {label: fn for label, fn in make(image).items()
                      if args.baselines or label in ("augtune.sample_grid", "albumentations")}
            results = medians_ms(chosen, args.repeats, args.slow_repeats)
            base = results.get("albumentations")
            print(f"  image {name}")
            print(f"    {'way':28s} {'wall ms':>9s} {'CPU ms':>9s} {'vs albumentations':>18s}")
            for label, (ms, cpu) in results.items():
                ratio = f"{ms / base[0]:17.2f}x" if base else ""
                print(f"    {label:28s} {ms:9.1f} {cpu:9.1f} {ratio}", flush=True)
            if make is ways:
                print(f"    {'augtune first call (cold)':28s} {first_call_ms(image):9.1f}")
            if base:
                summary.append((title, name, results["augtune.sample_grid"][0], base[0]))
        print()
    print(f"load average now {' '.join(f'{value:.1f}' for value in os.getloadavg())}")
    print(f"{'pipeline':28s} {'image':>10s} {'augtune ms':>11s} {'albu ms':>9s} {'ratio':>7s} {'target':>7s}  met")
    for title, name, ours, albu in summary:
        target = 1.0 if title.startswith("lesson") else 1.5
        met = "yes" if ours / albu <= target else "NO"
        print(f"{title:28s} {name:>10s} {ours:11.1f} {albu:9.1f} {ours / albu:6.2f}x {target:6.1f}x  {met}")
    if args.api:
        for label, ms in api_latency(args.repeats):
            print(f"{label:40s} median {ms:7.1f} ms")


if __name__ == "__main__":
    main()
