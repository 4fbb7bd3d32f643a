"""Data sources: ImageFolder folders and zips (hostile ones too), the data-root fence, the hot-dog download."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import stat
import threading
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from augtune import data
from augtune.data import TrainError

COLOURS = {"cat": (200, 40, 40), "dog": (40, 40, 200), "fox": (40, 200, 40)}


def png(colour=(128, 128, 128), size=(20, 14)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def make_folder(root: Path, layout: dict[str, int]) -> Path:
    """layout: "train/cat" -> number of images."""
    for folder, count in layout.items():
        colour = COLOURS[folder.split("/")[-1]]
        for index in range(count):
            write(root / folder / f"{index}.png", png(colour))
    return root


def load(path, image_size=32, **kwargs):
    return data.load(str(path), image_size, **kwargs)


def test_train_test_folders_with_junk_and_a_class_without_test_images(tmp_path, monkeypatch):
    monkeypatch.setenv("AUGTUNE_DATA_ROOT", str(tmp_path))
    folder = make_folder(tmp_path / "pets", {"train/cat": 4, "train/dog": 3, "train/fox": 2, "test/cat": 2, "test/dog": 1})
    write(folder / "train" / "cat" / "broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg")
    write(folder / "train" / "dog" / "notes.txt", b"hello")
    write(folder / "README.md", b"# my data")

    dataset = load("pets")  # relative to the data root

    assert dataset.classes == ["cat", "dog", "fox"]
    assert dataset.counts(dataset.train) == {"cat": 4, "dog": 3, "fox": 2}
    assert dataset.counts(dataset.test) == {"cat": 2, "dog": 1, "fox": 0}
    assert dataset.skipped == {"unreadable": 1, "not_images": 2}
    assert "fox" in dataset.note and "test" in dataset.note
    side = data.stored_side(32)
    assert dataset.train.pixels.shape == (9, 3, side, side) and dataset.train.pixels.dtype == torch.uint8
    assert dataset.test.pixels.shape == (3, 3, 32, 32)
    # Pixels keep their class's colour and labels follow the class order.
    cat_pixel = dataset.train.pixels[dataset.train.labels == 0][0, :, 5, 5].tolist()
    assert cat_pixel == list(COLOURS["cat"])
    event = dataset.event()
    assert event["kind"] == "data" and event["skipped"] == {"unreadable": 1, "not_images": 2}

    described = data.describe("pets")  # before decoding: counts of files
    assert described["classes"] == ["cat", "dog", "fox"]
    assert described["train_counts"] == {"cat": 5, "dog": 3, "fox": 2}
    assert described["skipped"]["not_images"] == 2


def test_one_folder_per_class_is_split_by_a_fixed_seed(tmp_path):
    make_folder(tmp_path / "flat", {"cat": 10, "dog": 5})
    first = load(tmp_path / "flat", allowed_roots=[tmp_path])
    second = load(tmp_path / "flat", allowed_roots=[tmp_path])
    assert first.counts(first.test) == {"cat": 2, "dog": 1}
    assert first.counts(first.train) == {"cat": 8, "dog": 4}
    assert first.test.names == second.test.names
    assert "held out" in first.note


def test_class_folders_that_cannot_train(tmp_path):
    make_folder(tmp_path / "one", {"train/cat": 3, "test/cat": 1})
    with pytest.raises(TrainError, match="at least two classes"):
        load(tmp_path / "one", allowed_roots=[tmp_path])

    # An empty class is left out with a note; with two classes left the data is usable.
    make_folder(tmp_path / "empty", {"train/cat": 3, "train/dog": 3, "test/cat": 1, "test/dog": 1})
    (tmp_path / "empty" / "train" / "fox").mkdir()
    write(tmp_path / "empty" / "train" / "fox" / "bad.png", b"not a png")
    dataset = load(tmp_path / "empty", allowed_roots=[tmp_path])
    assert dataset.classes == ["cat", "dog"]
    assert "fox" in dataset.note

    make_folder(tmp_path / "notest", {"train/cat": 1, "train/dog": 1, "test/fox": 1})
    with pytest.raises(TrainError, match="no test images"):
        load(tmp_path / "notest", allowed_roots=[tmp_path])

    (tmp_path / "nothing").mkdir()
    with pytest.raises(TrainError, match="No class folders"):
        load(tmp_path / "nothing", allowed_roots=[tmp_path])


def test_paths_outside_the_data_root_are_refused(tmp_path, monkeypatch):
    root = tmp_path / "root"
    make_folder(root / "inside", {"cat": 3, "dog": 3})
    make_folder(tmp_path / "outside", {"cat": 3, "dog": 3})
    monkeypatch.setenv("AUGTUNE_DATA_ROOT", str(root))
    (root / "link").symlink_to(tmp_path / "outside")

    assert load("inside").classes == ["cat", "dog"]
    for name in ("../outside", str(tmp_path / "outside"), "link", "inside/../../outside", "/etc"):
        with pytest.raises(TrainError, match="outside the data folder"):
            load(name)
    with pytest.raises(TrainError, match="no data folder"):
        load("missing")

    # A symlinked file inside a class folder that points out of the root is not read.
    write(tmp_path / "secret.png", png((1, 2, 3)))
    (root / "inside" / "cat" / "leak.png").symlink_to(tmp_path / "secret.png")
    dataset = load("inside")
    assert dataset.counts(dataset.train)["cat"] + dataset.counts(dataset.test)["cat"] == 3


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def test_zip_in_imagefolder_layout(tmp_path):
    members = {f"mydata/train/{c}/{i}.png": png(COLOURS[c]) for c in ("cat", "dog") for i in range(3)}
    members.update({f"mydata/test/{c}/{i}.png": png(COLOURS[c]) for c in ("cat", "dog") for i in range(2)})
    members["mydata/train/cat/broken.png"] = b"\x89PNG\r\n\x1a\n broken"
    members["mydata/train/dog/thumbs.db"] = b"junk"
    members["__MACOSX/mydata/train/cat/._0.png"] = b"resource fork"
    archive = make_zip(tmp_path / "pets.zip", members)

    dataset = load(archive, allowed_roots=[tmp_path])

    assert dataset.classes == ["cat", "dog"]
    assert dataset.counts(dataset.train) == {"cat": 3, "dog": 3}
    assert dataset.counts(dataset.test) == {"cat": 2, "dog": 2}
    assert dataset.skipped == {"unreadable": 1, "not_images": 1}
    assert data.describe(str(archive), allowed_roots=[tmp_path])["test_counts"] == {"cat": 2, "dog": 2}


@pytest.mark.parametrize(
    "name, message",
    [("../evil.png", "unsafe path"), ("train/cat/../../../evil.png", "unsafe path"), ("/abs/evil.png", "unsafe path")],
)
def test_zip_slip_is_refused(tmp_path, name, message):
    members = {f"train/{c}/{i}.png": png() for c in ("cat", "dog") for i in range(2)}
    members[name] = png()
    archive = make_zip(tmp_path / "slip.zip", members)
    with pytest.raises(TrainError, match=message):
        load(archive, allowed_roots=[tmp_path])


def test_zip_with_a_symlink_is_refused(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("train/cat/0.png", png())
        link = zipfile.ZipInfo("train/cat/1.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zipped.writestr(link, "/etc/passwd")
    with pytest.raises(TrainError, match="symbolic link"):
        load(archive, allowed_roots=[tmp_path])


def test_zip_caps_on_files_and_size(tmp_path, monkeypatch):
    archive = make_zip(tmp_path / "many.zip", {f"train/cat/{i}.png": png() for i in range(6)})
    monkeypatch.setattr(data, "MAX_ZIP_FILES", 5)
    with pytest.raises(TrainError, match="holds 6 files; at most 5"):
        load(archive, allowed_roots=[tmp_path])

    monkeypatch.setattr(data, "MAX_ZIP_FILES", 100)
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("train/cat/big.png", b"\0" * (3 * 2**20))  # 3 MB of zeros, a few KB compressed
    assert (tmp_path / "bomb.zip").stat().st_size < 50_000
    monkeypatch.setattr(data, "MAX_ZIP_BYTES", 2**20)
    with pytest.raises(TrainError, match="unpacks to 3 MB; at most 1 MB"):
        load(tmp_path / "bomb.zip", allowed_roots=[tmp_path])


def test_zip_member_lying_about_its_size_inflates_no_more_than_declared(tmp_path):
    """A header that understates a member's size must not let more bytes out than it declares."""
    archive = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for c in ("cat", "dog"):
            for i in range(2):
                zipped.writestr(f"train/{c}/{i}.png", png(COLOURS[c]))
            zipped.writestr(f"test/{c}/0.png", png(COLOURS[c]))
        zipped.writestr("train/cat/bomb.png", b"\0" * 2**20)
    raw = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zipped:
        info = zipped.getinfo("train/cat/bomb.png")
    # Patch the declared size in the central directory entry (offset 24 in the record) to 100 bytes.
    position = raw.rfind(b"train/cat/bomb.png") - 46  # the name's last copy is in the central directory
    assert raw[position : position + 4] == b"PK\x01\x02"
    raw[position + 24 : position + 28] = (100).to_bytes(4, "little")
    archive.write_bytes(bytes(raw))
    assert info.file_size == 2**20

    with zipfile.ZipFile(archive) as zipped:
        with pytest.raises(zipfile.BadZipFile):
            zipped.read("train/cat/bomb.png")  # zipfile stops at the declared size and fails the CRC
    dataset = load(archive, allowed_roots=[tmp_path])
    assert dataset.skipped["unreadable"] == 1
    assert dataset.counts(dataset.train) == {"cat": 2, "dog": 2}


