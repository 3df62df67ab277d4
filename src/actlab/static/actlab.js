// A figure or table wider than the column scrolls sideways inside it (static/actlab.css); a cue
// says so, so no panel or column goes unseen: under a figure (tapping it opens it at full size),
// above a table (a tall table's foot is screens away). One routine, kept in step with resizing.
(function () {
  function cue(anchor, wide, cls, where, text) {
    var near = where === "afterend" ? anchor.nextElementSibling : anchor.previousElementSibling;
    var note = near && near.classList.contains(cls) ? near : null;
    if (wide && !note) {
      note = document.createElement("p");
      note.className = cls;
      note.textContent = text;
      anchor.insertAdjacentElement(where, note);
    } else if (!wide && note) {
      note.remove();
    }
  }
  function all() {
    document.querySelectorAll("a.actlab-full-size").forEach(function (link) {
      var img = link.querySelector("img");
      cue(link, img && img.getBoundingClientRect().width > link.parentElement.clientWidth + 1, "actlab-swipe-hint",
          "afterend", "↔ The figure is wider than the screen: swipe it sideways, or tap it to open it at full size.");
    });
    document.querySelectorAll("main table.table").forEach(function (table) {
      cue(table, table.scrollWidth > table.clientWidth + 1, "actlab-table-hint", "beforebegin",
          "↔ The table below is wider than the column: scroll or swipe it sideways to see every column.");
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", all);
  else all();
  window.addEventListener("load", all);
  window.addEventListener("resize", all);
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

// Paper is white: print in the light theme whatever the screen shows (the dark theme's boxes and
// table cells would print as dark slabs), and go back to the reader's choice afterwards.
(function () {
  var html = document.documentElement, before = null;
  window.addEventListener("beforeprint", function () {
    if (before === null) before = html.getAttribute("data-theme");  // once, if print is asked twice
    html.setAttribute("data-theme", "light");
  });
  window.addEventListener("afterprint", function () {
    if (before) html.setAttribute("data-theme", before);
    before = null;
  });
})();

// Tables read as cards on a phone (class actlab-cards, the claims ledger): each cell is labelled
// with its column's heading, which the stylesheet shows above it once the rows stack. A long cell
// (the rule and what was measured) is folded under its heading at every width, so a card stays a
// screen or less on a phone and a row a few lines on a desktop, and the verdicts can be scanned;
// printing opens every fold, and closing the print closes them again.
(function () {
  var LONG = 200;  // characters
  function fold(td, heading) {
    var details = document.createElement("details"), summary = document.createElement("summary");
    summary.textContent = heading;
    details.appendChild(summary);
    while (td.firstChild) details.appendChild(td.firstChild);
    td.appendChild(details);
    td.classList.add("actlab-folded");
  }
  function label() {
    document.querySelectorAll("table.actlab-cards").forEach(function (table) {
      var heads = Array.from(table.querySelectorAll("thead th")).map(function (th) { return th.textContent.trim(); });
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        Array.from(tr.children).forEach(function (td, i) {
          if (!heads[i]) return;
          td.setAttribute("data-label", heads[i]);
          if (td.textContent.length > LONG && !td.classList.contains("actlab-folded")) fold(td, heads[i]);
        });
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", label);
  else label();
  var opened = [];
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("td.actlab-folded > details:not([open])").forEach(function (d) {
      d.open = true;
      opened.push(d);
    });
  });
  window.addEventListener("afterprint", function () {
    opened.forEach(function (d) { d.open = false; });
    opened = [];
  });
})();
