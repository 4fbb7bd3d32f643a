"""The app's one way to speak two languages. The sentences live in `strings/en.py` and `strings/zh_CN.py`
(the same keys); the server says them with `text(locale, key)` in the locale the page reports, and
Gradio's static labels use the same tables (ui/app.py gives them to `gr.I18n`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from augtune.ops import OPS
from augtune.spec import STAGES

from .explore_form import ORDERS
from .strings import en, zh_CN

STRINGS: dict[str, dict[str, str]] = {"en": dict(en.STRINGS), "zh-CN": dict(zh_CN.STRINGS)}

# The order dropdown's choices, "flip → colour → crop", from the stages' own names.
for _table in STRINGS.values():
    _stage_names = {stage: _table[f"stage.{stage}"] for stage in STAGES}
    for _order in ORDERS:
        _table[f"order.{_order}"] = " → ".join(_stage_names[stage] for stage in _order.split(","))


# Every op's words come with the op (augtune.ops: a label and a help line per language, per param); the
# step editor reads them through the same tables, under "op.<Op>[.<param>[.<end>]]".
_ENDS = {"en": {"low": "{label}: from", "high": "{label}: to", "x": "{label}: x", "y": "{label}: y"},
         "zh-CN": {"low": "{label}:下限", "high": "{label}:上限", "x": "{label}:x", "y": "{label}:y"}}
for _locale, _table in STRINGS.items():
    for _name, _op in OPS.items():
        _table[f"op.{_name}"] = _op.label.get(_locale) or _op.label["en"]
        _table[f"op.{_name}.help"] = _op.help.get(_locale) or _op.help["en"]
        _table[f"op.{_name}.choice"] = f"{_table[f'steps.family.{_op.family}']} · {_name}"
        for _param in _op.params:
            _key, _label = f"op.{_name}.{_param.name}", _param.label.get(_locale) or _param.label["en"]
            _table[_key] = _label
            _table[f"{_key}.help"] = _param.help.get(_locale) or _param.help["en"]
            for _end, _template in _ENDS[_locale].items():
                _table[f"{_key}.{_end}"] = _template.format(label=_label)


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


# augtune.numbers.check_number's sentences (settings, ops and training: the check is written once there) say
# the field as the code names it, in English; the page says them in its language and its widgets' words.
_NUMBER_SENTENCES = [
    (re.compile(r"^(?P<field>[\w.]+) must be between (?P<low>\S+) and (?P<high>\S+), got (?P<value>.+)\.$"), "error.range"),
    (re.compile(r"^(?P<field>[\w.]+) must be a whole number, got (?P<value>.+)\.$"), "error.whole"),
    # An emptied number field reaches the check as None.
    (re.compile(r"^(?P<field>[\w.]+) (is empty; enter a number|must be a number, got None)\.$"), "error.empty_number"),
    (re.compile(r"^(?P<field>[\w.]+) must be a (finite )?number, got (?P<value>.+)\.$"), "error.number"),
]


def number_sentence(locale: str | None, message: str, label_keys: Mapping[str, str]) -> str | None:
    """A number check's sentence in `locale`, naming the field by its label (`label_keys`: field -> string key;
    other fields keep the code's name). None when `message` is not a number check's."""
    for pattern, key in _NUMBER_SENTENCES:
        if match := pattern.match(message):
            values = {name: value for name, value in match.groupdict().items() if value is not None}
            values["field"] = text(locale, label_keys[values["field"]]) if values["field"] in label_keys else values["field"]
            return text(locale, key, **values)
    return None
