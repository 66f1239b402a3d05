// VitalChain portals: charts of a patient's records with uPlot. Each
// element [data-chart=ID] is drawn from the JSON in the script element of
// that ID: {"kind", "unit", "t": [Unix seconds], "v": [values]}.
(function () {
  "use strict";
  // The time axis: the data's span, or ten minutes around a single time
  // (uPlot would otherwise spread one point over years).
  function xScale(t) {
    var lo = Math.min.apply(null, t), hi = Math.max.apply(null, t);
    if (hi - lo < 60) {
      return { time: true, auto: false, range: [lo - 300, hi + 300] };
    }
    return { time: true };
  }
  function draw(el) {
    var src = document.getElementById(el.getAttribute("data-chart"));
    if (!src || el.dataset.drawn) { return; }
    var s = JSON.parse(src.textContent);
    el.dataset.drawn = "1";
    var width = Math.max(280, Math.min(900, el.clientWidth || 600));
    new uPlot({
      width: width,
      height: 220,
      scales: { x: xScale(s.t) },
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
