"""The Fine-tune tab's sentences, said through the app's one i18n table (`i18n.text`) in the locale each
event reports, and the engine's English sentences in the page's language."""

from __future__ import annotations

import html
import re
from typing import Any

from .i18n import STRINGS, number_sentence, pick_locale, text
from .strings.zh_CN import ENGINE_SENTENCES

# The engine (augtune.data, model, train, jobs) speaks English, so that the CLI and the logs read the
# same everywhere; the page translates the sentences a class meets. Unknown ones stay English.
ENGINE_ZH: list[tuple[re.Pattern[str], str]] = [(re.compile(pattern), zh) for pattern, zh in ENGINE_SENTENCES]

# The training fields' labels, for TrainConfig's number checks (`i18n.number_sentence`).
FIELD_LABELS = {"epochs": "ft.epochs", "batch_size": "ft.batch", "image_size": "ft.size", "lr": "ft.lr",
                "head_lr_mult": "ft.head", "weight_decay": "ft.wd"}


def engine_text(message: str, locale: str | None) -> str:
    """An engine sentence in `locale`: Chinese where ENGINE_SENTENCES knows it, else as the engine said it."""
    if pick_locale(locale) != "zh-CN":
        return message
    for pattern, zh in ENGINE_ZH:
        if match := pattern.match(message):
            return zh.format(**match.groupdict())
    return message


def say(locale: str | None, key: str, **values: Any) -> str:
    """HTML: `key` in `locale`, its values escaped (and translated where they are engine sentences)."""
    return text(locale, key, **{name: html.escape(engine_text(str(value), locale)) for name, value in values.items()})


def say_engine(locale: str | None, message: str) -> str:
    """HTML: an engine sentence (a status line or a failure) in `locale`."""
    return html.escape(engine_text(message, locale))


def number_refusal(locale: str | None, message: str) -> str:
    """A training field's number check in the page's words and language; other sentences as engine text."""
    return number_sentence(locale, message, FIELD_LABELS) or engine_text(message, locale)


# A run's label names it in the CLI's output, the API and the downloads, so it stays English there; the page
# says it in its language, part by part. A label with a part of someone's own (set through the API) stays.
_LABEL_PARTS = {STRINGS["en"][key]: key for key in STRINGS["en"] if key.startswith("ft.run.") and key != "ft.run.lr"}
_LABEL_LR = re.compile(r"^lr (?P<lr>\S+)$")


def run_label(locale: str | None, label: str) -> str:
    """A run's label (augtune.lesson's, or finetune_logic.run_label's "built-in, lr 0.01, augmented") in `locale`."""
    if pick_locale(locale) == "en":
        return label
    said = []
    for part in label.split(", "):
        if part in _LABEL_PARTS:
            said.append(text(locale, _LABEL_PARTS[part]))
        elif match := _LABEL_LR.match(part):
            said.append(text(locale, "ft.run.lr", lr=match["lr"]))
        else:
            return label
    return "，".join(said)


def refusal_message(locale: str | None, error: Exception) -> str:
    """Why the job manager refused, in the page's language where the refusal has a code."""
    code = getattr(error, "code", "")
    if code and f"ft.error.{code}" in STRINGS["en"]:
        return text(locale, f"ft.error.{code}")
    return engine_text(str(error), locale)
