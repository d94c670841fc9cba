// Modular review side by side (templates/evaluation/modules.html): each bidder's column shows the chosen file
// inline — a PDF in the browser's own viewer, an image, or text — and opens on its first file.
(function () {
  "use strict";

  function show(button) {
    var column = button.closest(".bid-column");
    var viewer = column.querySelector("[data-role=viewer]");
    var url = button.getAttribute("data-view");
    var kind = button.getAttribute("data-viewer");
    column.querySelectorAll("[data-view]").forEach(function (b) { b.removeAttribute("aria-current"); });
    button.setAttribute("aria-current", "true");
    viewer.replaceChildren();
    if (kind === "none") {
      viewer.textContent = button.textContent;
      return;
    }
    var frame;
    if (kind === "image") {
      frame = document.createElement("img");
      frame.alt = button.textContent;
    } else {
      frame = document.createElement("iframe");
      frame.title = button.textContent;
      if (kind === "text") { frame.setAttribute("sandbox", ""); }
    }
    frame.src = url;
    frame.setAttribute("data-kind", kind);
    viewer.append(frame);
  }

  document.querySelectorAll("[data-view]").forEach(function (button) {
    button.addEventListener("click", function () { show(button); });
  });
  document.querySelectorAll(".bid-column").forEach(function (column) {
    var first = column.querySelector("[data-view]:not([data-viewer=none])");
    if (first) { show(first); }
  });
})();
