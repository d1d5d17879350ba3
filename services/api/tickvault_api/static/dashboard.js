// The live dashboard: prices over SSE, a candlestick chart of recent minutes, and forms.
// It stays light with thousands of tracked symbols: a search picks the symbols to watch
// (at most WATCH_MAX rows), and the stream asks only for those (`symbols=`).
// Symbol names may be UTF-8 (percent-encoded in URLs); a search matches ASCII letters in
// any case and every other character as listed. Each symbol's prices are shown with its own
// precision: the most decimals (trailing zeros aside) any of its prices seen so far needs.
"use strict";
(function () {
  const api = "/api/v1";
  const WATCH_MAX = 12;
  const RESULTS_MAX = 20;
  const rows = {};
  let tracked = [];
  let watched = [];
  let source = null;
  let chartSymbol = null;
  let series = null;
  let lastBar = null;
  const decimals = {};  // symbol -> decimals its prices need (at least 2)

  function minuteOf(ms) { return Math.floor(ms / 60000) * 60; }

  // ASCII letters upper-cased, every other character kept (as the API reads names).
  function canonical(text) { return text.trim().replace(/[a-z]+/g, (s) => s.toUpperCase()); }

  function path(symbol) { return encodeURIComponent(symbol); }

  function decimalsOf(price) {
    const fraction = String(price).split(".")[1] || "";
    return fraction.replace(/0+$/, "").length;
  }

  // Learn a symbol's precision from its exact price strings; true when it grew.
  function learn(symbol, prices) {
    const before = decimals[symbol] || 2;
    decimals[symbol] = Math.max(before, ...prices.map(decimalsOf));
    return decimals[symbol] > before;
  }

  // The exact price string cut or padded to the symbol's decimals (no float rounding).
  function shown(symbol, price) {
    const places = decimals[symbol] || 2;
    const [whole, fraction = ""] = String(price).split(".");
    return `${whole}.${fraction.padEnd(places, "0").slice(0, places)}`;
  }

  function formatOf(symbol) {
    const places = decimals[symbol] || 2;
    return { type: "price", precision: places, minMove: Number(`1e-${places}`) };
  }

  async function getJson(url) {
    const response = await fetch(url);
    const body = await response.json();
    return { ok: response.ok, body: body };
  }

  function addRow(symbol) {
    const row = document.createElement("tr");
    row.dataset.symbol = symbol;
    row.innerHTML = "<td></td><td class='price'></td><td class='id'></td><td class='time'></td>" +
      "<td><button class='remove' title='stop watching'>×</button></td>";
    row.children[0].textContent = symbol;
    row.addEventListener("click", (event) => {
      if (event.target.classList.contains("remove")) unwatch(symbol); else choose(symbol);
    });
    document.querySelector("#prices tbody").appendChild(row);
    rows[symbol] = row;
  }

  function showPrice(p) {
    const row = rows[p.symbol];
    if (!row) return;
    if (learn(p.symbol, [p.price]) && p.symbol === chartSymbol && series) {
      series.applyOptions({ priceFormat: formatOf(p.symbol) });
    }
    row.dataset.price = p.price;
    row.querySelector(".price").textContent = shown(p.symbol, p.price);
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
    document.getElementById("chart-symbol").textContent = symbol;
    const container = document.getElementById("chart");
    container.innerHTML = "";
    const chart = LightweightCharts.createChart(container, {
      autoSize: true, timeScale: { timeVisible: true, secondsVisible: false },
    });
    series = chart.addSeries(LightweightCharts.CandlestickSeries, {});
    const latest = await getJson(`${api}/prices/${path(symbol)}/latest`);
    if (!latest.ok) return;
    const end = latest.body.trade_time_ms + 60000;
    const start = end - 60 * 60000;
    const result = await getJson(
      `${api}/prices/${path(symbol)}/candles?interval=1m&start=${start}&end=${end}`);
    if (!result.ok) return;
    learn(symbol, [latest.body.price].concat(
      ...result.body.candles.map((c) => [c.open, c.high, c.low, c.close])));
    series.applyOptions({ priceFormat: formatOf(symbol) });
    container.dataset.precision = String(decimals[symbol]);
    const bars = result.body.candles.map((c) => ({
      time: Math.floor(c.open_time_ms / 1000), open: Number(c.open), high: Number(c.high),
      low: Number(c.low), close: Number(c.close),
    }));
    series.setData(bars);
    lastBar = bars.length ? bars[bars.length - 1] : null;
    chart.timeScale().fitContent();
    container.dataset.bars = String(bars.length);
  }

  // One stream for the watched symbols; opened again whenever the watch list changes.
  function connect() {
    if (source) source.close();
    if (!watched.length) return;
    source = new EventSource(`${api}/stream?symbols=${encodeURIComponent(watched.join(","))}`);
    source.addEventListener("price", (event) => showPrice(JSON.parse(event.data)));
  }

  function watch(symbol) {
    if (watched.includes(symbol)) return;
    if (watched.length >= WATCH_MAX) unwatch(watched[watched.length - 1], false);
    watched.unshift(symbol);
    addRow(symbol);
    const body = document.querySelector("#prices tbody");
    body.insertBefore(rows[symbol], body.firstChild);
    connect();
  }

  function unwatch(symbol, reconnect = true) {
    watched = watched.filter((s) => s !== symbol);
    if (rows[symbol]) rows[symbol].remove();
    delete rows[symbol];
    if (reconnect) connect();
  }

  function choose(symbol) {
    watch(symbol);
    for (const input of document.querySelectorAll("form input[name=symbol]")) input.value = symbol;
    loadChart(symbol);
  }

  // Prefix matches first, then the other matches; never more than RESULTS_MAX shown.
  function matches(text) {
    const query = canonical(text);
    if (!query) return [];
    const first = [];
    const rest = [];
    for (const s of tracked) {
      if (s.startsWith(query)) first.push(s);
      else if (s.includes(query)) rest.push(s);
      if (first.length >= RESULTS_MAX) break;
    }
    return first.concat(rest).slice(0, RESULTS_MAX);
  }

  function wireSearch() {
    const input = document.getElementById("symbol-search");
    const list = document.getElementById("search-results");
    const pick = (symbol) => { list.innerHTML = ""; input.value = ""; choose(symbol); };
    input.addEventListener("input", () => {
      list.innerHTML = "";
      for (const s of matches(input.value)) {
        const item = document.createElement("li");
        item.textContent = s;
        item.addEventListener("mousedown", () => pick(s));
        list.appendChild(item);
      }
    });
    input.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      const found = matches(input.value);
      const exact = tracked.find((s) => s === canonical(input.value));
      if (exact || found.length) pick(exact || found[0]);
    });
    input.addEventListener("blur", () => setTimeout(() => { list.innerHTML = ""; }, 150));
  }

  function wireForm(id, path, fields) {
    const form = document.getElementById(id);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const query = new URLSearchParams();
      for (const name of fields) if (data.get(name)) query.set(name, data.get(name));
      const symbol = encodeURIComponent(String(data.get("symbol")).trim());
      const result = await getJson(`${api}/prices/${symbol}/${path}?${query}`);
      form.querySelector(".result").textContent = JSON.stringify(result.body, null, 2);
    });
  }

  async function start() {
    const answer = (await getJson(`${api}/symbols`)).body;
    const symbols = answer.symbols;
    tracked = symbols.map((s) => s.symbol);
    const count = document.getElementById("tracked-count");
    const unsupported = answer.unsupported || [];
    count.textContent = `${tracked.length} tracked` +
      (unsupported.length ? `, ${unsupported.length} listed names not supported` : "");
    count.title = unsupported.map((u) => `${u.symbol}: ${u.reason}`).join("\n");
    // Start with the symbols that have data (then the others), at most WATCH_MAX of them.
    const first = symbols.filter((s) => s.has_data).concat(symbols.filter((s) => !s.has_data));
    watched = first.slice(0, WATCH_MAX).map((s) => s.symbol);
    watched.forEach(addRow);
    wireSearch();
    wireForm("at-form", "at", ["time", "match"]);
    wireForm("range-form", "range", ["minute"]);
    wireForm("stats-form", "stats", ["start", "end"]);
    connect();
    if (watched.length) {
      for (const input of document.querySelectorAll("form input[name=symbol]")) input.value = watched[0];
      await loadChart(watched[0]);
    }
  }

  start();
})();
