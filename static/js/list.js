// The reports list: keyboard shortcuts, row selection and the bulk bar. Everything here is an
// enhancement: without JavaScript every link, filter and form still works.
(function () {
  "use strict";
  let current = -1;

  const rows = () => Array.from(document.querySelectorAll("[data-report-row]"));
  const typing = (el) => el && (el.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName));

  function highlight(index) {
    const all = rows();
    if (!all.length) return;
    current = Math.max(0, Math.min(index, all.length - 1));
    all.forEach((row, i) => row.classList.toggle("is-current", i === current));
    const row = all[current];
    row.scrollIntoView({ block: "nearest" });
    row.querySelector("[data-row-link]").focus({ preventScroll: true });
  }

  function currentRow() {
    const all = rows();
    return all[current] || all.find((row) => row.contains(document.activeElement));
  }

  function updateBulkBar() {
    const selected = document.querySelectorAll("[data-row-select]:checked").length;
    const all = document.querySelector("[data-all-matching]");
    const label = document.querySelector("[data-selected-count]");
    if (!label) return;
    label.textContent = all && all.checked
      ? "Every report matching this filter"
      : selected ? `${selected} selected` : "No reports selected";
    document.querySelector("[data-bulk-bar]").classList.toggle("is-active", selected > 0 || (all && all.checked));
  }

  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target.matches("[data-select-page]")) {
      document.querySelectorAll("[data-row-select]").forEach((box) => { box.checked = target.checked; });
    }
    if (target.matches("[data-row-select], [data-select-page], [data-all-matching]")) updateBulkBar();
  });

  document.addEventListener("submit", (event) => {
    const all = event.target.querySelector && event.target.querySelector("[data-all-matching]");
    if (all && all.checked && !window.confirm("Apply this change to every report matching the filter (up to 1,000)?")) {
      event.preventDefault();
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.metaKey || event.ctrlKey || event.altKey || typing(event.target)) return;
    const dialog = document.getElementById("shortcuts");
    switch (event.key) {
      case "j": highlight(current + 1); break;
      case "k": highlight(current - 1); break;
      case "Enter": {
        const row = currentRow();
        if (!row || event.target.tagName === "A") return;  // a focused link opens itself
        window.location.href = row.dataset.href;
        break;
      }
      case "x": {
        const row = currentRow();
        if (!row) return;
        const box = row.querySelector("[data-row-select]");
        box.checked = !box.checked;
        updateBulkBar();
        break;
      }
      case "s": case "p": {
        const row = currentRow();
        if (!row) return;
        row.querySelector(event.key === "s" ? "[data-status-select]" : "[data-priority-select]").focus();
        break;
      }
      case "?": if (dialog && !dialog.open) dialog.showModal(); break;
      default: return;
    }
    event.preventDefault();
  });

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-shortcuts-open]")) document.getElementById("shortcuts").showModal();
  });

  // After htmx swaps the table (filter, page, inline change), keep the highlighted row in step.
  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id === "results") current = -1;
    updateBulkBar();
  });
})();
