// statsd dashboard: pick a question and a location, run a statistic as a job,
// watch it go running -> done, see its table and chart, and the live job list.
// Plain browser JavaScript talking to the statsd API on the same origin.
//
// One source of truth: `view` holds what the page shows (question, location,
// chart, statistic run, split category, past job, and later the filters); the
// address bar always mirrors it (history.replaceState), and a link or an
// edited hash is read back into it.  Every change goes through setView(),
// which writes the address and renders; an answer that arrives for a view the
// page has since left is dropped (see `generation`).
"use strict";

const STATISTICS = {
  states_mean: {needsState: false, chart: "states", value: "mean"},
  best5: {needsState: false, chart: "states", value: "mean", ranked: true},
  worst5: {needsState: false, chart: "states", value: "mean", ranked: true},
  global_mean: {needsState: false, chart: "states", value: "mean"},
  diff_from_mean: {needsState: false, chart: "diff", value: "global mean \u2212 mean"},
  mean_by_category: {needsState: false, chart: "categories", value: "mean"},
  state_mean: {needsState: true, chart: "trend", value: "mean"},
  state_diff_from_mean: {needsState: true, chart: "diff", value: "global mean \u2212 mean"},
  state_mean_by_category: {needsState: true, chart: "categories", value: "mean"},
};
const CHARTS = {
  states: {label: "all locations", needsState: false},
  diff: {label: "difference from the global mean", needsState: false},
  trend: {label: "trend by year", needsState: true},
  categories: {label: "by category", needsState: true},
  split: {label: "one category", needsState: true},
};
// Body fields of the filters ("Ask the data"); each is a key of the view, of
// the address, of the POST body and of the chart's query.  The page offers
// them when the server lists the years of a question (GET /api/years).
const FILTER_FIELDS = ["year_from", "year_to", "category", "stratification"];
const YEAR_FIELDS = ["year_from", "year_to"];
const YEAR_FIELDS_SET = {year_from: true, year_to: true};
const POLL_MS = 200;
const JOBS_MS = 1500;
const JOBS_SHOWN = 40;  // the job list shows the last jobs only: /api/jobs?last=N

// The view: what the page shows, and what the address bar says.
const view = {
  question: null,   // exact question text
  state: null,      // location, or null when none is chosen
  chart: "states",  // a key of CHARTS
  split: null,      // category of the "split" chart
  run: null,        // statistic whose result is shown (with `job`)
  job: null,        // job id whose result is shown
  year_from: null,  // the filters: null when not set
  year_to: null,
  category: null,
  stratification: null,
};
// What the page has loaded: the questions and the current question's locations.
const known = {questions: [], states: [], categories: {}, online: null,
               features: null,  // {filters, pastJobs}: what this statsd serves, from its OpenAPI document
               years: [], groups: {}};  // the question's years and {category: [group]}
// The table shown, and its sort.
const table = {columns: [], rows: [], sort: {column: null, ascending: true}};
// Bumped whenever the selection changes: async work started for an older one drops its answer.
let generation = 0;

const $ = (id) => document.getElementById(id);

// -- talking to statsd ------------------------------------------------------------

class ServerDown extends Error {}

// What the page says while statsd does not answer: what happened, what to do.
function downMessage() {
  return `statsd does not answer at ${location.origin}. Is it running? ` +
         "Start it with \u201cmake run\u201d; this page reconnects by itself.";
}

async function getJSON(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (error) {
    throw new ServerDown(downMessage());
  }
  let body;
  try {
    body = await response.json();
  } catch (error) {
    throw new Error(`HTTP ${response.status} from ${url}, not JSON`);
  }
  if (!response.ok || body.status === "error") {
    const problem = new Error(body.reason || `HTTP ${response.status}`);
    problem.status = response.status;
    throw problem;
  }
  return body;
}

