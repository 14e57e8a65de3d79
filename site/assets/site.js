// mirrorsteer status site: a little progressive JavaScript. Every page
// works without it; with it, tables sort by a click on their headings and
// the configuration examples show this site's own address.
"use strict";
(function () {
  var root = new URL(document.documentElement.getAttribute("data-root") || "./", location.href).href;
  if (location.protocol === "http:" || location.protocol === "https:") {
    document.querySelectorAll(".site-base").forEach(function (el) {
      el.textContent = root;
    });
  }

  // The sort key of a cell: its data-sort attribute, else its text. Empty
  // keys (unknown values) sort last in both directions.
  function key(cell) {
    var k = cell.getAttribute("data-sort");
    return k === null ? cell.textContent.trim() : k;
  }

  function compare(x, y) {
    var nx = Number(x), ny = Number(y);
    if (x !== "" && y !== "" && !isNaN(nx) && !isNaN(ny)) {
      return nx - ny;
    }
    return x.localeCompare(y);
  }

  function sortBy(table, col, th) {
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    Array.prototype.forEach.call(th.parentNode.cells, function (c) {
      c.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col]), y = key(b.cells[col]);
      if (x === "" || y === "") {
        if (x !== y) {
          return x === "" ? 1 : -1;
        }
      } else {
        var c = compare(x, y) * dir;
        if (c !== 0) {
          return c;
        }
      }
      return Number(a.getAttribute("data-order")) - Number(b.getAttribute("data-order"));
    });
    rows.forEach(function (r) {
      body.appendChild(r);
    });
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    var head = table.tHead.rows[0];
    Array.prototype.forEach.call(head.cells, function (th, col) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "sort";
      while (th.firstChild) {
        b.appendChild(th.firstChild);
      }
      th.appendChild(b);
      b.addEventListener("click", function () {
        sortBy(table, col, th);
      });
    });
  });
})();
