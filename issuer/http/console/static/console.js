// tollgate console: the one script (served from /console/static, allowed by the CSP's
// script-src 'self'; no inline script anywhere). Copy buttons: <button data-copy="ID">
// copies the text of element ID and says so in the nearest status region.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      var status = button.parentElement.querySelector(".copy-status");
      if (!source) { return; }
      var say = function (text) { if (status) { status.textContent = text; } };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(source.textContent).then(
          function () { say("Copied."); },
          function () { say("Copy failed: select the text and copy it."); });
      } else {
        var range = document.createRange();
        range.selectNodeContents(source);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        say("Selected: press Ctrl+C to copy.");
      }
    });
  });
});
