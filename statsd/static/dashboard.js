// statsd dashboard: pick a question and a location, run a statistic as a job,
// watch it go running -> done, see its table and chart, and the live job list.
// Plain browser JavaScript talking to the statsd API on the same origin.
"use strict";

const STATISTICS = {
  states_mean: {label: "states_mean", needsState: false, chart: "states", value: "mean"},
  best5: {label: "best5", needsState: false, chart: "states", value: "mean"},
  worst5: {label: "worst5", needsState: false, chart: "states", value: "mean"},
  global_mean: {label: "global_mean", needsState: false, chart: "states", value: "mean"},
  diff_from_mean: {label: "diff_from_mean", needsState: false, chart: "states", value: "global mean \u2212 mean"},
  mean_by_category: {label: "mean_by_category", needsState: false, chart: "categories", value: "mean"},
  state_mean: {label: "state_mean", needsState: true, chart: "trend", value: "mean"},
  state_diff_from_mean: {label: "state_diff_from_mean", needsState: true, chart: "trend", value: "global mean \u2212 mean"},
  state_mean_by_category: {label: "state_mean_by_category", needsState: true, chart: "categories", value: "mean"},
};
const POLL_MS = 200;
const JOBS_MS = 1500;
const JOBS_SHOWN = 40;  // the job list shows the last jobs only: /api/jobs?last=N

const view = {
  question: null,
  chartKind: "states",
  sort: {column: null, ascending: true},
  rows: [],
  columns: [],
};

const $ = (id) => document.getElementById(id);

async function getJSON(url, options) {
  const response = await fetch(url, options);
  let body;
  try {
    body = await response.json();
  } catch (error) {
    throw new Error(`HTTP ${response.status} from ${url}`);
  }
  if (!response.ok || body.status === "error") {
    throw new Error(body.reason || `HTTP ${response.status}`);
  }
  return body;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

// -- choosing a question and a location ---------------------------------------

async function loadQuestions(wanted) {
  const {data} = await getJSON("/api/questions");
  const first = data.find((item) => item.question === wanted) || data[0];
  const list = $("questions");
  list.textContent = "";
  data.forEach((item) => {
    const label = document.createElement("label");
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "question";
    radio.value = item.question;
    radio.addEventListener("change", () => chooseQuestion(item.question));
    const text = document.createElement("span");
    text.textContent = item.question;
    const note = document.createElement("span");
    note.className = "better";
    note.textContent = `${item.better} is better \u00b7 ${item.locations} locations`;
    text.appendChild(note);
    label.append(radio, text);
    list.appendChild(label);
    radio.checked = item === first;
  });
  if (first) {
    await chooseQuestion(first.question);
  }
}

async function chooseQuestion(question) {
  view.question = question;
  const list = $("questions");
  list.querySelectorAll("label").forEach((label) => {
    const selected = label.querySelector("input").value === question;
    label.classList.toggle("selected", selected);
    if (selected && (label.offsetTop < list.scrollTop ||
                     label.offsetTop + label.offsetHeight > list.scrollTop + list.clientHeight)) {
      list.scrollTop = label.offsetTop;
    }
  });
  const select = $("state");
  const previous = select.value;
  const {data} = await getJSON(`/api/states?question=${encodeURIComponent(question)}`);
  select.textContent = "";
  for (const state of data) {
    select.add(new Option(state, state));
  }
  select.value = data.includes(previous) ? previous : (data.includes("National") ? "National" : data[0]);
  await loadCategories();
  showChart();
}

async function loadCategories() {
  const select = $("category");
  const previous = select.value;
  select.textContent = "";
  if (!view.question || !$("state").value) {
    return;
  }
  const query = new URLSearchParams({question: view.question, state: $("state").value});
  const {data} = await getJSON(`/api/categories?${query}`);
  for (const category of Object.keys(data)) {
    select.add(new Option(`${category} (${data[category].length})`, category));
  }
  if (Object.keys(data).includes(previous)) {
    select.value = previous;
  }
}

// -- running a statistic as a job -------------------------------------------------

function buildButtons() {
  for (const [name, statistic] of Object.entries(STATISTICS)) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = statistic.label;
    button.dataset.statistic = name;
    button.addEventListener("click", () => runStatistic(name));
    $(statistic.needsState ? "state-queries" : "question-queries").appendChild(button);
  }
}

