// neuralab playground: the page. Plain JavaScript, no libraries, nothing from the network.
//
// The server owns the experiment; this page holds the settings (mirrored in the URL),
// sends them over one WebSocket per tab, and draws what the frames carry: the decision
// boundary image, the points, the loss curves, the confusion matrix, the network diagram
// (diagram.js) and the generated code. Drawing waits for the browser's next animation frame,
// so frames that arrive faster than the screen shows them are drawn once, the latest. The controls are built from GET /api/defaults, which describes
// every setting from neuralab's one schema (kind, bounds, choices, help, unit, group):
// this page keeps no copy of a default, a range or a list of choices. Values are sent as
// typed, never clamped: the server checks them and its refusal is shown in #error.
"use strict";

(function () {
  // a display name where the setting's own name reads badly as a label; any other
  // setting is labelled by its name ("batch_size": "Batch size")
  const LABELS = {
    n_points: "Points per class", lr: "Learning rate", optimizer: "Optimiser",
    standardize: "standardise inputs", hidden: "Hidden layers", features: "Input features",
  };

  const $ = (id) => document.getElementById(id);

  const state = {
    settings: [],          // each setting's description, from /api/defaults, in the schema's order
    byName: {},
    defaults: {},
    upload: null,          // the dataset value that keeps an uploaded CSV's data
    datasetDefaults: {},   // each toy generator's own noise and class count
    regressionSets: [],    // the data sets of task regression
    colours: [],           // the class colours
    ws: null,
    connected: false,
    lastSent: null,        // JSON of the last config sent
    configId: 0,           // the id of the last config sent: its reply is the one to show
    playing: false,
    awaitingState: 0,      // play/pause requests sent whose `state` reply has not come yet
    configured: false,     // whether the server has accepted a config on this connection
    extent: null,          // [xmin, xmax, ymin, ymax] of the latest boundary image
    boundaryImage: null,   // an offscreen canvas holding the server's RGBA image
    points: { train: [], test: [] },
    history: { step: [], train_loss: [], test_loss: [], train_accuracy: [], test_accuracy: [] },
    lastStep: -1,
    classes: 0,
    classNames: null,
    codeTab: "torch",
    reconnectDelay: 500,
    pendingBoundary: null, // the latest frame's boundary image, decoded when drawn
    drawRequested: false,
    confusionKey: null,    // the counts the confusion table shows
    task: "classification",
    valueBound: 1,         // a regression's colour scale: -bound .. +bound
    valueColours: null,    // {negative, positive}: a regression's colours, from the server
    diagram: null,         // the network diagram (diagram.js)
  };

  // for the benchmark and the tests: frames received from the server, and pictures drawn
  // (several frames that arrive within one screen refresh are drawn once)
  window.neuralabPage = { framesReceived: 0, framesDrawn: 0 };

  function colour(k) {
    return state.colours.length ? state.colours[k % state.colours.length] : "#888";
  }

  // a regression's value as the server colours the plane: white at 0, full at +-bound
  function valueColour(v) {
    const c = state.valueColours || { negative: "#d62728", positive: "#1f77b4" };
    const hex = v > 0 ? c.positive : c.negative;
    const t = Math.min(Math.abs(v) / (state.valueBound || 1), 1) * 0.75 + 0.25;
    const ch = (i) => Math.round(255 - t * (255 - parseInt(hex.slice(i, i + 2), 16)));
    return `rgb(${ch(1)}, ${ch(3)}, ${ch(5)})`;
  }

  function pointColour(k) {
    return state.task === "regression" ? valueColour(k) : colour(k);
  }

  // the page's parts that belong to one task: classes and accuracy, or a value scale
  function showTask(f) {
    const regression = f.task === "regression";
    if (typeof f.value_bound === "number") state.valueBound = f.value_bound;
    if (f.value_colours) state.valueColours = f.value_colours;
    if (f.task === state.task && !f.value_bound) return;
    state.task = f.task || "classification";
    $("point_picker").hidden = regression;
    $("value_legend").hidden = !regression;
    $("confusion_panel").hidden = regression;
    for (const row of document.querySelectorAll(".accuracy-row")) row.hidden = regression;
    $("train_loss_label").textContent = regression ? "train loss (MSE)" : "train loss";
    $("test_loss_label").textContent = regression ? "test loss (MSE)" : "test loss";
    if (regression) {
      const b = state.valueBound;
      $("value_low").textContent = (-b).toPrecision(3);
      $("value_high").textContent = "+" + b.toPrecision(3);
      const legend = $("value_legend");
      legend.style.setProperty("--value-negative", state.valueColours.negative);
      legend.style.setProperty("--value-positive", state.valueColours.positive);
    }
  }

  // ------------------------------------------------------------------ messages

  function showError(message, field) {
    const box = $("error");
    box.textContent = message;
    box.hidden = false;
    document.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
    const s = state.byName[field];
    if (s && s.kind === "int_list") {
      // the entries outside the documented range, else the whole list
      const bad = listInputs(s).filter((el) => !el.validity.valid);
      (bad.length ? bad : [$(field)]).forEach((el) => el.classList.add("invalid"));
    } else if (field) {
      const el = $(field);
      if (el) el.classList.add("invalid");
    }
    if (!state.boundaryImage) drawBoundary();
  }

  function clearError() {
    const box = $("error");
    box.textContent = "";
    box.hidden = true;
    document.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
  }

  function setMessage(text) {
    $("message").textContent = text || "";
  }

  function setConnection(text, ok) {
    const el = $("connection");
    el.textContent = text;
    el.classList.toggle("ok", !!ok);
  }

  // ------------------------------------------------------------------ controls, from the schema

  function labelText(s) {
    return LABELS[s.name] || s.name.charAt(0).toUpperCase() + s.name.slice(1).replace(/_/g, " ");
  }

  // what the label adds in small print: the unit (unless the label says it), the empty value
  function hintText(s, label) {
    const parts = [];
    if (s.unit && !label.toLowerCase().includes(s.unit.toLowerCase())) parts.push(s.unit);
    if (s.optional && s.kind !== "choice") parts.push(`empty = ${s.none_word}`);
    return parts.join("; ");
  }

  function tooltip(s) {
    return `${s.name}: ${s.help} Allowed: ${s.allowed}.`;
  }

  function makeLabel(s, forId) {
    const label = document.createElement("label");
    if (forId) label.htmlFor = forId;
    const text = labelText(s);
    label.append(text);
    const hint = hintText(s, text);
    if (hint) {
      const small = document.createElement("small");
      small.textContent = ` (${hint})`;
      label.append(small);
    }
    label.title = tooltip(s);
    return label;
  }

  // min and max only tell the browser (and the reader) the range; values are not clamped
  function setBounds(el, s) {
    if (s.minimum !== undefined) el.min = String(s.minimum);
    if (s.maximum !== undefined) el.max = String(s.maximum);
  }

  function numberInput(s, box) {
    const el = document.createElement("input");
    el.type = "number";
    el.id = el.name = s.name;
    el.step = s.kind === "int" ? "1" : "any";
    setBounds(el, s);
    if (s.optional) el.placeholder = s.none_word;
    el.title = tooltip(s);
    box.append(makeLabel(s, el.id), el);
    bindInput(el);
  }

  function choiceInput(s, box) {
    const el = document.createElement("select");
    el.id = el.name = s.name;
    for (const c of (s.optional ? [s.none_word] : []).concat(s.choices)) {
      const opt = document.createElement("option");
      opt.value = opt.textContent = c;
      el.append(opt);
    }
    el.title = tooltip(s);
    box.append(makeLabel(s, el.id), el);
    const own = { dataset: onDatasetChange, task: onTaskChange };
    el.addEventListener("change", own[s.name] || (() => {
      updateListButtons();
      sendConfig();
    }));
  }

  function boolInput(s, box) {
    const el = document.createElement("input");
    el.type = "checkbox";
    el.id = el.name = s.name;
    el.title = tooltip(s);
    const label = makeLabel(s, null);
    label.className = "check";
    label.prepend(el, " ");
    box.append(label);
    el.addEventListener("change", () => sendConfig());
  }

  // a list of widths: one row per entry, with buttons that add and remove the last one
  function listInput(s, box) {
    const head = document.createElement("div");
    head.className = "hidden-head";
    const title = makeLabel(s, null);
    const buttons = document.createElement("span");
    for (const [what, sign, help] of [["remove", "\u2212", "Remove the last entry"], ["add", "+", "Add an entry"]]) {
      const b = document.createElement("button");
      b.type = "button";
      b.id = `${s.name}_${what}`;
      b.className = "small";
      b.textContent = sign;
      b.title = help;
      buttons.append(b);
    }
    head.append(title, buttons);
    const rows = document.createElement("div");
    rows.id = s.name;
    rows.className = "hidden-layers";
    rows.setAttribute("aria-label", labelText(s));
    box.append(head, rows);
    $(`${s.name}_add`).addEventListener("click", () => {
      const inputs = listInputs(s);
      const last = inputs.length ? inputs[inputs.length - 1].value : s.default[s.default.length - 1];
      addListRow(s, last);
      updateListButtons();
      sendConfig();
    });
    $(`${s.name}_remove`).addEventListener("click", () => {
      if (rows.lastElementChild) rows.lastElementChild.remove();
      updateListButtons();
      sendConfig();
    });
  }

  // a subset of the choices (the input features): one toggle each; the diagram's input
  // column switches the same toggles
  function choiceListInput(s, box) {
    const head = makeLabel(s, null);
    head.className = "list-head";
    const group = document.createElement("div");
    group.id = s.name;
    group.className = "choice-list";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", labelText(s));
    group.title = tooltip(s);
    s.choices.forEach((c, i) => {
      const label = document.createElement("label");
      const el = document.createElement("input");
      el.type = "checkbox";
      el.id = `${s.name}_${i}`;
      el.value = c;
      el.addEventListener("change", () => sendConfig());
      label.append(el, " " + c);
      group.append(label);
    });
    box.append(head, group);
  }

  function choiceListValues(s) {
    return Array.from($(s.name).querySelectorAll("input")).filter((el) => el.checked).map((el) => el.value);
  }

  const BUILDERS = {
    int: numberInput, float: numberInput, choice: choiceInput, bool: boolInput, int_list: listInput,
    choice_list: choiceListInput,
  };

  // one fieldset per group, in the schema's order; the CSV upload joins the data group
  function buildControls() {
    const box = $("settings");
    box.textContent = "";
    const groups = {};
    for (const s of state.settings) {
      if (!groups[s.group]) {
        const fs = document.createElement("fieldset");
        const legend = document.createElement("legend");
        legend.textContent = s.group;
        fs.append(legend);
        box.append(fs);
        groups[s.group] = fs;
      }
      (BUILDERS[s.kind] || numberInput)(s, groups[s.group]);
    }
    const upload = $("upload");
    (groups.data || box).append(upload);
    upload.hidden = false;
  }

  // ------------------------------------------------------------------ lists (hidden layers)

  function listInputs(s) {
    return Array.from($(s.name).querySelectorAll("input"));
  }

  function setList(s, values) {
    $(s.name).textContent = "";
    values.forEach((v) => addListRow(s, v));
    updateListButtons();
  }

  function addListRow(s, value) {
    const box = $(s.name);
    const i = box.children.length + 1;
    const row = document.createElement("div");
    row.className = "layer-row";
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "number";
    input.step = "1";
    input.id = `${s.name}_${i}`;
    input.className = "layer-units";
    input.setAttribute("aria-label", `${labelText(s)}: entry ${i}`);
    setBounds(input, s);
    input.value = String(value);
    label.htmlFor = input.id;
    label.textContent = "layer " + i;
    row.append(label, input);
    box.append(row);
    bindInput(input);
  }

  // a linear model has no hidden layers: its list is kept, greyed, for when mlp comes back
  function updateListButtons() {
    const linear = $("model") && $("model").value === "linear";
    for (const s of state.settings.filter((x) => x.kind === "int_list")) {
      const n = listInputs(s).length;
      const off = linear && s.name === "hidden";
      $(`${s.name}_add`).disabled = off || (s.max_length !== undefined && n >= s.max_length);
      $(`${s.name}_remove`).disabled = off || n === 0;
      $(s.name).classList.toggle("disabled", off);
      listInputs(s).forEach((el) => { el.disabled = off; });
    }
    if (state.diagram) state.diagram.syncControls();
  }

  // ------------------------------------------------------------------ controls <-> config

  function setSelect(el, value) {
    value = String(value);
    if (!Array.from(el.options).some((o) => o.value === value)) {
      // a value from a link or the server that the page does not list: show it as it is,
      // so that it is sent and the server can accept or refuse it
      const opt = document.createElement("option");
      opt.value = value;
      opt.textContent = value === state.upload ? "uploaded CSV" : value;
      el.append(opt);
    }
    el.value = value;
  }

  function isNone(s, value) {
    return value === null || (s.optional && typeof value === "string" &&
      [s.none_word, "none", "null"].includes(value.trim().toLowerCase()));
  }

  function applyConfig(cfg, { keepFocused = false } = {}) {
    const focused = keepFocused ? document.activeElement : null;
    for (const s of state.settings) {
      if (!(s.name in cfg)) continue;
      const value = cfg[s.name];
      const el = $(s.name);
      if (s.kind === "int_list") {
        const values = Array.isArray(value) ? value : String(value).split(",").filter((v) => v.trim() !== "");
        // a linear model has no hidden layers; keep the rows so that mlp gets them back
        if (values.length === 0 && (cfg.model || ($("model") && $("model").value)) === "linear") continue;
        if (focused && el.contains(focused)) continue;
        setList(s, values.map((v) => String(v).trim()));
        continue;
      }
      if (s.kind === "choice_list") {
        const on = Array.isArray(value) ? value.map(String) : String(value).split(",").map((v) => v.trim());
        el.querySelectorAll("input").forEach((box) => { box.checked = on.includes(box.value); });
        continue;
      }
      if (!el || el === focused) continue;
      if (s.kind === "bool") el.checked = value === true || value === "true" || value === "1";
      else if (s.kind === "choice") setSelect(el, isNone(s, value) ? s.none_word : value);
      else el.value = isNone(s, value) ? "" : String(value);
    }
    updateListButtons();
    updateClassPicker();
  }

  function parseNumber(label, el, optional) {
    const raw = el.value.trim();
    if (raw === "" && optional && !el.validity.badInput) return { value: null };
    if (raw === "" || el.validity.badInput) {
      return { error: `${label} must be a number; the field is empty or not a number` };
    }
    const v = Number(raw);
    if (!Number.isFinite(v)) return { error: `${label} must be a finite number; got ${raw}` };
    return { value: v };
  }

  function readSetting(s) {
    const el = $(s.name);
    if (s.kind === "choice") return { value: s.optional && el.value === s.none_word ? null : el.value };
    if (s.kind === "bool") return { value: el.checked };
    if (s.kind === "choice_list") return { value: choiceListValues(s) };
    if (s.kind !== "int_list") return parseNumber(s.name, el, s.optional);
    const values = [];
    for (const [i, input] of listInputs(s).entries()) {
      const r = parseNumber(`${s.name} entry ${i + 1}`, input, false);
      if (r.error) return r;
      values.push(r.value);
    }
    return { value: values };
  }

  // the config as the controls hold it, and the lists as shown; { error } when a field holds
  // no number at all
  function readConfig() {
    const cfg = {};
    for (const s of state.settings) {
      const r = readSetting(s);
      if (r.error) return { error: r.error, field: s.name };
      cfg[s.name] = r.value;
    }
    const shown = Object.assign({}, cfg);
    if (cfg.model === "linear" && "hidden" in cfg) cfg.hidden = [];
    return { config: cfg, shown: shown };
  }

  // ------------------------------------------------------------------ URL

  function configFromURL() {
    const params = new URLSearchParams(window.location.search);
    const cfg = {};
    for (const s of state.settings) {
      if (params.has(s.name)) cfg[s.name] = params.get(s.name);
    }
    return cfg;
  }

  function writeURL(shown) {
    const params = new URLSearchParams();
    for (const s of state.settings) {
      const v = shown[s.name];
      params.set(s.name, Array.isArray(v) ? v.join(",") : v === null ? s.none_word : String(v));
    }
    const url = window.location.pathname + "?" + params.toString().replace(/%2C/g, ",");
    window.history.replaceState(null, "", url);
  }

  // ------------------------------------------------------------------ socket

  function send(msg) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
      showError("Not connected to the playground server; is `neuralab playground` still running?");
      return false;
    }
    state.ws.send(JSON.stringify(msg));
    return true;
  }

  function sendConfig(force = false) {
    const r = readConfig();
    if (r.error) {
      showError(r.error, r.field);
      return;
    }
    writeURL(r.shown);
    const json = JSON.stringify(r.config);
    if (!force && json === state.lastSent) return;
    clearError();
    if (send({ type: "config", config: r.config, id: state.configId + 1 })) {
      state.configId += 1;
      state.lastSent = json;
      setMessage("applying settings…");
    }
  }

  function connect() {
    const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${window.location.host}/ws`);
    state.ws = ws;
    setConnection("connecting…", false);
    ws.addEventListener("open", () => {
      state.connected = true;
      state.reconnectDelay = 500;
      setConnection("connected", true);
      if (!$("error").dataset.sticky) clearError();
      sendConfig(true);
    });
    ws.addEventListener("message", (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (e) {
        showError("The server sent a message that is not JSON.");
        return;
      }
      handle(msg);
    });
    ws.addEventListener("close", () => {
      state.connected = false;
      state.configured = false;
      setTransportEnabled(false);
      state.awaitingState = 0;
      setPlaying(false);
      setConnection("disconnected; retrying…", false);
      setTimeout(connect, state.reconnectDelay);
      state.reconnectDelay = Math.min(state.reconnectDelay * 2, 8000);
    });
  }

  function handle(msg) {
    switch (msg.type) {
      case "config_ok":
        state.configured = true;
        setTransportEnabled(true);
        clearError();
        // the reply to an older config (a newer one is on its way) leaves the controls alone:
        // they hold the newer settings
        if (msg.id !== undefined && msg.id !== state.configId) break;
        setMessage("settings applied");
        applyConfig(msg.config, { keepFocused: true });
        // the server's normalised config is what a link should reproduce
        { const r = readConfig(); if (!r.error) { writeURL(r.shown); state.lastSent = JSON.stringify(r.config); } }
        state.classes = msg.config.classes || state.classes;
        updateClassPicker();
        resetHistory();
        if (msg.code) showCode(msg.code);
        break;
      case "frame":
        onFrame(msg);
        break;
      case "state":
        // while a play or pause is unanswered, only its reply may change the button
        state.awaitingState = Math.max(0, state.awaitingState - 1);
        if (state.awaitingState === 0) setPlaying(!!msg.playing);
        break;
      case "error":
        showError(msg.message || "The server refused the request.", msg.field);
        setMessage((state.byName[msg.field] || msg.field === "config") && state.configured
          ? "settings refused; the model keeps the last accepted ones" : "");
        state.awaitingState = 0;
        // a refused config leaves the server on its previous one: let the same values be resent
        state.lastSent = null;
        break;
      case "saved":
        showSaved(msg.path);
        break;
      default:
        break;
    }
  }

  function showSaved(path) {
    const el = $("saved");
    el.hidden = false;
    el.textContent = "";
    el.append("Saved run: ");
    const code = document.createElement("code");
    code.textContent = path;
    el.append(code);
    setMessage("saved");
  }

  // Play, Step, Reset and Save act on the server's accepted settings: none before the first
  // config_ok (else a refused first config would leave the server training its defaults
  // while the controls show the refused values)
  function setTransportEnabled(on) {
    for (const id of ["play", "step", "reset", "save"]) $(id).disabled = !on;
  }

  function setPlaying(playing) {
    state.playing = playing;
    const b = $("play");
    b.textContent = playing ? "Pause" : "Play";
    b.setAttribute("aria-pressed", playing ? "true" : "false");
    b.classList.toggle("playing", playing);
    if (state.awaitingState > 0) b.dataset.pending = "1"; else delete b.dataset.pending;
  }

  // ------------------------------------------------------------------ frames

  function resetHistory() {
    for (const k of Object.keys(state.history)) state.history[k] = [];
    state.lastStep = -1;
  }

  function appendHistory(h) {
    if (!h || !Array.isArray(h.step) || h.step.length === 0) return;
    // rows at or before a step we already hold replace ours from there on (a reset)
    const first = h.step[0];
    const keep = state.history.step.findIndex((s) => s >= first);
    if (keep >= 0) for (const k of Object.keys(state.history)) state.history[k].length = keep;
    for (const k of Object.keys(state.history)) {
      const col = h[k] || [];
      for (let i = 0; i < h.step.length; i++) state.history[k].push(col[i] === undefined ? null : col[i]);
    }
  }

  function fmtPercent(v) {
    return v === null || v === undefined ? "–" : (100 * v).toFixed(1) + " %";
  }

  function fmtLoss(v) {
    return v === null || v === undefined ? "–" : Number(v).toFixed(4);
  }

  function onFrame(f) {
    window.neuralabPage.framesReceived += 1;
    if (f.history_reset || (typeof f.step === "number" && f.step < state.lastStep)) resetHistory();
    state.lastStep = f.step;
    $("step_count").textContent = String(f.step);
    if (typeof f.epoch === "number") $("epoch_count").textContent = String(f.epoch);
    // a frame computed before a pause was handled still says playing: the `state` reply decides
    if (state.awaitingState === 0) setPlaying(!!f.playing);
    $("train_accuracy").textContent = fmtPercent(f.train_accuracy);
    $("test_accuracy").textContent = fmtPercent(f.test_accuracy);
    $("train_loss").textContent = fmtLoss(f.train_loss);
    $("test_loss").textContent = fmtLoss(f.test_loss);
    appendHistory(f.history);
    if (f.points) {
      state.points = f.points;
      $("n_train").textContent = String(f.points.train.length);
      $("n_test").textContent = String((f.points.test || []).length);
    }
    if (f.task) showTask(f);
    if (f.class_names) state.classNames = f.class_names;
    if (f.boundary) state.pendingBoundary = f.boundary;
    if (f.confusion) {
      state.classes = f.confusion.length;
      drawConfusion(f.confusion, f.confusion_split);
    }
    updateClassPicker();
    if (f.network) state.diagram.update(f.network);
    if (f.code) showCode(f.code);
    if (f.diverged) showError(f.diverged + " (press Reset or change the settings)");
    const hint = $("hint");
    hint.textContent = f.hint || "";
    hint.hidden = !f.hint;
    requestDraw();
  }

  function requestDraw() {
    if (state.drawRequested) return;
    state.drawRequested = true;
    window.requestAnimationFrame(render);
  }

  // one picture of the latest frame: the boundary, the loss curve, the diagram
  function render() {
    state.drawRequested = false;
    if (state.pendingBoundary) {
      setBoundary(state.pendingBoundary);
      state.pendingBoundary = null;
    }
    drawBoundary();
    drawLoss();
    state.diagram.draw();
    window.neuralabPage.framesDrawn += 1;
  }

  function decodeBase64(b64) {
    const bin = atob(b64);
    const out = new Uint8ClampedArray(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function setBoundary(b) {
    const bytes = decodeBase64(b.rgba);
    if (bytes.length !== b.width * b.height * 4) {
      showError(`The boundary image has ${bytes.length} bytes, expected ${b.width * b.height * 4}.`);
      return;
    }
    let img = state.boundaryImage;
    if (!img || img.width !== b.width || img.height !== b.height) {
      img = document.createElement("canvas");
      img.width = b.width;
      img.height = b.height;
      state.boundaryImage = img;
    }
    img.getContext("2d").putImageData(new ImageData(bytes, b.width, b.height), 0, 0);
    state.extent = b.extent;
  }

  // ------------------------------------------------------------------ drawing

  const { fitCanvas, drawAxes } = window.NeuralabCharts;

  function drawLoss() {
    window.NeuralabCharts.drawLoss($("loss"), state.history);
  }

  function drawConfusion(m, split) {
    const key = JSON.stringify([m, split]);
    if (key === state.confusionKey) return;  // the same counts: no new table (a frame's DOM work)
    state.confusionKey = key;
    window.NeuralabCharts.drawConfusion($("confusion"), m, colour);
    $("confusion_split").textContent = split ? `(${split} set)` : "";
  }

  function drawBoundary() {
    const canvas = $("boundary");
    const { w, h, dpr } = fitCanvas(canvas);
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fbfbfb";
    ctx.fillRect(0, 0, w, h);
    if (!state.boundaryImage || !state.extent) {
      ctx.fillStyle = "#888";
      ctx.font = `${14 * dpr}px system-ui, sans-serif`;
      ctx.textAlign = "center";
      ctx.fillText($("error").hidden ? "waiting for the server…" : "no model yet: see the message above",
        w / 2, h / 2);
      return;
    }
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(state.boundaryImage, 0, 0, w, h);
    const [x0, x1, y0, y1] = state.extent;
    const px = (x) => ((x - x0) / (x1 - x0)) * w;
    const py = (y) => ((y1 - y) / (y1 - y0)) * h;
    drawAxes(ctx, w, h, dpr, state.extent);
    const r = 4.2 * dpr;
    ctx.lineWidth = 1 * dpr;
    for (const [x, y, k] of state.points.train || []) {
      ctx.beginPath();
      ctx.arc(px(x), py(y), r, 0, 2 * Math.PI);
      ctx.fillStyle = pointColour(k);
      ctx.fill();
      ctx.strokeStyle = "#1b1b1b";
      ctx.stroke();
    }
    const s = 4.2 * dpr;
    for (const [x, y, k] of $("show_test").checked ? state.points.test || [] : []) {
      const cx = px(x), cy = py(y);
      ctx.beginPath();
      ctx.moveTo(cx - s, cy - s); ctx.lineTo(cx + s, cy + s);
      ctx.moveTo(cx - s, cy + s); ctx.lineTo(cx + s, cy - s);
      ctx.strokeStyle = "#1b1b1b";   // a dark edge under the colour keeps it visible on its tint
      ctx.lineWidth = 3.6 * dpr;
      ctx.stroke();
      ctx.strokeStyle = pointColour(k);
      ctx.lineWidth = 2 * dpr;
      ctx.stroke();
    }
  }

  function className(k) {
    const names = state.classNames;
    return names && names[k] !== undefined && String(names[k]) !== String(k) ? `${k} (${names[k]})` : String(k);
  }

  function updateClassPicker() {
    const sel = $("point_class");
    const fromInput = parseInt($("classes").value, 10);
    let K = state.classes || (Number.isFinite(fromInput) ? fromInput : 2);
    K = Math.max(1, Math.min(K, state.colours.length || 1));
    if (sel.options.length !== K || (state.classNames && sel.dataset.names !== String(state.classNames))) {
      const current = sel.value;
      sel.textContent = "";
      for (let k = 0; k < K; k++) {
        const opt = document.createElement("option");
        opt.value = String(k);
        opt.textContent = "class " + className(k);
        opt.style.color = colour(k);
        sel.append(opt);
      }
      sel.dataset.names = String(state.classNames || "");
      sel.value = current !== "" && Number(current) < K ? current : "0";
    }
    $("point_swatch").style.background = colour(Number(sel.value) || 0);
  }

  function showCode(code) {
    $("code_torch").textContent = code.torch || "";
    $("code_numpy").textContent = code.numpy || "";
  }

  function selectTab(tab) {
    state.codeTab = tab;
    for (const t of ["torch", "numpy"]) {
      $("tab_" + t).setAttribute("aria-selected", t === tab ? "true" : "false");
      $("code_" + t).hidden = t !== tab;
    }
  }

  async function copyCode() {
    const text = $("code_" + state.codeTab).textContent;
    const button = $("copy_code");
    let copied = true;
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {
      // no clipboard permission: select the whole script and copy it the old way
      const range = document.createRange();
      range.selectNodeContents($("code_" + state.codeTab));
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      try { copied = document.execCommand("copy"); } catch (e2) { copied = false; }
    }
    button.textContent = copied ? "Copied" : "Selected: press Ctrl+C";
    setTimeout(() => { button.textContent = "Copy"; }, 1200);
  }

  // ------------------------------------------------------------------ events

  function bindInput(el) {
    el.addEventListener("change", () => sendConfig());
    el.addEventListener("keydown", (ev) => { if (ev.key === "Enter") sendConfig(); });
  }

  function taskOf(dataset) {
    return state.regressionSets.includes(dataset) ? "regression" : "classification";
  }

  function onDatasetChange() {
    // each generator's own noise and class count, visible in the controls before sending;
    // a data set brings its task (the regression sets theirs)
    const dataset = $("dataset").value;
    const own = state.datasetDefaults[dataset];
    if (own) applyConfig(own);
    if ($("task") && dataset !== state.upload) applyConfig({ task: taskOf(dataset) });
    sendConfig();
  }

  function onTaskChange() {
    // a task brings a data set of its own kind when the one shown is of the other
    const task = $("task").value, dataset = $("dataset").value;
    if (taskOf(dataset) !== task && !(dataset === state.upload && task === "classification")) {
      const first = task === "regression" ? state.regressionSets[0] : "spiral";
      $("dataset").value = first;
      const own = state.datasetDefaults[first];
      if (own) applyConfig(own);
    }
    sendConfig();
  }

  function onBoundaryClick(ev) {
    if (!state.extent) return;
    if (state.task === "regression") {
      setMessage("points are added by hand to a classification data set");
      return;
    }
    const canvas = $("boundary");
    const rect = canvas.getBoundingClientRect();
    const [x0, x1, y0, y1] = state.extent;
    const x = x0 + ((ev.clientX - rect.left) / rect.width) * (x1 - x0);
    const y = y1 - ((ev.clientY - rect.top) / rect.height) * (y1 - y0);
    const label = Number($("point_class").value);
    clearError();
    if (send({ type: "add_point", x: x, y: y, label: label })) {
      setMessage(`added a class ${label} point at (${x.toFixed(2)}, ${y.toFixed(2)})`);
    }
  }

  function onCSV(ev) {
    const file = ev.target.files && ev.target.files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => {
      clearError();
      if (send({ type: "upload_csv", text: String(reader.result) })) setMessage(`uploading ${file.name}…`);
      ev.target.value = "";  // the same file may be chosen again
    };
    reader.onerror = () => showError(`Could not read ${file.name}.`);
    reader.readAsText(file);
  }

  // the page's own buttons; each setting's control is bound where it is built
  function bindEvents() {
    $("play").addEventListener("click", () => {
      clearError();
      const next = !state.playing;
      if (send({ type: next ? "play" : "pause" })) {
        state.awaitingState += 1;
        setPlaying(next);  // at once; the server's `state` reply confirms it
      }
    });
    $("step").addEventListener("click", () => { clearError(); send({ type: "step" }); });
    $("show_test").addEventListener("change", () => drawBoundary());
    $("reset").addEventListener("click", () => { clearError(); send({ type: "reset" }); });
    $("save").addEventListener("click", () => {
      clearError();
      if (send({ type: "save" })) setMessage("saving…");
    });
    $("boundary").addEventListener("click", onBoundaryClick);
    $("point_class").addEventListener("change", updateClassPicker);
    $("csv").addEventListener("change", onCSV);
    $("tab_torch").addEventListener("click", () => selectTab("torch"));
    $("tab_numpy").addEventListener("click", () => selectTab("numpy"));
    $("copy_code").addEventListener("click", copyCode);
    window.addEventListener("resize", () => { drawBoundary(); drawLoss(); state.diagram.redraw(); });
  }

  // ------------------------------------------------------------------ start

  async function loadDefaults() {
    try {
      const resp = await fetch("/api/defaults", { cache: "no-store" });
      if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
      const data = await resp.json();
      state.settings = data.settings;
      state.byName = Object.fromEntries(data.settings.map((s) => [s.name, s]));
      state.defaults = data.config;
      state.upload = data.upload;
      state.datasetDefaults = data.dataset_defaults || {};
      state.regressionSets = data.regression_sets || [];
      state.colours = data.class_colours;
      return true;
    } catch (e) {
      showError(`Could not load the settings from /api/defaults (${e.message}); reload the page.`);
      return false;
    }
  }

  // what the diagram may read and do: the controls' values, and changes through sendConfig
  function diagramApi() {
    const hidden = () => state.byName.hidden;
    return {
      $, colour, decodeBase64, sendConfig,
      setting: (name) => state.byName[name],
      features: () => (state.byName.features ? choiceListValues(state.byName.features) : []),
      hiddenWidths: () => (hidden() ? listInputs(hidden()).map((el) => el.value) : []),
      hiddenEditable: () => !!hidden() && $("model").value !== "linear",
      toggleFeature(name) {
        const box = Array.from($("features").querySelectorAll("input")).find((el) => el.value === name);
        if (!box) return;
        box.checked = !box.checked;
        state.diagram.syncControls();
        sendConfig();
      },
      // one unit more or less in hidden layer i (1-based), sent as any edit of the list is
      changeWidth(i, delta) {
        const el = $(`hidden_${i}`);
        const v = parseInt(el && el.value, 10);
        if (!el || !Number.isFinite(v)) return;
        el.value = String(v + delta);
        state.diagram.syncControls();
        sendConfig();
      },
    };
  }

  async function start() {
    setTransportEnabled(false);
    bindEvents();
    if (!(await loadDefaults())) return;
    state.diagram = window.NeuralabDiagram.create(diagramApi());
    buildControls();
    applyConfig(state.defaults);
    const fromURL = configFromURL();
    // a linked dataset brings its own noise and class count unless the link gives them
    const own = state.datasetDefaults[fromURL.dataset];
    if (own) applyConfig(own);
    applyConfig(fromURL);
    drawBoundary();
    drawLoss();
    connect();
  }

  start();
})();
