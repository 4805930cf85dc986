// loopml dashboard: the little the pages do in the browser. No library, nothing fetched
// from elsewhere: the promote form, "only differences", and a monitoring window's details.
"use strict";

function text(tag, value, attrs) {
  const el = document.createElement(tag);
  if (value !== undefined && value !== null) el.textContent = String(value);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  return el;
}

function fmt(value) {
  if (value === null || value === undefined) return "-";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  return String(value);
}

function table(caption, head, rows) {
  const t = text("table");
  t.appendChild(text("caption", caption));
  const tr = text("tr");
  head.forEach(h => tr.appendChild(text("th", h, { scope: "col" })));
  t.appendChild(text("thead")).appendChild(tr);
  const body = t.appendChild(text("tbody"));
  rows.forEach(r => {
    const row = body.appendChild(text("tr"));
    r.forEach(c => row.appendChild(text("td", fmt(c))));
  });
  return t;
}

function setupPromote() {
  const form = document.getElementById("promote-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = document.getElementById("promote-result");
    const key = document.getElementById("api-key").value;
    const alias = document.getElementById("alias").value;
    const headers = { "Content-Type": "application/json" };
    if (key) headers["Authorization"] = "Bearer " + key;
    out.textContent = "Promoting…";
    out.className = "";
    const response = await fetch(`/api/models/${form.dataset.version}/promote`, {
      method: "POST", headers, body: JSON.stringify({ alias }),
    });
    const body = await response.json();
    if (response.ok) {  // the page again, as the registry now says (aliases, reason, history)
      window.location.assign(`${window.location.pathname}?promoted=${encodeURIComponent(alias)}`);
    } else {
      out.textContent = `Refused (${response.status}): ${body.error}`;
      out.className = "error";
    }
  });
}

function setupDifferences() {
  const box = document.getElementById("only-diff");
  if (!box) return;
  const apply = () => document.body.classList.toggle("only-diff", box.checked);
  box.addEventListener("change", apply);
  apply();
}

async function openWindow(index) {
  const panel = document.getElementById("window-detail");
  const response = await fetch(`/api/monitoring/${panel.dataset.version}/windows/${index}`);
  const w = await response.json();
  panel.replaceChildren();
  if (!response.ok) {
    panel.appendChild(text("p", w.error, { class: "error" }));
    return;
  }
  document.querySelectorAll("rect.window").forEach(r =>
    r.classList.toggle("chosen", r.dataset.window === String(index)));
  panel.appendChild(text("h3", `Window ${w.index}: ${new Date(w.start * 1000).toISOString()} to ${new Date(w.end * 1000).toISOString()}`));
  panel.appendChild(text("p", `${w.rows} predictions, ${w.labelled} with labels.`));
  const alarms = panel.appendChild(text("ul"));
  (w.alarms.length ? w.alarms : ["no alarm"]).forEach(a => alarms.appendChild(text("li", a)));
  const perf = [w.performance, w.estimated_performance].filter(Boolean);
  if (perf.length) {
    panel.appendChild(table("Performance", ["metric", "value", "low", "high", "rows", "method"],
      perf.map(p => [p.metric, p.value, p.low, p.high, p.rows, p.method])));
  }
  const features = w.features.slice().sort((a, b) => (b.drifted - a.drifted) || (b.effect - a.effect));
  if (w.prediction_drift) features.unshift(w.prediction_drift);
  panel.appendChild(table("Drift per feature", ["feature", "drifted", "test", "effect", "measure", "adjusted p"],
    features.map(f => [f.name, f.drifted ? "yes" : "no", f.test, f.effect, f.effect_measure, f.adjusted_p_value])));
}

function setupWindows() {
  const panel = document.getElementById("window-detail");
  if (!panel) return;
  document.querySelectorAll("[data-window]").forEach(el => {
    el.addEventListener("click", () => openWindow(el.dataset.window));
    if (el.tagName.toLowerCase() === "rect") {
      el.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          openWindow(el.dataset.window);
        }
      });
    }
  });
}

// Runs chosen for comparison are remembered across the pages of the list (this tab only).
function setupChoice() {
  const form = document.getElementById("compare-form");
  if (!form) return;
  const key = "loopml-compare";
  const chosen = new Set(JSON.parse(sessionStorage.getItem(key) || "[]"));
  const hint = document.getElementById("chosen");
  const boxes = form.querySelectorAll("input[name=run]");
  const show = () => {
    sessionStorage.setItem(key, JSON.stringify([...chosen]));
    hint.textContent = chosen.size ? `(${chosen.size} chosen, on any page)` : "(choose two or more)";
  };
  boxes.forEach(box => {
    box.checked = chosen.has(box.value);
    box.addEventListener("change", () => {
      box.checked ? chosen.add(box.value) : chosen.delete(box.value);
      show();
    });
  });
  form.addEventListener("submit", () => {
    const here = new Set([...boxes].map(b => b.value));
    chosen.forEach(id => {
      if (!here.has(id)) form.appendChild(text("input", null, { type: "hidden", name: "run", value: id }));
    });
    sessionStorage.removeItem(key);
  });
  show();
}

setupPromote();
setupChoice();
setupDifferences();
setupWindows();