function renderJob(job) {
  const card = $("job");
  card.classList.remove("empty");
  card.textContent = "";
  const title = document.createElement("p");
  title.className = "title";
  title.textContent = `${job.id || "(no job)"} \u00b7 ${job.statistic}` + (job.state ? ` \u00b7 ${job.state}` : "");
  const question = document.createElement("p");
  question.className = "muted small";
  question.textContent = job.question || "";
  const steps = document.createElement("p");
  steps.className = "steps";
  job.steps.forEach((step, index) => {
    if (index) {
      steps.append(" \u2192 ");
    }
    steps.appendChild(statusBadge(step));
  });
  if (job.seconds !== undefined) {
    steps.append(`  in ${job.seconds.toFixed(2)} s`);
  }
  card.append(title, question, steps);
}

function statusBadge(state) {
  const badge = document.createElement("span");
  badge.className = `status ${state}`;
  badge.textContent = state;
  return badge;
}

async function runStatistic(name) {
  const statistic = STATISTICS[name];
  const body = {question: view.question};
  if (statistic.needsState) {
    body.state = $("state").value;
  }
  showError("");
  const job = {statistic: name, question: body.question, state: body.state, steps: []};
  const started = performance.now();
  try {
    const answer = await getJSON(`/api/${name}`, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body),
    });
    job.id = answer.job_id;
    job.steps.push("running");
    renderJob(job);
    refreshJobs();
    const result = await waitForResult(job.id);
    job.steps.push(result.status);
    job.seconds = (performance.now() - started) / 1000;
    renderJob(job);
    if (result.status === "done") {
      showResult(name, body, result.data);
      view.chartKind = statistic.chart;
      showChart();
      updateLink(name);
    } else {
      showError(`${job.id}: ${result.reason}`);
    }
  } catch (error) {
    job.steps.push("error");
    renderJob(job);
    showError(error.message);
  }
  refreshJobs();
}

