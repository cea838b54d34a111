// Comment counts for section pages: every <a data-comment-count data-site="…" data-article="…">
// gets its count ("3 Kommentare"), all articles of a site in one request to the counts API.
// Add <script src="https://SERVICE/count.js" defer></script>. data-lang (or the page's lang)
// picks the words.
(function () {
"use strict";
var me = document.currentScript;
var API = (me ? me.src.replace(/\/count\.js([?#].*)?$/, "") : "") + "/api/v1";
// The service puts its settings here: the words for one and for {n} comments in every
// language (from its catalogs), and how many articles the counts API answers at once.
var S = "__SETTINGS__";
var T = S.text;

function run() {
  var bySite = {};
  document.querySelectorAll("[data-comment-count][data-site][data-article]").forEach(function (link) {
    var site = link.getAttribute("data-site");
    (bySite[site] = bySite[site] || []).push(link);
  });
  Object.keys(bySite).forEach(function (site) {
    var links = bySite[site];
    var keys = links.map(function (l) { return l.getAttribute("data-article"); }).filter(function (k, i, all) { return all.indexOf(k) === i; });
    // The API answers up to S.max articles at once; a section page rarely has more.
    for (var i = 0; i < keys.length; i += S.max) {
      var query = keys.slice(i, i + S.max).map(function (k) { return "article=" + encodeURIComponent(k); }).join("&");
      fetch(API + "/sites/" + encodeURIComponent(site) + "/counts?" + query, { credentials: "omit" }).then(function (r) {
        return r.ok ? r.json() : Promise.reject(r.status);
      }).then(function (body) {
        links.forEach(function (link) {
          var n = body.counts[link.getAttribute("data-article")];
          var lang = (link.getAttribute("data-lang") || document.documentElement.lang || "de").slice(0, 2);
          var words = T[lang] || T.de;
          if (n != null) link.textContent = n === 1 ? words[0] : words[1].replace("{n}", n);
        });
      }).catch(function () {});
    }
  });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
else run();
})();
