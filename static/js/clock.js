// The server clock decides every deadline: show it, corrected for this computer's clock offset.
(function () {
  "use strict";
  var offset = 0;
  function sync() {
    var sent = Date.now();
    fetch("/api/v1/time", {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (data) {
      var received = Date.now();
      offset = Date.parse(data.now) - (sent + received) / 2;
    }).catch(function () {});
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function beijing(ms) {
    var d = new Date(ms + 8 * 3600 * 1000);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds());
  }
  function countdown(ms) {
    if (ms <= 0) { return document.documentElement.lang === "en" ? "closed" : "已截止"; }
    var s = Math.floor(ms / 1000), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600),
        m = Math.floor(s % 3600 / 60), sec = s % 60;
    return (d ? d + (document.documentElement.lang === "en" ? "d " : "天 ") : "") + pad(h) + ":" + pad(m) + ":" + pad(sec);
  }
  function tick() {
    var serverNow = Date.now() + offset;
    document.querySelectorAll("[data-server-clock] time").forEach(function (el) { el.textContent = beijing(serverNow); });
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var target = el.querySelector("[data-countdown]");
      if (target) { target.textContent = countdown(Date.parse(el.dataset.deadline) - serverNow); }
    });
  }
  window.bidhallServerNow = function () { return Date.now() + offset; };
  sync();
  setInterval(sync, 60000);
  setInterval(tick, 250);
  tick();
})();
