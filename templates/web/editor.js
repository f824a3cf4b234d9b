// The story editor: live word count, debounced autosave that survives a dropped network or a
// closed tab, and "Xong". Plain script, no build; the page works in Zalo's and Telegram's
// in-app browsers. Every text shown comes from the page (templates/web/editor_messages.html).
"use strict";

// The bot's rule (handlers/text_rules.count_words): NFC; every character Python's str.isspace
// takes separates (NBSP, the Unicode spaces, the separators \x1c-\x1f, NEL); a word holds at
// least one letter or digit. tests/test_editor_browser.py checks it against Python's answers.
const SPACES = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u;
const WORDISH = /[\p{L}\p{N}]/u;

function countWords(text) {
  let count = 0;
  for (const run of text.normalize("NFC").split(SPACES)) {
    if (WORDISH.test(run)) count += 1;
  }
  return count;
}
window.gsCountWords = countWords;

// A note's length as the bot keeps it (handlers/emulation/common.clean_note): composed, every
// run of spaces one space, trimmed; counted in characters (code points, as Python's len).
function countChars(text) {
  const kept = text.normalize("NFC").split(SPACES).filter((run) => run !== "").join(" ");
  return Array.from(kept).length;
}
window.gsCountChars = countChars;

(function () {
  const root = document.getElementById("editor");
  if (!root) return;
  const texts = JSON.parse(document.getElementById("texts").textContent);
  const limit = Number(root.dataset.limit);
  // "chars": a criterion's note, limited in characters; else a story, limited in words.
  const byChars = root.dataset.mode === "chars";
  const count = byChars ? countChars : countWords;
  const unitName = byChars ? " ký tự" : " từ";
  const storyKey = root.dataset.story;
  const inputs = Array.from(root.querySelectorAll("[data-field]"));
  const statusEl = document.getElementById("status");
  const wordsEl = document.getElementById("words");
  const overEl = document.getElementById("over");
  const countEl = document.getElementById("count");
  const doneButton = document.getElementById("done");
  const doneMessage = document.getElementById("done-message");
  const SAVE_DELAY = 1200;
  const MAX_RETRY = 30000;
  // What the server holds, so a local copy is restored only over the text it started from.
  const stored = {};
  // Unsaved typing is kept on the phone too: a tab closed offline loses nothing.
  const backupKey = "gs-editor:" + root.dataset.save;
  let timer = null;
  let retryDelay = 2000;
  let saving = null;
  let dirty = false;

  const fmt = (n) => n.toLocaleString("vi-VN");
  const values = () => Object.fromEntries(inputs.map((el) => [el.dataset.field, el.value]));
  const setStatus = (text) => { statusEl.textContent = text; };

  function showCount() {
    const story = inputs.find((el) => el.dataset.field === storyKey);
    const words = count(story ? story.value : "");
    wordsEl.textContent = fmt(words);
    const over = words - limit;
    overEl.textContent = over > 0 ? " — vượt " + fmt(over) + unitName : "";
    countEl.classList.toggle("over", over > 0);
  }

  function backup() {
    try {
      localStorage.setItem(backupKey, JSON.stringify({ base: stored, typed: values() }));
    } catch (e) { /* private mode or full: the server copy is what counts */ }
  }

  function dropBackup() {
    try { localStorage.removeItem(backupKey); } catch (e) { /* nothing kept */ }
  }

  function restore() {
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem(backupKey) || "null"); } catch (e) { saved = null; }
    if (!saved || !saved.typed) return false;
    const same = inputs.every((el) => (saved.base || {})[el.dataset.field] === el.value);
    if (!same) { dropBackup(); return false; } // the draft changed elsewhere since: it wins
    let changed = false;
    for (const el of inputs) {
      const typed = saved.typed[el.dataset.field];
      if (typeof typed === "string" && typed !== el.value) { el.value = typed; changed = true; }
    }
    return changed;
  }

  function headers() {
    return { "Content-Type": "application/json", "X-CSRF-Token": root.dataset.csrf };
  }

  function showProblems(problems) {
    for (const el of inputs) {
      const box = document.getElementById("problem-" + el.dataset.field);
      if (box) box.textContent = (problems || {})[el.dataset.field] || "";
    }
  }

  async function save(keepalive) {
    if (saving) { await saving; }
    if (!dirty) return true;
    const sent = values();
    dirty = false;
    setStatus(texts.saving);
    saving = (async () => {
      try {
        const answer = await fetch(root.dataset.save, {
          method: "POST", headers: headers(), body: JSON.stringify(sent),
          keepalive: Boolean(keepalive), credentials: "same-origin",
        });
        const body = await answer.json().catch(() => ({}));
        if (answer.status === 429) throw new Error("too fast");
        if (!answer.ok) {
          // Refused for good (stale link, draft sent): say so and stop retrying.
          setStatus(body.message || texts.unsaved);
          doneButton.disabled = true;
          return false;
        }
        Object.assign(stored, body.values || {});
        showProblems(body.problems);
        retryDelay = 2000;
        if (!dirty) {
          if (body.ok) { dropBackup(); setStatus(texts.saved); } else { setStatus(texts.unsaved); }
        }
        return Boolean(body.ok);
      } catch (e) {
        dirty = true;
        setStatus(navigator.onLine === false ? texts.offline : (e.message === "too fast" ? texts.too_fast : texts.offline));
        schedule(retryDelay);
        retryDelay = Math.min(retryDelay * 2, MAX_RETRY);
        return false;
      } finally {
        saving = null;
      }
    })();
    return saving;
  }

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(() => { save(false); }, delay);
  }

  function changed() {
    dirty = true;
    setStatus(texts.unsaved);
    showCount();
    backup();
    schedule(SAVE_DELAY);
  }

  for (const el of inputs) {
    stored[el.dataset.field] = el.value;
    el.addEventListener("input", changed);
  }
  if (restore()) changed();
  showCount();

  // The phone locks, the tab goes to the background or closes: save what is typed now.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden" && dirty) save(true);
  });
  window.addEventListener("pagehide", () => { if (dirty) save(true); });
  window.addEventListener("online", () => { if (dirty) { retryDelay = 2000; save(false); } });

  doneButton.addEventListener("click", async () => {
    doneButton.disabled = true;
    clearTimeout(timer);
    const ok = await save(false);
    if (!ok && dirty) { doneButton.disabled = false; return; }
    const story = inputs.find((el) => el.dataset.field === storyKey);
    if (count(story ? story.value : "") > limit) { doneButton.disabled = false; return; }
    try {
      const answer = await fetch(root.dataset.done, { method: "POST", headers: headers(), body: "{}" });
      const body = await answer.json().catch(() => ({}));
      doneMessage.textContent = body.message || texts.unsaved;
      if (answer.ok) {
        setStatus(texts.saved);
        const tg = window.Telegram && window.Telegram.WebApp;
        if (tg && tg.initData) setTimeout(() => tg.close(), 1500);
      }
    } catch (e) {
      setStatus(texts.offline);
    }
    doneButton.disabled = false;
  });

  const tg = window.Telegram && window.Telegram.WebApp;
  if (tg) { tg.ready(); tg.expand(); }
})();

