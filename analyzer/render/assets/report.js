/* modeltree-analyzer report: collapsible module tree and its search. No network, no libraries. */
(function () {
  "use strict";
  var rows = document.getElementById("tree-rows");
  var search = document.getElementById("search");
  var status = document.getElementById("status");
  var initial = status.textContent;
  var nodes = Array.prototype.slice.call(rows.getElementsByClassName("n"));  /* static: a live list re-walks on every class change */
  var count = nodes.length;
  var names = new Array(count), labels = new Array(count);
  for (var i = 0; i < count; i++) {
    var name = nodes[i].getAttribute("data-n");
    names[i] = name.toLowerCase();
    labels[i] = name.slice(name.lastIndexOf(".") + 1).toLowerCase() + "\n" + nodes[i].getAttribute("data-c").toLowerCase();
  }
  var marked = [];

  function toggle(el) {
    if (el && el.lastElementChild && el.lastElementChild.classList.contains("k")) el.classList.toggle("o");
  }
  rows.addEventListener("click", function (e) {
    var r = e.target.closest(".r");
    if (r && rows.contains(r)) toggle(r.parentNode);
  });
  rows.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" && e.key !== " ") return;
    var r = e.target.closest(".r");
    if (r) { e.preventDefault(); toggle(r.parentNode); }
  });

  /* A query without a dot matches a module's own name or its class; with a dot, the full name.
     Matches are shown with their ancestors; folded groups open to show matching members. */
  function filter(query) {
    var q = String(query || "").trim().toLowerCase();
    for (var m = 0; m < marked.length; m++) marked[m].classList.remove("hit", "path");
    marked = [];
    if (!q) {
      rows.classList.remove("searching");
      status.textContent = initial;
      return count;
    }
    var keys = q.indexOf(".") >= 0 ? names : labels, hits = 0;
    for (var i = 0; i < count; i++) {
      if (keys[i].indexOf(q) < 0) continue;
      hits++;
      nodes[i].classList.add("hit");
      marked.push(nodes[i]);
      for (var p = nodes[i].parentNode; p && p !== rows; p = p.parentNode) {
        var c = p.classList;
        if (!c.contains("n") && !c.contains("g")) continue;
        if (c.contains("path")) break;
        c.add("path");
        marked.push(p);
      }
    }
    rows.classList.add("searching");
    status.textContent = hits + " of " + count + " modules match \u201c" + query.trim() + "\u201d";
    return hits;
  }
  var timer = 0;
  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { filter(search.value); }, 80);
  });
  search.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { search.value = ""; filter(""); }
  });

  function expandAll() {
    var all = rows.querySelectorAll(".kids,.g");
    for (var i = 0; i < all.length; i++) all[i].classList.add("o");
  }
  function collapseAll() {
    var all = rows.querySelectorAll(".o");
    for (var i = 0; i < all.length; i++) all[i].classList.remove("o");
    if (rows.firstElementChild) rows.firstElementChild.classList.add("o");
  }
  document.getElementById("expand-all").addEventListener("click", expandAll);
  document.getElementById("collapse-all").addEventListener("click", collapseAll);

  var api = { filter: filter, expandAll: expandAll, collapseAll: collapseAll, modules: count,
              ready: performance.now(), painted: null };
  window.modeltreeReport = api;
  requestAnimationFrame(function () { setTimeout(function () { api.painted = performance.now(); }, 0); });
})();
