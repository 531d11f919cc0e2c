// neuralab playground: the charts. Plain JavaScript, no libraries: canvas sizing, axes and
// ticks, the loss curve, the confusion matrix. They draw what they are given and keep no state.
"use strict";

window.NeuralabCharts = (function () {
  function fitCanvas(canvas) {
    // the drawing buffer follows the displayed size, in device pixels
    const rect = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(rect.width * dpr));
    const h = Math.max(1, Math.round(rect.height * dpr));
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    return { w, h, dpr };
  }

  function niceTicks(lo, hi, count) {
    const span = hi - lo;
    if (!(span > 0)) return [lo];
    const raw = span / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= count) || 10 * mag;
    const ticks = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12; t += step) ticks.push(Math.round(t / step) * step);
    return ticks;
  }

  function fmtTick(t) {
    const a = Math.abs(t);
    if (a === 0) return "0";
    if (a >= 1e6) return t.toExponential(1);
    return String(Number(t.toPrecision(a >= 1000 ? 6 : 3)));
  }

  function drawAxes(ctx, w, h, dpr, extent) {
    const [x0, x1, y0, y1] = extent;
    ctx.save();
    ctx.font = `${10 * dpr}px system-ui, sans-serif`;
    ctx.fillStyle = "rgba(40,40,40,0.75)";
    ctx.strokeStyle = "rgba(0,0,0,0.08)";
    ctx.lineWidth = 1;
    ctx.textAlign = "center";
    ctx.textBaseline = "bottom";
    for (const t of niceTicks(x0, x1, 6)) {
      const x = ((t - x0) / (x1 - x0)) * w;
      ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, h); ctx.stroke();
      ctx.fillText(fmtTick(t), x, h - 2 * dpr);
    }
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    for (const t of niceTicks(y0, y1, 6)) {
      const y = ((y1 - t) / (y1 - y0)) * h;
      ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(w, y); ctx.stroke();
      ctx.fillText(fmtTick(t), 3 * dpr, y);
    }
    ctx.restore();
  }

  // the training and test loss by step, from the history's columns
  function drawLoss(canvas, H) {
    const { w, h, dpr } = fitCanvas(canvas);
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    const pad = { l: 38 * dpr, r: 8 * dpr, t: 8 * dpr, b: 18 * dpr };
    const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
    const values = H.train_loss.concat(H.test_loss).filter((v) => v !== null && Number.isFinite(v));
    ctx.font = `${10 * dpr}px system-ui, sans-serif`;
    ctx.fillStyle = "#666";
    if (H.step.length === 0 || values.length === 0) {
      ctx.textAlign = "center";
      ctx.fillText("no steps yet", w / 2, h / 2);
      return;
    }
    const sMin = H.step[0], sMax = Math.max(H.step[H.step.length - 1], sMin + 1);
    const yMax = Math.max(...values) * 1.05 || 1;
    const X = (s) => pad.l + ((s - sMin) / (sMax - sMin)) * pw;
    const Y = (v) => pad.t + ph - (v / yMax) * ph;
    // axes and ticks
    ctx.strokeStyle = "#ddd";
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const t of niceTicks(0, yMax, 4)) {
      ctx.beginPath(); ctx.moveTo(pad.l, Y(t)); ctx.lineTo(w - pad.r, Y(t)); ctx.stroke();
      ctx.fillText(fmtTick(t), pad.l - 4 * dpr, Y(t));
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const t of niceTicks(sMin, sMax, 5)) ctx.fillText(fmtTick(t), X(t), pad.t + ph + 4 * dpr);
    const line = (key, colour, dash) => {
      ctx.beginPath();
      let pen = false;
      for (let i = 0; i < H.step.length; i++) {
        const v = H[key][i];
        if (v === null || !Number.isFinite(v)) { pen = false; continue; }
        if (pen) ctx.lineTo(X(H.step[i]), Y(v)); else ctx.moveTo(X(H.step[i]), Y(v));
        pen = true;
      }
      ctx.setLineDash(dash.map((d) => d * dpr));
      ctx.strokeStyle = colour;
      ctx.lineWidth = 2 * dpr;
      ctx.stroke();
      ctx.setLineDash([]);
    };
    line("test_loss", "#e6550d", [5, 4]);
    line("train_loss", "#3182bd", []);
    // legend
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    const lx = w - pad.r - 110 * dpr, ly = pad.t + 8 * dpr;
    [["train", "#3182bd", []], ["test", "#e6550d", [5, 4]]].forEach(([name, colour, dash], i) => {
      const x = lx + i * 55 * dpr;
      ctx.beginPath(); ctx.moveTo(x, ly); ctx.lineTo(x + 18 * dpr, ly);
      ctx.setLineDash(dash.map((d) => d * dpr));
      ctx.strokeStyle = colour; ctx.lineWidth = 2 * dpr; ctx.stroke(); ctx.setLineDash([]);
      ctx.fillStyle = "#444";
      ctx.fillText(name, x + 22 * dpr, ly);
    });
  }

  // K x K counts, rows the true class; each class's swatch in colour(k)
  function drawConfusion(table, m, colour) {
    table.textContent = "";
    const K = m.length;
    const caption = document.createElement("caption");
    caption.textContent = "rows: true class, columns: predicted";
    table.append(caption);
    const head = document.createElement("tr");
    const corner = document.createElement("th");
    corner.textContent = "true \\ pred";
    corner.className = "corner";
    head.append(corner);
    for (let j = 0; j < K; j++) {
      const th = document.createElement("th");
      th.scope = "col";
      th.innerHTML = `<span class="swatch" style="background:${colour(j)}"></span>`;
      th.append(String(j));
      head.append(th);
    }
    const thead = document.createElement("thead");
    thead.append(head);
    const tbody = document.createElement("tbody");
    for (let i = 0; i < K; i++) {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.innerHTML = `<span class="swatch" style="background:${colour(i)}"></span>`;
      th.append(String(i));
      tr.append(th);
      const total = m[i].reduce((a, b) => a + b, 0) || 1;
      for (let j = 0; j < K; j++) {
        const td = document.createElement("td");
        td.textContent = String(m[i][j]);
        const share = m[i][j] / total;
        td.style.background = i === j
          ? `rgba(44,160,44,${(0.08 + 0.5 * share).toFixed(3)})`
          : (m[i][j] > 0 ? `rgba(214,39,40,${(0.08 + 0.5 * share).toFixed(3)})` : "");
        tr.append(td);
      }
      tbody.append(tr);
    }
    table.append(thead, tbody);
  }

  return { fitCanvas, niceTicks, fmtTick, drawAxes, drawLoss, drawConfusion };
})();
