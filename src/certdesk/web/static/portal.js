/* certdesk portal: guards against a double submit (progressive enhancement).
 *
 * Every form, once sent, refuses a second send and disables its buttons; a form with
 * data-working="…" also says, beside its button, that the work is under way (an upload
 * that is checked, installed and proven takes a while). A form whose answer is a download
 * (data-download) leaves the page where it is: its buttons come back after a moment.
 * Without JavaScript the forms work the same, unguarded. Served as a file: the portal's
 * Content-Security-Policy allows no inline script.
 *
 * Queued work the page follows: an element with data-follow="<status URL>" (an install
 * after an upload, see web/jobs.py) is updated in place from that JSON every second or
 * so until the work is finished: its heading, each URL's badge and words, and each URL's
 * "Retry now" form, shown when the install failed. Without JavaScript the page offers a
 * "Refresh" link to /installs/<id>, which refreshes itself while the work goes on.
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

  // --- queued work the page follows ------------------------------------------------------
  var FOLLOW_EVERY_MS = 1000;
  var FOLLOW_GIVE_UP_MS = 15 * 60 * 1000;

  function setTone(element, base, tone) {
    element.className = base + " tone-" + tone;
  }

  function showLine(item, line) {
    setTone(item, "job-line", line.tone);
    var badge = item.querySelector(".badge");
    if (badge) {
      badge.className = "badge t-" + line.tone;
      badge.textContent = line.badge;
    }
    var text = item.querySelector(".job-text");
    if (text) {
      text.textContent = line.text;
    }
    var retry = item.querySelector("form.retry");
    if (retry) {
      retry.hidden = !line.retry;
    }
  }

  function showJob(box, job) {
    setTone(box, "install-job", job.tone);
    var heading = box.querySelector(".job-heading");
    if (heading && heading.textContent !== job.heading) {
      heading.textContent = job.heading;
    }
    var items = box.querySelectorAll(".job-line");
    for (var i = 0; i < items.length; i++) {
      for (var j = 0; j < job.lines.length; j++) {
        if (job.lines[j].url === items[i].getAttribute("data-url")) {
          showLine(items[i], job.lines[j]);
        }
      }
    }
    if (job.finished) {
      box.removeAttribute("data-follow");
      box.setAttribute("data-finished", "");
      var links = box.querySelector(".job-links");
      if (links) {
        links.hidden = true;
      }
      document.title = job.heading + " · certdesk";
    }
  }

  function follow(box) {
    var url = box.getAttribute("data-follow");
    var started = Date.now();
    function look() {
      if (!box.hasAttribute("data-follow") || Date.now() - started > FOLLOW_GIVE_UP_MS) {
        return;
      }
      var request = new XMLHttpRequest();
      request.open("GET", url);
      request.setRequestHeader("Accept", "application/json");
      request.onload = function () {
        if (request.status === 200) {
          try {
            showJob(box, JSON.parse(request.responseText));
          } catch (e) {
            return; // not the status JSON (the session ended): the Refresh link stays
          }
        }
        if (request.status === 200 || request.status >= 500) {
          window.setTimeout(look, FOLLOW_EVERY_MS);
        }
      };
      request.onerror = function () {
        window.setTimeout(look, FOLLOW_EVERY_MS * 3);
      };
      request.send();
    }
    window.setTimeout(look, FOLLOW_EVERY_MS);
  }

  function followAll() {
    var boxes = document.querySelectorAll("[data-follow]");
    for (var i = 0; i < boxes.length; i++) {
      follow(boxes[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", followAll);
  } else {
    followAll();
  }
})();
