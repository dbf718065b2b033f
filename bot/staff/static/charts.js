/* Draws the overview's charts with Chart.js from the JSON block #chart-data (no inline script). */
(function () {
  "use strict";

  function draw() {
    var source = document.getElementById("chart-data");
    if (!source || typeof window.Chart === "undefined") {
      return; /* no data or no Chart.js: the tables below the charts still hold the numbers */
    }
    var data = JSON.parse(source.textContent);
    var reduce = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    window.Chart.defaults.animation = reduce ? false : window.Chart.defaults.animation;
    window.Chart.defaults.color = "#1a1a1a";

    var days = document.getElementById("chart-days");
    if (days) {
      new window.Chart(days, {
        type: "bar",
        data: {
          labels: data.days,
          datasets: [
            { label: "Conversations", data: data.conversations, backgroundColor: "#1f5fa8" },
            { label: "Emergencies", data: data.emergencies, backgroundColor: "#a50e0e" },
            { label: "Not understood", data: data.not_understood, backgroundColor: "#8a6d00" }
          ]
        },
        options: {
          responsive: true,
          scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
          plugins: { legend: { position: "bottom" } }
        }
      });
    }

    var topics = document.getElementById("chart-topics");
    if (topics) {
      new window.Chart(topics, {
        type: "bar",
        data: {
          labels: data.topics,
          datasets: [{ label: "Questions", data: data.topic_counts, backgroundColor: "#2e6b3a" }]
        },
        options: {
          indexAxis: "y",
          responsive: true,
          scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
          plugins: { legend: { display: false } }
        }
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
