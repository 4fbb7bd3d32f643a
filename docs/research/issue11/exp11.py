"""Issue 11, point 3: experiments on a redesigned synthetic set (research, not the app's code path).

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python bench/exp11.py '{"name": "t1", "image_size": 48, ...}'

Draws a variant of the synthetic set (params below) into /tmp/exp11-cache/<hash>/ in ImageFolder layout
and trains with augtune.train.train (the app's own loop) on it: combined augmentation vs none, per seed.
Appends one JSON line per run to /tmp/exp11/results.jsonl and prints the lesson's log lines.
"""
from __future__ import annotations

import colorsys, hashlib, json, math, os, random, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

torch.set_num_threads(1)
from augtune import PRESETS
from augtune.data import stored_side
from augtune.synthetic import _shadow, _shaded_fill, _sensor_noise
from augtune.train import TrainConfig, train

DEFAULTS = dict(
    name="run",
    classes=["disc", "square", "triangle", "cross"],
    image_size=48,
    train_per_class=250,
    test_per_class=50,
    radius=[0.24, 0.34],
    hue_width=0.06,
    train_x=[None, 0.42],     # None: the margin
    angle=0.35,
    blobs=[4, 9], streaks=[2, 6],
    epochs=8, batch=32, lr=0.001, wd=0.001, optimizer="adam",
    scale=[0.5, 1.0], ratio=[0.5, 2.0],
    seeds=[0], runs=["combined", "none"],
    version=1,
    bias=True,
)

SHAPES = {}

def _poly(name):
    if name == "disc":
        return [(math.cos(2 * math.pi * k / 48), math.sin(2 * math.pi * k / 48)) for k in range(48)]
    if name == "square":
        return [(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)]
    if name == "triangle":
        return [(math.cos(a), math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    if name == "cross":
        w = 0.32
        return [(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w), (-w, -w)]
    if name.startswith("star"):
        n = int(name[4:] or 5)
        return [((1 if k % 2 == 0 else 0.45) * math.cos(math.pi * k / n - math.pi / 2), (1 if k % 2 == 0 else 0.45) * math.sin(math.pi * k / n - math.pi / 2)) for k in range(2 * n)]
    if name.startswith("poly"):
        n = int(name[4:])
        return [(math.cos(2 * math.pi * k / n - math.pi / 2), math.sin(2 * math.pi * k / n - math.pi / 2)) for k in range(n)]
    if name == "bar":
        return [(-1, -0.3), (1, -0.3), (1, 0.3), (-1, 0.3)]
    if name == "ell":
        return [(-0.9, -1), (-0.3, -1), (-0.3, 0.4), (0.9, 0.4), (0.9, 1), (-0.9, 1)]
    if name == "tee":
        return [(-1, -1), (1, -1), (1, -0.4), (0.3, -0.4), (0.3, 1), (-0.3, 1), (-0.3, -0.4), (-1, -0.4)]
    if name == "arrow":
        return [(-1, -0.3), (0.2, -0.3), (0.2, -0.8), (1, 0), (0.2, 0.8), (0.2, 0.3), (-1, 0.3)]
    if name == "diamond":
        return [(0, -1), (0.6, 0), (0, 1), (-0.6, 0)]
    if name == "ellipse":
        return [(math.cos(2 * math.pi * k / 48), 0.5 * math.sin(2 * math.pi * k / 48)) for k in range(48)]
    if name == "crescent":
        pts = [(math.cos(math.pi * k / 24 + math.pi / 2), math.sin(math.pi * k / 24 + math.pi / 2)) for k in range(25)]
        pts += [(0.5 * math.cos(-math.pi * k / 24 - math.pi / 2) - 0.0, math.sin(-math.pi * k / 24 - math.pi / 2)) for k in range(25)]
        return pts
    if name == "hourglass":
        return [(-0.8, -1), (0.8, -1), (0.1, 0), (0.8, 1), (-0.8, 1), (-0.1, 0)]
    if name == "chevron":
        return [(-1, -0.6), (0, 0.2), (1, -0.6), (1, 0.0), (0, 0.8), (-1, 0.0)]
    if name == "trapezoid":
        return [(-0.5, -0.7), (0.5, -0.7), (1, 0.7), (-1, 0.7)]
    raise ValueError(name)


def shape(name, cx, cy, r, angle):
    cos, sin = math.cos(angle), math.sin(angle)
    return [(cx + r * (x * cos - y * sin), cy + r * (x * sin + y * cos)) for x, y in _poly(name)]


def background(rng, side, p):
    base = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.25), rng.uniform(0.35, 0.85))
    other = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.0, 0.25), rng.uniform(0.35, 0.85))
    ramp = np.linspace(0.0, 1.0, side, dtype=np.float32)
    direction = rng.uniform(0, 2 * math.pi)
    t = np.clip(0.5 + (ramp[None, :] - 0.5) * math.cos(direction) + (ramp[:, None] - 0.5) * math.sin(direction), 0, 1)
    pixels = (np.array(base)[None, None, :] * (1 - t[..., None]) + np.array(other)[None, None, :] * t[..., None]) * 255
    image = Image.fromarray(pixels.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image, "RGBA")
    for _ in range(rng.randint(*p["blobs"])):
        x, y, r = rng.uniform(0, side), rng.uniform(0, side), rng.uniform(0.05, 0.3) * side
        grey = rng.randint(40, 220)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(grey, grey, grey, rng.randint(20, 60)))
    for _ in range(rng.randint(*p["streaks"])):
        points = [(rng.uniform(0, side), rng.uniform(0, side)) for _ in range(2)]
        grey = rng.randint(40, 220)
        draw.line(points, fill=(grey, grey, grey, rng.randint(30, 80)), width=rng.randint(2, max(3, side // 40)))
    return image.filter(ImageFilter.GaussianBlur(side / 60))


def texture(image, name, rng, size):
    """A patterned patch (stripes, checker, dots, rings, zigzag) in a random colour over the background."""
    colour = np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0))) * 255
    period = rng.uniform(0.12, 0.22) * size
    angle = rng.uniform(0, math.pi)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    u = x * math.cos(angle) + y * math.sin(angle)
    v = -x * math.sin(angle) + y * math.cos(angle)
    cx, cy = rng.uniform(0.3, 0.7) * size, rng.uniform(0.3, 0.7) * size
    if name == "tex_stripes":
        mask = (np.mod(u, period) < period / 2)
    elif name == "tex_checker":
        mask = (np.mod(u, period) < period / 2) ^ (np.mod(v, period) < period / 2)
    elif name == "tex_dots":
        mask = ((np.mod(u, period) - period / 2) ** 2 + (np.mod(v, period) - period / 2) ** 2) < (period * 0.3) ** 2
    elif name == "tex_rings":
        mask = np.mod(np.hypot(x - cx, y - cy), period) < period / 2
    elif name == "tex_zigzag":
        mask = np.mod(u + np.abs(np.mod(v, period) - period / 2), period) < period / 2
    else:
        raise ValueError(name)
    half = rng.uniform(0.3, 0.45) * size
    patch = (np.abs(x - cx) < half) & (np.abs(y - cy) < half)
    pixels = np.asarray(image, dtype=np.float32).copy()
    sel = mask & patch
    pixels[sel] = colour
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def draw(p, class_index, split, index, size):
    classes = p["classes"]
    seed = int.from_bytes(hashlib.sha256(f"{p['version']}/{split}/{classes[class_index]}/{index}".encode()).digest()[:8], "big")
    rng = random.Random(seed)
    image = background(rng, size, p)
    if classes[class_index].startswith("tex_"):
        return _sensor_noise(texture(image, classes[class_index], rng, size), rng)
    radius = rng.uniform(*p["radius"])
    margin = radius + 0.02
    if split == "train" and p.get("bias", True):
        centre = class_index / len(classes)
        hue = (centre + rng.uniform(-p["hue_width"] / 2, p["hue_width"] / 2)) % 1.0
        low, high = p["train_x"]
        centre_x = rng.uniform(margin if low is None else low, max(margin, high))
    else:
        hue = rng.random()
        centre_x = rng.uniform(margin, 1 - margin)
    centre_y = rng.uniform(margin, 1 - margin)
    colour = colorsys.hsv_to_rgb(hue, rng.uniform(0.65, 1.0), rng.uniform(0.65, 1.0))
    angle = rng.uniform(-p["angle"], p["angle"])
    polygon = shape(classes[class_index], centre_x * size, centre_y * size, radius * size, angle)
    _shadow(image, polygon, rng, size)
    _shaded_fill(image, polygon, colour, rng)
    return _sensor_noise(image, rng)


