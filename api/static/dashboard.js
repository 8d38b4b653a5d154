// The AI insights dashboard. The token stays in this browser tab (sessionStorage); every figure
// comes from api.get_dashboard called as the signed-in user, so RLS decides what is shown.
"use strict";

const layoutBase = { margin: { l: 48, r: 12, t: 8, b: 40 }, legend: { orientation: "h", y: -0.25 } };
const config = { displayModeBar: false, responsive: true };

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message;
  box.style.display = "block";
  document.getElementById("panels").hidden = true;
  document.getElementById("status").textContent = "";
  document.body.dataset.state = "error";
}

async function rpc(name, args, token) {
  const response = await fetch("/rest/v1/rpc/" + name, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
    body: JSON.stringify(args),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const reason = body && body.message ? body.message : response.statusText;
    const hint = body && body.hint ? " (" + body.hint + ")" : "";
    throw new Error(reason + hint);
  }
  return body;
}

// Draw one chart and record how many data points it holds (the browser test reads data-points).
function plot(id, traces, layout) {
  const el = document.getElementById(id);
  const points = traces.reduce((n, t) => n + ((t.y || t.values || t.x || []).length), 0);
  el.dataset.points = String(points);
  if (points === 0) {
    el.textContent = "No data yet.";
    return Promise.resolve();
  }
  return Plotly.newPlot(el, traces, Object.assign({}, layoutBase, layout || {}), config);
}

const num = (v) => (v === null || v === undefined ? null : Number(v));

function renderSummary(summaries) {
  const el = document.getElementById("summary");
  el.dataset.points = String(summaries.length);
  if (!summaries.length) {
    el.textContent = "No summary yet: the weekly job writes one every Monday.";
    return;
  }
  el.replaceChildren();
  for (const s of summaries) {
    const block = document.createElement("div");
    const title = document.createElement("p");
    const strong = document.createElement("strong");
    strong.textContent = s.content.headline;
    title.append(strong, " ");
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = (s.source === "baseline" ? "rule-written summary" : "written by " + (s.model || "a model"))
      + (s.offline_model ? " · offline model, not reviewed advice" : "") + " · week of " + s.week_start
      + " · " + s.language.toUpperCase();
    title.append(label);
    block.append(title);
    const list = document.createElement("ul");
    for (const line of [...s.content.highlights, ...s.content.risks.map((r) => "⚠ " + r), "→ " + s.content.focus]) {
      const item = document.createElement("li");
      item.textContent = line;
      list.append(item);
    }
    block.append(list);
    el.append(block);
  }
}

function renderAnomalies(rows) {
  const metrics = [...new Set(rows.map((r) => r.metric))];
  const traces = [];
  for (const m of metrics) {
    const own = rows.filter((r) => r.metric === m && r.z !== null);
    traces.push({ name: m + " z", x: own.map((r) => r.day), y: own.map((r) => num(r.z)), mode: "lines" });
  }
  const flagged = rows.filter((r) => r.is_anomaly);
  traces.push({
    name: "anomaly", x: flagged.map((r) => r.day), y: flagged.map((r) => (r.z === null ? 0 : num(r.z))),
    mode: "markers", marker: { color: "#b00020", size: 11, symbol: "x" }, text: flagged.map((r) => r.metric),
  });
  const list = document.getElementById("anomaly-list");
  list.replaceChildren();
  for (const r of flagged) {
    const p = document.createElement("div");
    p.className = "anomaly";
    p.textContent = r.day + " · " + r.metric + ": " + Number(r.value).toFixed(3) + " against a median of "
      + Number(r.baseline).toFixed(3) + (r.z === null ? " (flat baseline)" : " (z = " + Number(r.z).toFixed(1) + ")");
    list.append(p);
  }
  list.dataset.flagged = String(flagged.length);
  return plot("chart-anomalies", traces, { shapes: [3.5, -3.5].map((y) => ({
    type: "line", xref: "paper", x0: 0, x1: 1, y0: y, y1: y, line: { dash: "dot", color: "#b00020", width: 1 } })) });
}

// The forecast panel, from api.get_dashboard_forecast (a stored forecast with its as-of time).
function renderForecast(f) {
  const rows = f.periods || [];
  document.getElementById("forecast-as-of").textContent = "as of " + f.as_of + " · "
    + (f.stored ? "stored" + (f.source === "job" ? " by the daily job" : "") : "computed now") + " · prediction #"
    + f.prediction_id;
  return plot("chart-forecast", [
    { name: "P10", x: rows.map((r) => r.period_start), y: rows.map((r) => num(r.p10)), mode: "lines",
      line: { width: 0 }, showlegend: false },
    { name: "P10–P90", x: rows.map((r) => r.period_start), y: rows.map((r) => num(r.p90)), mode: "lines",
      fill: "tonexty", fillcolor: "rgba(60,120,220,0.2)", line: { width: 0 } },
    { name: "P50", x: rows.map((r) => r.period_start), y: rows.map((r) => num(r.p50)), mode: "lines+markers" },
  ]);
}

