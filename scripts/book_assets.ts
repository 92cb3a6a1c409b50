/**
 * The book's shared assets (written once into book/assets/, referenced by every page): the stylesheet, and the
 * script that configures MathJax (loaded after it, from assets/mathjax/) and draws each plotly figure from its JSON
 * over its static fallback.
 */

export const BOOK_CSS = `
body { font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; margin: 0; background: #fff; }
main { max-width: 62rem; margin: 0 auto; padding: 0 1.25rem 3rem; }
nav { display: flex; justify-content: space-between; gap: 1rem; max-width: 62rem; margin: 0 auto;
  padding: .6rem 1.25rem; font-size: 14px; border-bottom: 1px solid #d0d7de; }
nav:last-of-type { border-bottom: 0; border-top: 1px solid #d0d7de; }
a { color: #0969da; text-decoration: none; } a:hover { text-decoration: underline; }
h1, h2, h3 { line-height: 1.25; margin: 1.6em 0 .6em; }
code { font: 13.5px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
:not(pre) > code { background: #f3f4f6; padding: .1em .3em; border-radius: 4px; }
pre { overflow-x: auto; margin: 0; }
table { border-collapse: collapse; margin: .8em 0; }
th, td { border: 1px solid #d0d7de; padding: .25em .6em; }
.run-summary { color: #57606a; font-size: 14px; margin: 1rem 0 0; }
.cell { margin: 1rem 0; }
.cell.code .input { display: flex; gap: .5rem; align-items: flex-start; }
.cell.code .input pre { flex: 1; background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px;
  padding: .6rem .8rem; }
mjx-container[display="true"] { overflow-x: auto; overflow-y: hidden; max-width: 100%; }
.prompt { color: #6e7781; font: 12px/2 ui-monospace, monospace; min-width: 3.2em; text-align: right; }
.outputs { margin: .4rem 0 0 3.7em; overflow-x: auto; }
.outputs > * { margin: .35rem 0; }
.outputs pre { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre-wrap; }
pre.stderr { background: #fff8e6; padding: .3rem .5rem; }
pre.error { background: #ffebe9; color: #82071e; padding: .4rem .6rem; border-radius: 6px; }
.figure img { max-width: 100%; height: auto; }
.toc td:first-child { white-space: nowrap; }
.holds-all { color: #1a7f37; } .holds-some { color: #9a6700; }
`;

export const BOOK_JS = `
// Configures MathJax before assets/mathjax/tex-svg-full.js loads (both are deferred, in this order), then draws
// every plotly figure from its JSON once plotly has loaded; a figure whose drawing fails keeps its static image.
window.MathJax = {
  tex: {
    inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]],
    displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]],
    processEscapes: true,
  },
  svg: { fontCache: "global" },
  options: {
    enableMenu: false,
    ignoreHtmlClass: "outputs|input",
    processHtmlClass: "markdown-output",
  },
};

function vlabDrawFigures() {
  var figures = document.querySelectorAll(".plotly-figure");
  if (figures.length === 0 || !window.Plotly) return;
  figures.forEach(function (el) {
    var source = document.getElementById(el.getAttribute("data-figure"));
    var fallback = el.querySelector(".fallback");
    var fig;
    try {
      fig = JSON.parse(source.textContent);
    } catch (e) {
      console.warn("figure " + el.id + ": unreadable JSON, its static image stays");
      return;
    }
    var plot = document.createElement("div");
    plot.className = "plot";
    el.appendChild(plot);
    fallback.style.display = "none";
    window.Plotly.newPlot(plot, fig.data || [], fig.layout || {}, { responsive: true, displaylogo: false }).then(
      function () {
        el.setAttribute("data-rendered", "plotly");
      },
      function (err) {
        plot.remove();
        fallback.style.display = "";
        console.error("figure " + el.id + " failed in plotly: " + err);
      },
    );
  });
}

document.addEventListener("DOMContentLoaded", vlabDrawFigures);
`;