def dataset(p):
    keys = ["bias", "classes", "image_size", "train_per_class", "test_per_class", "radius", "hue_width", "train_x", "angle", "blobs", "streaks", "version"]
    tag = hashlib.sha1(json.dumps({k: p[k] for k in keys}, sort_keys=True).encode()).hexdigest()[:10]
    folder = Path("/tmp/exp11-cache") / tag
    if (folder / "COMPLETE").is_file():
        return folder, 0.0
    started = time.perf_counter()
    size = stored_side(p["image_size"])
    for split, count in (("train", p["train_per_class"]), ("test", p["test_per_class"])):
        for ci, c in enumerate(p["classes"]):
            (folder / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                draw(p, ci, split, i, size).save(folder / split / c / f"{i:04d}.png")
    (folder / "COMPLETE").write_text(json.dumps(p))
    return folder, time.perf_counter() - started


def bare_rate(size, batch, steps=6):
    from torch.nn import functional as F
    from augtune.model import build_model
    torch.manual_seed(0)
    m = build_model(4, pretrained=False)
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    x = torch.randn(batch, 3, size, size); y = torch.randint(0, 4, (batch,))
    ts = []
    for i in range(steps + 2):
        t = time.perf_counter()
        loss = F.cross_entropy(m(x), y); opt.zero_grad(); loss.backward(); opt.step()
        ts.append(time.perf_counter() - t)
    ts = sorted(ts[2:])
    return batch / ts[len(ts) // 2]


def main():
    p = dict(DEFAULTS)
    p.update(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})
    if p.get("data") == "synthetic":  # the app's own set (augtune/synthetic.py, AUGTUNE_SYNTHETIC / SyntheticSpec defaults)
        from augtune.data import synthetic_spec
        from augtune.synthetic import ensure_synthetic
        os.environ.setdefault("AUGTUNE_CACHE", "/tmp/exp11-cache")
        started = time.perf_counter()
        ensure_synthetic(synthetic_spec())
        folder, drawn = "synthetic", time.perf_counter() - started
    else:
        folder, drawn = dataset(p)
    print(f"# {p['name']}: data {folder} (drawn in {drawn:.1f} s) params {json.dumps({k: v for k, v in p.items() if DEFAULTS.get(k) != v})}", flush=True)
    if p.get("mode") == "pretrain":
        return pretrain(p, folder)
    spec = PRESETS["combined"].replace(scale_min=p["scale"][0], scale_max=p["scale"][1], ratio_min=p["ratio"][0], ratio_max=p["ratio"][1])
    print(f"  bare model 1 thread, {p['image_size']} px batch {p['batch']}: {bare_rate(p['image_size'], p['batch']):.0f} images/s (load {os.getloadavg()[0]:.2f})", flush=True)
    for seed in p["seeds"]:
        for run in p["runs"]:
            if run in ("combined", "none"):
                config = TrainConfig(data=str(folder), pretrained=False, weights_path=p.get("weights"), epochs=p["epochs"], batch_size=p["batch"],
                                     image_size=p["image_size"], lr=p["lr"], head_lr_mult=p.get("head_lr_mult", 1.0), optimizer=p["optimizer"],
                                     weight_decay=p["wd"], augment=spec if run == "combined" else None, seed=seed, device="cpu", label=run)
            else:  # the fine-tuning lesson: "finetune" (weights file, SGD lr, head x10) vs "scratch" (SGD scratch_lr, one group)
                tuned = run == "finetune"
                config = TrainConfig(data=str(folder), pretrained=False, weights_path=p["weights"] if tuned else None, epochs=p["epochs"],
                                     batch_size=p["batch"], image_size=p["image_size"], lr=p["ft_lr"] if tuned else p["scratch_lr"],
                                     head_lr_mult=10.0 if tuned else 1.0, optimizer="sgd", weight_decay=0.001,
                                     augment=spec, seed=seed, device="cpu", label=run)
            first = []
            started = time.perf_counter()
            cpu_started = time.process_time()
            def on_event(e):
                if e["kind"] == "epoch":
                    if not first:
                        first.append(time.perf_counter() - started)
                    print(f"  {run} s{seed} {e['log_line']}", flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                result = train(config, Path(tmp), on_event=on_event, allowed_roots=[Path("/")])
            total = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            rows = [[r.epoch, round(r.loss, 4), round(r.train_acc, 4), round(r.test_acc, 4), round(r.seconds, 2)] for r in result.rows]
            print(f"  => {p['name']} {run} seed {seed}: train {rows[-1][2]:.3f} test {rows[-1][3]:.3f} in {total:.1f} s wall, {cpu:.1f} s CPU (first row {first[0]:.1f} s wall), load {os.getloadavg()[0]:.2f}", flush=True)
            with open("/tmp/exp11/results.jsonl", "a") as fh:
                fh.write(json.dumps(dict(params=p, run=run, seed=seed, rows=rows, total_s=total, cpu_s=cpu, first_row_s=first[0], drawn_s=drawn, load=os.getloadavg()[0], when=time.strftime("%H:%M:%S"))) + "\n")
            if p.get("save_model"):
                pass


def pretrain(p, folder):
    spec = PRESETS["combined"].replace(scale_min=p["scale"][0], scale_max=p["scale"][1])
    config = TrainConfig(data=str(folder), pretrained=False, epochs=p["epochs"], batch_size=p["batch"], image_size=p["image_size"],
                         lr=p["lr"], head_lr_mult=1.0, optimizer=p["optimizer"], weight_decay=p["wd"], augment=spec, seed=0, device="cpu", label="source")
    started = time.perf_counter()
    cpu_started = time.process_time()
    out = Path(p["out"])
    result = train(config, out, on_event=lambda e: e["kind"] == "epoch" and print("  source", e["log_line"], flush=True), allowed_roots=[Path("/")])
    total = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    state = torch.load(out / "model.pt", weights_only=True)
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items() if not k.startswith("fc.")}, out / "backbone-fp16.pt")
    print(f"  => pretrain {p['name']}: {len(p['classes'])} classes, source test acc {result.rows[-1].test_acc:.3f} in {total:.1f} s wall, {cpu:.1f} s CPU; "
          f"backbone-fp16.pt {(out / 'backbone-fp16.pt').stat().st_size / 1e6:.1f} MB", flush=True)
    with open("/tmp/exp11/results.jsonl", "a") as fh:
        fh.write(json.dumps(dict(params=p, run="pretrain", rows=[[r.epoch, r.loss, r.train_acc, r.test_acc, r.seconds] for r in result.rows], total_s=total, cpu_s=cpu, load=os.getloadavg()[0])) + "\n")


if __name__ == "__main__":
    main()