async function waitForResult(jobId) {
  for (;;) {
    const response = await fetch(`/api/get_results/${jobId}`);
    const body = await response.json();
    if (response.status === 410) {
      return {status: "expired", reason: body.reason};
    }
    if (body.status !== "running") {
      return body;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

// -- the result table ----------------------------------------------------------

// Keys of the by_category results are Python tuple reprs: "('Ohio', 'Age (years)', '18 - 24')".
function parseTuple(text) {
  const parts = [];
  const pattern = /'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g;
  let match;
  while ((match = pattern.exec(text)) !== null) {
    parts.push((match[1] !== undefined ? match[1] : match[2]).replace(/\\(.)/g, "$1"));
  }
  return parts;
}

function tableOf(name, body, data) {
  const value = STATISTICS[name].value;
  if (name === "global_mean") {
    return {columns: ["question", value], rows: [[body.question, data.global_mean]]};
  }
  if (name === "mean_by_category") {
    return {columns: ["location", "category", "stratification", value],
            rows: Object.entries(data).map(([key, mean]) => [...parseTuple(key), mean])};
  }
  if (name === "state_mean_by_category") {
    const [state] = Object.keys(data);
    return {columns: ["category", "stratification", value],
            rows: Object.entries(data[state]).map(([key, mean]) => [...parseTuple(key), mean])};
  }
  const ranked = name === "best5" || name === "worst5";
  const rows = Object.entries(data).map(([location, mean], index) =>
    ranked ? [index + 1, location, mean] : [location, mean]);
  return {columns: ranked ? ["rank", "location", value] : ["location", value], rows};
}

function showResult(name, body, data) {
  const {columns, rows} = tableOf(name, body, data);
  view.columns = columns;
  view.rows = rows;
  view.sort = {column: null, ascending: true};
  $("result-caption").textContent =
    `${name}: ${rows.length} row${rows.length === 1 ? "" : "s"}` +
    (body.state ? ` for ${body.state}` : "") + " \u00b7 click a heading to sort";
  renderTable();
}

function renderTable() {
  const table = $("result");
  const head = table.tHead;
  const bodyRows = table.tBodies[0];
  head.textContent = "";
  bodyRows.textContent = "";
  const numeric = view.columns.map((_, index) => view.rows.every((row) => typeof row[index] === "number"));
  const headRow = head.insertRow();
  view.columns.forEach((column, index) => {
    const cell = document.createElement("th");
    cell.textContent = column;
    cell.scope = "col";
    cell.className = numeric[index] ? "number" : "";
    if (view.sort.column === index) {
      cell.setAttribute("aria-sort", view.sort.ascending ? "ascending" : "descending");
    }
    cell.addEventListener("click", () => sortBy(index));
    headRow.appendChild(cell);
  });
  for (const row of view.rows) {
    const tableRow = bodyRows.insertRow();
    row.forEach((value, index) => {
      const cell = tableRow.insertCell();
      if (typeof value === "number" && !Number.isInteger(value)) {
        cell.textContent = value.toFixed(3);
        cell.title = String(value);
      } else {
        cell.textContent = value;
      }
      cell.className = numeric[index] ? "number" : "";
    });
  }
  $("result-wrap").hidden = false;
}

function sortBy(index) {
  const ascending = view.sort.column === index ? !view.sort.ascending : true;
  view.sort = {column: index, ascending};
  const direction = ascending ? 1 : -1;
  view.rows.sort((a, b) => {
    const x = a[index];
    const y = b[index];
    const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return order * direction;
  });
  renderTable();
}

// -- the chart -----------------------------------------------------------------

function chartURL(kind) {
  const query = new URLSearchParams({question: view.question});
  if (kind !== "states") {
    query.append("state", $("state").value);
  }
  if (kind === "split") {
    query.append("category", $("category").value);
  }
  return `/api/charts/${kind}?${query}`;
}

function showChart() {
  if (!view.question) {
    return;
  }
  const kind = view.chartKind;
  document.querySelectorAll("#chart-tabs button").forEach((button) => {
    const active = button.dataset.kind === kind;
    button.classList.toggle("active", active);
    button.setAttribute("aria-selected", String(active));
  });
  $("category-field").hidden = kind !== "split";
  const url = chartURL(kind);
  const image = $("chart");
  image.onerror = async () => {
    image.hidden = true;
    try {
      await getJSON(url);
    } catch (error) {
      $("chart-note").textContent = `no chart: ${error.message}`;
    }
  };
  image.onload = () => {
    image.hidden = false;
    $("chart-note").textContent = "";
  };
  image.src = url;
  const link = $("chart-link");
  link.href = url;
  link.hidden = false;
}

// -- the live job list -------------------------------------------------------------

async function refreshJobs() {
  try {
    const [{data, total}, {num_jobs: pending}] = await Promise.all([
      getJSON(`/api/jobs?last=${JOBS_SHOWN}`), getJSON("/api/num_jobs")]);
    $("queue-state").textContent = `${pending} job${pending === 1 ? "" : "s"} queued or running`;
    $("jobs-count").textContent = `(${total})`;
    const list = $("jobs");
    list.textContent = "";
    for (const entry of data.slice().reverse()) {
      const [[jobId, state]] = Object.entries(entry);
      const item = document.createElement("li");
      const name = document.createElement("button");
      name.type = "button";
      name.textContent = jobId;
      name.title = "show this job's result";
      name.addEventListener("click", () => showOldJob(jobId));
      item.append(name, statusBadge(state));
      list.appendChild(item);
    }
  } catch (error) {
    $("queue-state").textContent = `server unreachable (${error.message})`;
  }
}

async function showOldJob(jobId) {
  showError("");
  const result = await waitForResult(jobId);
  renderJob({id: jobId, statistic: "earlier job", steps: [result.status]});
  if (result.status !== "done") {
    showError(`${jobId}: ${result.reason}`);
    return;
  }
  $("result-caption").textContent = "";
  const data = result.data;
  const flat = Object.entries(data).map(([key, value]) =>
    [key, typeof value === "object" ? JSON.stringify(value) : value]);
  view.columns = ["key", "value"];
  view.rows = flat;
  view.sort = {column: null, ascending: true};
  renderTable();
  $("result-caption").textContent = `${jobId}: ${flat.length} rows \u00b7 click a heading to sort`;
}

// -- links: #question=...&state=...&chart=...&run=... ----------------------------------

function updateLink(run) {
  const link = new URLSearchParams({question: view.question, state: $("state").value,
                                    chart: view.chartKind});
  if (run) {
    link.set("run", run);
  }
  history.replaceState(null, "", `#${link}`);
}

async function openLink() {
  const wanted = new URLSearchParams(location.hash.slice(1));
  await loadQuestions(wanted.get("question"));
  const state = wanted.get("state");
  if (state && [...$("state").options].some((option) => option.value === state)) {
    $("state").value = state;
    await loadCategories();
  }
  if (["states", "trend", "categories", "split"].includes(wanted.get("chart"))) {
    view.chartKind = wanted.get("chart");
  }
  showChart();
  if (wanted.get("run") in STATISTICS) {
    await runStatistic(wanted.get("run"));
  }
}

// -- start ---------------------------------------------------------------------

function start() {
  buildButtons();
  document.querySelectorAll("#chart-tabs button").forEach((button) => {
    button.addEventListener("click", () => {
      view.chartKind = button.dataset.kind;
      showChart();
    });
  });
  $("state").addEventListener("change", async () => {
    await loadCategories();
    showChart();
  });
  $("category").addEventListener("change", showChart);
  openLink().catch((error) => showError(`cannot load the questions: ${error.message}`));
  refreshJobs();
  setInterval(refreshJobs, JOBS_MS);
}

start();
