"""The rater page: static HTML, CSS and JavaScript, identical for every rater and item.

Nothing per rater or per item is in the HTML; the script asks ``state`` for the rater's
items (opaque codes) and answers. The questions are the survey's template's (one page per
survey, made by :func:`html` and :func:`script`). Keys as in the desktop window, from the
one table in ``backend.survey.keys`` (the buttons, the hint and the key handling are made
from it); S
submits after a dialog (Y or Enter confirms, N or Esc cancels). Answers are sent one at
a time, in order, retried while the connection is down; each item shows whether its
answers are saved. Big touch targets, no hover-only controls, for tablets.

Pictures as a clinician needs them (issue 32 item 8): at native resolution or enlarged by a
whole factor with nearest neighbour (a line says which, and says "downscaled" when a picture
is shrunk to fit), a zoom choice, and the mask laid over the image at a chosen opacity (drawn
from the mask already fetched: no request more) beside the mask on its own.
"""

from html import escape
from json import dumps

from backend.survey.keys import button_text, commands, hint
from backend.survey.template import DEFAULT, Template

# the names of the table's named keys in the browser's KeyboardEvent.key
_JS_KEYS = {"Left": "ArrowLeft", "Right": "ArrowRight", "Enter": "Enter", "Backspace": "Backspace", "Escape": "Escape"}


def _js_key(key: str) -> str:
    return _JS_KEYS.get(key, key.lower())


def _questions_html(template: Template) -> str:
    rows = []
    for q in template.questions:
        buttons = "".join(
            f'\n      <button type="button" data-q="{q.name}" data-v="{a.value}">'
            + escape(button_text(a)).replace("  ", "&nbsp; ")
            + "</button>"
            for a in q.answers
        )
        rows.append(f'    <div class="question"><span class="title">{escape(q.title)}</span>{buttons}</div>')
    return "\n".join(rows)


_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Blinded review</title>
<link rel="stylesheet" href="/assets/rater.css">
<script src="/assets/rater.js" defer></script>
</head>
<body>
<header>
  <span id="rater"></span>
  <span id="message" role="status" aria-live="polite"></span>
  <span id="answered"></span>
  <span id="progress"></span>
</header>
<main>
  <section id="view">
    <label>Zoom <select id="zoom">
      <option value="fit">Fit</option><option value="1">1&times; (native)</option><option value="2">2&times;</option>
      <option value="4">4&times;</option><option value="8">8&times;</option><option value="16">16&times;</option>
    </select></label>
    <label>Mask over image <input type="range" id="opacity" min="0" max="100" step="5" value="0">
      <output id="opacity-value">0%</output></label>
    <span id="scale"></span>
  </section>
  <section id="pictures">
    <figure><figcaption>Image</figcaption>
      <div class="frame"><div class="stack"><img id="image" alt="Image"><canvas id="overlay"></canvas></div></div></figure>
    <figure><figcaption>Segmentation mask</figcaption>
      <div class="frame"><div class="stack"><img id="mask" alt="Segmentation mask"></div></div></figure>
  </section>
  <p id="done" hidden></p>
  <section id="questions">
@QUESTIONS@
  </section>
  <div id="nav">
    <button type="button" id="back">&larr; Back</button>
    <input id="comment" maxlength="1000" autocomplete="off"
           placeholder="Optional comment: press C to type, Enter to save">
    <button type="button" id="next">Next &rarr; (Enter)</button>
    <button type="button" id="submit">Submit all answers (S)</button>
  </div>
  <div id="status"><span id="saved" role="status"></span><ol id="strip" aria-label="Items"></ol></div>
  <p class="hint">@HINT@.
    Every answer is saved the moment you give it; you can close this page and come back later.</p>
</main>
<dialog id="confirm">
  <p>Submit all answers? They are then final and can no longer be changed.</p>
  <button type="button" id="yes">Yes, submit (Y / Enter)</button>
  <button type="button" id="no">No (N / Esc)</button>
