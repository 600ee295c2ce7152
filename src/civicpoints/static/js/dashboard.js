// 数据大屏: draws the figures the page carries (json_script "dashboard-data") with ECharts.
// Canvas only, tooltips drawn on the canvas too (renderMode "richText"): no inline style, so
// the Content-Security-Policy holds; aria on, so each chart describes itself to screen readers.
(function () {
  "use strict";
  const source = document.getElementById("dashboard-data");
  if (!source || !window.echarts) return;
  const data = JSON.parse(source.textContent);
  const zh = (document.documentElement.lang || "").startsWith("zh");
  const t = (cn, en) => (zh ? cn : en);
  const base = {
    aria: { enabled: true },
    animation: false,
    tooltip: { trigger: "axis", renderMode: "richText" },
    textStyle: { fontFamily: "Noto Sans CJK SC, sans-serif", fontSize: 14 },
    grid: { left: 64, right: 24, top: 40, bottom: 40 },
  };
  const charts = [];
  function draw(id, option) {
    const el = document.getElementById(id);
    if (!el) return;
    const chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(Object.assign({}, base, option));
    charts.push(chart);
    return chart;
  }
  draw("chart-trend", {
    legend: { top: 0, data: [t("奖励", "Awarded"), t("兑换", "Redeemed"), t("商家消费", "Paid at merchants")] },
    xAxis: { type: "category", data: data.trend.map((m) => m.month) },
    yAxis: { type: "value" },
    series: [
      { name: t("奖励", "Awarded"), type: "line", data: data.trend.map((m) => m.awarded) },
      { name: t("兑换", "Redeemed"), type: "line", data: data.trend.map((m) => m.redeemed) },
      { name: t("商家消费", "Paid at merchants"), type: "line", data: data.trend.map((m) => m.paid) },
    ],
  });
  draw("chart-categories", {
    tooltip: { trigger: "item", renderMode: "richText" },
    yAxis: { type: "category", inverse: true, data: data.categories.map((c) => c.category || t("其他", "Other")) },
    xAxis: { type: "value" },
    grid: { left: 120, right: 24, top: 16, bottom: 32 },
    series: [{ name: t("奖励积分", "Points awarded"), type: "bar", data: data.categories.map((c) => c.awarded) }],
  });
  const children = data.children || [];
  const drill = children.length
    ? draw("chart-children", {
        yAxis: { type: "category", inverse: true, data: children.map((c) => c.region_name) },
        xAxis: { type: "value" },
        grid: { left: 120, right: 24, top: 32, bottom: 32 },
        legend: { top: 0, data: [t("奖励", "Awarded"), t("兑换", "Redeemed")] },
        series: [
          { name: t("奖励", "Awarded"), type: "bar", data: children.map((c) => c.awarded) },
          { name: t("兑换", "Redeemed"), type: "bar", data: children.map((c) => c.redeemed) },
        ],
      })
    : null;
  if (drill) {
    drill.on("click", (params) => {
      const child = children[params.dataIndex];
      if (child && child.url) window.location.assign(child.url);
    });
  }
  const h = data.households;
  const groups = [
    [t("正常户", "Active"), h.active_taking_part, h.active],
    [t("外出务工", "Away for work"), h.away_taking_part, h.away],
    [t("无劳动能力", "Unable to work"), h.unable_taking_part, h.unable],
  ];
  const households = {
    legend: { top: 0, data: [t("参与", "Took part"), t("未参与", "Did not")] },
    xAxis: { type: "category", data: groups.map((g) => g[0]) },
    yAxis: { type: "value" },
    series: [
      { name: t("参与", "Took part"), type: "bar", stack: "all", data: groups.map((g) => g[1]) },
      { name: t("未参与", "Did not"), type: "bar", stack: "all", data: groups.map((g) => Math.max(g[2] - g[1], 0)) },
    ],
  };
  draw("chart-households", households);
  if (!children.length) draw("chart-children", households);
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
  window.__dashboardCharts = charts.length;
})();
