"""ResNet-18 loading: torchvision's real weights path fed from a local cache, weights files good and bad,
the new head and its learning rate."""

from __future__ import annotations

import copy
import hashlib
import http.server
import os
import socket
import threading
import time

import pytest
import torch
from torch.nn import functional as F
from torchvision.models import resnet18, resnet34

from augtune import data, model
from augtune.data import TrainError


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """A TORCH_HOME whose hub cache holds a (random, recognisable) ResNet-18 under torchvision's file name."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("AUGTUNE_OFFLINE", "1")
    torch.manual_seed(123)
    state = resnet18().state_dict()
    cached = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    torch.save(state, cached)
    assert model.cached_weights_file() == cached
    return state


def test_pretrained_weights_come_through_torchvisions_cache(torch_home):
    net = model.build_model(3, pretrained=True)
    loaded = net.state_dict()
    for name, tensor in torch_home.items():
        if not name.startswith("fc."):
            assert torch.equal(loaded[name], tensor), name
    assert net.fc.weight.shape == (3, 512) and net.fc.bias.shape == (3,)


def test_scratch_has_no_pretrained_values(torch_home):
    torch.manual_seed(0)
    net = model.build_model(2, pretrained=False)
    loaded = net.state_dict()
    assert not torch.equal(loaded["conv1.weight"], torch_home["conv1.weight"])
    assert not torch.equal(loaded["layer4.1.conv2.weight"], torch_home["layer4.1.conv2.weight"])
    assert torch.equal(loaded["bn1.running_mean"], torch.zeros(64))  # untouched by any data


def test_offline_without_cache_says_so_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("AUGTUNE_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(TrainError, match="offline; choose the built-in backbone or train from scratch"):
        model.build_model(2, pretrained=True)
    assert time.monotonic() - started < 5  # a refusal, not a timeout (generous bound for a loaded machine)


def test_unreachable_or_silent_network_gives_up(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("AUGTUNE_OFFLINE", raising=False)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setattr(model, "WEIGHTS_URL", f"http://127.0.0.1:{port}/resnet18-f37072fd.pth")
    with pytest.raises(TrainError, match="could not be downloaded.*train from scratch"):
        model.build_model(2, pretrained=True)

    # A server that accepts the connection and never answers: the short timeout ends the wait.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    monkeypatch.setattr(model, "WEIGHTS_URL", f"http://127.0.0.1:{silent.getsockname()[1]}/resnet18-f37072fd.pth")
    monkeypatch.setattr(data, "NETWORK_TIMEOUT_S", 0.5)
    try:
        with pytest.raises(TrainError, match="could not be downloaded"):
            model.build_model(2, pretrained=True)
    finally:
        silent.close()
    assert not list(tmp_path.rglob("*.partial"))


def test_download_fills_torchvisions_cache(tmp_path, monkeypatch):
    """The fetch we do ourselves lands where torchvision looks, and is checked against the hash in its name."""
    torch.manual_seed(5)
    source = tmp_path / "served.pth"
    torch.save(resnet18().state_dict(), source)
    body = source.read_bytes()
    prefix = hashlib.sha256(body).hexdigest()[:8]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("AUGTUNE_OFFLINE", raising=False)
    monkeypatch.setattr(model, "WEIGHTS_URL", f"http://127.0.0.1:{server.server_address[1]}/resnet18-f37072fd.pth")
    try:
        # The served file's hash does not start with torchvision's f37072fd: refused, nothing cached.
        with pytest.raises(TrainError, match="damaged"):
            model.ensure_imagenet_weights()
        assert not model.cached_weights_file().exists()
        assert prefix != "f37072fd"
    finally:
        server.shutdown()
        server.server_close()


def test_head_gets_its_own_learning_rate(torch_home):
    net = model.build_model(5, pretrained=True)
    groups = model.param_groups(net, lr=0.01, head_lr_mult=10)
    body, head = groups
    assert body["lr"] == pytest.approx(0.01) and head["lr"] == pytest.approx(0.1)
    assert {id(p) for p in head["params"]} == {id(net.fc.weight), id(net.fc.bias)}
    assert len(body["params"]) + len(head["params"]) == len(list(net.parameters()))
    optimizer = torch.optim.SGD(groups, lr=0.01)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.01, 0.1])


def test_weights_file_loads_backbone_and_replaces_head(tmp_path):
    torch.manual_seed(7)
    state = resnet18().state_dict()
    path = tmp_path / "mine.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)  # DataParallel checkpoint
    net = model.build_model(4, weights_path=str(path))
    assert torch.equal(net.state_dict()["layer1.0.conv1.weight"], state["layer1.0.conv1.weight"])
    assert net.fc.out_features == 4


def test_weights_file_that_is_not_a_state_dict(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(TrainError, match="not a state dict"):
        model.load_weights_file(tmp_path / "list.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(TrainError, match="not a PyTorch weights file"):
        model.load_weights_file(tmp_path / "text.pt")
    with pytest.raises(TrainError, match="no weights file"):
        model.load_weights_file(tmp_path / "missing.pt")


class RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = ""


def test_pickle_that_would_run_code_is_refused(tmp_path):
    global MARKER
    MARKER = str(tmp_path / "pwned")
    path = tmp_path / "evil.pt"
    torch.save({"conv1.weight": RunsCode()}, path)
    with pytest.raises(TrainError, match="refused for safety"):
        model.build_model(2, weights_path=str(path))
    assert not os.path.exists(MARKER)


def test_state_dict_of_another_architecture(tmp_path):
    torch.save(resnet34().state_dict(), tmp_path / "r34.pt")
    with pytest.raises(TrainError, match="not a ResNet-18 state dict"):
        model.build_model(2, weights_path=str(tmp_path / "r34.pt"))
    torch.save({"weight": torch.zeros(3)}, tmp_path / "tiny.pt")
    with pytest.raises(TrainError, match="not a ResNet-18 state dict"):
        model.load_weights_file(tmp_path / "tiny.pt")


class _HeadHandler(http.server.BaseHTTPRequestHandler):
    heads = 0

    def do_HEAD(self):  # noqa: N802 - http.server's name
        type(self).heads += 1
        self.send_response(200)
        self.send_header("Content-Length", "46830571")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_weights_state_is_known_before_start_with_a_short_probe(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("AUGTUNE_OFFLINE", raising=False)
    monkeypatch.setattr(model, "_probes", {})
    monkeypatch.setattr(model, "PROBE_TIMEOUT_S", 0.5)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HeadHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(model, "WEIGHTS_URL", f"http://127.0.0.1:{server.server_address[1]}/resnet18-f37072fd.pth")
        assert model.imagenet_weights_state() == ("download", "")
        assert model.imagenet_weights_state() == ("download", "")
        assert _HeadHandler.heads == 1, "a class opening the page at once shares one probe"
    finally:
        server.shutdown()
        server.server_close()

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setattr(model, "WEIGHTS_URL", f"http://127.0.0.1:{port}/resnet18-f37072fd.pth")
    state, reason = model.imagenet_weights_state()
    assert state == "unreachable" and "refused" in reason.lower()

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        monkeypatch.setattr(model, "WEIGHTS_URL", f"http://127.0.0.1:{silent.getsockname()[1]}/resnet18-f37072fd.pth")
        started = time.monotonic()
        state, reason = model.imagenet_weights_state()
        assert state == "unreachable" and "timed out" in reason.lower()
        assert time.monotonic() - started < 5
    finally:
        silent.close()

    monkeypatch.setenv("AUGTUNE_OFFLINE", "1")
    assert model.imagenet_weights_state() == ("offline", "")
    model.cached_weights_file().parent.mkdir(parents=True)
    torch.save(resnet18().state_dict(), model.cached_weights_file())
    assert model.imagenet_weights_state() == ("cached", "")


@pytest.mark.parametrize("image_size", [48, 64, 96])
def test_tiny_map_convolutions_compute_what_torchvision_does(image_size):
    """speed_up_tiny_maps changes how the last stage is computed on the CPU, not what: the same outputs, the
    same gradients and the same state dict as torchvision's model, at sizes where its maps are 2x2 and 3x3."""
    torch.manual_seed(0)
    plain = model.build_model(4, pretrained=False)
    fast = copy.deepcopy(plain)
    model.speed_up_tiny_maps(fast)
    assert fast.state_dict().keys() == plain.state_dict().keys()
    assert sum(type(m).__name__ == "_TinyMapConv2d" for m in fast.modules()) == 5  # 4 3x3 and the 1x1 downsample
    images = torch.randn(3, 3, image_size, image_size)
    labels = torch.tensor([0, 1, 3])
    for net in (plain, fast):
        net.train()
        F.cross_entropy(net(images), labels).backward()
    assert torch.allclose(fast(images), plain(images), atol=1e-5)
    for (name, a), (_, b) in zip(plain.named_parameters(), fast.named_parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-5), name
