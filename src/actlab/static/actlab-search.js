// A book opened from disk (file://) may not fetch its own pages, so Sphinx's search lists bare
// titles with no snippet. The build writes every page's text into actlab-search-text.js; here a
// fetch of one of the book's pages is answered from it, as the page's main block. Served over
// HTTP the search fetches the pages as usual.
(function () {
  if (location.protocol !== "file:" || !window.ACTLAB_PAGE_TEXT) return;
  var root = new URL(document.documentElement.dataset.content_root || "./", location.href).href;
  var fetchPage = window.fetch;
  window.fetch = function (url) {
    var href = new URL(url, location.href).href.split("#")[0];
    var doc = href.indexOf(root) === 0 ? href.slice(root.length).replace(/\.html$/, "") : null;
    if (doc !== null && Object.prototype.hasOwnProperty.call(window.ACTLAB_PAGE_TEXT, doc)) {
      var main = document.createElement("div");
      main.setAttribute("role", "main");
      main.textContent = window.ACTLAB_PAGE_TEXT[doc];
      return Promise.resolve(new Response(main.outerHTML, { headers: { "Content-Type": "text/html" } }));
    }
    return fetchPage.apply(this, arguments);
  };
})();