</dialog>
</body>
</html>
"""

CSS = """
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; background: #1b1d1f; color: #e6e6e6; font: 16px/1.4 system-ui, sans-serif; }
header { display: flex; gap: 1.5em; align-items: center; padding: 10px 16px; flex-wrap: wrap; }
#message { flex: 1; color: #f2c94c; text-align: center; }
#progress { font-size: 1.4em; font-weight: bold; }
main { padding: 0 16px 16px; }
#pictures { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
figure { margin: 0; text-align: center; min-width: 0; }
.frame { display: flex; overflow: auto; height: 55vh; min-height: 160px; background: #111; }
.stack { position: relative; margin: auto; line-height: 0; }
.stack img, .stack canvas { image-rendering: pixelated; }
.stack .smooth { image-rendering: auto; }
#overlay { position: absolute; left: 0; top: 0; pointer-events: none; }
#view { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: center; margin: 4px 0 8px; color: #bbb; }
#view select, #view input { min-height: 40px; font-size: 1em; vertical-align: middle; }
#view select { color: inherit; background: #2a2d30; border: 1px solid #666; border-radius: 6px; padding: 0 8px; }
#opacity { width: 12em; }
#done { font-size: 1.3em; text-align: center; padding: 3em 1em; }
.question { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 8px 0; }
.question .title { min-width: 12em; }
button { min-height: 48px; min-width: 96px; padding: 8px 16px; font-size: 1em; color: inherit;
         background: #2a2d30; border: 1px solid #666; border-radius: 6px; touch-action: manipulation; }
button[aria-pressed="true"] { background: #2f6f4f; border-color: #6fcf97; }
button:disabled { color: #666; border-color: #444; }
button:focus-visible, input:focus-visible { outline: 3px solid #6fa8ff; }
#nav { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-top: 12px; }
#comment { flex: 1; min-width: 12em; min-height: 48px; font-size: 1em; padding: 8px; color: inherit;
           background: #111; border: 1px solid #666; border-radius: 6px; }
#status { display: flex; gap: 12px; align-items: center; margin-top: 10px; flex-wrap: wrap; }
#saved { min-width: 10em; }
#saved[data-state="saved"] { color: #6fcf97; }
#saved[data-state="saving"] { color: #f2c94c; }
#saved[data-state="failed"] { color: #ff7b72; font-weight: bold; }
#strip { display: flex; flex-wrap: wrap; gap: 3px; list-style: none; margin: 0; padding: 0; }
#strip li { width: 14px; height: 14px; border-radius: 3px; background: #3a3d40; }
#strip li[data-state="saved"] { background: #3a9a5b; }
#strip li[data-state="partial"] { background: #7a6a2a; }
#strip li[data-state="saving"] { background: #e0a526; }
#strip li[data-state="failed"] { background: #c8423b; }
#strip li.current { outline: 2px solid #e6e6e6; }
.hint { color: #999; font-size: 0.85em; }
dialog { background: #2a2d30; color: inherit; border: 1px solid #888; border-radius: 8px; padding: 20px; }
dialog::backdrop { background: rgba(0, 0, 0, 0.6); }
@media (max-width: 700px) { #pictures { grid-template-columns: 1fr; } }
"""


def html(template: Template = DEFAULT) -> str:
    """The page of a survey asking ``template``'s questions."""
    return _TEMPLATE.replace("@QUESTIONS@", _questions_html(template)).replace(
        "@HINT@", escape(hint(desktop=False, questions=template.questions))
    )


_JS_TEMPLATE = r"""
"use strict";
const base = location.pathname.replace(/\/+$/, "");
const KEYS = @KEYS@;  // key -> [question, answer]
const COMMAND_KEYS = @COMMAND_KEYS@;  // key -> command
const QUESTIONS = @QUESTIONS@;
const OVERLAY_RGB = [0, 255, 110];  // the mask over the image: a green no polyp has (as on the desktop)
let state = null;
let pos = 0;
let queue = Promise.resolve();  // answers go one at a time, in the order given
const pending = new Map();      // item code -> answers not yet confirmed by the server
const failed = new Set();       // item codes with an answer the server did not store

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const complete = (a) => QUESTIONS.every((q) => a[q]);
const completeCount = () => state.items.filter((it) => complete(it.answer)).length;
const finished = () => pos >= state.total;
const current = () => state.items[Math.min(pos, state.total - 1)];
const byCode = (code) => state.items.find((it) => it.code === code);

function say(text) { $("message").textContent = text; }

async function load() {
  const r = await fetch(base + "/state", {cache: "no-store"});
  if (!r.ok) { say("This link does not work (any more). Ask the study team for a new one."); return; }
  state = await r.json();
  pos = state.position;
  $("rater").textContent = "Rater: " + state.rater;
  $("strip").replaceChildren(...state.items.map(() => document.createElement("li")));
  render();
}

function itemState(it) {
  if (failed.has(it.code)) return "failed";
  if (pending.get(it.code)) return "saving";
  if (complete(it.answer)) return "saved";
  return QUESTIONS.some((q) => it.answer[q]) || it.answer.comment ? "partial" : "empty";
}

function renderSaved() {
  state.items.forEach((it, i) => {
    const li = $("strip").children[i];
    li.dataset.state = itemState(it);
    li.classList.toggle("current", i === pos);
  });
  const el = $("saved");
  if (finished() || state.submitted) {
    const waiting = state.items.some((it) => pending.get(it.code) || failed.has(it.code));
    el.dataset.state = waiting ? "saving" : "saved";
    el.textContent = waiting ? "Saving\u2026" : "All answers saved";
    return;
  }
  const s = itemState(current());
  el.dataset.state = s === "partial" ? "saved" : s;
  el.textContent = {failed: "Not saved: retrying\u2026", saving: "Saving\u2026", saved: "Saved",
                    partial: "Saved", empty: ""}[s];
}

function show(img, url) {
  if (img.getAttribute("src") === url) return;  // no refetch of the shown picture
  if (img === $("mask")) $("overlay").hidden = true;  // until the new mask is drawn over the image
  img.src = url;
}

// Native resolution, or a whole factor with nearest neighbour; shrunk (smoothly) only when a
// picture is larger than the room, and then the line says so.
function layout() {
  const img = $("image");
  if (!img.naturalWidth) return;
  const w = img.naturalWidth, h = img.naturalHeight, frame = img.closest(".frame");
  const room = Math.min(frame.clientWidth / w, frame.clientHeight / h);
  const zoom = $("zoom").value;
  const factor = zoom === "fit" ? (room >= 1 ? Math.floor(room) : room) : Number(zoom);
  for (const el of [img, $("mask"), $("overlay")]) {
    el.style.width = Math.round(w * factor) + "px";
    el.style.height = Math.round(h * factor) + "px";
    el.classList.toggle("smooth", factor < 1);
  }
  const how = factor < 1 ? "downscaled to " + Math.round(factor * 100) + "% to fit (choose 1\u00d7 to see every pixel)"
            : factor === 1 ? "shown at native resolution (1\u00d7)"
            : "enlarged " + factor + "\u00d7 pixel for pixel (nearest neighbour)";
  $("scale").textContent = "Items are " + w + " \u00d7 " + h + " px, " + how + ".";
}

function centre() {  // a zoomed picture opens on its middle, not its top-left corner
  document.querySelectorAll(".frame").forEach((f) => {
    f.scrollLeft = (f.scrollWidth - f.clientWidth) / 2;
    f.scrollTop = (f.scrollHeight - f.clientHeight) / 2;
  });
}

function drawOverlay() {
  const mask = $("mask"), canvas = $("overlay");
  if (!mask.naturalWidth) return;
  canvas.width = mask.naturalWidth;
  canvas.height = mask.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(mask, 0, 0);
  const px = ctx.getImageData(0, 0, canvas.width, canvas.height);
  for (let i = 0; i < px.data.length; i += 4) {
    const alpha = px.data[i];  // white = polyp
    px.data.set(OVERLAY_RGB, i);
    px.data[i + 3] = alpha;
  }
  ctx.putImageData(px, 0, 0);
  setOpacity();
  canvas.hidden = false;
  layout();
}

function setOpacity() {
  const value = Number($("opacity").value);
  $("overlay").style.opacity = String(value / 100);
  $("opacity-value").textContent = value + "%";
}

function render() {
  const done = finished() || state.submitted;
  $("progress").textContent = (done ? state.total : pos + 1) + " / " + state.total;
  $("answered").textContent = completeCount() + " answered";
  $("pictures").hidden = done;
  $("view").hidden = done;
  $("done").hidden = !done;
  if (state.submitted) {
    $("done").textContent = "Thank you: your answers are submitted. You can close this page.";
  } else if (done) {
    $("done").textContent = "All " + state.total + " items are answered. Press S to submit (answers are then " +
                            "final) or \u2190 to go back and change an answer.";
  } else {
    show($("image"), base + "/image/" + current().code);
    show($("mask"), base + "/mask/" + current().code);
    if (current().feedback) say(current().feedback);
  }
  const a = done ? null : current().answer;
  document.querySelectorAll("button[data-q]").forEach((b) => {
    b.setAttribute("aria-pressed", String(a !== null && a[b.dataset.q] === b.dataset.v));
    b.disabled = done;
  });
  const comment = $("comment");
  comment.disabled = done;
  if (document.activeElement !== comment) comment.value = a ? a.comment : "";
  $("back").disabled = state.submitted || pos === 0;
  $("next").disabled = done;
  $("submit").disabled = state.submitted || completeCount() !== state.total;
  renderSaved();
}

async function post(path, body) {
  return fetch(base + path, {method: "POST", cache: "no-store", body: JSON.stringify(body),
                             headers: {"Content-Type": "application/json", "X-CSRF-Token": state.csrf}});
}

async function deliver(code, question, value) {
  for (let attempt = 0, wait = 500; ; attempt++, wait = Math.min(wait * 2, 8000)) {
    try {
      const r = await post("/answer", {item: code, question: question, value: value});
      if (r.ok) {
        const body = await r.json();
        if (pending.get(code) === 1) Object.assign(byCode(code).answer, body.answer);  // else a newer one follows
        byCode(code).feedback = body.feedback;  // what a calibration item was, once called
        failed.delete(code);
        return;
      }
      if (r.status < 500) {  // refused (e.g. submitted meanwhile): retrying would not help
        const body = await r.json().catch(() => ({}));
        say(body.error || "The answer was refused (" + r.status + ").");
        failed.add(code);
        return;
      }
    } catch (e) { /* the connection dropped: try again */ }
    failed.add(code);
    renderSaved();
    await sleep(wait);
  }
}

function send(code, question, value) {
  pending.set(code, (pending.get(code) || 0) + 1);
  renderSaved();
  queue = queue.then(() => deliver(code, question, value)).finally(() => {
    pending.set(code, pending.get(code) - 1);
    render();
  });
  return queue;
}

function give(question, value) {
  if (state.submitted || finished()) return;
  const it = current();
  it.answer[question] = value;  // shown at once; the strip says when the server has it
  say("");
  send(it.code, question, value);
  render();
}

const COMMENT_DEBOUNCE_MS = 500;  // a pause in typing this long saves the comment
let commentTimer = 0;

function saveComment() {
  clearTimeout(commentTimer);
  if (state.submitted || finished()) return;
  const it = current();
  const text = $("comment").value.trim();
  if (text !== it.answer.comment) { it.answer.comment = text; send(it.code, "comment", text); }
}

function next() {
  if (finished()) return;
  saveComment();
  if (!complete(current().answer)) { say("Answer every question first"); return; }
  say("");
  pos += 1;
  render();
}

function back() {
  if (state.submitted) return;
  saveComment();
  pos = Math.max(0, Math.min(pos, state.total) - 1);
  say("");
  render();
}

function askSubmit() {
  if (state.submitted || completeCount() !== state.total) return;
  $("confirm").showModal();
  $("yes").focus();
}

async function confirmSubmit() {
  $("confirm").close();
  await queue;  // every answer is stored before the submission
  const r = await post("/submit", {});
  if (r.ok) { state.submitted = true; say(""); render(); return; }
  const body = await r.json().catch(() => ({}));
  say(body.error || "Submitting failed (" + r.status + "); try again.");
}

function onKey(ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || state === null) return;
  const k = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
  if ($("confirm").open) {
    if (k === "y") { ev.preventDefault(); confirmSubmit(); }
    else if (k === "n") { ev.preventDefault(); $("confirm").close(); }
    return;  // Enter and Esc: the dialog's own buttons and cancel
  }
  if (ev.target === $("comment")) {
    if (k === "Enter" || k === "Escape") { ev.preventDefault(); saveComment(); $("comment").blur(); }
    return;
  }
  if (KEYS[k]) { ev.preventDefault(); give(...KEYS[k]); return; }
  const command = COMMAND_KEYS[k];
  if (command) ev.preventDefault();
  if (command === "next") next();
  else if (command === "back") back();
  else if (command === "submit") askSubmit();
  else if (command === "comment" && !$("comment").disabled) $("comment").focus();
}

function tap(el, action) {
  el.addEventListener("click", (ev) => { action(); el.blur(); });  // keys stay with the answers
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("button[data-q]").forEach((b) => tap(b, () => give(b.dataset.q, b.dataset.v)));
  tap($("next"), next);
  tap($("back"), back);
  tap($("submit"), askSubmit);
  tap($("yes"), confirmSubmit);
  tap($("no"), () => $("confirm").close());
  $("comment").addEventListener("change", saveComment);
  $("image").addEventListener("load", layout);
  $("mask").addEventListener("load", drawOverlay);
  window.addEventListener("resize", layout);
  $("zoom").addEventListener("change", () => { layout(); centre(); $("zoom").blur(); });  // keys stay with the answers
  const frames = [...document.querySelectorAll(".frame")];
  frames.forEach((f) => f.addEventListener("scroll", () => frames.forEach((g) => {  // the two pictures move together
    if (g !== f) { g.scrollLeft = f.scrollLeft; g.scrollTop = f.scrollTop; }
  })));
  $("opacity").addEventListener("input", setOpacity);
  $("opacity").addEventListener("change", () => $("opacity").blur());
  $("comment").addEventListener("input", () => {  // typed text is saved as it is typed
    clearTimeout(commentTimer);
    commentTimer = setTimeout(saveComment, COMMENT_DEBOUNCE_MS);
  });
  document.addEventListener("keydown", onKey);
  window.addEventListener("beforeunload", (ev) => {
    const unsent = !finished() && !state.submitted && $("comment").value.trim() !== current().answer.comment;
    if (unsent || [...pending.values()].some((n) => n > 0)) { ev.preventDefault(); ev.returnValue = ""; }
  });
  load();
});
"""


def script(template: Template = DEFAULT) -> str:
    """The page's script for ``template``'s questions and keys."""
    keys = {_js_key(a.key): [q.name, a.value] for q in template.questions for a in q.answers}
    return (
        _JS_TEMPLATE.replace("@KEYS@", dumps(keys))
        .replace("@QUESTIONS@", dumps(list(template.names)))
        .replace("@COMMAND_KEYS@", dumps({_js_key(k): c.name for c in commands(desktop=False) for k in c.keys}))
    )