def test_not_a_zip(tmp_path):
    write(tmp_path / "fake.zip", b"this is text")
    with pytest.raises(TrainError, match="not a readable .zip"):
        load(tmp_path / "fake.zip", allowed_roots=[tmp_path])


# --- the hot-dog download, against a server on 127.0.0.1 ------------------------------------------


def hotdog_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for split, count in (("train", 3), ("test", 2)):
            for class_name, colour in (("hotdog", (220, 120, 40)), ("not-hotdog", (40, 160, 60))):
                for index in range(count):
                    zipped.writestr(f"hotdog/{split}/{class_name}/{index}.png", png(colour))
    return buffer.getvalue()


class Server:
    """Serves one file with HTTP Range support; can cut the first transfer off half way."""

    def __init__(self, body: bytes, cut_first: bool = False) -> None:
        self.body = body
        self.cut_first = cut_first
        self.requests: list[str | None] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                ranged = self.headers.get("Range")
                server.requests.append(ranged)
                start = int(ranged.split("=")[1].split("-")[0]) if ranged else 0
                payload = server.body[start:]
                self.send_response(206 if ranged else 200)
                self.send_header("Content-Length", str(len(payload)))
                if ranged:
                    self.send_header("Content-Range", f"bytes {start}-{len(server.body) - 1}/{len(server.body)}")
                self.end_headers()
                if server.cut_first and len(server.requests) == 1:
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hotdog.zip"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def online(monkeypatch):
    monkeypatch.delenv("AUGTUNE_OFFLINE", raising=False)