function render(d) {
  const savings = d.savings || [];
  const charts = [
    plot("chart-spend", [
      { type: "bar", name: "cost", x: d.spend.map((r) => r.day), y: d.spend.map((r) => num(r.cost)) },
      { type: "scatter", name: "routing saving", x: savings.map((r) => r.day), y: savings.map((r) => num(r.saving)) },
    ], { barmode: "group" }),
    plot("chart-score-distribution", [{ type: "bar", name: "leads",
      x: d.score_distribution.map((r) => r.bucket + "–" + (r.bucket + 9)), y: d.score_distribution.map((r) => r.leads) }]),
    plot("chart-score-trend", [{ type: "scatter", name: "mean score",
      x: d.score_trend.map((r) => r.day), y: d.score_trend.map((r) => num(r.mean_score)) }]),
    plot("chart-funnel", [{ type: "funnel", y: d.funnel.map((r) => r.stage), x: d.funnel.map((r) => r.leads) }],
      { margin: { l: 100, r: 12, t: 8, b: 20 } }),
    plot("chart-recommendations", [...new Set(d.recommendations.map((r) => r.status))].map((status) => {
      const own = d.recommendations.filter((r) => r.status === status);
      return { type: "bar", name: status, x: own.map((r) => r.week), y: own.map((r) => r.n) };
    }), { barmode: "stack" }),
    plot("chart-queue", [...new Set(d.queue.map((r) => r.status))].map((status) => {
      const own = d.queue.filter((r) => r.status === status);
      return { type: "bar", name: status, x: own.map((r) => r.kind), y: own.map((r) => r.jobs) };
    }), { barmode: "stack" }),
    plot("chart-compliance", [
      { type: "bar", name: "checks", x: d.compliance.map((r) => r.day), y: d.compliance.map((r) => r.checks) },
      { type: "bar", name: "withheld", x: d.compliance.map((r) => r.day), y: d.compliance.map((r) => r.withheld) },
      { type: "scatter", name: "findings", x: d.compliance.map((r) => r.day), y: d.compliance.map((r) => r.findings) },
    ]),
    plot("chart-roi", [
      { type: "bar", name: "cost", x: d.roi.map((r) => r.feature), y: d.roi.map((r) => num(r.cost)), yaxis: "y2" },
      { type: "bar", name: "accepted", x: d.roi.map((r) => r.feature), y: d.roi.map((r) => r.accepted) },
      { type: "bar", name: "replies", x: d.roi.map((r) => r.feature), y: d.roi.map((r) => r.replies) },
      { type: "bar", name: "deals advanced", x: d.roi.map((r) => r.feature), y: d.roi.map((r) => r.deals_advanced) },
    ], { barmode: "group", yaxis2: { overlaying: "y", side: "right", title: "cost" } }),
    plot("chart-content", [{
      type: "bar", orientation: "h", name: "reply rate",
      y: d.content.map((r) => [r.source, r.content_type, r.tone, r.language, r.length_band].filter(Boolean).join(" · ")),
      x: d.content.map((r) => num(r.reply_rate)), text: d.content.map((r) => r.sent + " sent"),
    }], { margin: { l: 220, r: 12, t: 8, b: 30 } }),
    renderAnomalies(d.anomalies),
  ];
  renderSummary(d.summaries);
  return Promise.all(charts);
}

async function load(token, orgId) {
  document.getElementById("error").style.display = "none";
  document.getElementById("status").textContent = "Loading…";
  document.body.dataset.state = "loading";
  try {
    const orgs = await rpc("my_organizations", {}, token);
    if (!orgId) {
      if (!orgs.length) throw new Error("this token belongs to no organisation");
      orgId = orgs[0].id;
    }
    const org = orgs.find((o) => o.id === orgId);
    document.getElementById("org-name").textContent = org ? "· " + org.name : "";
    // each request draws its panels when it arrives: the forecast (the slowest when none is stored)
    // does not hold back the first paint of the others
    const forecast = rpc("get_dashboard_forecast", { org_id: orgId }, token);
    forecast.catch(() => {});  // a refusal is shown once, by whichever request reports it
    const data = await rpc("get_dashboard", { org_id: orgId }, token);
    document.getElementById("panels").hidden = false;
    await Promise.all([render(data), forecast.then(renderForecast)]);
    document.getElementById("status").textContent = "As of " + data.generated_at + ", last " + data.days + " days.";
    document.body.dataset.state = "rendered";
  } catch (err) {
    showError("Cannot show this dashboard: " + err.message);
  }
}

function start() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    sessionStorage.setItem("salesflow.token", fragment.get("token"));
    if (fragment.get("org")) sessionStorage.setItem("salesflow.org", fragment.get("org"));
    history.replaceState(null, "", location.pathname);  // the token leaves the address bar
  }
  document.getElementById("signin").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("salesflow.token", document.getElementById("token").value.trim());
    sessionStorage.setItem("salesflow.org", document.getElementById("org").value.trim());
    load(sessionStorage.getItem("salesflow.token"), sessionStorage.getItem("salesflow.org"));
  });
  const token = sessionStorage.getItem("salesflow.token");
  if (token) load(token, sessionStorage.getItem("salesflow.org") || "");
}

start();
