// Moderator UI: keyboard shortcuts and decisions in place, without reloading the queue.
// Without JavaScript every button is a plain form POST that redirects back (PRG); this file
// only makes the same POSTs with fetch and asks for a small JSON answer instead.
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

  function focusCard(index, scroll) {
    const all = cards();
    document.querySelectorAll(".card.current").forEach((c) => c.classList.remove("current"));
    if (!all.length) return;
    current = Math.max(0, Math.min(index, all.length - 1));
    const card = all[current];
    card.classList.add("current");
    card.focus({ preventScroll: true });
    if (scroll !== false) card.scrollIntoView({ block: "nearest" });
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

  function setPending(count) {
    const badge = document.getElementById("pending-count");
    if (!badge || typeof count !== "number") return;
    const cap = Number(badge.dataset.cap);
    badge.textContent = cap && count >= cap ? cap + "+" : String(count);
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

  async function send(form, submitter) {
    const response = await fetch(form.action, {
      method: "POST",
      body: new FormData(form, submitter || null),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    const type = response.headers.get("Content-Type") || "";
    if (!response.ok || !type.includes("application/json")) {
      throw new Error("HTTP " + response.status);
    }
    return response.json();
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
      focusCard(index);
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
        if (index >= 0 && index !== current) focusCard(index, false);
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
        focusCard(current + 1);
        break;
      case "k":
        focusCard(current - 1);
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

  // Start on the card the URL names (after a plain POST), else on the first one.
  if (list) {
    const named = window.location.hash && document.getElementById(window.location.hash.slice(1));
    focusCard(named ? Math.max(0, cards().indexOf(named)) : 0);
    updateSelection();
  }
})();
