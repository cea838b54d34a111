// The comment widget. A news site adds to an article page:
//   <div id="comments" data-site="demo" data-article="some-article"></div>
//   <script src="https://SERVICE/embed.js" defer></script>
// Plain JavaScript, no dependencies, no build step. The service serves this file with the
// minified embed.css in place of "__CSS__", and drops indentation and whole-line comments:
// so keep every string on one line. Only a comment's server-sanitized `html` is inserted as
// HTML; everything else goes in as text.
(function () {
"use strict";
var me = document.currentScript;
var API = (me ? me.src.replace(/\/embed\.js([?#].*)?$/, "") : "") + "/api/v1";
var CSS = "__CSS__";
// The service puts its settings here: this script's words in every language, from the
// service's catalogs ({n} marks a number or a name), and the limits of the fields.
var S = "__SETTINGS__";
var T = S.text;
var UNITS = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];

function el(tag, cls, text) {
  var node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text != null) node.textContent = text;
  return node;
}

function fill(text, n) {
  return text.replace("{n}", n);
}

function json(response) {
  return response.json().catch(function () { return {}; }).then(function (body) {
    return { status: response.status, body: body, headers: response.headers };
  });
}

function store(key, value) {
  try {
    if (value === undefined) return JSON.parse(localStorage.getItem(key)) || [];
    if (value.length) localStorage.setItem(key, JSON.stringify(value));
    else localStorage.removeItem(key);
  } catch (e) {
    return [];
  }
}

// A trusted reader's key (see the service's moderation/trust.py): the link on the page that
// confirmed the reader's address brings it in the fragment, #cm-key=KEY. Kept for the site in
// this browser's storage and taken out of the address bar (and so out of bookmarks).
function readerKey(site) {
  var name = "cm-key:" + site, found = /(^#|&)cm-key=([\w-]{43})(?=&|$)/.exec(location.hash);
  try {
    if (found) {
      localStorage.setItem(name, found[2]);
      history.replaceState(history.state, "", location.href.split("#")[0]);
    }
    return localStorage.getItem(name);
  } catch (e) {
    return found && found[2];
  }
}

function Widget(host) {
  var w = this;
  w.host = host;
  w.site = host.getAttribute("data-site");
  w.readerKey = readerKey(w.site);
  w.article = host.getAttribute("data-article");
  w.thread = API + "/sites/" + encodeURIComponent(w.site) + "/articles/" + w.article.split("/").map(encodeURIComponent).join("/");
  w.key = "comments:" + w.site + ":" + w.article;
  w.inputs = {};
  w.errors = {};
  var sort = String(store("cm-sort"));
  w.sort = /^(newest|featured)$/.test(sort) ? sort : "oldest";
  var root = host.attachShadow({ mode: "open" });
  root.appendChild(el("style", "", CSS));
  w.box = el("section", "cm");
  w.box.setAttribute("aria-busy", "true");
  root.appendChild(w.box);
  var started = false;
  function start() {
    if (!started) {
      started = true;
      w.load();
    }
  }
  if (window.IntersectionObserver) {
    var seen = new IntersectionObserver(function (entries) {
      if (entries.some(function (e) { return e.isIntersecting; })) {
        seen.disconnect();
        start();
      }
    }, { rootMargin: "600px 0px" });
    seen.observe(host);
  } else {
    start();
  }
}

Widget.prototype.load = function () {
  var w = this;
  Promise.all([
    fetch(w.thread + "/form-token", { credentials: "omit" }).then(json),
    w.page()
  ]).then(function (answers) {
    var form = answers[0].body, list = answers[1].body;
    if (answers[0].status !== 200 || answers[1].status !== 200) throw new Error();
    var lang = w.host.getAttribute("data-lang");
    w.lang = T[lang] ? lang : form.language;
    // The service answers in the site's language; ?lang= asks for the one shown here.
    w.post = w.thread + "/comments" + (w.lang === form.language ? "" : "?lang=" + w.lang);
    w.t = T[w.lang];
    w.token = form.token;
    w.limits = form.limits;
    w.closed = form.closed;
    w.build();
    w.add(list);
    w.showOwn();
    return w.find();
  }).catch(function () {
    w.box.textContent = "";
    w.box.appendChild(el("p", "cm-alert", (T[w.host.getAttribute("data-lang")] || T.de).noLoad));
  }).then(function () {
    w.box.removeAttribute("aria-busy");
  });
};

Widget.prototype.build = function () {
  var w = this, t = w.t;
  w.box.lang = w.lang;
  w.heading = el("h2", "cm-count");
  w.status = el("div", "cm-status");
  w.status.setAttribute("role", "status");
  w.status.setAttribute("aria-live", "polite");
  w.box.appendChild(w.heading);
  w.box.appendChild(w.status);
  if (w.closed) {
    w.box.appendChild(el("p", "cm-closed", t.closed));
  } else {
    w.box.appendChild(w.form = w.buildForm());
  }
  w.own = el("ol", "cm-list cm-own");
  // The order, remembered in this browser: oldest or newest first, or the editors' picks.
  var p = el("p", "cm-sort"), label = el("label", "", t.sort), select = el("select");
  label.htmlFor = select.id = "cm-sort";
  ["oldest", "newest", "featured"].forEach(function (o) {
    select.appendChild(el("option", "", t[o])).value = o;
  });
  select.value = w.sort;
  select.onchange = function () {
    store("cm-sort", w.sort = select.value);
    if (w.parent) w.replyTo(null);
    w.page().then(function (r) {
      if (r.status !== 200) throw new Error();
      w.list.textContent = "";
      w.add(r.body);
    }).catch(function () { w.say(t.noLoad, true); });
  };
  p.appendChild(label);
  p.appendChild(select);
  w.box.appendChild(p);
  w.list = el("ol", "cm-list");
  w.empty = el("p", "cm-empty", t.empty);
  w.more = el("button", "cm-more", t.more);
  w.more.type = "button";
  w.more.hidden = true;
  w.more.onclick = function () { w.loadMore(); };
  [w.own, w.empty, w.list, w.more].forEach(function (node) { w.box.appendChild(node); });
};

Widget.prototype.field = function (form, name, label, tag, attrs, hint) {
  var w = this, p = el("p", "cm-field"), id = "cm-" + name;
  var input = el(tag);
  var labelNode = el("label", "", label);
  var error = el("span", "cm-error");
  labelNode.htmlFor = input.id = id;
  input.name = name;
  error.id = id + "-error";
  Object.keys(attrs).forEach(function (a) { input.setAttribute(a, attrs[a]); });
  var described = [error.id];
  p.appendChild(labelNode);
  p.appendChild(input);
  if (hint) {
    hint.id = id + "-hint";
    hint.className = "cm-hint";
    described.unshift(hint.id);
    p.appendChild(hint);
  }
  input.setAttribute("aria-describedby", described.join(" "));
  p.appendChild(error);
  form.appendChild(p);
  w.inputs[name] = input;
  w.errors[name] = error;
  return input;
};

Widget.prototype.buildForm = function () {
  var w = this, t = w.t, form = el("form", "cm-form");
  form.noValidate = true;
  w.formTitle = el("h3", "cm-form-title", t.leave);
  form.appendChild(w.formTitle);
  w.field(form, "author", t.name, "input", { maxlength: w.limits.author, autocomplete: "name", required: "" });
  w.field(form, "email", t.email, "input", { type: "email", maxlength: S.email, autocomplete: "email" }, el("span", "", t.emailHint));
  // Opt in to mails about this comment (published, answered); the service asks to confirm.
  var check = el("p", "cm-check"), notify = el("input"), label = el("label", "", t.notify);
  notify.type = "checkbox";
  notify.name = "notify";
  label.htmlFor = notify.id = "cm-notify";
  check.appendChild(notify);
  check.appendChild(label);
  form.appendChild(check);
  w.inputs.notify = notify;
  var counter = el("span");
  var body = w.field(form, "body", t.body, "textarea", { rows: 5, maxlength: w.limits.body, required: "" }, counter);
  function count() { counter.textContent = fill(t.left, w.limits.body - body.value.length); }
  body.addEventListener("input", count);
  count();
  w.count = count;
  var trap = el("p", "cm-trap");
  trap.setAttribute("aria-hidden", "true");
  var website = el("input");
  website.name = "website";
  website.tabIndex = -1;
  website.autocomplete = "off";
  trap.appendChild(el("label", "", t.trap)).appendChild(website);
  form.appendChild(trap);
  w.inputs.website = website;
  var actions = el("p", "cm-actions");
  w.send = el("button", "cm-send", t.send);
  w.send.type = "submit";
  w.cancel = el("button", "cm-cancel", t.cancel);
  w.cancel.type = "button";
  w.cancel.hidden = true;
  w.cancel.onclick = function () { w.replyTo(null); };
  actions.appendChild(w.send);
  actions.appendChild(w.cancel);
  form.appendChild(actions);
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    w.submit();
  });
  return form;
};

Widget.prototype.say = function (text, bad) {
  this.status.textContent = "";
  this.status.className = "cm-status" + (bad ? " cm-alert" : " cm-note");
  if (text) this.status.appendChild(el("p", "", text));
};

Widget.prototype.heading_ = function (n) {
  this.heading.textContent = n === 1 ? this.t.c1 : fill(this.t.cn, n);
  this.empty.hidden = n > 0 || this.list.children.length > 0;
};

Widget.prototype.dates = function (node, iso) {
  var when = new Date(iso), t = el("time"), diff = (when - Date.now()) / 1000;
  var rel = new Intl.RelativeTimeFormat(this.lang, { numeric: "auto" });
  var text = rel.format(0, "second");
  for (var i = 0; i < UNITS.length; i++) {
    if (Math.abs(diff) >= UNITS[i][1]) {
      text = rel.format(Math.round(diff / UNITS[i][1]), UNITS[i][0]);
      break;
    }
  }
  t.dateTime = iso;
  t.textContent = text;
  t.title = when.toLocaleString(this.lang, { dateStyle: "full", timeStyle: "short" });
  node.appendChild(t);
};

Widget.prototype.render = function (c, own) {
  var w = this, item = el("li"), art = el("article", "cm-comment"), head = el("header");
  var body = el("div", "cm-body");
  item.id = "comment-" + c.id;
  head.appendChild(el("strong", "cm-author", c.author));
  if (c.staff) head.appendChild(el("em", "cm-badge cm-staff", w.t.staff));
  if (c.featured) head.appendChild(el("em", "cm-badge cm-pick", w.t.pick));
  // The time is the comment's permalink.
  var link = head.appendChild(el("a"));
  link.href = "#comment-" + c.id;
  w.dates(link, c.created_at);
  art.appendChild(head);
  if (own) {
    art.className += " cm-pending";
    head.appendChild(el("em", "cm-badge", c.live ? w.t.published : w.t.pending));
    body.textContent = c.body;
  } else {
    // The one place HTML goes in: the server sanitized it (bleach, allowlist).
    body.innerHTML = c.html;
  }
  art.appendChild(body);
  var button = el("button", "cm-link", own ? w.t.withdraw : w.t.reply);
  button.type = "button";
  if (own) {
    button.onclick = function () { w.withdraw(c, item); };
  } else {
    // The visible word first, as the no-JS page has it: a name that holds what is seen.
    button.setAttribute("aria-label", w.t.reply + " (" + c.author + ")");
    button.onclick = function () { w.replyTo(c, art, button); };
  }
  if (own || !w.closed) art.appendChild(button);
  if (!own) {
    // Reporting stays open on a closed article: illegal content is reported all the same.
    var flag = art.appendChild(el("button", "cm-link", w.t.report));
    flag.type = "button";
    flag.setAttribute("aria-expanded", "false");
    flag.onclick = function () { w.report(c, art, flag); };
  }
  item.appendChild(art);
  return item;
};

// One page of the list in the chosen order, from the cursor `after` on.
Widget.prototype.page = function (after) {
  return fetch(this.thread + "/comments?sort=" + this.sort + (after ? "&after=" + encodeURIComponent(after) : ""), { credentials: "omit" }).then(json);
};

// Replies go under their thread's top comment (one level deep). A reply that comes before its
// parent (newest first, or a pick answering a comment that is none) waits for the parent;
// after the last page, those still waiting are shown on their own.
Widget.prototype.add = function (page) {
  var w = this, mine = store(w.key), approved = {};
  if (!w.list.children.length) {
    w.tops = {};
    w.wait = {};
  }
  function place(c) {
    var item = w.render(c), replies = w.tops[c.parent_id];
    if (!replies) {
      if (c.parent_id && !place.last) return (w.wait[c.parent_id] = w.wait[c.parent_id] || []).push(c);
      replies = item.appendChild(el("ol", "cm-replies"));
      w.list.appendChild(item);
    } else {
      replies.appendChild(item);
    }
    w.tops[c.id] = replies;
    (w.wait[c.id] || []).forEach(place);
    delete w.wait[c.id];
  }
  page.comments.forEach(function (c) {
    approved[c.id] = true;
    place(c);
  });
  if (!page.next) {
    place.last = 1;
    Object.keys(w.wait).forEach(function (id) { w.wait[id].forEach(place); });
    w.wait = {};
  }
  // Own comments that have been approved meanwhile are in the list now: forget them.
  store(w.key, mine.filter(function (c) { return !approved[c.id]; }));
  w.next = page.next;
  w.more.hidden = !page.next;
  w.heading_(page.count);
};

Widget.prototype.loadMore = function () {
  var w = this;
  w.more.disabled = true;
  return w.page(w.next).then(function (r) {
    if (r.status !== 200) throw new Error();
    w.add(r.body);
    w.showOwn();
  }).catch(function () {
    w.say(w.t.noLoad, true);
  }).then(function () {
    w.more.disabled = false;
  });
};

// A permalink (#comment-ID) opens the thread at that comment: pages load until it is there.
Widget.prototype.find = function () {
  var w = this, id = /^#comment-\d+$/.test(location.hash) && location.hash.slice(1);
  var found = id && w.box.querySelector("#" + id);
  if (found) found.scrollIntoView();
  else if (id && w.next) return w.loadMore().then(function () { return w.find(); });
};

Widget.prototype.showOwn = function () {
  var w = this, month = 30 * 86400000;
  w.own.textContent = "";
  var mine = store(w.key).filter(function (c) { return Date.now() - Date.parse(c.created_at) < month; });
  mine.forEach(function (c) { w.own.appendChild(w.render(c, true)); });
  store(w.key, mine);
};

Widget.prototype.replyTo = function (c, art, button) {
  var w = this;
  w.parent = c ? c.id : null;
  w.formTitle.textContent = c ? fill(w.t.replyTo, c.author) : w.t.leave;
  w.cancel.hidden = !c;
  if (c) {
    w.opener = button;
    art.appendChild(w.form);
    w.inputs.body.focus();
  } else {
    w.status.after(w.form);
    if (w.opener) w.opener.focus();
  }
};

// The report form (DSA Art. 16), one at a time, under the comment it reports.
Widget.prototype.report = function (c, art, flag) {
  var w = this, t = w.t, f = w.rform, open = f && f.parentNode === art;
  if (f) {
    f.remove();
    w.rflag.setAttribute("aria-expanded", "false");
  }
  if (open) return;
  f = w.rform = el("form", "cm-form");
  w.rflag = flag;
  flag.setAttribute("aria-expanded", "true");
  f.noValidate = true;
  var cat = w.field(f, "r-category", t.what, "select", {});
  t.cats.forEach(function (o) { cat.appendChild(el("option", "", o[1])).value = o[0]; });
  var law = w.field(f, "r-law", t.law, "input", { maxlength: 500 });
  cat.onchange = function () { law.parentNode.hidden = cat.value !== "illegal"; };
  cat.onchange();
  w.field(f, "r-explanation", t.explanation, "textarea", { rows: 3, maxlength: 2000 });
  w.field(f, "r-email", t.email, "input", { type: "email", maxlength: S.email, autocomplete: "email" });
  var faith = w.field(f, "r-good_faith", t.faith, "input", { type: "checkbox" });
  faith.parentNode.className = "cm-check";
  faith.after(faith.previousSibling);
  f.appendChild(el("p")).appendChild(el("button", "", t.sendReport));
  f.onsubmit = function (e) {
    e.preventDefault();
    var data = { category: cat.value, law: law.value.trim() || null, explanation: w.inputs["r-explanation"].value, email: w.inputs["r-email"].value.trim() || null, good_faith: faith.checked };
    fetch(API + "/comments/" + c.id + "/reports" + w.post.replace(/^[^?]*/, ""), {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(data)
    }).then(json).then(function (r) {
      var first;
      ["category", "law", "explanation", "email", "good_faith"].forEach(function (name) {
        var message = (r.body.fields || {})[name], input = w.inputs["r-" + name];
        w.errors["r-" + name].textContent = message || "";
        if (message) input.setAttribute("aria-invalid", "true");
        else input.removeAttribute("aria-invalid");
        first = first || (message && input);
      });
      if (r.status === 202) {
        w.report(c, art);
        w.say(t.reported);
        flag.focus();
      } else if (first) {
        first.focus();
      } else {
        w.say(r.body.message || t.failed, true);
      }
    }, function () { w.say(t.offline, true); });
  };
  art.appendChild(f);
  cat.focus();
};

Widget.prototype.submit = function () {
  var w = this, t = w.t, inputs = w.inputs;
  if (w.busy) return;
  Object.keys(w.errors).forEach(function (name) {
    w.errors[name].textContent = "";
    inputs[name].removeAttribute("aria-invalid");
  });
  var canonical = document.querySelector("link[rel=canonical]");
  var url = w.host.getAttribute("data-url") || (canonical && canonical.href) || location.href.split("#")[0];
  var data = {
    author: inputs.author.value,
    email: inputs.email.value.trim() || null,
    notify: inputs.notify.checked,
    body: inputs.body.value,
    parent_id: w.parent || null,
    form_token: w.token,
    reader_key: w.readerKey || null,
    website: inputs.website.value,
    title: (w.host.getAttribute("data-title") || document.title).slice(0, S.title) || null,
    url: /^https?:/.test(url) ? url.slice(0, S.url) : null
  };
  w.busy = w.send.disabled = true;
  w.say("");
  fetch(w.post, {
    method: "POST",
    credentials: "omit",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(data)
  }).then(json).then(function (r) {
    var body = r.body;
    if (r.status === 202) {
      var mine = store(w.key);
      var live = body.status === "approved";
      mine.push({ id: body.id, token: body.token, author: data.author.trim(), body: data.body.trim(), created_at: new Date().toISOString(), live: live });
      store(w.key, mine);
      inputs.body.value = "";
      w.count();
      if (w.parent) w.replyTo(null);
      w.showOwn();
      w.say(live ? t.live : t.thanks);
      // A token posts one comment: the form stays busy until it holds a fresh one.
      return w.refreshToken();
    } else if (r.status === 429) {
      var wait = +(r.headers.get("Retry-After") || body.retry_after || 60);
      var unit = wait === 1 ? t.sec1 : wait < 90 ? t.sec : t.min;
      w.say(fill(t.wait, fill(unit, wait < 90 ? wait : Math.ceil(wait / 60))), true);
    } else if (body.fields) {
      var first;
      Object.keys(body.fields).forEach(function (name) {
        var error = w.errors[name] || w.errors.body;
        var input = inputs[name] || inputs.body;
        error.textContent = body.fields[name];
        input.setAttribute("aria-invalid", "true");
        first = first || input;
      });
      w.say(t.fields, true);
      first.focus();
    } else if (body.error === "invalid_form_token") {
      w.say(t.expired, true);
      return w.refreshToken();
    } else if (body.error === "closed" || body.error === "paused") {
      w.say(t.closed, true);
    } else {
      w.say(body.message || t.failed, true);
    }
  }, function () {
    // Nothing was cleared: the reader's text is still in the form.
    w.say(t.offline, true);
  }).then(function () {
    w.busy = w.send.disabled = false;
  });
};

Widget.prototype.refreshToken = function () {
  var w = this;
  return fetch(w.thread + "/form-token", { credentials: "omit" }).then(json).then(function (r) {
    if (r.body.token) w.token = r.body.token;
  }).catch(function () {});
};

Widget.prototype.withdraw = function (c, item) {
  var w = this;
  fetch(API + "/comments/" + c.id, {
    method: "DELETE",
    credentials: "omit",
    headers: { "X-Comment-Token": c.token }
  }).then(function (r) {
    if (!r.ok && r.status !== 404) throw new Error();
    store(w.key, store(w.key).filter(function (o) { return o.id !== c.id; }));
    item.remove();
    w.say(w.t.withdrawn);
  }).catch(function () {
    w.say(w.t.failed, true);
  });
};

function start() {
  document.querySelectorAll("#comments[data-site][data-article], [data-comments][data-site][data-article]").forEach(function (host) {
    if (!host.shadowRoot && host.attachShadow) new Widget(host);
  });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
})();
