/* certdesk portal: guards against a double submit (progressive enhancement).
 *
 * Every form, once sent, refuses a second send and disables its buttons; a form with
 * data-working="…" also says, beside its button, that the work is under way (an upload
 * that is checked, installed and proven takes a while). A form whose answer is a download
 * (data-download) leaves the page where it is: its buttons come back after a moment.
 * Without JavaScript the forms work the same, unguarded. Served as a file: the portal's
 * Content-Security-Policy allows no inline script.
 */
(function () {
  "use strict";
  var DOWNLOAD_PAUSE_MS = 4000;

  function buttons(form) {
    return form.querySelectorAll('button:not([type]), button[type="submit"], input[type="submit"]');
  }

  function setBusy(form, busy) {
    var list = buttons(form);
    for (var i = 0; i < list.length; i++) {
      list[i].disabled = busy;
    }
    if (busy) {
      form.setAttribute("aria-busy", "true");
      form.setAttribute("data-sent", "");
    } else {
      form.removeAttribute("aria-busy");
      form.removeAttribute("data-sent");
    }
    var note = form.querySelector(".working");
    if (form.hasAttribute("data-working")) {
      if (!note) {
        note = document.createElement("p");
        note.className = "working";
        note.setAttribute("role", "status");
        var last = list.length ? list[list.length - 1] : null;
        if (last && last.parentNode) {
          last.parentNode.insertBefore(note, last.nextSibling);
        } else {
          form.appendChild(note);
        }
      }
      note.textContent = busy ? form.getAttribute("data-working") : "";
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || event.defaultPrevented) {
      return;
    }
    if (form.hasAttribute("data-sent")) {
      event.preventDefault(); // sent already: a second click sends nothing
      return;
    }
    form.setAttribute("data-sent", "");
    // Disabled after this event: the button that sent the form still goes with it.
    window.setTimeout(function () {
      setBusy(form, true);
    }, 0);
    if (form.hasAttribute("data-download")) {
      window.setTimeout(function () {
        setBusy(form, false);
      }, DOWNLOAD_PAUSE_MS);
    }
  });

  // Back to a page kept by the browser (back/forward cache): its forms work again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) {
      return;
    }
    var forms = document.querySelectorAll("form[data-sent]");
    for (var i = 0; i < forms.length; i++) {
      setBusy(forms[i], false);
    }
  });
})();