function describe(error) {
  return error instanceof Error ? error.message : String(error);
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function showNotice(message) {
  $("notice").textContent = message;
  $("notice").hidden = !message;
}

function announce(message) {
  $("announce").textContent = message;
}

function setOnline(online, why) {
  const banner = $("connection");
  if (!online) {
    banner.textContent = why;
    banner.hidden = false;
    $("queue-state").textContent = "server unreachable";
  } else {
    banner.hidden = true;
  }
  const recovered = online && known.online === false;
  known.online = online;
  if (recovered) {
    announce("statsd answers again");
    if (!known.questions.length) {
      restore().catch(report);
    } else {
      renderChart();
    }
  }
}

// Any error nobody else caught: said on the page, never only in the console.
function report(error) {
  if (error instanceof ServerDown) {
    setOnline(false, error.message);
  } else {
    showError(describe(error));
  }
}

// -- the address bar ----------------------------------------------------------------

function linkOf() {
  const link = new URLSearchParams();
  for (const key of ["question", "state", "chart", "split", "run", "job", ...FILTER_FIELDS]) {
    if (view[key] !== null && view[key] !== undefined && view[key] !== "") {
      link.set(key, view[key]);
    }
  }
  return `#${link}`;
}

function writeAddress() {
  const hash = linkOf();
  if (location.hash !== hash) {
    history.replaceState(null, "", hash);
  }
}

function readAddress() {
  const link = new URLSearchParams(location.hash.slice(1));
  const wanted = {};
  for (const key of ["question", "state", "chart", "split", "run", "job", ...FILTER_FIELDS]) {
    wanted[key] = link.has(key) ? link.get(key) : null;
  }
  return wanted;
}

// -- changing the view --------------------------------------------------------------

// The one way the view changes: patch it, write the address, render.
// A new question or location clears the result: nothing shown may describe another selection.
async function setView(patch) {
  const selectionChanged = ["question", "state", ...FILTER_FIELDS].some(
    (key) => key in patch && patch[key] !== view[key]);
  Object.assign(view, patch);
  if (selectionChanged) {
    generation += 1;
    showNotice("");  // what was said of the last selection
    if (!("job" in patch)) {
      view.job = null;
      view.run = null;
      clearResult();
    }
  }
  if ("question" in patch) {
    await loadStates();
    await loadFilterChoices();
    const dropped = dropFilters();
    if (dropped.length) {
      showNotice(`This question has no data for the filter ${dropped.join(", ")}: it was cleared.`);
    }
  }
  if ("category" in patch && view.stratification !== null &&
      !(known.groups[view.category] || []).includes(view.stratification)) {
    view.stratification = null;
  }
  if ("question" in patch || "state" in patch) {
    await loadCategories();
  }
  writeAddress();
  renderSelection();
  renderChart();
}

function clearResult() {
  const card = $("job");
  card.className = "job-card empty";
  card.textContent = "";
  const hint = document.createElement("p");
  hint.className = "muted";
  hint.textContent = view.question ? "Run a statistic for this question and location: its job, " +
    "result table and chart appear here." : "Pick a question, then run a statistic.";
  card.appendChild(hint);
  showError("");
  $("result-wrap").hidden = true;
  table.rows = [];
}

// Restore the view the address names, saying on the page what cannot be restored.
async function restore() {
  const wanted = readAddress();
  generation += 1;
  const problems = [];
  if (!known.questions.length) {
    const {data} = await getJSON("/api/questions");
    known.questions = data;
    renderQuestions();
  }
  if (known.features === null) {
    known.features = await loadFeatures();
  }
  let job = null;
  if (wanted.job) {
    job = await describeJob(wanted.job);
    if (job.request) {
      wanted.question = job.request.question;
      wanted.state = job.request.state || wanted.state;
      wanted.run = job.request.endpoint;
    } else {
      problems.push(job.problem);
    }
  }
  let question = wanted.question;
  if (question === null) {
    question = known.questions.length ? known.questions[0].question : null;
  } else if (!known.questions.some((item) => item.question === question)) {
    problems.push(`The link names a question this statsd has no data for: \u201c${question}\u201d. ` +
                  "Pick one from the list.");
    question = null;
  }
  view.question = question;
  await loadStates();
  await loadFilterChoices();
  let runnable = true;  // false when the link asks what cannot be given: nothing is run then
  for (const field of FILTER_FIELDS) {
    view[field] = field in YEAR_FIELDS_SET && wanted[field] !== null ? Number(wanted[field]) : wanted[field];
  }
  const asked = FILTER_FIELDS.filter((field) => wanted[field] !== null);
  if (asked.length && !known.features.filters) {
    problems.push(`This statsd takes no filters, so the link's ${asked.join(", ")} could not be applied ` +
                  "and nothing was run.");
    FILTER_FIELDS.forEach((field) => { view[field] = null; });
    runnable = false;
  } else if (asked.length && question !== null) {
    const dropped = dropFilters();
    if (dropped.length) {
      problems.push(`This question has no data for the link's ${dropped.join(", ")}, so nothing was run.`);
      runnable = false;
    }
  }
  let state = wanted.state;
  if (state !== null && question !== null && !known.states.includes(state)) {
    problems.push(`${state} has no data for this question, so nothing was run for it. ` +
                  "Pick a location.");
    state = null;
  } else if (state === null && question !== null) {  // the link names none: a default
    state = known.states.includes("National") ? "National" : known.states[0];
  }
  view.state = state;
  await loadCategories();
  if (wanted.chart !== null && !(wanted.chart in CHARTS)) {
    problems.push(`There is no chart \u201c${wanted.chart}\u201d; charts: ${Object.keys(CHARTS).join(", ")}.`);
  }
  view.chart = wanted.chart in CHARTS ? wanted.chart :
    (wanted.run in STATISTICS ? STATISTICS[wanted.run].chart : "states");
  view.split = wanted.split;
  if (view.split !== null && view.state !== null && !(view.split in known.categories)) {
    problems.push(`${view.state} has no category \u201c${view.split}\u201d for this question.`);
    view.split = null;
  }
  view.run = null;
  view.job = null;
  clearResult();
  if (wanted.run !== null && !(wanted.run in STATISTICS)) {
    problems.push(`There is no statistic \u201c${wanted.run}\u201d.`);
  }
  showNotice(problems.join(" "));
  writeAddress();
  renderSelection();
  renderChart();
  if (job && job.request) {
    await showJob(wanted.job, job, wanted.chart in CHARTS ? wanted.chart : null);
  } else if (runnable && wanted.run in STATISTICS && view.question !== null &&
             (!STATISTICS[wanted.run].needsState || view.state !== null)) {
    await runStatistic(wanted.run, {keepChart: wanted.chart in CHARTS});
  }
}

// -- what the server offers, and the filters ----------------------------------------

// Read from the server's OpenAPI document, so that the page never calls an
// endpoint the server does not have.
async function loadFeatures() {
  const {paths} = await getJSON("/api/openapi.json");
  const names = Object.keys(paths || {});
  return {filters: names.includes("/api/years"),
          pastJobs: names.some((path) => path.startsWith("/api/jobs/"))};
}

async function loadFilterChoices() {
  known.years = [];
  known.groups = {};
  if (view.question === null || !known.features || !known.features.filters) {
    return;
  }
  const question = encodeURIComponent(view.question);
  const [{data: years}, {data: groups}] = await Promise.all([
    getJSON(`/api/years?question=${question}`), getJSON(`/api/categories?question=${question}`)]);
  known.years = years;
  known.groups = groups;
}

// Clear the filters the current question cannot take; return what was cleared.
function dropFilters() {
  const dropped = [];
  for (const field of YEAR_FIELDS) {
    if (view[field] !== null && (!Number.isInteger(view[field]) || !known.years.includes(view[field]))) {
      dropped.push(`${field} ${view[field]}`);
      view[field] = null;
    }
  }
  if (view.year_from !== null && view.year_to !== null && view.year_from > view.year_to) {
    dropped.push(`year_from ${view.year_from} after year_to ${view.year_to}`);
    view.year_from = null;
    view.year_to = null;
  }
  if (view.category !== null && !(view.category in known.groups)) {
    dropped.push(`category ${view.category}`);
    view.category = null;
  }
  if (view.stratification !== null &&
      (view.category === null || !known.groups[view.category].includes(view.stratification))) {
    dropped.push(`stratification ${view.stratification}`);
    view.stratification = null;
  }
  return dropped;
}

function filtersText(request) {
  const parts = [];
  if (request.year_from !== undefined || request.year_to !== undefined) {
    parts.push(`years ${request.year_from === undefined ? "\u2026" : request.year_from}` +
               `\u2013${request.year_to === undefined ? "\u2026" : request.year_to}`);
  }
  if (request.category !== undefined) {
    parts.push(request.stratification !== undefined ?
      `${request.category}: ${request.stratification}` : request.category);
  }
  return parts.join(", ");
}

function renderFilters() {
  const offered = Boolean(known.features && known.features.filters) && view.question !== null;
  $("filters").hidden = !offered;
  document.getElementById("statistic-heading").textContent = offered ? "4. Statistic" : "3. Statistic";
  if (!offered) {
    return;
  }
  const fill = (id, choices, value, none) => {
    const select = $(id);
    select.textContent = "";
    select.add(new Option(none, ""));
    for (const choice of choices) {
      select.add(new Option(String(choice), String(choice)));
    }
    select.value = value === null ? "" : String(value);
  };
  fill("year_from", known.years, view.year_from, "first");
  fill("year_to", known.years, view.year_to, "last");
  fill("category", Object.keys(known.groups), view.category, "all");
  fill("stratification", view.category === null ? [] : known.groups[view.category] || [],
       view.stratification, "all");
  $("stratification").disabled = view.category === null;
}

// -- the question, the location, the split category ------------------------------

function renderQuestions() {
  const list = $("questions");
  list.textContent = "";
  known.questions.forEach((item) => {
    const label = document.createElement("label");
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "question";
    radio.value = item.question;
    radio.addEventListener("change", () => setView({question: item.question, state: view.state})
      .catch(report));
    const text = document.createElement("span");
    text.textContent = item.question;
    const note = document.createElement("span");
    note.className = "better";
    note.textContent = `${item.better} is better \u00b7 ${item.locations} locations`;
    text.appendChild(note);
    label.append(radio, text);
    list.appendChild(label);
  });
}

async function loadStates() {
  known.states = [];
  if (view.question === null) {
    return;
  }
  const {data} = await getJSON(`/api/states?question=${encodeURIComponent(view.question)}`);
  known.states = data;
  if (view.state !== null && !data.includes(view.state)) {
    // Another question without this location: keep nothing that is not true of it.
    showNotice(`${view.state} has no data for this question: pick a location.`);
    view.state = null;
  }
}

async function loadCategories() {
  known.categories = {};
  if (view.question === null || view.state === null) {
    return;
  }
  const query = new URLSearchParams({question: view.question, state: view.state});
  const {data} = await getJSON(`/api/categories?${query}`);
  known.categories = data;
  if (view.split !== null && !(view.split in data)) {
    view.split = null;
  }
}

function renderSelection() {
  renderFilters();
  const list = $("questions");
  list.querySelectorAll("label").forEach((label) => {
    const radio = label.querySelector("input");
    const selected = radio.value === view.question;
    radio.checked = selected;
    label.classList.toggle("selected", selected);
    if (selected && (label.offsetTop < list.scrollTop ||
                     label.offsetTop + label.offsetHeight > list.scrollTop + list.clientHeight)) {
      list.scrollTop = label.offsetTop;
    }
  });
  const select = $("state");
  select.textContent = "";
  if (view.state === null) {
    select.add(new Option(known.states.length ? "choose a location" : "(no question chosen)", ""));
  }
  for (const state of known.states) {
    select.add(new Option(state, state));
  }
  select.value = view.state === null ? "" : view.state;
  const split = $("split");
  split.textContent = "";
  for (const [category, groups] of Object.entries(known.categories)) {
    split.add(new Option(`${category} (${groups.length})`, category));
  }
  split.value = splitCategory() || "";
  document.querySelectorAll("#question-queries button, #state-queries button").forEach((button) => {
    const statistic = STATISTICS[button.dataset.statistic];
    button.disabled = view.question === null || (statistic.needsState && view.state === null);
    button.setAttribute("aria-pressed", String(button.dataset.statistic === view.run));
  });
}

function splitCategory() {
  const categories = Object.keys(known.categories);
  if (view.split !== null && categories.includes(view.split)) {
    return view.split;
  }
  return categories.includes("Total") && categories.length > 1 ?
    categories.find((category) => category !== "Total") : categories[0] || null;
}

// -- running a statistic as a job ---------------------------------------------------

function buildButtons() {
  for (const name of Object.keys(STATISTICS)) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = name;
    button.dataset.statistic = name;
    button.addEventListener("click", () => runStatistic(name, {scroll: true}).catch(report));
    $(STATISTICS[name].needsState ? "state-queries" : "question-queries").appendChild(button);
  }
}

