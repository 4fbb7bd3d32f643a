"""The Fine-tune tab's HTTP API, through gradio_client against the launched app (real training, tiny data)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
WAIT_S = 240  # generous: the first run's worker may still be importing torch on a busy machine
TINY = {"data": "tiny", "pretrained": False, "epochs": 2, "batch_size": 8, "image_size": 32}
FINISHED = {"done", "failed", "cancelled"}


def write_image_folder(root: Path, name: str, per_class_train: int, per_class_test: int) -> None:
    for split, count in (("train", per_class_train), ("test", per_class_test)):
        for class_name, colour in (("red", (200, 40, 40)), ("blue", (40, 40, 200))):
            folder = root / name / split / class_name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                Image.new("RGB", (40, 40), tuple(min(255, v + 3 * index) for v in colour)).save(folder / f"{index}.png")


@pytest.fixture(scope="module", autouse=True)
def data_folders(app_server):
    """Folders in the server's data root (AUGTUNE_DATA_ROOT), where the host puts class data sets."""
    root = app_server.tmp / "data"
    write_image_folder(root, "tiny", per_class_train=12, per_class_test=4)
    write_image_folder(root, "long", per_class_train=150, per_class_test=2)
    return root


def status(client: Client, session: dict) -> list[dict]:
    return client.predict(session, api_name="/finetune_status")


def wait_until(client: Client, session: dict, condition, timeout: float = WAIT_S) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = status(client, session)
        if condition(runs):
            return runs
        time.sleep(0.2)
    raise AssertionError(f"not reached within {timeout} s: {runs}")


def all_finished(runs: list[dict]) -> bool:
    return all(run["status"] in FINISHED for run in runs)


def test_data_sets_show_their_classes_and_counts_before_training(client):
    synthetic = client.predict("synthetic", api_name="/finetune_data")
    assert synthetic["classes"] == ["disc", "square", "triangle", "cross"]
    assert sum(synthetic["train_counts"].values()) == 600 and sum(synthetic["test_counts"].values()) == 200
    assert "left half" in synthetic["note"]  # the built-in bias is said
    tiny = client.predict("tiny", api_name="/finetune_data")
    assert tiny["classes"] == ["blue", "red"]
    assert tiny["train_counts"] == {"blue": 12, "red": 12} and tiny["test_counts"] == {"blue": 4, "red": 4}
    with pytest.raises(AppError) as refused:
        client.predict("../../etc", api_name="/finetune_data")
    assert str(refused.value) == "The data path '../../etc' is outside the data folder, so it cannot be used."


def test_a_run_streams_epoch_rows_and_can_be_got_back_from_a_new_session(client, app_server):
    session = client.predict(None, TINY, api_name="/finetune_start")
    assert set(session) == {"owner", "jobs"} and len(session["jobs"]) == 1
    first_row = wait_until(client, session, lambda runs: len(runs[0]["rows"]) >= 1)[0]
    assert first_row["status"] in ("running", "done")
    assert first_row["log_lines"][0].startswith("epoch 1, loss ")
    run = wait_until(client, session, all_finished)[0]
    assert run["status"] == "done", run["error"]
    assert [row["epoch"] for row in run["rows"]] == [1, 2]
    assert run["log_lines"][1].startswith("epoch 2, loss ") and run["log_lines"][1].endswith(" sec")
    assert run["data"]["classes"] == ["blue", "red"] and run["device"]["device"] == "cpu"
    assert {"model.pt", "metrics.csv"} <= set(run["files"])
    assert not any("/" in name for name in run["files"])  # names only: no server paths over the API
    assert run["label"] == "scratch, lr 0.01, augmented"

    # A closed tab: a new connection with only the kept session sees the same run; a stranger sees nothing.
    again = Client(app_server.url, verbose=False)
    assert status(again, session)[0]["rows"] == run["rows"]
    stranger = {"owner": "x" * 32, "jobs": session["jobs"]}
    assert status(again, stranger) == []
    with pytest.raises(AppError) as refused:
        again.predict(stranger, api_name="/finetune_cancel")
    assert "belongs to someone else" in str(refused.value)


