// Progress of a synthesis run: asks the server for the run's status every few seconds and updates the
// progress bar and the status line (a polite live region); reloads the page when the run has finished,
// which then shows the results. Without JavaScript the page has a link to refresh it.
(function () {
  "use strict";
  var box = document.getElementById("run-progress-box");
  if (!box || box.getAttribute("data-finished") === "true") return;
  var url = box.getAttribute("data-status-url");
  var bar = document.getElementById("run-progress");
  var fallback = box.querySelector(".no-js-only");
  if (fallback) fallback.hidden = true;
  var delay = 2000;

  function show(status) {
    if (bar) bar.value = status.percent;
    ["status_label", "percent_label", "stage_label"].forEach(function (name) {
      var field = box.querySelector("[data-field='" + name + "']");
      if (field && field.textContent !== status[name]) field.textContent = status[name];
    });
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (status) {
        show(status);
        if (status.finished) {
          window.location.reload();
          return;
        }
        delay = 2000;
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        // The server or the network is busy: try again less often, and show the refresh link.
        if (fallback) fallback.hidden = false;
        delay = Math.min(delay * 2, 30000);
        window.setTimeout(poll, delay);
      });
  }

  window.setTimeout(poll, delay);
})();
