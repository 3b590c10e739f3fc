// Live character count for the voice text, announced politely to screen readers, and the
// first-name/pseudonym field shown only when it applies (everything works without JS).
(function () {
  "use strict";
  var text = document.querySelector("textarea[data-counter]");
  var out = text && document.getElementById(text.id + "_count");
  if (text && out) {
    var max = parseInt(out.getAttribute("data-max"), 10);
    var template = out.getAttribute("data-template");
    var timer = null;
    var render = function () {
      var n = text.value.length;
      out.textContent = template.replace("%(count)s", n.toLocaleString(document.documentElement.lang))
        .replace("%(max)s", max.toLocaleString(document.documentElement.lang));
      out.classList.toggle("over-limit", n > max);
    };
    out.hidden = false;
    render();
    // Update the text at once but let the live region settle before it is read out.
    text.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(render, 400); });
  }
  var nameGroup = document.getElementById("id_display_name_group");
  var radios = document.querySelectorAll("input[name=display]");
  if (nameGroup && radios.length) {
    var update = function () {
      var checked = document.querySelector("input[name=display]:checked");
      nameGroup.hidden = !checked || checked.value === "anonymous";
    };
    radios.forEach(function (r) { r.addEventListener("change", update); });
    update();
  }
})();
