"""The page's CSS and scripts. Both tabs send the page's locale with every event (LOCALE_PROBE_JS), and the
Fine-tune tab's panels are said again when it changes (LANGUAGE_WATCH_JS)."""

from __future__ import annotations

import json

from augtune.service.i18n import STRINGS

EXPLORE_CSS = """
#augtune-status { min-height: 1.5em; font-size: 1.1rem; }
.augtune-presets { gap: 0.4rem !important; }
.augtune-presets button { flex: 1 1 9rem; }
.augtune-group-title { padding: 0.5rem 0.75rem 0; font-weight: 600; font-size: 1.1rem; }
.augtune-legend { list-style: none; padding: 0 0.25rem; margin: 0; font-size: 0.95rem; line-height: 1.45;
                  max-height: 12rem; overflow-y: auto; columns: 2 24rem; column-gap: 1.5rem; }
.augtune-legend li { margin: 0.15rem 0; break-inside: avoid; }
.augtune-busy-text:not(:empty) { padding: 0.5rem 0.75rem; border-radius: 0.4rem; font-size: 1.1rem;
                                 background: var(--color-accent-soft); }
.augtune-badge { display: inline-block; min-width: 1.7em; text-align: center; color: white; font-weight: 700;
                 border-radius: 0.3em; margin-right: 0.3em; }
.augtune-original-picture { position: relative; margin: 2.25rem 0 0; cursor: zoom-in; }
.augtune-original-picture img { display: block; width: 100%; height: auto; }
.augtune-original-picture svg { position: absolute; inset: 0; width: 100%; height: 100%; pointer-events: none; }
.augtune-original-picture polygon { fill: none; stroke-linejoin: round; }
.augtune-original-picture text { fill: white; font-family: sans-serif; font-weight: 700; text-anchor: middle; }
.augtune-original-picture:fullscreen { margin: 0; background: black; cursor: zoom-out; }
.augtune-original-picture:fullscreen img { height: 100%; object-fit: contain; }  /* as the SVG fits its box */
.augtune-download { display: flex; align-items: center; justify-content: center; width: 100%; box-sizing: border-box;
                    padding: var(--size-2) var(--size-4); border: var(--button-border-width) solid
                    var(--button-secondary-border-color); border-radius: var(--button-large-radius);
                    background: var(--button-secondary-background-fill); color: var(--button-secondary-text-color);
                    font-weight: var(--button-large-text-weight); font-size: var(--button-large-text-size);
                    box-shadow: var(--button-secondary-shadow); text-decoration: none; min-height: 2.75rem; }
.augtune-download:hover { background: var(--button-secondary-background-fill-hover); }
#augtune-download .html-container { padding: 0; }
.augtune-tiles { display: grid; gap: 0.5rem; padding: 2.25rem 0.25rem 0.25rem; }  /* below the label */
.augtune-tile { position: relative; display: flex; flex-direction: column; gap: 0.2rem; padding: 0; border: 0;
                background: none; cursor: zoom-in; text-align: left; min-width: 0; font: inherit; color: inherit; }
.augtune-tile img { display: block; width: 100%; height: auto; border-radius: 0.3rem;
                    background: var(--background-fill-secondary); }
.augtune-tile-picture { position: relative; display: block; }
.augtune-tile-number { position: absolute; top: 0.3rem; left: 0.3rem; box-shadow: 0 0 0 2px white; }
.augtune-tile-caption { font-size: 0.85rem; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.augtune-tile[aria-expanded=true] { grid-column: 1 / -1; cursor: zoom-out; }
.augtune-tile[aria-expanded=true] .augtune-tile-picture { align-self: center; }
.augtune-tile[aria-expanded=true] img { width: auto; height: min(70vh, 32rem); max-width: 100%; object-fit: contain;
                                         margin: 0 auto; }
.augtune-tile[aria-expanded=true] .augtune-tile-caption { white-space: normal; text-align: center; font-size: 1rem; }
"""

# A click on the original shows it full screen (for the back of the classroom); another click, or Esc, ends it.
FULL_SCREEN_JS = """
element.addEventListener('click', (event) => {
    const picture = event.target.closest('.augtune-original-picture');  // the photo with its marks
    if (!picture) return;
    if (document.fullscreenElement) document.exitFullscreen();
    else picture.requestFullscreen?.();
});
"""

