// The book's interactive figures (actlab.interactive): each block holds a Vega-Lite spec whose
// data is a file of the book; vega-embed (served from _static, loaded before this file) draws it.
// The view is kept in window.actlabCharts[id] so the browser tests can read the plotted data.
window.actlabCharts = window.actlabCharts || {};
document.querySelectorAll("div.actlab-interactive").forEach(function (block) {
  var spec = JSON.parse(block.querySelector("script.actlab-spec").textContent);
  if (window.location.protocol === "file:") {
    // opened from disk: the browser will not fetch the data file, so the page's copy is used
    var rows = JSON.parse(block.querySelector("script.actlab-data").textContent);
    var inline = function (node) {
      if (node && typeof node === "object") {
        if (node.url === block.dataset.url) { delete node.url; delete node.format; node.values = rows; }
        Object.keys(node).forEach(function (k) { inline(node[k]); });
      }
    };
    inline(spec);
  }
  var target = block.querySelector("div.actlab-chart");
  window.vegaEmbed(target, spec, { actions: false, renderer: "svg" }).then(function (result) {
    window.actlabCharts[block.id] = result.view;
    block.classList.add("actlab-ready");
  }).catch(function (err) {
    console.error("interactive figure " + block.id + ": " + err);
  });
});
