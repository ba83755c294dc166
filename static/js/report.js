// The report page: console log level toggles and a full-size view of image attachments.
// Both are enhancements: without JavaScript the level links are filtered by the server
// (?level=error) and an image link opens the image itself.
(function () {
  "use strict";

  // --- console logs: each level chip toggles its lines; none chosen shows every line ---------
  function setUpLogFilter(nav) {
    // After a server-side filter the other levels' lines are not on the page: keep the links.
    if (nav.dataset.complete !== "true") return;
    const section = nav.closest("section");
    const lines = Array.from(section.querySelectorAll("[data-log-lines] > li"));
    const empty = section.querySelector("[data-log-empty]");
    const status = section.querySelector("[data-log-status]");
    const all = nav.querySelector("[data-level-all]");
    const chips = Array.from(nav.querySelectorAll("[data-level]"));
    const chosen = new Set();

    function render(announce) {
      let shown = 0;
      lines.forEach((line) => {
        line.hidden = chosen.size > 0 && !chosen.has(line.dataset.level);
        if (!line.hidden) shown += 1;
      });
      if (empty) empty.hidden = shown > 0;
      all.setAttribute("aria-pressed", String(chosen.size === 0));
      chips.forEach((chip) => chip.setAttribute("aria-pressed", String(chosen.has(chip.dataset.level))));
      if (status && announce) status.textContent = `${shown} of ${lines.length} lines shown`;
    }

    [all, ...chips].forEach((control) => {
      control.setAttribute("role", "button");
      control.removeAttribute("aria-current");
      control.addEventListener("click", (event) => {
        event.preventDefault();
        const level = control.dataset.level;
        if (!level) chosen.clear();
        else if (chosen.has(level)) chosen.delete(level);
        else chosen.add(level);
        render(true);
      });
      // A link activates with Enter only; a button with Space too.
      control.addEventListener("keydown", (event) => {
        if (event.key === " ") {
          event.preventDefault();
          control.click();
        }
      });
    });
    render(false);
  }

  // --- attachments: an image opens in a dialog (Escape, the Close button or the backdrop close it)
  let dialog = null;
  let opener = null;

  function lightbox() {
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.className = "lightbox";
    dialog.innerHTML =
      '<div class="lightbox-body">' +
      '<div class="lightbox-bar"><p class="lightbox-title" data-lightbox-title></p>' +
      '<a class="btn btn-small" data-lightbox-download download>Download</a>' +
      '<button type="button" class="btn btn-small" data-lightbox-close>Close</button></div>' +
      '<img data-lightbox-image alt=""></div>';
    dialog.querySelector("[data-lightbox-close]").addEventListener("click", () => dialog.close());
    // A click on the backdrop lands on the dialog itself, outside its body.
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close();
    });
    dialog.addEventListener("close", () => {
      dialog.querySelector("[data-lightbox-image]").removeAttribute("src");
      if (opener) opener.focus();
    });
    document.body.appendChild(dialog);
    return dialog;
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[data-lightbox]");
    // Ctrl/Cmd/Shift-click keep their meaning (new tab, new window).
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    if (typeof HTMLDialogElement === "undefined") return;
    event.preventDefault();
    const box = lightbox();
    const name = link.querySelector("img").alt;
    const image = box.querySelector("[data-lightbox-image]");
    image.src = link.href;
    image.alt = name;
    box.querySelector("[data-lightbox-title]").textContent = name;
    box.querySelector("[data-lightbox-download]").href = link.dataset.download;
    box.setAttribute("aria-label", name);
    opener = link;
    box.showModal();
    box.querySelector("[data-lightbox-close]").focus();
  });

  document.querySelectorAll("[data-log-filter]").forEach(setUpLogFilter);
})();

// j / k step to the next / previous report of the list this one was opened from.
document.addEventListener("keydown", (event) => {
  if (event.metaKey || event.ctrlKey || event.altKey) return;
  const el = event.target;
  if (el.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) return;
  const rel = { j: "next", k: "prev" }[event.key];
  const link = rel && document.querySelector(`.report-nav a[rel="${rel}"]`);
  if (link) window.location.href = link.href;
});