# Clicking a tile opens it across the grid at its own size, with its whole caption; again, or another
# tile, closes it. On the grid's element, so it holds for every grid the server sends later.
OPEN_TILE_JS = """
element.addEventListener('click', (event) => {
    const tile = event.target.closest('.augtune-tile');
    if (!tile) return;
    const opening = tile.getAttribute('aria-expanded') !== 'true';
    for (const open of element.querySelectorAll('.augtune-tile[aria-expanded=true]')) {
        open.setAttribute('aria-expanded', 'false');
    }
    tile.setAttribute('aria-expanded', String(opening));
    if (opening) tile.scrollIntoView({block: 'nearest'});
});
"""


BUSY_ELEMENT = "augtune-busy"
# A hidden Markdown whose value is the i18n key "locale": its text is the page's active locale, and it
# follows Gradio's own language switch in the footer's Settings.
LOCALE_ELEMENT = "augtune-locale"
# The page's active locale, as the browser sees it (see LOCALE_ELEMENT).
LOCALE_PROBE_JS = f"(document.getElementById('{LOCALE_ELEMENT}')?.innerText || navigator.language || 'en').trim()"


def busy_js() -> str:
    """Page script: while this page's grid waits in Gradio's queue, say so politely, with its place.

    Gradio's own tracker over the grid shows the place tersely ("queue: 5/9 | 2.1s"); the server cannot
    say it, because a handler only runs once its turn has come. So the page reads the tracker's place
    and puts the sentence above the grid, in the page's language, and clears it when the turn comes."""
    sentences = json.dumps({locale: STRINGS[locale]["status.busy"] for locale in STRINGS}, ensure_ascii=False)
    return f"""() => {{
        const sentences = {sentences};
        const show = () => {{
            const host = document.getElementById({BUSY_ELEMENT!r});
            if (!host) return;
            let banner = host.querySelector('.augtune-busy-text');
            if (!banner) {{
                banner = document.createElement('div');
                banner.className = 'augtune-busy-text';
                banner.setAttribute('role', 'status');
                host.appendChild(banner);
            }}
            let place = null;
            for (const tracker of document.querySelectorAll('#augtune-grid .progress-text, #augtune-status .progress-text')) {{
                place = /queue:\s*(\d+)\s*\/\s*(\d+)/.exec(tracker.textContent || '') || place;
            }}
            const raw = {LOCALE_PROBE_JS};
            const sentence = place ? sentences[raw.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en']
                .replace('{{position}}', place[1]) : '';
            if (banner.textContent !== sentence) banner.textContent = sentence;
        }};
        setInterval(show, 250);
    }}"""


def locale_js(inputs: int) -> str:
    """Browser side of every event: put the page's active locale into the first input."""
    return f"(...values) => [{LOCALE_PROBE_JS}, ...values.slice(1, {inputs})]"


FINETUNE_CSS = """
#ft-status { font-size: 1.15rem; }
#ft-status .ft-run { margin: 0.2rem 0 0.6rem; }
#ft-status .ft-bar { height: 0.8rem; border-radius: 0.4rem; background: var(--neutral-200); overflow: hidden; margin-top: 0.25rem; }
#ft-status .ft-bar > div { height: 100%; background: var(--color-accent); transition: width 0.5s; }
#ft-status .ft-queued { font-size: 1.3rem; }
#ft-status .ft-error { color: var(--error-text-color, #b91c1c); }
.ft-small { font-size: 0.95rem; opacity: 0.9; }
.ft-table { border-collapse: collapse; margin: 0.3rem 0; }
.ft-table th, .ft-table td { padding: 0.15rem 0.7rem; text-align: right; border-bottom: 1px solid var(--border-color-primary); }
.ft-table th:first-child, .ft-table td:first-child { text-align: left; }
#ft-log textarea { font-family: var(--font-mono); }
"""

# The js_on_load of an empty gr.HTML (the Fine-tune tab has one): when the visitor switches language in
# Gradio's Settings, Gradio redraws its own labels and sets `<html lang>`, but what the server wrote stays in
# the old language until some event redraws it. This clicks the element then; its click event says it again.
# Gradio redraws the hidden locale element a moment after `<html lang>`, and the event reads that one
# (LOCALE_PROBE_JS), so the click waits until it shows the new language (at most 2 s).
LANGUAGE_WATCH_JS = f"""
const family = (raw) => (raw || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
let said = family({LOCALE_PROBE_JS});
new MutationObserver(() => {{
    const wanted = family(document.documentElement.lang);
    if (wanted === said) return;
    said = wanted;
    let tries = 0;
    const send = () => {{
        if (family({LOCALE_PROBE_JS}) === wanted || ++tries > 40) trigger('click');
        else setTimeout(send, 50);
    }};
    send();
}}).observe(document.documentElement, {{attributes: true, attributeFilter: ['lang']}});
"""

CSS = EXPLORE_CSS + FINETUNE_CSS
