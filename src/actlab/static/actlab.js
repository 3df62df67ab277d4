// Figures wider than a narrow column (a phone) scroll sideways inside it; say so under each
// one that does, so no panel goes unseen. Tapping a figure opens it at full size.
(function () {
  function hint() {
    document.querySelectorAll("a.actlab-full-size").forEach(function (link) {
      var box = link.closest("figure") || link.parentElement;
      var scroller = link.parentElement;
      var img = link.querySelector("img");
      var wide = img && img.getBoundingClientRect().width > scroller.clientWidth + 1;
      var note = box.querySelector(":scope > p.actlab-swipe-hint");
      if (wide && !note) {
        note = document.createElement("p");
        note.className = "actlab-swipe-hint";
        note.textContent = "↔ The figure is wider than the screen: swipe it sideways, or tap it to open it at full size.";
        link.insertAdjacentElement("afterend", note);
      } else if (!wide && note) {
        note.remove();
      }
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", hint);
  else hint();
  window.addEventListener("load", hint);
  window.addEventListener("resize", hint);
})();
