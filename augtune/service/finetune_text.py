"""The Fine-tune tab's sentences: its live panels in both languages at once (the page's CSS shows the one
of `<html lang>`, so a language switch needs no round trip), and the engine's English sentences in Chinese."""

from __future__ import annotations

import html
import re
from typing import Any

from .i18n import STRINGS, text
from .strings.zh_CN import ENGINE_SENTENCES

# The engine (augtune.data, model, train, jobs) speaks English, so that the CLI and the logs read the
# same everywhere; the page translates the sentences a class meets. Unknown ones stay English.
ENGINE_ZH: list[tuple[re.Pattern[str], str]] = [(re.compile(pattern), zh) for pattern, zh in ENGINE_SENTENCES]


def engine_text(message: str, locale: str) -> str:
    if not locale.lower().startswith("zh"):
        return message
    for pattern, zh in ENGINE_ZH:
        if match := pattern.match(message):
            return zh.format(**match.groupdict())
    return message


def both(key: str, **values: Any) -> str:
    """HTML saying `key` in both languages; the page's CSS shows the one matching its locale. A value
    that is an engine sentence is shown translated where ENGINE_ZH knows it."""
    spans = []
    for locale, css_class in (("en", "ft-l-en"), ("zh-CN", "ft-l-zh")):
        template = STRINGS[locale].get(key) or STRINGS["en"][key]
        escaped = {name: html.escape(engine_text(str(value), locale)) for name, value in values.items()}
        spans.append(f'<span class="{css_class}">{template.format(**escaped)}</span>')
    return "".join(spans)


def both_engine(message: str) -> str:
    """An engine sentence (status or failure) in both languages."""
    return "".join(
        f'<span class="{css_class}">{html.escape(engine_text(message, locale))}</span>'
        for locale, css_class in (("en", "ft-l-en"), ("zh-CN", "ft-l-zh"))
    )


def refusal_message(locale: str | None, error: Exception) -> str:
    """Why the job manager refused, in the page's language where the refusal has a code."""
    code = getattr(error, "code", "")
    if code and f"ft.error.{code}" in STRINGS["en"]:
        return text(locale, f"ft.error.{code}")
    return str(error)
