// One-click redaction: replaces every occurrence of a detected item in the "text to publish" box
// with the redaction marker. Moderators can also edit the box by hand; the server checks that a
// redaction only removes text.
(function () {
  "use strict";
  var marker = document.currentScript && document.currentScript.getAttribute("data-marker");
  var box = document.getElementById("id_redacted_text");
  if (!marker || !box) return;
  document.querySelectorAll("[data-redact]").forEach(function (button) {
    button.addEventListener("click", function () {
      var target = button.getAttribute("data-redact");
      box.value = box.value.split(target).join(marker);
      var approve = document.getElementById("id_decision_0");
      if (approve) approve.checked = true;
      button.disabled = true;
      button.setAttribute("aria-pressed", "true");
      box.focus();
    });
  });
})();