def test_explore_keeps_answering_while_a_run_trains_and_cancel_stops_it_mid_epoch(client):
    session = client.predict(None, {**TINY, "data": "long", "batch_size": 2, "epochs": 3}, api_name="/finetune_start")
    wait_until(client, session, lambda runs: (runs[0]["progress"].get("batch") or 0) >= 2)
    tiles, _ = client.predict(handle_file(str(ROOT / "assets" / "cat.png")), "", 4, 1, api_name="/augment")
    assert len(tiles) == 4
    assert status(client, session)[0]["status"] == "running"  # the grid was drawn while it trained
    cancelled = client.predict(session, api_name="/finetune_cancel")
    assert cancelled[0]["status"] in ("cancelling", "cancelled")
    run = wait_until(client, session, all_finished)[0]
    assert run["status"] == "cancelled"
    assert run["rows"] == [] and run["progress"]["batch"] < run["progress"]["batches"]


def test_a_failing_run_says_why_and_the_server_keeps_serving(client, app_server):
    session = client.predict(None, {**TINY, "data": "no-such-folder"}, api_name="/finetune_start")
    run = wait_until(client, session, all_finished)[0]
    assert run["status"] == "failed"
    assert run["error"] == "There is no data folder or .zip file called 'no-such-folder' in the data folder."

    offline = client.predict(None, {**TINY, "pretrained": True}, api_name="/finetune_start")
    run = wait_until(client, offline, all_finished)[0]
    assert run["status"] == "failed"
    assert "offline" in run["error"] and "from scratch" in run["error"] and "Traceback" not in run["error"]

    assert app_server.alive()
    tiles, params = client.predict(handle_file(str(ROOT / "assets" / "cat.png")), "", 2, 0, api_name="/augment")
    assert len(tiles) == 2 and len(params) == 2


def test_bad_requests_get_one_sentence(client):
    refusals = {
        "epochs must be between 1 and 100, got 0.": {**TINY, "epochs": 0},
        "optimizer must be one of sgd, adam, got 'rmsprop'.": {**TINY, "optimizer": "rmsprop"},
        "Unknown training setting(s): colour.": {**TINY, "colour": "red"},
        "weights_path cannot be set through the API; upload a weights file on the page.": {**TINY, "weights_path": "/etc/passwd"},
    }
    for sentence, config in refusals.items():
        with pytest.raises(AppError) as refused:
            client.predict(None, config, api_name="/finetune_start")
        assert str(refused.value) == sentence

    session = client.predict(None, {**TINY, "data": "long", "batch_size": 2, "epochs": 3}, api_name="/finetune_start")
    with pytest.raises(AppError) as busy:  # pressing Start twice does not take two places in the queue
        client.predict(session, TINY, api_name="/finetune_start")
    assert str(busy.value) == "You already have a run in progress; wait for it to finish or cancel it first."
    client.predict(session, api_name="/finetune_cancel")
    assert wait_until(client, session, all_finished)[0]["status"] == "cancelled"


def test_the_lesson_comparison_queues_its_runs_as_one_set(client):
    session = client.predict(None, {**TINY, "epochs": 1}, api_name="/finetune_compare")
    assert len(session["jobs"]) == 2  # from scratch: augmentation on vs off (no pretrained run to compare)
    runs = status(client, session)
    # The augmentation lesson's recipe (augtune.lesson), whatever the request's lr.
    assert [run["label"] for run in runs] == ["scratch, lr 0.001, augmented", "scratch, lr 0.001, no augmentation"]
    assert {run["config"]["optimizer"] for run in runs} == {"adam"}
    assert len({run["group"] for run in runs}) == 1
    assert runs[1]["config"]["augment"] is None and runs[0]["config"]["augment"]["hflip_p"] == 0.5
    runs = wait_until(client, session, all_finished)
    assert [run["status"] for run in runs] == ["done", "done"], [run["error"] for run in runs]
    assert all(len(run["rows"]) == 1 for run in runs)


