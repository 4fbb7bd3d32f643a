"""The app's one way to speak two languages. The sentences live in `strings/en.py` and `strings/zh_CN.py`
(the same keys); the server says them with `text(locale, key)` in the locale the page reports, and
Gradio's static labels use the same tables (ui/app.py gives them to `gr.I18n`)."""

from __future__ import annotations

from typing import Any

from augtune.spec import STAGES

from .explore_form import ORDERS
from .strings import en, zh_CN

STRINGS: dict[str, dict[str, str]] = {"en": dict(en.STRINGS), "zh-CN": dict(zh_CN.STRINGS)}

# The order dropdown's choices, "flip → colour → crop", from the stages' own names.
for _table in STRINGS.values():
    _stage_names = {stage: _table[f"stage.{stage}"] for stage in STAGES}
    for _order in ORDERS:
        _table[f"order.{_order}"] = " → ".join(_stage_names[stage] for stage in _order.split(","))


def pick_locale(raw: str | None) -> str:
    """The STRINGS locale for what the page reported (Gradio's active locale, or the browser's)."""
    raw = (raw or "").strip()
    if raw in STRINGS:
        return raw
    return "zh-CN" if raw.lower().startswith("zh") else "en"


def text(locale: str | None, key: str, **values: Any) -> str:
    """One sentence in `locale` (English where the key has no translation), its `{names}` filled in."""
    template = STRINGS.get(pick_locale(locale), {}).get(key) or STRINGS["en"][key]
    return template.format(**values) if values else template
