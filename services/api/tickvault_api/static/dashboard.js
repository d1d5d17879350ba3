// The live dashboard: prices over SSE, a candlestick chart of recent minutes, and forms.
"use strict";
(function () {
  const api = "/api/v1";
  const rows = {};
  let chartSymbol = null;
  let series = null;
  let lastBar = null;

  function minuteOf(ms) { return Math.floor(ms / 60000) * 60; }

  async function getJson(url) {
    const response = await fetch(url);
    const body = await response.json();
    return { ok: response.ok, body: body };
  }

  function showPrice(p) {
    let row = rows[p.symbol];
    if (!row) {
      row = document.createElement("tr");
      row.dataset.symbol = p.symbol;
      row.innerHTML = "<td></td><td class='price'></td><td class='id'></td><td class='time'></td>";
      row.children[0].textContent = p.symbol;
      document.querySelector("#prices tbody").appendChild(row);
      rows[p.symbol] = row;
    }
    if (p.price === undefined) return;
    row.querySelector(".price").textContent = p.price;
    row.querySelector(".id").textContent = p.trade_id;
    row.querySelector(".time").textContent = p.trade_time;
    if (p.symbol === chartSymbol && series) updateBar(p);
  }

  function updateBar(p) {
    const price = Number(p.price);  // display only: the chart library draws numbers
    const time = minuteOf(p.trade_time_ms);
    if (lastBar && time < lastBar.time) return;
    if (!lastBar || time > lastBar.time) {
      lastBar = { time: time, open: price, high: price, low: price, close: price };
    } else {
      lastBar = { time: time, open: lastBar.open, high: Math.max(lastBar.high, price),
                  low: Math.min(lastBar.low, price), close: price };
    }
    series.update(lastBar);
  }

  async function loadChart(symbol) {
    chartSymbol = symbol;
    lastBar = null;
    const container = document.getElementById("chart");
    container.innerHTML = "";
    const chart = LightweightCharts.createChart(container, {
      autoSize: true, timeScale: { timeVisible: true, secondsVisible: false },
    });
    series = chart.addSeries(LightweightCharts.CandlestickSeries, {});
    const latest = await getJson(`${api}/prices/${symbol}/latest`);
    if (!latest.ok) return;
    const end = latest.body.trade_time_ms + 60000;
    const start = end - 60 * 60000;
    const result = await getJson(`${api}/prices/${symbol}/candles?interval=1m&start=${start}&end=${end}`);
    if (!result.ok) return;
    const bars = result.body.candles.map((c) => ({
      time: Math.floor(c.open_time_ms / 1000), open: Number(c.open), high: Number(c.high),
      low: Number(c.low), close: Number(c.close),
    }));
    series.setData(bars);
    lastBar = bars.length ? bars[bars.length - 1] : null;
    chart.timeScale().fitContent();
    container.dataset.bars = String(bars.length);
  }

  function connect() {
    const source = new EventSource(`${api}/stream`);
    source.addEventListener("price", (event) => showPrice(JSON.parse(event.data)));
  }

  function wireForm(id, path, fields) {
    const form = document.getElementById(id);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const query = new URLSearchParams();
      for (const name of fields) if (data.get(name)) query.set(name, data.get(name));
      const result = await getJson(`${api}/prices/${data.get("symbol")}/${path}?${query}`);
      form.querySelector(".result").textContent = JSON.stringify(result.body, null, 2);
    });
  }

  async function start() {
    const symbols = (await getJson(`${api}/symbols`)).body.symbols.map((s) => s.symbol);
    for (const select of document.querySelectorAll("select[name=symbol], #chart-symbol")) {
      for (const s of symbols) select.add(new Option(s, s));
    }
    symbols.forEach((s) => showPrice({ symbol: s }));
    const picker = document.getElementById("chart-symbol");
    picker.addEventListener("change", () => loadChart(picker.value));
    wireForm("at-form", "at", ["time", "match"]);
    wireForm("range-form", "range", ["minute"]);
    wireForm("stats-form", "stats", ["start", "end"]);
    connect();
    if (symbols.length) await loadChart(symbols[0]);
  }

  start();
})();