def test_engine_sentences_are_shown_in_chinese_on_a_chinese_page():
    """The engine speaks English (CLI, logs); the page shows the sentences a class meets in both
    languages, the CSS picking the page's one."""
    import re

    from augtune.service.finetune_html import render_status
    from augtune.service.finetune_text import ENGINE_ZH, engine_text

    def spans(html_text: str, css_class: str) -> str:
        return " ".join(re.findall(rf'<span class="{css_class}">(.*?)</span>', html_text))

    failed = {"status": "failed", "label": "run", "error": "Training ran out of memory; try a smaller batch size or image size."}
    shown = render_status([failed])
    assert "内存不足" in spans(shown, "ft-l-zh") and "out of memory" not in spans(shown, "ft-l-zh")
    assert "out of memory" in spans(shown, "ft-l-en")

    preparing = {"status": "running", "label": "run", "config": {"epochs": 5}, "device": {"device": "cpu"},
                 "progress": {}, "message": "Decoding 1000 images at 64 px...", "rows": []}
    shown = render_status([preparing])
    assert "正在以 64 像素解码 1000 张图片" in shown and "Decoding 1000 images at 64 px..." in shown

    for sentence in (
        "Training process 2 of 2 stopped unexpectedly (killed by signal SIGKILL), so the run was ended; the machine may "
        "have run out of memory, so try a smaller batch size or image size.",
        "Training process 1 of 2 waited 300 s for the others without an answer, so the run was ended "
        "(AUGTUNE_COLLECTIVE_TIMEOUT_S sets how long).",
        "Training process 1 of 4 stopped because of an unexpected error: RuntimeError: boom",
        "A batch of 4 images cannot be shared by 4 processes (each needs at least 2); choose a larger batch size.",
        "This machine shows 1 GPU(s) to the run, too few for 2 processes on it; start fewer processes.",
    ):
        assert engine_text(sentence, "zh-CN") != sentence, f"no Chinese for {sentence!r}"
    on_ranks = {**preparing, "device": {"device": "cuda:0", "amp": True, "processes": 2}}
    assert "2 processes (DDP)" in render_status([on_ranks]) and "2 个进程（DDP）" in render_status([on_ranks])

    # every status line the engine can send has its translation (the source is the list)
    import augtune.data
    import augtune.model
    import augtune.train

    sources = "".join(Path(module.__file__).read_text() for module in (augtune.data, augtune.model, augtune.train))
    for literal in re.findall(r'status\(f?"([^"]+)"\)', sources):
        example = re.sub(r"\{[^}]+\}", "7", literal)
        assert engine_text(example, "zh-CN") != example, f"no Chinese for the status line {literal!r}"
    assert engine_text("Something new.", "zh-CN") == "Something new."
    assert engine_text("Training...", "en") == "Training..." and len(ENGINE_ZH) > 20


def test_each_model_brings_its_lessons_recipe():
    from augtune.lesson import RECIPES
    from augtune.service.finetune_html import recipe_fields
    from augtune.service.finetune_logic import MODELS

    for model in MODELS:
        lr, head, optimizer, weight_decay, note = recipe_fields(model)
        recipe = RECIPES["augmentation" if model == "scratch" else "finetune"]
        assert (lr, head, optimizer, weight_decay) == tuple(recipe.settings[k] for k in ("lr", "head_lr_mult", "optimizer", "weight_decay"))
        assert ("augmentation lesson" if model == "scratch" else "fine-tuning lesson") in note
        assert "方案" in note  # and in Chinese


def test_opening_the_tab_moves_imagenet_to_the_builtin_backbone_when_its_weights_cannot_be_had(monkeypatch):
    import gradio as gr

    from augtune import model
    from augtune.ui import finetune_events

    monkeypatch.setattr(model, "imagenet_weights_state", lambda: ("unreachable", "timed out"))
    choice, note, lr, head, optimizer, weight_decay, recipe = finetune_events.model_on_open("pretrained")
    assert choice == "builtin" and (lr, head, optimizer) == (0.01, 10.0, "sgd")
    assert "does not answer (timed out)" in note and "没有回应（timed out）" in note
    assert "built-in pretrained model is selected" in note and "内置的预训练模型" in note
    assert "fine-tuning lesson" in recipe
    # A file or scratch chosen (and any edited field) stays as it is; only the note is renewed.
    kept = finetune_events.model_on_open("file")
    assert kept[0] == gr.skip() and all(value == gr.skip() for value in kept[2:]) and "does not answer" in kept[1]

    monkeypatch.setattr(model, "imagenet_weights_state", lambda: ("download", ""))
    kept = finetune_events.model_on_open("pretrained")
    assert kept[0] == gr.skip() and "downloaded (45 MB)" in kept[1]


