// PDX portal: small progressive enhancement. Pages work without it; it adds search
// suggestions under the search box (titles and keywords from /api/v1/datasets/suggest), and a
// progress bar to file uploads.
(function () {
  "use strict";
  var input = document.querySelector("input[data-suggest]");
  if (!input || !window.fetch) { return; }
  var list = document.createElement("ul");
  list.className = "suggestions";
  list.id = "q-suggestions";
  list.hidden = true;
  list.setAttribute("role", "listbox");
  input.parentNode.appendChild(list);
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-autocomplete", "list");
  var timer = null;
  var asked = "";
  function hide() { list.hidden = true; list.textContent = ""; }
  function item(href, text) {
    var li = document.createElement("li");
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    a.setAttribute("role", "option");
    li.appendChild(a);
    list.appendChild(li);
  }
  function show(q, answer) {
    if (q !== input.value.trim()) { return; }
    list.textContent = "";
    (answer.datasets || []).slice(0, 6).forEach(function (d) {
      item("/datasets/" + encodeURIComponent(d.slug), d.title);
    });
    (answer.keywords || []).slice(0, 4).forEach(function (k) {
      item("/datasets?q=" + encodeURIComponent(k.value), k.value);
    });
    list.hidden = list.childElementCount === 0;
  }
  input.addEventListener("input", function () {
    var q = input.value.trim();
    clearTimeout(timer);
    if (q.length < 1) { hide(); return; }
    timer = setTimeout(function () {
      if (q === asked) { return; }
      asked = q;
      fetch(input.getAttribute("data-suggest") + "?q=" + encodeURIComponent(q), { headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : {}; })
        .then(function (answer) { show(q, answer); })
        .catch(hide);
    }, 150);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { hide(); }
    if (e.key === "ArrowDown" && !list.hidden) {
      var first = list.querySelector("a");
      if (first) { first.focus(); e.preventDefault(); }
    }
  });
  list.addEventListener("keydown", function (e) {
    var links = Array.prototype.slice.call(list.querySelectorAll("a"));
    var at = links.indexOf(document.activeElement);
    if (e.key === "ArrowDown" && at < links.length - 1) { links[at + 1].focus(); e.preventDefault(); }
    if (e.key === "ArrowUp") { (at > 0 ? links[at - 1] : input).focus(); e.preventDefault(); }
    if (e.key === "Escape") { hide(); input.focus(); }
  });
  document.addEventListener("click", function (e) {
    if (e.target !== input && !list.contains(e.target)) { hide(); }
  });
}());
// An upload shows its progress; the server's answer (the dataset's page, or the form with the
// problem) then replaces the page, as the form's own submission would.
(function () {
  "use strict";
  var form = document.querySelector("form[data-progress]");
  if (!form || !window.XMLHttpRequest || !window.FormData) { return; }
  var bar = document.getElementById(form.getAttribute("data-progress"));
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.addEventListener("progress", function (p) {
      if (p.lengthComputable && bar) { bar.value = Math.round(100 * p.loaded / p.total); }
    });
    xhr.addEventListener("load", function () {
      if (xhr.responseURL && xhr.responseURL !== form.action && xhr.status < 400) {
        window.location.assign(xhr.responseURL);
      } else {
        document.open();
        document.write(xhr.responseText);
        document.close();
      }
    });
    xhr.addEventListener("error", function () { form.submit(); });
    if (bar) { bar.hidden = false; bar.value = 0; }
    form.querySelector("button[type=submit]").disabled = true;
    xhr.send(new FormData(form));
  });
}());