function requestOf(name) {
  const request = {endpoint: name, question: view.question};
  if (STATISTICS[name].needsState) {
    request.state = view.state;
  }
  for (const field of FILTER_FIELDS) {
    if (view[field] !== null && view[field] !== undefined) {
      request[field] = view[field];
    }
  }
  return request;
}

function renderJob(job) {
  const card = $("job");
  card.className = "job-card";
  card.textContent = "";
  const title = document.createElement("p");
  title.className = "title";
  title.textContent = [job.id, job.request.endpoint, job.request.state, filtersText(job.request)]
    .filter(Boolean).join(" \u00b7 ");
  const question = document.createElement("p");
  question.className = "muted small";
  question.textContent = job.request.question;
  const steps = document.createElement("p");
  steps.className = "steps";
  if (job.earlier) {
    steps.append("earlier job: ");
  }
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

async function runStatistic(name, {keepChart = false, scroll = false} = {}) {
  const mine = ++generation;
  const request = requestOf(name);
  const {endpoint, ...body} = request;
  showError("");
  showNotice("");
  view.run = name;
  view.job = null;
  if (!keepChart) {
    view.chart = STATISTICS[name].chart;
  }
  writeAddress();
  renderSelection();
  renderChart();
  let answer;
  try {
    answer = await getJSON(`/api/${endpoint}`, {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  } catch (error) {
    if (mine === generation) {
      clearResult();
      view.run = null;
      writeAddress();
      renderSelection();
      showError(`${name} was not run: ${describe(error)}`);
    }
    if (error instanceof ServerDown) {
      setOnline(false, error.message);
    }
    return;
  }
  const job = {id: answer.job_id, request, steps: ["running"]};
  const started = performance.now();
  if (mine !== generation) {
    return;
  }
  view.job = job.id;
  writeAddress();
  renderJob(job);
  announce(`${job.id} ${name}: running`);
  refreshJobs();
  if (scroll) {
    $("results").scrollIntoView({block: "start"});
  }
  const result = await waitForResult(job.id, mine);
  if (result === null) {
    return;  // the page has moved on
  }
  job.steps.push(result.status);
  job.seconds = (performance.now() - started) / 1000;
  renderJob(job);
  announce(`${job.id} ${name}: ${result.status}`);
  showOutcome(job, result);
  if (scroll) {
    $("results").scrollIntoView({block: "start"});
  }
  refreshJobs();
}

// Poll get_results until the job ends; null when the view has moved on meanwhile.
async function waitForResult(jobId, mine) {
  for (;;) {
    if (mine !== generation) {
      return null;
    }
    let response;
    let body;
    try {
      response = await fetch(`/api/get_results/${encodeURIComponent(jobId)}`);
      body = await response.json();
    } catch (error) {
      setOnline(false, downMessage());
      await new Promise((resolve) => setTimeout(resolve, JOBS_MS));
      continue;
    }
    setOnline(true);
    if (response.status === 410) {
      return {status: "expired", reason: body.reason};
    }
    if (response.status === 404) {
      return {status: "error", reason: `${jobId}: ${body.reason}`};
    }
    if (body.status !== "running") {
      return body;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function showOutcome(job, result) {
  if (result.status === "done") {
    showTable(job.request, result.data);
  } else {
    $("result-wrap").hidden = true;
    showError(`${job.id}: ${result.status === "expired" ? "its result has expired and was deleted"
                                                         : result.reason}`);
  }
}

// -- past jobs ------------------------------------------------------------------------

// What statsd says a job asked: {state, request} or {problem} when it cannot say.
async function describeJob(jobId) {
  if (!known.features.pastJobs) {
    return {problem: `This statsd does not say what a past job asked (it has no ` +
                     `GET /api/jobs/<job_id>), so ${jobId} cannot be shown.`};
  }
  try {
    const {data} = await getJSON(`/api/jobs/${encodeURIComponent(jobId)}`);
    if (!data.request) {
      return {state: data.state, problem: `statsd no longer knows what ${jobId} asked.`};
    }
    return data;
  } catch (error) {
    if (error instanceof ServerDown) {
      throw error;
    }
    if (error.status === 404 && error.message === "Invalid job_id") {
      return {problem: `This statsd has no job ${jobId}.`};
    }
    return {problem: `This statsd cannot say what ${jobId} asked (${describe(error)}).`};
  }
}

async function openJob(jobId) {
  const mine = ++generation;
  const job = await describeJob(jobId);
  if (mine !== generation) {
    return;
  }
  if (!job.request) {
    showNotice(job.problem);
    return;
  }
  showNotice("");
  await showJob(jobId, job);
}

// Show a past job: its request becomes the view (question, location, chart), then its result.
async function showJob(jobId, job, chart = null) {
  const request = job.request;
  const statistic = STATISTICS[request.endpoint];
  if (!statistic) {
    showNotice(`${jobId} ran \u201c${request.endpoint}\u201d, which this page cannot show.`);
    return;
  }
  const patch = {question: request.question, job: jobId, run: request.endpoint,
                 chart: chart || statistic.chart};
  if (request.state) {
    patch.state = request.state;
  }
  for (const field of FILTER_FIELDS) {
    patch[field] = request[field] === undefined ? null : request[field];
  }
  await setView(patch);
  const mine = generation;
  const card = {id: jobId, request, steps: [job.state], earlier: true};
  renderJob(card);
  showError("");
  $("result-wrap").hidden = true;
  if (job.state === "running") {
    const result = await waitForResult(jobId, mine);
    if (result === null) {
      return;
    }
    card.steps.push(result.status);
    renderJob(card);
    showOutcome(card, result);
    return;
  }
  if (job.state === "expired") {
    showError(`${jobId}: its result has expired and was deleted`);
    return;
  }
  const result = await waitForResult(jobId, mine);
  if (result !== null) {
    showOutcome(card, result);
  }
}

// -- the result table ---------------------------------------------------------------

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

function tableOf(request, data) {
  const name = request.endpoint;
  const value = STATISTICS[name].value;
  if (name === "global_mean") {
    return {columns: ["question", value], rows: [[request.question, data.global_mean]]};
  }
  if (name === "mean_by_category") {
    return {columns: ["location", "category", "stratification", value],
            rows: Object.entries(data).map(([key, mean]) => [...parseTuple(key), mean])};
  }
  if (name === "state_mean_by_category") {
    const [state] = Object.keys(data);
    return {columns: ["category", "stratification", value],
            rows: Object.entries(data[state] || {}).map(([key, mean]) => [...parseTuple(key), mean])};
  }
  const ranked = Boolean(STATISTICS[name].ranked);
  const rows = Object.entries(data).map(([location, mean], index) =>
    ranked ? [index + 1, location, mean] : [location, mean]);
  return {columns: ranked ? ["rank", "location", value] : ["location", value], rows};
}

function showTable(request, data) {
  const {columns, rows} = tableOf(request, data);
  table.columns = columns;
  table.rows = rows;
  table.sort = {column: null, ascending: true};
  $("result-caption").textContent =
    `${request.endpoint}: ${rows.length} row${rows.length === 1 ? "" : "s"}` +
    (request.state ? ` for ${request.state}` : "") + " \u00b7 choose a heading to sort";
  renderTable();
}

function renderTable() {
  const element = $("result");
  const head = element.tHead;
  const bodyRows = element.tBodies[0];
  const focused = document.activeElement && head.contains(document.activeElement) ?
    document.activeElement.dataset.column : null;
  head.textContent = "";
  bodyRows.textContent = "";
  const numeric = table.columns.map((_, index) =>
    table.rows.every((row) => typeof row[index] === "number"));
  const headRow = head.insertRow();
  table.columns.forEach((column, index) => {
    const cell = document.createElement("th");
    cell.scope = "col";
    cell.className = numeric[index] ? "number" : "";
    if (table.sort.column === index) {
      cell.setAttribute("aria-sort", table.sort.ascending ? "ascending" : "descending");
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "sort";
    button.textContent = column;
    button.dataset.column = String(index);
    button.addEventListener("click", () => sortBy(index));
    cell.appendChild(button);
    headRow.appendChild(cell);
  });
  for (const row of table.rows) {
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
  if (focused !== null) {
    head.querySelector(`button[data-column="${focused}"]`).focus();
  }
}

function sortBy(index) {
  const ascending = table.sort.column === index ? !table.sort.ascending : true;
  table.sort = {column: index, ascending};
  const direction = ascending ? 1 : -1;
  table.rows.sort((a, b) => {
    const x = a[index];
    const y = b[index];
    const order = typeof x === "number" && typeof y === "number" ? x - y :
      String(x).localeCompare(String(y));
    return order * direction;
  });
  renderTable();
}

// -- the chart ------------------------------------------------------------------------

function chartURL(kind) {
  const query = new URLSearchParams({question: view.question});
  if (CHARTS[kind].needsState) {
    query.append("state", view.state);
  }
  if (kind === "split") {
    query.append("category", splitCategory());
  }
  // The split chart's own `category` is the one it splits: it takes the years only.
  for (const field of kind === "split" ? YEAR_FIELDS : FILTER_FIELDS) {
    if (view[field] !== null) {
      query.append(field, view[field]);
    }
  }
  return `/api/charts/${kind}?${query}`;
}

let chartObjectURL = null;

async function renderChart() {
  const kind = view.chart;
  const tabs = [...document.querySelectorAll("#chart-tabs [role=tab]")];
  tabs.forEach((tab) => {
    const active = tab.dataset.kind === kind;
    tab.setAttribute("aria-selected", String(active));
    tab.tabIndex = active ? 0 : -1;
    if (active) {
      $("chart-panel").setAttribute("aria-labelledby", tab.id);
    }
  });
  $("split-field").hidden = kind !== "split";
  const image = $("chart");
  const link = $("chart-link");
  const note = $("chart-note");
  if (view.question === null || (CHARTS[kind].needsState && view.state === null) ||
      (kind === "split" && splitCategory() === null)) {
    image.hidden = true;
    link.hidden = true;
    note.textContent = view.question === null ? "Pick a question to see its charts." :
      `The ${CHARTS[kind].label} chart needs a location: pick one.`;
    return;
  }
  const url = chartURL(kind);
  const mine = generation;
  link.href = url;
  link.hidden = false;
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    setOnline(false, downMessage());
    return;
  }
  if (mine !== generation || url !== chartURL(view.chart)) {
    return;  // another chart was asked for meanwhile
  }
  if (!response.ok) {
    let reason = `HTTP ${response.status}`;
    try {
      reason = (await response.json()).reason || reason;
    } catch (error) {
      // not JSON: keep the status
    }
    image.hidden = true;
    note.textContent = `No chart: ${reason}`;
    return;
  }
  const svg = await response.text();
  const parsed = new DOMParser().parseFromString(svg, "image/svg+xml");
  const title = parsed.querySelector("svg > title");
  const subtitle = [...parsed.querySelectorAll("text.subtitle")].map((text) => text.textContent).join(" ");
  if (chartObjectURL) {
    URL.revokeObjectURL(chartObjectURL);
  }
  chartObjectURL = URL.createObjectURL(new Blob([svg], {type: "image/svg+xml"}));
  image.alt = `Chart, ${CHARTS[kind].label}: ${title ? title.textContent : kind}. ${subtitle}`;
  image.src = chartObjectURL;
  image.hidden = false;
  note.textContent = "";
}

function chooseTab(tab, focus) {
  if (focus) {
    tab.focus();
  }
  setView({chart: tab.dataset.kind}).catch(report);
}

// The ARIA tabs pattern: one tab in the Tab order, arrow keys, Home and End move and select.
function tabKeys(event) {
  const tabs = [...document.querySelectorAll("#chart-tabs [role=tab]")];
  const index = tabs.indexOf(document.activeElement);
  if (index < 0) {
    return;
  }
  const moves = {ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1};
  if (!(event.key in moves)) {
    return;
  }
  event.preventDefault();
  chooseTab(tabs[(moves[event.key] + tabs.length) % tabs.length], true);
}

// -- the live job list ----------------------------------------------------------------

// Updated in place (an item per job, kept across refreshes), so that focus and
// the reader's place survive.
const jobItems = new Map();

async function refreshJobs() {
  let jobs;
  let pending;
  try {
    [jobs, {num_jobs: pending}] = await Promise.all([
      getJSON(`/api/jobs?last=${JOBS_SHOWN}`), getJSON("/api/num_jobs")]);
  } catch (error) {
    if (error instanceof ServerDown) {
      setOnline(false, error.message);
    } else {
      $("queue-state").textContent = `job list unavailable: ${describe(error)}`;
    }
    return;
  }
  setOnline(true);
  $("queue-state").textContent = `${pending} job${pending === 1 ? "" : "s"} queued or running`;
  $("jobs-count").textContent = `(${jobs.total === undefined ? jobs.data.length : jobs.total})`;
  const list = $("jobs");
  const seen = new Set();
  let previous = null;
  for (const entry of jobs.data.slice().reverse()) {
    const [[jobId, state]] = Object.entries(entry);
    seen.add(jobId);
    let item = jobItems.get(jobId);
    if (!item) {
      item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "job-link";
      button.textContent = jobId;
      button.addEventListener("click", () => openJob(jobId).catch(report));
      item.append(button, statusBadge(state));
      jobItems.set(jobId, item);
    }
    const badge = item.querySelector(".status");
    if (badge.textContent !== state) {
      badge.className = `status ${state}`;
      badge.textContent = state;
    }
    item.querySelector("button").setAttribute("aria-label", `${jobId}, ${state}: show it`);
    item.classList.toggle("current", jobId === view.job);
    const wantedPlace = previous ? previous.nextSibling : list.firstChild;
    if (wantedPlace !== item) {
      list.insertBefore(item, wantedPlace);
    }
    previous = item;
  }
  for (const [jobId, item] of jobItems) {
    if (!seen.has(jobId)) {
      item.remove();
      jobItems.delete(jobId);
    }
  }
}

// -- start ------------------------------------------------------------------------------

function start() {
  buildButtons();
  document.querySelectorAll("#chart-tabs [role=tab]").forEach((tab) => {
    tab.addEventListener("click", () => chooseTab(tab, false));
  });
  $("chart-tabs").addEventListener("keydown", tabKeys);
  $("state").addEventListener("change", () =>
    setView({state: $("state").value || null}).catch(report));
  $("split").addEventListener("change", () => setView({split: $("split").value}).catch(report));
  for (const field of FILTER_FIELDS) {
    $(field).addEventListener("change", () => {
      const value = $(field).value;
      const patch = {[field]: value === "" ? null : (field in YEAR_FIELDS_SET ? Number(value) : value)};
      if (field === "category") {
        patch.stratification = null;
      }
      setView(patch).catch(report);
    });
  }
  window.addEventListener("hashchange", () => {
    if (location.hash !== linkOf()) {
      restore().catch(report);
    }
  });
  window.addEventListener("unhandledrejection", (event) => report(event.reason));
  restore().catch(report);
  refreshJobs();
  setInterval(refreshJobs, JOBS_MS);
}

start();