def test_hotdog_download_checks_sha1_unpacks_and_is_reused(tmp_path, online, monkeypatch):
    body = hotdog_zip()
    server = Server(body)
    messages = []
    try:
        folder = data.ensure_hotdog(tmp_path, url=server.url, sha1=hashlib.sha1(body).hexdigest(), status=messages.append)
        assert sorted(p.name for p in (folder / "train").iterdir()) == ["hotdog", "not-hotdog"]
        assert (tmp_path / "hotdog" / "COMPLETE").is_file()
        assert not (tmp_path / "hotdog.zip").exists() and not (tmp_path / "hotdog.zip.part").exists()
        assert any("Downloading the hot-dog data set" in m for m in messages)
        assert data.ensure_hotdog(tmp_path, url=server.url, sha1="unused once cached") == folder
        assert len(server.requests) == 1
    finally:
        server.close()

    monkeypatch.setenv("AUGTUNE_CACHE", str(tmp_path))
    monkeypatch.setenv("AUGTUNE_OFFLINE", "1")  # cached: no network needed
    dataset = data.load("hotdog", 32)
    assert dataset.classes == ["hotdog", "not-hotdog"]
    assert dataset.counts(dataset.train) == {"hotdog": 3, "not-hotdog": 3}
    assert dataset.counts(dataset.test) == {"hotdog": 2, "not-hotdog": 2}


