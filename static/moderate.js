// Moderator UI: keyboard shortcuts and decisions in place, without reloading the queue.
// Without JavaScript every button is a plain form POST that redirects back (PRG); this file
// only makes the same POSTs with fetch and asks for a small JSON answer instead.
// The queue is shared: while the page is visible it polls the queue's state (new comments,
// cards others decided, who looks at which card) and tells the others which card has focus.
(function () {
  "use strict";

  const list = document.getElementById("cards");
  const bulk = document.getElementById("bulk");
  const messages = document.getElementById("messages");
  const dialog = document.getElementById("shortcuts");
  let current = 0;

  function cards() {
    return list ? Array.from(list.querySelectorAll(":scope > .card:not(.leaving)")) : [];
  }

  // byHand: the moderator moved there (keys, a click, the card after a decision), so the
  // others are told; the first card focused on loading the page is not claimed.
  function focusCard(index, scroll, byHand) {
    const all = cards();
    document.querySelectorAll(".card.current").forEach((c) => c.classList.remove("current"));
    if (!all.length) return;
    current = Math.max(0, Math.min(index, all.length - 1));
    const card = all[current];
    card.classList.add("current");
    card.focus({ preventScroll: true });
    if (scroll !== false) card.scrollIntoView({ block: "nearest" });
    if (byHand) claim(card);
  }

  function csrfToken() {
    const input = document.querySelector('input[name="csrf_token"]');
    return input ? input.value : "";
  }

  // --- claims: "anna is looking at this" on the other moderators' screens ----------------
  const claimMs = list ? Number(list.dataset.claimSeconds || 120) * 1000 : 0;
  let claimed = { id: null, at: 0 };

  function claim(card) {
    const url = card && card.dataset.claim;
    if (!url || !list || !list.dataset.state) return;
    const now = Date.now();
    // Once per card, renewed when half the claim has run out: a focus is not a request each.
    if (claimed.id === card.id && now - claimed.at < claimMs / 2) return;
    claimed = { id: card.id, at: now };
    fetch(url, {
      method: "POST",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
      credentials: "same-origin",
    }).catch(() => {
      claimed = { id: null, at: 0 };
    });
  }

  function showClaims(claims) {
    const byId = new Map();
    claims.forEach((c) => {
      if (!c.mine) byId.set(String(c.id), c.message);
    });
    cards().forEach((card) => {
      const note = card.querySelector(":scope > .claim");
      if (!note) return;
      const message = byId.get(card.dataset.id);
      card.classList.toggle("claimed", Boolean(message));
      note.hidden = !message;
      note.textContent = message || "";
    });
  }

  function say(text, kind) {
    if (!messages) return;
    messages.replaceChildren();
    const p = document.createElement("p");
    p.className = "flash flash-" + (kind || "success");
    p.textContent = text;
    messages.append(p);
  }

  function selectedBoxes() {
    return Array.from(document.querySelectorAll('input[name="ids"][form="bulk"]:checked'));
  }

  function updateSelection() {
    const count = document.getElementById("selected-count");
    if (count) count.textContent = String(selectedBoxes().length);
    document.querySelectorAll('input[name="ids"][form="bulk"]').forEach((box) => {
      const card = box.closest(".card");
      if (card) card.classList.toggle("selected", box.checked);
    });
  }

  // The page's title without the count in front: "(12) Queue · Moderation" → "Queue · …".
  const baseTitle = document.title.replace(/^\(\d+\+?\) /, "");

  function setPending(count) {
    const badge = document.getElementById("pending-count");
    if (!badge || typeof count !== "number") return;
    const cap = Number(badge.dataset.cap);
    const text = cap && count >= cap ? cap + "+" : String(count);
    badge.textContent = text;
    if (list && list.dataset.state) document.title = "(" + text + ") " + baseTitle;
  }

  function afterRemoval() {
    updateSelection();
    if (cards().length) {
      focusCard(current);
      return;
    }
    // This page is done: fetch the next one, or say that nothing is left.
    if (document.getElementById("next-page")) {
      window.location.reload();
    } else {
      const empty = document.getElementById("empty");
      if (empty) empty.hidden = false;
    }
  }

  function removeCards(ids) {
    ids.forEach((id) => {
      const card = document.getElementById("c" + id);
      if (card) card.remove();
    });
    afterRemoval();
  }

  class Conflict extends Error {
    constructor(answer) {
      super(answer.message);
      this.answer = answer;
    }
  }

  async function send(form, submitter) {
    const response = await fetch(form.action, {
      method: "POST",
      body: new FormData(form, submitter || null),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    const type = response.headers.get("Content-Type") || "";
    if (response.status === 409 && type.includes("application/json")) {
      throw new Conflict(await response.json());
    }
    if (!response.ok || !type.includes("application/json")) {
      throw new Error("HTTP " + response.status);
    }
    return response.json();
  }

  // Someone else decided this card since it was shown: say who, and show it as it is now.
  function conflicted(card, answer) {
    card.classList.remove("leaving");
    say(answer.message, "error");
    setPending(answer.pending);
    if (list.dataset.status !== "all" && answer.status !== list.dataset.status) {
      card.remove();
      afterRemoval();
      return;
    }
    // Still in this list: deciding it again, now knowing what happened, is a new act.
    card.querySelectorAll('input[name="version"]').forEach((input) => {
      input.value = String(answer.version);
    });
    const bulkVersion = card.querySelector('input[name^="version-"]');
    if (bulkVersion) bulkVersion.value = String(answer.version);
  }

  // When fetch fails, let the browser do the plain POST: the server then shows what happened.
  function submitPlainly(form, submitter) {
    if (submitter && submitter.name) {
      const hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = submitter.name;
      hidden.value = submitter.value;
      form.append(hidden);
    }
    HTMLFormElement.prototype.submit.call(form);
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    const isCard = form.matches("form.decide") && form.closest("#cards");
    const isBulk = form === bulk;
    if (!isCard && !isBulk) return;
    event.preventDefault();
    const submitter = event.submitter;
    if (isCard) {
      const card = form.closest(".card");
      if (card.classList.contains("leaving")) return;
      // Optimistic: the next card takes focus at once, so a fast moderator is never held up.
      const index = cards().indexOf(card);
      card.classList.add("leaving");
      focusCard(index, true, true);
      try {
        const result = await send(form, submitter);
        setPending(result.pending);
        say(result.message);
        if (list.dataset.status === "all") {
          // The card still belongs in this list, with its new status: show it as it is now.
          window.location.reload();
          return;
        }
        card.remove();
        afterRemoval();
      } catch (error) {
        if (error instanceof Conflict) {
          conflicted(card, error.answer);
          return;
        }
        card.classList.remove("leaving");
        submitPlainly(form, submitter);
      }
      return;
    }
    if (!selectedBoxes().length) {
      say(bulk.dataset.nothing || "Select comments first (x).", "error");
      return;
    }
    try {
      const result = await send(form, submitter);
      setPending(result.pending);
      say(result.message);
      if (list && list.dataset.status === "all") {
        window.location.reload();
        return;
      }
      removeCards([].concat(result.changed, result.unchanged, result.skipped));
      const note = bulk.querySelector('input[name="note"]');
      if (note) note.value = "";
    } catch (error) {
      submitPlainly(form, submitter);
    }
  });

  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target.matches('input[name="ids"][form="bulk"]')) updateSelection();
    if (target.matches("form.locale select")) target.form.submit();
  });

  if (list) {
    list.addEventListener("click", (event) => {
      const card = event.target.closest(".card");
      if (card) {
        const index = cards().indexOf(card);
        if (index >= 0 && index !== current) focusCard(index, false, true);
        else claim(card);
      }
    });
  }

  function toggleHelp() {
    if (!dialog) return;
    if (dialog.open) dialog.close();
    else dialog.showModal();
  }

  const helpButton = document.getElementById("show-shortcuts");
  if (helpButton) {
    helpButton.hidden = false;
    helpButton.addEventListener("click", toggleHelp);
  }

  function decide(decision) {
    if (selectedBoxes().length && bulk) {
      const button = bulk.querySelector('button[name="decision"][value="' + decision + '"]');
      if (button) bulk.requestSubmit(button);
      return;
    }
    const card = cards()[current];
    if (!card) return;
    const form = card.querySelector("form.decide-" + decision);
    if (form) form.requestSubmit();
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest("input, textarea, select, [contenteditable]")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (event.key === "?") {
      event.preventDefault();
      toggleHelp();
      return;
    }
    if (!list || (dialog && dialog.open)) return;
    switch (event.key) {
      case "j":
        focusCard(current + 1, true, true);
        break;
      case "k":
        focusCard(current - 1, true, true);
        break;
      case "a":
        decide("approve");
        break;
      case "r":
        decide("reject");
        break;
      case "s":
        decide("spam");
        break;
      case "x": {
        const card = cards()[current];
        const box = card && card.querySelector('input[name="ids"]');
        if (box) {
          box.checked = !box.checked;
          updateSelection();
        }
        break;
      }
      default:
        return;
    }
    event.preventDefault();
  });

  // --- the live queue: short polling while the page is visible ----------------------------
  // Not a stream: production's sync workers would each be held by one open queue. The answer
  // is a 304 while nothing changed; moderator pages are no-store, so the ETag is kept here.
  const live = document.getElementById("live");
  let etag = null;
  let since = list ? Number(list.dataset.since || 0) : 0;
  // New comments above `since` this screen was told of: the server keeps `since` a few seconds
  // behind (a comment may become visible after a higher-numbered one), so it is told which
  // of those it need not hand out again. At most 200, as the server takes.
  let heard = [];
  let timer = null;
  let failures = 0;

  function notice(text) {
    if (!live || !text) return;
    const p = document.createElement("p");
    p.className = "flash";
    p.textContent = text;
    live.append(p);
    while (live.children.length > 3) live.firstElementChild.remove();
    setTimeout(() => p.remove(), 15000);
  }

  function stateUrl() {
    const url = new URL(list.dataset.state, window.location.href);
    url.searchParams.set("shown", cards().map((c) => c.dataset.id).join(","));
    url.searchParams.set("since", String(since));
    if (heard.length) url.searchParams.set("heard", heard.join(","));
    else url.searchParams.delete("heard");
    return url;
  }

  function addCards(items) {
    const template = document.createElement("template");
    items.forEach((item) => {
      if (document.getElementById("c" + item.id)) return;
      template.innerHTML = item.html; // rendered by our server: reader text already escaped
      const card = template.content.firstElementChild;
      if (card) list.append(card);
    });
    const empty = document.getElementById("empty");
    if (empty && cards().length) empty.hidden = true;
    if (cards().length && !document.querySelector(".card.current")) focusCard(0, false);
    updateSelection();
  }

  function apply(state) {
    setPending(state.pending);
    const still = new Set(state.still.map(String));
    const gone = state.gone.filter((g) => {
      const card = document.getElementById("c" + g.id);
      return card && !card.classList.contains("leaving") && !still.has(String(g.id));
    });
    gone.forEach((g) => {
      const card = document.getElementById("c" + g.id);
      const index = cards().indexOf(card);
      card.remove();
      if (index >= 0 && index < current) current -= 1;
      if (g.message) notice(g.message);
    });
    if (gone.length) afterRemoval();
    if (state.new.length) {
      if (list.dataset.append) addCards(state.new);
      else notice(state.new_message);
    }
    since = state.since;
    heard = heard
      .concat(state.new.map((item) => item.id))
      .filter((id) => id > since)
      .slice(-200);
    showClaims(state.claims);
  }

  async function poll() {
    timer = null;
    if (document.visibilityState !== "visible") return;
    try {
      const headers = { Accept: "application/json" };
      if (etag) headers["If-None-Match"] = etag;
      const response = await fetch(stateUrl(), {
        headers: headers,
        credentials: "same-origin",
        cache: "no-store",
      });
      const type = response.headers.get("Content-Type") || "";
      if (response.status === 200 && type.includes("application/json")) {
        const state = await response.json();
        etag = response.headers.get("ETag");
        apply(state);
      } else if (response.status !== 304) {
        throw new Error("HTTP " + response.status);
      }
      failures = 0;
    } catch (error) {
      failures += 1; // signed out, offline, a restart: ask less often, never give up
    }
    schedule();
  }

  function schedule() {
    if (timer !== null || document.visibilityState !== "visible") return;
    const every = Number(list.dataset.poll || 5000);
    timer = setTimeout(poll, Math.min(every * 2 ** Math.min(failures, 4), 60000));
  }

  if (list && list.dataset.state) {
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState !== "visible") return;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      poll(); // back on the page: catch up at once
    });
    poll();
  }

  // Start on the card the URL names (after a plain POST), else on the first one.
  if (list) {
    const named = window.location.hash && document.getElementById(window.location.hash.slice(1));
    focusCard(named ? Math.max(0, cards().indexOf(named)) : 0);
    updateSelection();
  }
})();
