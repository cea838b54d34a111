// The comment page in an iframe: tell the host page how tall we are, so it can fit the frame
// without scrollbars, and show times in the reader's own time zone. Served as a file, not inline,
// because the page's Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  var lang = document.documentElement.lang || "de";
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when)) {
      el.textContent = when.toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
      el.title = when.toLocaleString(lang, { dateStyle: "full", timeStyle: "long" });
    }
  });
  if (window.parent === window) return;
  var last = 0;
  function send() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height !== last) {
      last = height;
      // The height is no secret, so any parent may hear it; the host checks our origin.
      window.parent.postMessage({ type: "comments:height", height: height }, "*");
    }
  }
  new ResizeObserver(send).observe(document.documentElement);
  send();
})();
