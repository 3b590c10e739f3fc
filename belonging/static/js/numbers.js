// Refreshes "by the numbers" figures from the API every 10 seconds (progressive enhancement).
(function () {
  "use strict";
  var box = document.querySelector("[data-numbers-url]");
  if (box && window.fetch) {
    var url = box.getAttribute("data-numbers-url");
    var refresh = function () {
      fetch(url, { headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          document.querySelectorAll("[data-field]").forEach(function (el) {
            var key = el.getAttribute("data-field");
            if (key in data && el.textContent !== String(data[key])) el.textContent = String(data[key]);
          });
        })
        .catch(function () { /* keep the figures already shown */ });
    };
    window.setInterval(refresh, 10000);
  }
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var source = document.querySelector(button.getAttribute("data-copy"));
    var status = document.querySelector(".copy-status");
    if (!source || !navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.value).then(function () {
        if (status) status.textContent = status.getAttribute("data-copied-text");
      });
    });
  });
})();
