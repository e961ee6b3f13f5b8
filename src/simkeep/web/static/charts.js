// The operator's dashboard (/staff/dashboard): draws each element with a data-chart attribute
// as an Apache ECharts chart (static/echarts, loaded before this file). The page gives every
// word (series, categories) in the reader's language and every value as an integer; a series
// of amounts names its currency and the exponent of its minor units, and is divided here, for
// display only. The page reads without this script: each chart has a table of its figures.
"use strict";

(function () {
  var LANGUAGE = document.documentElement.lang || "en";

  function amountFormat(series) {
    if (!series.currency) {
      return function (value) {
        return new Intl.NumberFormat(LANGUAGE).format(value);
      };
    }
    var format = new Intl.NumberFormat(LANGUAGE, {
      style: "currency",
      currency: series.currency,
      minimumFractionDigits: series.exponent,
      maximumFractionDigits: series.exponent,
    });
    return function (value) {
      return format.format(value);
    };
  }

  function values(series) {
    var scale = Math.pow(10, series.exponent || 0);
    return series.values.map(function (value) {
      return value / scale;
    });
  }

  function option(spec) {
    var categories = { type: "category", data: spec.categories, inverse: spec.horizontal };
    var amounts = { type: "value", minInterval: spec.series.some(isMoney) ? 0 : 1 };
    return {
      animation: false,
      textStyle: { fontFamily: getComputedStyle(document.body).fontFamily },
      // Drawn on the canvas: an HTML tooltip would carry inline styles, which the CSP refuses.
      tooltip: { trigger: "axis", renderMode: "richText", confine: true },
      legend: { type: "scroll", top: 0 },
      grid: { left: 8, right: 24, top: 40, bottom: 8, containLabel: true },
      xAxis: spec.horizontal ? amounts : categories,
      yAxis: spec.horizontal ? categories : amounts,
      series: spec.series.map(function (series) {
        return {
          name: series.name,
          type: spec.kind,
          stack: spec.stack ? "total" : undefined,
          data: values(series),
          tooltip: { valueFormatter: amountFormat(series) },
        };
      }),
    };
  }

  function isMoney(series) {
    return Boolean(series.currency);
  }

  function draw(element) {
    var chart = echarts.init(element, null, { renderer: "canvas" });
    chart.setOption(option(JSON.parse(element.dataset.chart)));
    return chart;
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.echarts) {
      return;
    }
    var charts = Array.prototype.map.call(document.querySelectorAll(".chart[data-chart]"), draw);
    window.addEventListener("resize", function () {
      charts.forEach(function (chart) {
        chart.resize();
      });
    });
  });
})();
