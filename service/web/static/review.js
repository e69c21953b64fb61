// Triage review page: keyboard shortcuts (j/k/a/e/?) and small helpers. Works without it, too.
(function () {
  "use strict";

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function help() {
    var dialog = document.getElementById("shortcuts");
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  // On the queue: move focus between ticket rows. On a ticket: go to the previous or next ticket.
  function move(step) {
    var links = Array.prototype.slice.call(document.querySelectorAll("tr[data-row] a.ticket-link"));
    if (links.length) {
      var at = links.indexOf(document.activeElement);
      var to = at === -1 ? (step > 0 ? 0 : links.length - 1) : Math.min(Math.max(at + step, 0), links.length - 1);
      links[to].focus();
      return true;
    }
    var rel = document.querySelector('a[rel="' + (step > 0 ? "next" : "prev") + '"]');
    if (rel) { window.location.href = rel.href; return true; }
    return false;
  }

  function accept() {
    var form = document.getElementById("accept-form");
    if (!form) return false;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
    return true;
  }

  function edit() {
    var field = document.getElementById("draft-text") || document.getElementById("label");
    if (!field) return false;
    field.focus();
    if (field.setSelectionRange) field.setSelectionRange(field.value.length, field.value.length);
    field.scrollIntoView({ block: "center" });
    return true;
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented) return;
    if (typing(document.activeElement)) {
      if (ev.key === "Escape") document.activeElement.blur();
      return;
    }
    var done = false;
    switch (ev.key) {
      case "j": done = move(1); break;
      case "k": done = move(-1); break;
      case "a": done = accept(); break;
      case "e": done = edit(); break;
      case "?": help(); done = true; break;
    }
    if (done) ev.preventDefault();
  });

  document.addEventListener("click", function (ev) {
    if (ev.target.closest && ev.target.closest("[data-help]")) help();
  });

  // Choosing a label proposes the queue that label is routed to; the agent can still change it.
  document.addEventListener("change", function (ev) {
    if (ev.target.id !== "label") return;
    var option = document.querySelector('#labels option[value="' + CSS.escape(ev.target.value) + '"]');
    var queue = document.getElementById("queue");
    if (option && queue && option.dataset.queue) {
      for (var i = 0; i < queue.options.length; i++) {
        if (queue.options[i].value === option.dataset.queue) { queue.value = option.dataset.queue; break; }
      }
    }
  });
})();
