// neuralab playground: the network diagram. Plain JavaScript, no libraries.
//
// Inputs -> hidden layers -> output as columns of nodes, each node a live thumbnail of its
// output over the plane (the frame's `network` part: maps on a coarse grid, at most `cap`
// nodes a layer, and the weights W_i between the drawn nodes). Weights are lines: blue for
// positive, orange for negative, width from |w| scaled per layer. Hovering a node or a line
// shows its value. The input column holds every feature of the `features` setting as a toggle;
// each hidden column has + and - buttons for its width. Settings change only through the page's
// own controls and its one versioned send (api.sendConfig), as any other control does.
"use strict";

window.NeuralabDiagram = (function () {
  const POSITIVE = [31, 119, 180];   // a positive weight's line
  const NEGATIVE = [230, 85, 13];    // a negative weight's line

  function rgb(hex) {
    const c = String(hex).replace("#", "");
    return [0, 2, 4].map((i) => parseInt(c.slice(i, i + 2), 16) || 0);
  }

  function create(api) {
    const $ = api.$;
    const box = $("network");
    const lines = $("network_lines");
    const tip = $("network_tip");
    const view = {
      net: null,          // the latest frame's network part, drawn or to be drawn
      dirty: false,
      key: "",            // the structure the nodes were built for
      columns: [],        // [{kind, index, x, nodes: [{el, canvas, image, y, unit, name}]}]
      segments: [],       // the drawn weight lines, for hovering
      size: 24,
    };

    function fmt(v) {
      return v === null || v === undefined ? "–" : Number(v).toPrecision(3);
    }

    // ---------------------------------------------------------------- structure

    function featureChoices() {
      const s = api.setting("features");
      return s ? s.choices.slice() : [];
    }

    // the input column: every feature the setting offers, then any input it does not name
    function inputNames(layer) {
      const names = featureChoices();
      for (const n of (layer && layer.names) || []) if (!names.includes(n)) names.push(n);
      return names.length ? names : ((layer && layer.names) || []);
    }

    function structureKey(net) {
      return JSON.stringify([box.clientWidth, featureChoices(),
        net.layers.map((l) => [l.kind, l.units_total, l.nodes.length, l.names || null])]);
    }

    function nodeElement(kind, tag) {
      const el = document.createElement(tag);
      el.className = `net-node net-${kind}`;
      const canvas = document.createElement("canvas");
      el.append(canvas);
      return { el, canvas };
    }

    function widthButtons(i, x, top) {
      const group = document.createElement("div");
      group.className = "net-width";
      group.style.left = `${x}px`;
      group.style.top = `${top}px`;
      for (const [what, sign, delta] of [["add", "+", 1], ["remove", "\u2212", -1]]) {
        const b = document.createElement("button");
        b.type = "button";
        b.id = `net_${what}_${i}`;
        b.className = "small";
        b.textContent = sign;
        b.title = `${delta > 0 ? "Add a unit to" : "Remove a unit from"} hidden layer ${i}`;
        b.addEventListener("click", () => api.changeWidth(i, delta));
        group.append(b);
      }
      const count = document.createElement("span");
      count.id = `net_width_${i}`;
      group.insertBefore(count, group.lastChild);
      box.append(group);
    }

    function build(net) {
      box.querySelectorAll(".net-node, .net-width, .net-label").forEach((el) => el.remove());
      const cols = net.layers.map((l) => ({ kind: l.kind, index: l.index, layer: l, nodes: [] }));
      const counts = cols.map((c, k) => (k === 0 ? inputNames(c.layer).length : c.layer.nodes.length));
      const most = Math.max(1, ...counts);
      const width = Math.max(200, box.clientWidth);
      const padL = 52, padR = 44, spacing = (width - padL - padR) / Math.max(1, cols.length - 1);
      const S = Math.max(12, Math.min(28, Math.floor(300 / most) - 5, Math.floor(spacing * 0.6)));
      const step = S + 5, top = 8, height = most * step;
      view.size = S;
      cols.forEach((col, k) => {
        col.x = padL + k * spacing;
        const names = k === 0 ? inputNames(col.layer) : col.layer.nodes.map((n) => n.unit);
        const y0 = top + (height - names.length * step) / 2 + step / 2;
        names.forEach((name, j) => {
          const input = k === 0;
          const { el, canvas } = nodeElement(col.kind, input ? "button" : "div");
          const node = { el, canvas, image: null, y: y0 + j * step, name: input ? name : null,
            unit: input ? col.layer.names.indexOf(name) : j, col: k };
          el.style.left = `${col.x - S / 2}px`;
          el.style.top = `${node.y - S / 2}px`;
          el.style.width = el.style.height = `${S}px`;
          el.dataset.layer = String(col.index);
          el.dataset.unit = String(node.unit);
          if (input) {
            el.type = "button";
            el.dataset.feature = name;
            el.addEventListener("click", () => api.toggleFeature(name));
          }
          box.append(el);
          if (input || col.kind === "output") {
            const label = document.createElement("span");
            label.className = `net-label net-label-${col.kind}`;
            const names = col.layer.names || [];
            label.textContent = input ? name : String(names[j] !== undefined ? names[j] : j);
            label.style.top = `${node.y}px`;
            label.style.left = input ? `${col.x - S / 2 - 4}px` : `${col.x + S / 2 + 4}px`;
            box.append(label);
          }
          col.nodes.push(node);
        });
        if (col.kind === "hidden") widthButtons(col.index, col.x, top + height + 4);
      });
      const total = top + height + (cols.some((c) => c.kind === "hidden") ? 58 : 8);
      box.style.height = `${total}px`;
      view.columns = cols;
      syncControls();
    }

    // ---------------------------------------------------------------- drawing

    function paint(node, map, layer) {
      const { canvas } = node;
      if (canvas.width !== map.width || canvas.height !== map.height) {
        canvas.width = map.width;
        canvas.height = map.height;
        node.image = null;
      }
      if (!node.image) node.image = new ImageData(map.width, map.height);
      const g = api.decodeBase64(map.gray);
      const px = node.image.data;
      if (layer.scale === "probability") {
        // white (0) to the class colour (1), as the boundary's tint
        const c = rgb(api.colour(node.unit));
        for (let i = 0; i < g.length; i++) {
          const t = g[i] / 255;
          px[4 * i] = 255 - t * (255 - c[0]);
          px[4 * i + 1] = 255 - t * (255 - c[1]);
          px[4 * i + 2] = 255 - t * (255 - c[2]);
          px[4 * i + 3] = 255;
        }
      } else {
        for (let i = 0; i < g.length; i++) {
          px[4 * i] = px[4 * i + 1] = px[4 * i + 2] = g[i];
          px[4 * i + 3] = 255;
        }
      }
      canvas.getContext("2d").putImageData(node.image, 0, 0);
      node.map = map;
      node.el.classList.add("drawn");
    }

    function drawLines(net) {
      const dpr = window.devicePixelRatio || 1;
      const w = box.clientWidth, h = box.clientHeight;
      if (lines.width !== Math.round(w * dpr) || lines.height !== Math.round(h * dpr)) {
        lines.width = Math.round(w * dpr);
        lines.height = Math.round(h * dpr);
      }
      const ctx = lines.getContext("2d");
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, h);
      const segments = [];
      const half = view.size / 2;
      for (let k = 1; k < view.columns.length; k++) {
        const W = net.weights[k - 1] || [];
        let most = 0;
        for (const row of W) for (const v of row) if (v !== null) most = Math.max(most, Math.abs(v));
        const from = view.columns[k - 1], to = view.columns[k];
        for (const a of from.nodes) {
          const row = a.unit >= 0 ? W[a.unit] : null;
          if (!row) continue;
          for (const b of to.nodes) {
            const v = row[b.unit];
            if (v === null || v === undefined) continue;
            const seg = { x1: from.x + half, y1: a.y, x2: to.x - half, y2: b.y, i: k, a: a.unit, b: b.unit, w: v };
            const c = v >= 0 ? POSITIVE : NEGATIVE;
            ctx.strokeStyle = `rgba(${c[0]},${c[1]},${c[2]},0.75)`;
            ctx.lineWidth = 0.4 + (most > 0 ? 3.2 * Math.abs(v) / most : 0);
            ctx.beginPath();
            ctx.moveTo(seg.x1, seg.y1);
            ctx.lineTo(seg.x2, seg.y2);
            ctx.stroke();
            segments.push(seg);
          }
        }
      }
      view.segments = segments;
    }

    function draw() {
      const net = view.net;
      if (!net || !view.dirty) return false;
      view.dirty = false;
      const key = structureKey(net);
      if (key !== view.key) {
        build(net);
        view.key = key;
      }
      view.columns.forEach((col, k) => {
        col.layer = net.layers[k];  // the same structure, this frame's maps
        for (const node of col.nodes) {
          const map = node.unit >= 0 ? col.layer.nodes[node.unit] : null;
          if (map) paint(node, map, col.layer);
        }
      });
      drawLines(net);
      caption(net);
      return true;
    }

    function caption(net) {
      const capped = net.layers.filter((l) => l.units_total > l.nodes.length);
      const parts = [net.activation ? net.activation : ""];
      for (const l of capped) {
        const what = l.kind === "hidden" ? `layer ${l.index}` : l.kind;
        parts.push(`${what}: showing ${l.nodes.length} of ${l.units_total}`);
      }
      const text = parts.filter(Boolean).join("; ");
      if ($("network_caption").textContent !== text) $("network_caption").textContent = text;
      const note = capped.length
        ? `At most ${net.cap} nodes of a layer are drawn (and their weights), so the page keeps its speed.`
        : "";
      if ($("network_capped").textContent !== note) $("network_capped").textContent = note;
      $("network_capped").hidden = !note;
    }

    // ---------------------------------------------------------------- controls

    // the toggles and the width buttons follow the page's controls (what will be sent)
    function syncControls() {
      const on = api.features();
      box.querySelectorAll(".net-input").forEach((el) => {
        const yes = on.includes(el.dataset.feature);
        el.classList.toggle("off", !yes);
        el.setAttribute("aria-pressed", yes ? "true" : "false");
        el.setAttribute("aria-label", `feature ${el.dataset.feature}: ${yes ? "on" : "off"}`);
      });
      const widths = api.hiddenWidths();
      const s = api.setting("hidden") || {};
      const off = !api.hiddenEditable();
      box.querySelectorAll(".net-width").forEach((group) => {
        const i = Number(group.querySelector("span").id.replace("net_width_", ""));
        const v = Number(widths[i - 1]);
        group.querySelector("span").textContent = widths[i - 1] === undefined ? "" : String(widths[i - 1]);
        $(`net_add_${i}`).disabled = off || !Number.isFinite(v) || (s.maximum !== undefined && v >= s.maximum);
        $(`net_remove_${i}`).disabled = off || !Number.isFinite(v) || (s.minimum !== undefined && v <= s.minimum);
      });
      for (const what of ["add", "remove"]) {
        const mine = $(`net_layer_${what}`), theirs = $(`hidden_${what}`);
        if (mine && theirs) mine.disabled = theirs.disabled;
      }
    }

    // ---------------------------------------------------------------- hover

    function nodeTip(el) {
      const col = view.columns.find((c) => String(c.index) === el.dataset.layer);
      const node = col && col.nodes.find((n) => n.el === el);
      if (!node) return "";
      const map = node.map && node.unit >= 0 ? col.layer.nodes[node.unit] : null;
      const range = map ? `${fmt(map.min)}..${fmt(map.max)}` : "not an input of this model";
      if (col.kind === "input") {
        return `input ${node.name}: ${range} (click to switch it ${el.classList.contains("off") ? "on" : "off"})`;
      }
      const names = col.layer.names || [];
      const what = col.kind === "output"
        ? `output, class ${names[node.unit] !== undefined ? names[node.unit] : node.unit}` +
          (col.layer.scale === "probability" ? " (probability)" : "")
        : `layer ${col.index}, unit ${node.unit}`;
      const bias = map && map.bias !== undefined ? `; b = ${fmt(map.bias)}` : "";
      return `${what}, ${range}${bias}`;
    }

    function nearestSegment(x, y) {
      let best = null, bestD = 5;   // pixels
      for (const s of view.segments) {
        const dx = s.x2 - s.x1, dy = s.y2 - s.y1;
        const t = Math.max(0, Math.min(1, ((x - s.x1) * dx + (y - s.y1) * dy) / (dx * dx + dy * dy || 1)));
        const d = Math.hypot(x - s.x1 - t * dx, y - s.y1 - t * dy);
        if (d < bestD) { best = s; bestD = d; }
      }
      return best;
    }

    function onMove(ev) {
      const rect = box.getBoundingClientRect();
      const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
      const nodeEl = ev.target.closest && ev.target.closest(".net-node");
      let text = "";
      if (nodeEl) text = nodeTip(nodeEl);
      else if (!(ev.target.closest && ev.target.closest(".net-width"))) {
        const s = nearestSegment(x, y);
        if (s) text = `W_${s.i}[${s.a},${s.b}] = ${Number(s.w).toPrecision(4)}`;
      }
      tip.hidden = !text;
      if (!text) return;
      tip.textContent = text;
      tip.style.left = `${Math.min(x + 12, box.clientWidth - tip.offsetWidth - 2)}px`;
      tip.style.top = `${y + 14}px`;
    }

    box.addEventListener("mousemove", onMove);
    box.addEventListener("mouseleave", () => { tip.hidden = true; });
    $("net_layer_add").addEventListener("click", () => $("hidden_add").click());
    $("net_layer_remove").addEventListener("click", () => $("hidden_remove").click());

    return {
      // keep the latest frame's network; it is drawn by the next draw()
      update(net) {
        view.net = net;
        view.dirty = true;
      },
      draw,
      redraw() { view.dirty = !!view.net; view.key = ""; return draw(); },
      syncControls,
    };
  }

  return { create };
})();
