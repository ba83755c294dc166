// Toasts: the server confirms a change with an `HX-Trigger: {"toast": "..."}` header.
(function () {
  "use strict";
  document.addEventListener("toast", (event) => {
    const box = document.getElementById("toasts");
    if (!box) return;
    const toast = document.createElement("p");
    toast.className = "toast";
    toast.textContent = event.detail.value;
    box.appendChild(toast);
    setTimeout(() => toast.remove(), 4000);
  });
  // A failed inline change still shows the server's row (with the old value) and its toast.
  document.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.xhr.status === 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
