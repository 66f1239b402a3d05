// VitalChain portals: charts of a patient's records with uPlot. Each
// element [data-chart=ID] is drawn from the JSON in the script element of
// that ID: {"kind", "unit", "t": [Unix seconds], "v": [values]}.
(function () {
  "use strict";
  function draw(el) {
    var src = document.getElementById(el.getAttribute("data-chart"));
    if (!src || el.dataset.drawn) { return; }
    var s = JSON.parse(src.textContent);
    el.dataset.drawn = "1";
    var width = Math.max(280, Math.min(900, el.clientWidth || 600));
    new uPlot({
      width: width,
      height: 220,
      // A single point gets ten minutes around it, not years.
      scales: { x: { time: true, range: function (u, min, max) { return min === max ? [min - 300, max + 300] : [min, max]; } } },
      series: [{}, { label: s.kind + " (" + s.unit + ")", stroke: "#b3261e", width: 2, points: { show: true, size: 6 } }],
      axes: [{}, { label: s.unit }]
    }, [s.t, s.v], el);
  }
  function drawAll() {
    document.querySelectorAll("[data-chart]").forEach(draw);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
