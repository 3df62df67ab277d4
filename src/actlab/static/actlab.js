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

// Tables marked sortable (the guide's leaderboard): each heading is a button that sorts the rows
// by that column, ascending first, then descending; a cell's data-sort holds the number it sorts by.
(function () {
  function key(row, col) {
    var cell = row.children[col];
    var tagged = cell && cell.querySelector("[data-sort]");
    if (tagged) return parseFloat(tagged.getAttribute("data-sort"));
    return cell ? cell.textContent.trim().toLowerCase() : "";
  }
  function setup(table) {
    var heads = table.querySelectorAll("thead th");
    var body = table.querySelector("tbody");
    heads.forEach(function (th, col) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "actlab-sort";
      while (th.firstChild) button.appendChild(th.firstChild);
      th.appendChild(button);
      button.addEventListener("click", function () {
        var up = th.getAttribute("aria-sort") !== "ascending";
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a, col), y = key(b, col);
          var order = x < y ? -1 : x > y ? 1 : 0;
          return up ? order : -order;
        });
        rows.forEach(function (r) { body.appendChild(r); });
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", up ? "ascending" : "descending");
      });
    });
  }
  function all() { document.querySelectorAll("table.actlab-sortable").forEach(setup); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", all);
  else all();
})();

// Tables wider than the column scroll inside it (static/actlab.css); say so above each one that
// does (a tall table's foot is screens away), so no column goes unseen.
(function () {
  function hint() {
    document.querySelectorAll("main table.table").forEach(function (table) {
      var wide = table.scrollWidth > table.clientWidth + 1;
      var prev = table.previousElementSibling;
      var note = prev && prev.classList.contains("actlab-table-hint") ? prev : null;
      if (wide && !note) {
        note = document.createElement("p");
        note.className = "actlab-table-hint";
        note.textContent = "↔ The table below is wider than the column: scroll or swipe it sideways to see every column.";
        table.insertAdjacentElement("beforebegin", note);
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

// Equations are out of the tab order (_config.yml: MathJax's inTabOrder), except one wider than
// the column: it scrolls, and a keyboard user must be able to reach it to scroll it.
(function () {
  function reachable() {
    document.querySelectorAll("mjx-container").forEach(function (m) {
      if (m.scrollWidth > m.clientWidth + 1) m.setAttribute("tabindex", "0");
      else if (m.getAttribute("tabindex") === "0") m.removeAttribute("tabindex");
    });
  }
  function afterTypeset() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) MathJax.startup.promise.then(reachable);
  }
  if (document.readyState === "complete") afterTypeset();
  else window.addEventListener("load", afterTypeset);
  window.addEventListener("resize", reachable);
})();