def test_an_exercise_queues_its_runs_and_one_its_settings_cannot_carry_is_refused(client):
    with pytest.raises(AppError) as refused:
        client.predict(None, "raised-lr", TINY, api_name="/finetune_experiment")
    assert str(refused.value) == ("The experiment raised-lr fine-tunes a pretrained model; choose ImageNet, the built-in "
                                  "backbone or your weights file first.")
    with pytest.raises(AppError) as refused:
        client.predict(None, "dropout", TINY, api_name="/finetune_experiment")
    assert str(refused.value).startswith("experiment must be one of no-augmentation, stronger-augmentation,")
    # The built-in backbone, frozen against fully fine-tuned: two runs named by what they change.
    session = client.predict(None, "frozen-backbone", {**TINY, "pretrained": True, "weights_path": "builtin", "epochs": 1},
                             api_name="/finetune_experiment")
    runs = wait_until(client, session, all_finished)
    assert [run["status"] for run in runs] == ["done", "done"], [run["error"] for run in runs]
    assert [run["label"] for run in runs] == ["fine-tuned", "frozen backbone"]
    assert [run["config"]["freeze_backbone"] for run in runs] == [False, True]
    assert {run["config"]["weights_path"] for run in runs} == {"builtin"} and runs[0]["config"]["lr"] == 0.01


def test_the_builtin_model_choice_makes_a_builtin_config():
    from augtune import PRESETS
    from augtune.service.finetune_logic import make_config

    config = make_config("en", "synthetic", None, None, "builtin", None, 5, 16, 48, 0.01, 10, "sgd", 0.001,
                         "combined_train", None)
    assert config.weights_path == "builtin" and config.pretrained and config.label == "built-in, lr 0.01, augmented"
    assert config.augment == PRESETS["combined_train"]


@pytest.mark.parametrize(
    "field, value, sentence",
    [
        ("epochs", None, "epochs is empty; enter a number."),
        ("weight_decay", "abc", "weight_decay must be a number, got 'abc'."),
        ("lr", float("nan"), "lr must be a finite number, got nan."),
        ("epochs", 2.5, "epochs must be a whole number, got 2.5."),
        ("lr", 20, "lr must be between 1e-06 and 10, got 20."),
        ("batch_size", 1, "batch_size must be between 2 and 1024, got 1."),
    ],
)
def test_the_pages_numbers_are_checked_where_the_training_config_checks_them(field, value, sentence):
    """The page only says that a field is empty, or reads text as a number; finite, whole and in range are
    TrainConfig's checks (augtune.train.RANGES), in its words."""
    from augtune.service.finetune_logic import Refusal, make_config

    settings = dict(locale="en", kind="synthetic", folder=None, zip_file=None, model="scratch", weights_file=None,
                    epochs=5, batch_size=16, image_size=48, lr=0.01, head_lr_mult=10, optimizer="sgd",
                    weight_decay=0.001, augment="combined_train", explore_spec=None)
    with pytest.raises(Refusal) as refused:
        make_config(**{**settings, field: value})
    assert str(refused.value) == sentence


def test_the_api_trains_with_a_pipeline_of_steps_and_names_it():
    """A pipeline of steps (any torchvision op, as Explore's /augment takes it) is a training config's augment too."""
    from augtune.service.finetune_html import spec_summary
    from augtune.service.finetune_logic import api_config

    steps = {"steps": [{"op": "RandomRotation", "degrees": 20}, {"op": "TrivialAugmentWide"},
                       {"op": "RandomResizedCrop", "size": 48}, {"op": "CutMix"}]}
    config = api_config({"data": "synthetic", "epochs": 1, "augment": steps})
    assert [step.op for step in config.augment.steps] == ["RandomRotation", "TrivialAugmentWide", "RandomResizedCrop", "CutMix"]
    assert spec_summary(config.augment) == "RandomRotation → TrivialAugmentWide → RandomResizedCrop → CutMix"
