import * as echarts from "echarts";

window.echarts = echarts;

// Draw every <div data-chart='{"type":"bar",...}'> on the page from its JSON options.
function drawCharts() {
  document.querySelectorAll("[data-chart]").forEach((el) => {
    if (el.dataset.drawn) return;
    const spec = JSON.parse(el.dataset.chart);
    const chart = echarts.init(el, null, { renderer: "svg" });
    chart.setOption(spec);
    el.dataset.drawn = "1";
    window.addEventListener("resize", () => chart.resize());
  });
}
document.addEventListener("DOMContentLoaded", drawCharts);
document.addEventListener("htmx:afterSettle", drawCharts);
