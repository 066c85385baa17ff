// Course website: a hide/show toggle on every code cell, and one for the whole page.
document.addEventListener("DOMContentLoaded", function () {
  var inputs = Array.prototype.slice.call(document.querySelectorAll("div.cell_input"));
  if (!inputs.length) return;
  function setHidden(input, hidden) {
    input.classList.toggle("course-hidden", hidden);
    var b = input.previousElementSibling;
    if (b && b.classList.contains("course-toggle")) b.textContent = hidden ? "show code" : "hide code";
  }
  inputs.forEach(function (input) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "course-toggle";
    b.textContent = "hide code";
    b.addEventListener("click", function () { setHidden(input, !input.classList.contains("course-hidden")); });
    input.parentNode.insertBefore(b, input);
  });
  var all = document.createElement("button");
  all.type = "button";
  all.className = "course-toggle course-toggle-all";
  all.textContent = "hide all code";
  all.addEventListener("click", function () {
    var hide = all.textContent.indexOf("hide") === 0;
    inputs.forEach(function (input) { setHidden(input, hide); });
    all.textContent = hide ? "show all code" : "hide all code";
  });
  var article = document.querySelector("article") || document.body;
  article.insertBefore(all, article.firstChild);
});
