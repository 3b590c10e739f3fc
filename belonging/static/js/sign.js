// Shows the association/organization fields only when they apply (they stay in the page without JS).
(function () {
  "use strict";
  var box = document.querySelector("[data-org-fields]");
  var radios = document.querySelectorAll("input[name=signer_type]");
  if (!box || !radios.length) return;
  var update = function () {
    var checked = document.querySelector("input[name=signer_type]:checked");
    box.hidden = !checked || checked.value === "individual";
  };
  radios.forEach(function (r) { r.addEventListener("change", update); });
  update();
})();
