"""The Fine-tune tab's HTTP API, through gradio_client against the launched app (real training, tiny data)."""

from __future__ import annotations

import re
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


def english_left(shown: str) -> list[str]:
    """The Fine-tune sentences of the English table (their words between placeholders and tags) that `shown`
    still holds: none, on a Chinese page."""
    from augtune.service.i18n import STRINGS

    found = []
    for key, sentence in STRINGS["en"].items():
        if key.startswith("ft.") and key != "ft.data.head.class":
            found += [part for part in re.split(r"\{[^}]*\}|<[^>]+>", sentence) if len(part.strip()) >= 8 and part in shown]
    return found


def test_engine_sentences_are_shown_in_the_pages_language_only():
    """The engine speaks English (CLI, logs); the page says the sentences a class meets in its own language,
    and only in that one (no hidden twin in the other)."""
    from augtune.service.finetune_html import render_status
    from augtune.service.finetune_text import ENGINE_ZH, engine_text

    failed = {"status": "failed", "label": "run", "error": "Training ran out of memory; try a smaller batch size or image size."}
    shown = render_status("zh-CN", [failed])
    assert "内存不足" in shown and "out of memory" not in shown and "ft-l-" not in shown
    assert not english_left(shown), english_left(shown)
    shown = render_status("en", [failed])
    assert "out of memory" in shown and "内存不足" not in shown and "❌ Stopped:" in shown

    preparing = {"status": "running", "label": "run", "config": {"epochs": 5}, "device": {"device": "cpu"},
                 "progress": {}, "message": "Decoding 1000 images at 64 px...", "rows": []}
    shown = render_status("zh-CN", [preparing])
    assert "正在以 64 像素解码 1000 张图片" in shown and "Decoding" not in shown and "Device" not in shown
    assert "Decoding 1000 images at 64 px..." in render_status("en", [preparing])
    assert "正在" not in render_status("en", [preparing])

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
    assert "2 processes (DDP)" in render_status("en", [on_ranks]) and "DDP）" not in render_status("en", [on_ranks])
    assert "2 个进程（DDP）" in render_status("zh-CN", [on_ranks]) and "processes" not in render_status("zh-CN", [on_ranks])

    # every status line the engine can send has its translation (the source is the list)
    import augtune.data
    import augtune.model
    import augtune.train

    import augtune.jobs

    sources = "".join(Path(module.__file__).read_text() for module in (augtune.data, augtune.model, augtune.train,
                                                                      augtune.jobs))
    for literal in re.findall(r'(?:status\(|job\.message = )f?"([^"]+)"', sources):
        example = re.sub(r"\{[^}]+\}", "7", literal)
        assert engine_text(example, "zh-CN") != example, f"no Chinese for the status line {literal!r}"
    assert engine_text("Something new.", "zh-CN") == "Something new."
    assert engine_text("Training...", "en") == "Training..." and len(ENGINE_ZH) > 20


def test_each_model_brings_its_lessons_recipe():
    from augtune.lesson import RECIPES
    from augtune.service.finetune_html import recipe_fields
    from augtune.service.finetune_logic import MODELS

    for model in MODELS:
        lr, head, optimizer, weight_decay, note = recipe_fields("en", model)
        recipe = RECIPES["augmentation" if model == "scratch" else "finetune"]
        assert (lr, head, optimizer, weight_decay) == tuple(recipe.settings[k] for k in ("lr", "head_lr_mult", "optimizer", "weight_decay"))
        assert ("augmentation lesson" if model == "scratch" else "fine-tuning lesson") in note and "方案" not in note
        in_chinese = recipe_fields("zh-CN", model)
        assert in_chinese[:4] == (lr, head, optimizer, weight_decay)
        assert "方案" in in_chinese[4] and "lesson" not in in_chinese[4]


