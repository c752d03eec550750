// The case page: uploads with a progress bar (files of gigabytes go as the raw body to the
// streamed API endpoint, never through a form parser), refused action forms swapped in place,
// and the live fragment held back while an upload runs, so it cannot replace the bar.
(function () {
  "use strict";

  // htmx swaps 2xx only by default; a refused form (400, 409) is swapped too, since it carries
  // the one line next to the form. 204 means "nothing changed" and swaps nothing.
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "40[09]", swap: true, error: false },
    { code: "[45]..", swap: false, error: true },
  ];

  // The page's words for this script's messages (case.html.j2 renders them from the catalogue).
  var words = JSON.parse(document.getElementById("case-page-words").textContent);
  function say(key, values) {
    return words[key].replace(/%\((\w+)\)s/g, function (whole, name) {
      return values && name in values ? values[name] : whole;
    });
  }

  var uploading = 0;
  // Finished uploads per checklist item: shown again after a live refresh re-renders the row.
  var finished = {};

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function errorLine(xhr) {
    try {
      var body = JSON.parse(xhr.responseText);
      if (body && body.error) { return body.error; }
    } catch (ignored) { /* not JSON: fall through */ }
    return xhr.status ? say("failed_http", { status: xhr.status }) : say("failed_connection");
  }

  // POST one file as the raw body; progress shows on `bar`. Resolves with the API's JSON.
  function send(url, file, bar) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-File-Name", encodeURIComponent(file.name));
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      bar.hidden = false;
      bar.max = file.size || 1;
      bar.value = 0;
      xhr.upload.onprogress = function (event) {
        if (event.lengthComputable) { bar.max = event.total; bar.value = event.loaded; }
      };
      xhr.onload = function () {
        if (xhr.status >= 200 && xhr.status < 300) {
          bar.value = bar.max;
          resolve(JSON.parse(xhr.responseText));
        } else {
          reject(new Error(errorLine(xhr)));
        }
      };
      xhr.onerror = function () { reject(new Error(errorLine(xhr))); };
      uploading += 1;
      xhr.onloadend = function () { uploading -= 1; };
      xhr.send(file);
    });
  }

  function uploadForItem(box) {
    var input = box.querySelector("[data-file]");
    var bar = box.querySelector("[data-progress]");
    var state = box.querySelector("[data-upload-state]");
    var error = box.querySelector("[data-upload-error]");
    var kind = box.querySelector("[data-kind]").value;
    var file = input.files && input.files[0];
    error.hidden = true;
    error.textContent = "";
    if (!file) {
      error.textContent = say("choose_file");
      error.hidden = false;
      input.focus();
      return;
    }
    var url = "/api/v1/cases/" + box.dataset.case + "/documents?kind=" + encodeURIComponent(kind);
    state.textContent = say("uploading", { name: file.name });
    send(url, file, bar).then(function (answer) {
      var detail = answer.ack && answer.ack.detail ? answer.ack.detail : say("stored");
      finished[box.dataset.item] = { max: bar.max, text: file.name + ": " + detail };
      state.textContent = finished[box.dataset.item].text;
      htmx.trigger(document.body, "case-changed");
    }, function (failure) {
      state.textContent = "";
      bar.hidden = true;
      error.textContent = failure.message;
      error.hidden = false;
    });
  }

  function showFinished() {
    document.querySelectorAll("[data-upload]").forEach(function (box) {
      var done = finished[box.dataset.item];
      if (!done) { return; }
      var bar = box.querySelector("[data-progress]");
      bar.hidden = false;
      bar.max = done.max;
      bar.value = done.max;
      box.querySelector("[data-upload-state]").textContent = done.text;
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-upload-start]");
    if (button) { uploadForItem(button.closest("[data-upload]")); }
  });

  // The translation form: its files upload first (stored, not added to the checklist), then the
  // form posts their document references with the language.
  document.addEventListener("htmx:confirm", function (event) {
    var form = event.target;
    var files = form.querySelector && form.querySelector("[data-translation-files]");
    if (!files || !files.files.length) { return; }
    event.preventDefault();
    var bar = form.querySelector("[data-progress]");
    var refs = [];
    var url = "/api/v1/cases/" + files.dataset.case + "/files?kind=translation";
    var chain = Promise.resolve();
    Array.prototype.forEach.call(files.files, function (file) {
      chain = chain.then(function () {
        return send(url, file, bar).then(function (answer) { refs.push(answer.document); });
      });
    });
    chain.then(function () {
      form.querySelector("[data-translation-documents]").value = JSON.stringify(refs);
      files.value = "";
      event.detail.issueRequest(true);
    }, function (failure) {
      var line = form.querySelector(".error") || document.createElement("p");
      line.className = "error";
      line.setAttribute("role", "alert");
      line.textContent = failure.message;
      form.appendChild(line);
    });
  });

  // Hold the live refresh back while an upload runs; re-show finished uploads after a swap.
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.target.id === "live" && uploading > 0) { event.preventDefault(); }
  });
  document.addEventListener("htmx:afterSettle", showFinished);
  document.addEventListener("htmx:oobAfterSwap", showFinished);
})();
