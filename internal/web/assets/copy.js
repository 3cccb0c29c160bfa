// Copy buttons for the consent pages. Progressive enhancement: the buttons
// start hidden, and everything they copy is also visible text on the page.
"use strict";
(function () {
  const status = document.getElementById("copy-status");
  const buttons = document.querySelectorAll("button[data-copy-target]");

  // Clear first so that copying the same thing twice is announced twice.
  function announce(message) {
    if (!status) return;
    status.textContent = "";
    window.setTimeout(function () { status.textContent = message; }, 50);
  }

  function showOnButton(button, text) {
    const label = button.querySelector(".copy-label");
    if (!label) return;
    const original = label.getAttribute("data-original") || label.textContent;
    label.setAttribute("data-original", original);
    label.textContent = text;
    window.clearTimeout(Number(button.getAttribute("data-timer") || 0));
    const timer = window.setTimeout(function () { label.textContent = original; }, 2500);
    button.setAttribute("data-timer", String(timer));
  }

  function selectContents(element) {
    const range = document.createRange();
    range.selectNodeContents(element);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // Older browsers or an http origin: copy the selection the old way.
  function copyBySelection(element) {
    selectContents(element);
    try {
      return document.execCommand("copy");
    } catch (e) {
      return false;
    }
  }

  function onClick(event) {
    const button = event.currentTarget;
    const target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target) return;
    const what = button.getAttribute("data-copy-label") || "text";
    const text = target.textContent;
    const copied = function () {
      announce("Copied " + what + " to the clipboard.");
      showOnButton(button, "Copied");
    };
    const failed = function () {
      if (copyBySelection(target)) {
        copied();
        return;
      }
      selectContents(target);
      announce("Could not copy automatically. The " + what + " is selected: press Ctrl+C to copy it.");
      showOnButton(button, "Press Ctrl+C");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(copied, failed);
    } else {
      failed();
    }
  }

  buttons.forEach(function (button) {
    button.addEventListener("click", onClick);
    button.hidden = false;
  });
})();