def test_opening_the_tab_moves_imagenet_to_the_builtin_backbone_when_its_weights_cannot_be_had(monkeypatch):
    import gradio as gr

    from augtune import model
    from augtune.ui import finetune_events

    monkeypatch.setattr(model, "imagenet_weights_state", lambda: ("unreachable", "timed out"))
    choice, note, lr, head, optimizer, weight_decay, recipe = finetune_events.model_on_open("en-US", "pretrained")
    assert choice == "builtin" and (lr, head, optimizer) == (0.01, 10.0, "sgd")
    assert "does not answer (timed out)" in note and "built-in pretrained model is selected" in note
    assert "fine-tuning lesson" in recipe and "方案" not in note + recipe
    choice, note, *_, recipe = finetune_events.model_on_open("zh-CN", "pretrained")
    assert "没有回应（timed out）" in note and "内置的预训练模型" in note and "方案" in recipe
    assert not english_left(note + recipe)
    # A file or scratch chosen (and any edited field) stays as it is; the notes are said again.
    kept = finetune_events.model_on_open("en", "file")
    assert kept[0] == gr.skip() and all(value == gr.skip() for value in kept[2:6]) and "does not answer" in kept[1]
    assert "fine-tuning lesson" in kept[6]

    monkeypatch.setattr(model, "imagenet_weights_state", lambda: ("download", ""))
    kept = finetune_events.model_on_open("en", "pretrained")
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
    "locale, field, value, sentence",
    [
        ("en", "epochs", None, "Epochs is empty; enter a number."),
        ("en", "weight_decay", "abc", "Weight decay must be a number, got 'abc'."),
        ("en", "lr", float("nan"), "Learning rate must be a number, got nan."),
        ("en", "epochs", 2.5, "Epochs must be a whole number, got 2.5."),
        ("en", "lr", 20, "Learning rate must be between 1e-06 and 10, got 20."),
        ("en", "batch_size", 1, "Batch size must be between 2 and 1024, got 1."),
        ("zh-CN", "epochs", 0, "“迭代周期数（epoch）”必须在 1 到 100 之间，当前为 0。"),
        ("zh-CN", "epochs", None, "“迭代周期数（epoch）”为空；请输入一个数字。"),
        ("zh-CN", "head_lr_mult", 2000, "“输出层学习率倍数”必须在 0 到 1000 之间，当前为 2000。"),
    ],
)
def test_the_pages_numbers_are_checked_where_the_training_config_checks_them(locale, field, value, sentence):
    """Finite, whole and in range are TrainConfig's checks (augtune.train.RANGES); the page says them naming
    the field by its label, in its language."""
    from augtune.service.finetune_logic import Refusal, make_config

    settings = dict(locale=locale, kind="synthetic", folder=None, zip_file=None, model="scratch", weights_file=None,
                    epochs=5, batch_size=16, image_size=48, lr=0.01, head_lr_mult=10, optimizer="sgd",
                    weight_decay=0.001, augment="combined_train", explore_spec=None)
    with pytest.raises(Refusal) as refused:
        make_config(**{**settings, field: value})
    assert str(refused.value) == sentence


def test_the_number_widgets_take_their_limits_from_the_training_config(app_server):
    """The page's fields offer what TrainConfig accepts, read from its one table, so they cannot disagree."""
    import json
    import urllib.request

    from augtune.train import RANGES
    from augtune.ui.finetune import training_number

    with urllib.request.urlopen(app_server.url + "config", timeout=30) as response:
        config = json.load(response)
    props = {component["props"].get("elem_id"): component["props"] for component in config["components"]
             if component.get("props", {}).get("elem_id", "").startswith("ft-")}
    fields = {"ft-epochs": "epochs", "ft-lr": "lr", "ft-head": "head_lr_mult", "ft-wd": "weight_decay"}
    for elem_id, name in fields.items():
        assert (props[elem_id]["minimum"], props[elem_id]["maximum"]) == RANGES[name], elem_id
    for elem_id, name in {"ft-batch": "batch_size", "ft-size": "image_size"}.items():
        values = [choice[1] for choice in props[elem_id]["choices"]]
        low, high = RANGES[name]
        assert values and all(low <= value <= high for value in values), (elem_id, values)
    # A value out of range reaches TrainConfig, whose sentence names the field (Gradio's own says "Value 0
    # is less than minimum value 1.", in English whatever the page's language).
    assert training_number(5, "epochs", precision=0).preprocess(0) == 0
    assert training_number(0.01, "lr").preprocess(20.0) == 20.0


class FakeJobs:
    """The job manager as the tab's callbacks see it: one finished run of the session."""

    def __init__(self, snapshot: dict) -> None:
        self.snapshot = snapshot

    def status(self, job_id: str, owner: str) -> dict:
        return self.snapshot


def finished_run() -> dict:
    row = {"epoch": 1, "loss": 0.5, "train_acc": 0.8, "test_acc": 0.75, "seconds": 2.0, "images_per_s": 100.0}
    return {"id": "a" * 12, "status": "done", "label": "scratch, lr 0.01, augmented", "rows": [row],
            "log_lines": ["epoch 1, loss 0.5000, train acc 0.800, test acc 0.750, time 2.0 sec"],
            "config": {"epochs": 1, "data": "synthetic"}, "started": 10.0, "finished": 12.0, "files": {},
            "result": {"classes": ["disc", "square"], "per_class_acc": {"disc": 0.7, "square": 0.8}}}