// The Mini App's entry (/editor/telegram): Telegram's signed initData buys the editor link of
// the person's current draft; the server checks the signature, not this script.
(function () {
  const entry = document.getElementById("tg-entry");
  if (!entry) return;
  const tg = window.Telegram && window.Telegram.WebApp;
  const say = (text) => { document.getElementById("tg-status").textContent = text; };
  if (!tg || !tg.initData) { say(entry.dataset.outside); return; }
  tg.ready();
  fetch("/editor/telegram/session", { method: "POST", body: tg.initData })
    .then((answer) => answer.json().then((body) => [answer.ok, body]))
    .then(([ok, body]) => { if (ok && body.url) location.replace(body.url); else say(body.message); })
    .catch(() => say(entry.dataset.offline));
})();

// The personal page's photo upload: each photo goes as one request, its body the file, as a
// chat sends photos one by one; the page then shows the bot's answer.
(function () {
  const box = document.getElementById("photo-upload");
  if (!box) return;
  const input = document.getElementById("photo-files");
  const status = document.getElementById("photo-status");
  input.addEventListener("change", async () => {
    const files = Array.from(input.files || []);
    input.disabled = true;
    for (let i = 0; i < files.length; i++) {
      status.textContent = "Đang gửi ảnh " + (i + 1) + " / " + files.length + "…";
      try {
        await fetch(box.dataset.url, {
          method: "POST", body: files[i],
          headers: { "X-CSRF-Token": box.dataset.csrf, "Content-Type": files[i].type || "application/octet-stream" },
        });
      } catch (e) { /* the page shows what arrived */ }
    }
    location.reload();
  });
})();