def test_hotdog_wrong_sha1_is_deleted_and_reported(tmp_path, online):
    server = Server(hotdog_zip())
    try:
        with pytest.raises(TrainError, match="SHA-1"):
            data.ensure_hotdog(tmp_path, url=server.url, sha1=data.HOTDOG_SHA1)
    finally:
        server.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_hotdog_interrupted_download_resumes_and_never_passes_half_done(tmp_path, online):
    body = hotdog_zip()
    sha1 = hashlib.sha1(body).hexdigest()
    server = Server(body, cut_first=True)
    try:
        with pytest.raises(TrainError, match="interrupted"):
            data.ensure_hotdog(tmp_path, url=server.url, sha1=sha1)
        part = tmp_path / "hotdog.zip.part"
        assert 0 < part.stat().st_size < len(body)
        assert not (tmp_path / "hotdog").exists()

        folder = data.ensure_hotdog(tmp_path, url=server.url, sha1=sha1)
        assert server.requests == [None, f"bytes={len(body) // 2}-"]
        assert len(list((folder / "test").rglob("*.png"))) == 4
    finally:
        server.close()

    # A half-unpacked folder (no COMPLETE marker) is never taken for the data set.
    (tmp_path / "hotdog" / "COMPLETE").unlink()
    server = Server(body)
    try:
        data.ensure_hotdog(tmp_path, url=server.url, sha1=sha1)
        assert len(server.requests) == 1
    finally:
        server.close()
    assert (tmp_path / "hotdog" / "COMPLETE").read_text() == sha1


def test_hotdog_offline_or_unreachable_says_so_quickly(tmp_path, monkeypatch):
    monkeypatch.setenv("AUGTUNE_OFFLINE", "1")
    with pytest.raises(TrainError, match="offline"):
        data.ensure_hotdog(tmp_path)
    monkeypatch.delenv("AUGTUNE_OFFLINE")
    with pytest.raises(TrainError, match="could not be downloaded"):
        data.ensure_hotdog(tmp_path, url="http://127.0.0.1:9/hotdog.zip")  # port 9: nothing listens


def test_cifar10_offline_without_files(tmp_path, monkeypatch):
    monkeypatch.setenv("AUGTUNE_CACHE", str(tmp_path))
    monkeypatch.setenv("AUGTUNE_OFFLINE", "1")
    with pytest.raises(TrainError, match="CIFAR-10 is not downloaded"):
        data.load("cifar10", 32)
    assert data.describe("cifar10")["train_counts"]["cat"] == 5000


def test_uploaded_zip_is_usable_from_gradios_upload_folder_but_folders_there_are_not(tmp_path, monkeypatch):
    monkeypatch.setenv("AUGTUNE_DATA_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "uploads"))
    members = {f"{c}/{i}.png": png(COLOURS[c]) for c in ("cat", "dog") for i in range(3)}
    archive = make_zip(write(tmp_path / "uploads" / "abc123" / "pets.zip", b"").parent / "pets.zip", members)
    assert load(archive).classes == ["cat", "dog"]  # default roots: data root, and uploads for zips
    make_folder(tmp_path / "uploads" / "folder", {"cat": 2, "dog": 2})
    with pytest.raises(TrainError, match="outside the data folder"):
        load(tmp_path / "uploads" / "folder")