def test_a_poll_tick_says_status_and_results_in_the_pages_language_only():
    from augtune.ui import finetune_events

    handle = finetune_events.handlers(FakeJobs(finished_run()), connected=False)
    session = {"owner": "o" * 32, "jobs": ["a" * 12]}
    _, _, _, status, _, table, _, results, _, _, _, _ = handle.on_poll("zh-CN", session, {})
    assert "完成" in status and "Finished" not in status and "ft-l-" not in status
    assert table.headers[:3] == ["运行", "迭代周期", "损失"]
    assert table.value["data"][0][0] == "从零开始，学习率 0.01，有增广" and "从零开始，学习率 0.01，有增广" in results
    assert "每个类别的测试精度" in results and "per class" not in results
    assert not english_left(status + results), english_left(status + results)
    _, _, _, status, *_, results, _, _, _, _ = handle.on_poll("en-US", session, {})
    assert "Finished" in status and "Test accuracy per class" in results and "完成" not in status + results


def test_a_language_switch_says_every_panel_again_in_the_new_language():
    from augtune.ui import finetune_events

    handle = finetune_events.handlers(FakeJobs(finished_run()), connected=False)
    session = {"owner": "o" * 32, "jobs": ["a" * 12]}
    # status, results, data, model, recipe, augmentation and the epoch table (finetune.py wires them in this order)
    *panels, table = handle.on_language("zh-CN", session, "synthetic", None, None, "scratch", "combined_train")
    assert len(panels) == 6
    shown = "".join(panels)
    assert not english_left(shown), english_left(shown)
    for words in ("完成", "每个类别的测试精度", "内置的偏差", "方案", "训练时使用"):
        assert words in shown, words
    assert table.headers == ["运行", "迭代周期", "损失", "训练精度", "测试精度", "秒", "图片/秒"]
    assert table.value["data"][0][:2] == ["从零开始，学习率 0.01，有增广", 1]  # the run's label too
    *panels, table = handle.on_language("en", session, "synthetic", None, None, "scratch", "combined_train")
    english = "".join(panels)
    assert "Built-in bias" in english and "Used for training" in english and not re.search(r"[\u4e00-\u9fff]", english)
    assert table.headers[3:5] == ["train acc", "test acc"]


def test_the_api_trains_with_a_pipeline_of_steps_and_names_it():
    """A pipeline of steps (any torchvision op, as Explore's /augment takes it) is a training config's augment too."""
    from augtune.service.finetune_html import spec_summary
    from augtune.service.finetune_logic import api_config

    steps = {"steps": [{"op": "RandomRotation", "degrees": 20}, {"op": "TrivialAugmentWide"},
                       {"op": "RandomResizedCrop", "size": 48}, {"op": "CutMix"}]}
    config = api_config({"data": "synthetic", "epochs": 1, "augment": steps})
    assert [step.op for step in config.augment.steps] == ["RandomRotation", "TrivialAugmentWide", "RandomResizedCrop", "CutMix"]
    assert spec_summary(config.augment) == "RandomRotation → TrivialAugmentWide → RandomResizedCrop → CutMix"


def test_explore_settings_that_make_no_pipeline_are_refused_in_the_pages_language():
    from augtune import AugSpec
    from augtune.service.explore_form import FIELDS, widgets_from_spec
    from augtune.ui import finetune_events

    values = widgets_from_spec(AugSpec())
    values[FIELDS.index("brightness")] = 5
    handle = finetune_events.handlers(FakeJobs(finished_run()), connected=True)
    shown = handle.on_augment("zh-CN", "explore", *values)
    assert "“探索”标签页的设置不能用于训练" in shown and "亮度" in shown
    assert "must be" not in shown and "brightness" not in shown
    assert "brightness" in handle.on_augment("en", "explore", *values).lower()


def test_a_runs_label_is_said_in_the_pages_language_and_stays_english_elsewhere():
    """A label names the run in the CLI, the API and the downloads (English); the page says it part by part."""
    from augtune.service.finetune_text import run_label

    assert run_label("zh-CN", "built-in, lr 0.01, no augmentation") == "内置模型，学习率 0.01，无增广"
    assert run_label("zh-CN", "head from ImageNet's hot dog") == "输出层取自 ImageNet 的热狗"
    assert run_label("zh-CN", "my experiment, lr 0.1") == "my experiment, lr 0.1"  # someone's own label stays whole
    assert run_label("en-US", "fine-tuned, lr 0.1") == "fine-tuned, lr 0.1"
    # Every label the lesson's runs can carry has its words in the table.
    from augtune.lesson import EXPERIMENTS

    for experiment in EXPERIMENTS.values():
        for run in experiment.runs:
            assert not re.search("[a-z]{3}", run_label("zh-CN", run.label).replace("ImageNet", "")), run.label
