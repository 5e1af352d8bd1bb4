// The desk's live send view (templates/pages/desk/send.html): while the edition is being sent, fetch its
// figures every few seconds and write each into the element with its id; once it is not, reload the page
// once (the failed readers and the buttons come from the server). Without this script the page still
// shows every figure as of its loading, and a reload brings them up to date.
"use strict";
(function () {
  var root = document.getElementById("live");
  if (!root || root.dataset.going !== "yes") return;
  var every = Math.max(1, Number(root.dataset.poll) || 2) * 1000;
  function tick() {
    fetch(root.dataset.live, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (figures) {
        if (!figures) { setTimeout(tick, every * 2); return; }
        Object.keys(figures.cells).forEach(function (id) {
          var cell = document.getElementById(id);
          if (cell && cell.textContent !== figures.cells[id]) cell.textContent = figures.cells[id];
        });
        if (figures.going) setTimeout(tick, every); else window.location.reload();
      })
      .catch(function () { setTimeout(tick, every * 2); });
  }
  setTimeout(tick, every);
})();
