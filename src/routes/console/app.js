// The console: the newest page of messages for the filters in the URL, paged by cursor,
// with the stats beside it and a live mode. The API lists oldest first; one request gives
// `total`, `newest.js` finds the newest page, and pages after it follow `next_cursor`.
// Going back pops a stack of the pages seen; past its bottom, offsets step back a page.

import * as api from "./api.js";
import * as filters from "./filters.js";
import { LivePoller } from "./live.js";
import { newestStart } from "./newest.js";
import * as render from "./render.js";

const LIMIT = 50;
const byId = (id) => document.getElementById(id);

const state = {
  filters: {},
  live: false,
  /**
   * Where the page shown starts: `{offset}` (within a `since` window when `since` is
   * set) or `{cursor}`, and `position`, the number of matches before it.
   */
  start: { offset: 0, position: 0 },
  /** The starts of the pages before it, to go back to. */
  stack: [],
  page: null,
  /** The rows shown, in order. */
  rows: [],
  /** The last `/stats` answer, while it is being read a promise of it. */
  stats: null,
  /** Bumped by every navigation: an answer for an older one is dropped. */
  generation: 0,
  /** A request waiting for a token: retried once one is given. */
  retry: null,
};

function instant(ts) {
  return Date.parse(ts);
}

/** What live mode needs: the newest `ts` shown and the ids at that instant. */
function liveView() {
  if (!state.page || state.page.next_cursor) return null;
  const newest = state.rows.at(-1);
  const newestTs = newest ? newest.ts : null;
  const seen = new Set(
    state.rows.filter((m) => newestTs && instant(m.ts) >= instant(newestTs)).map((m) => m.message_id),
  );
  return { filters: state.filters, newestTs, seen };
}

const poller = new LivePoller({
  view: liveView,
  deliver(messages) {
    // The page keeps its size: as many rows as arrive leave at the top.
    const dropped = Math.max(state.rows.length + messages.length - LIMIT, 0);
    state.rows = state.rows.concat(messages).slice(-LIMIT);
    state.page.total += messages.length;
    if (dropped && state.start.cursor === undefined) state.start.offset += dropped;
    state.start.position += dropped;
    render.appendRows(messages, render.openMessage, LIMIT);
    summarize();
    render.renderStatus(`${render.formatCount(messages.length)} new message(s).`);
    loadStats();
  },
  failed: report,
});

function report(error) {
  if (error.name === "AbortError") return;
  if (error instanceof api.AuthError) {
    askForToken(error);
    return;
  }
  render.renderStatus(error.message || String(error), true);
}

function summarize() {
  const { page, start, rows } = state;
  if (!page) return;
  if (!rows.length) {
    render.renderSummary(page.total ? "No messages on this page." : "No messages match.");
  } else {
    const first = Math.max(start.position, 0) + 1;
    const last = Math.min(start.position + rows.length, Math.max(page.total, rows.length));
    render.renderSummary(
      `Messages ${render.formatCount(first)}–${render.formatCount(last)} of ${render.formatCount(page.total)}`,
    );
  }
  render.renderPager({
    previous: state.stack.length > 0 || start.position > 0,
    oldest: state.stack.length > 0 || start.position > 0,
    next: Boolean(page.next_cursor),
    newest: Boolean(page.next_cursor),
  });
}

async function fetchPage(start, generation) {
  const params = { ...state.filters, limit: start.limit || LIMIT };
  if (start.since) params.since = start.since;
  if (start.cursor) params.cursor = start.cursor;
  else if (start.offset) params.offset = start.offset;
  const page = await api.messages(params);
  if (generation !== state.generation) throw new DOMException("superseded", "AbortError");
  return page;
}

function show(page, start, stack) {
  // A `since` window's own total counts only the rows in it.
  if (start.since && state.page) page.total = state.page.total;
  state.page = page;
  state.start = start;
  state.stack = stack;
  state.rows = page.data;
  render.renderRows(page.data, render.openMessage);
  render.renderStatus("");
  summarize();
}

/** Runs one navigation; a 401 keeps it for after the token prompt. */
async function navigate(action) {
  state.generation += 1;
  const generation = state.generation;
  state.retry = action;
  try {
    await action(generation);
  } catch (error) {
    report(error);
  }
}

function goNewest(knownTotal) {
  return navigate(async (generation) => {
    let total = knownTotal;
    if (total === undefined) {
      const first = await fetchPage({ offset: 0 }, generation);
      if (first.total <= LIMIT) return show(first, { offset: 0, position: 0 }, []);
      total = first.total;
    }
    const found = await newestStart({
      total,
      limit: LIMIT,
      filters: state.filters,
      stats: await state.stats,
      fetchPage: (start) => fetchPage(start, generation),
    });
    const page = found.page || (await fetchPage(found.start, generation));
    page.total = total;
    state.page = null;
    show(page, found.start, []);
  });
}

function goOldest() {
  return navigate(async (generation) => {
    const start = { offset: 0, position: 0 };
    show(await fetchPage(start, generation), start, []);
  });
}

function goNext() {
  const { page, start, stack, rows } = state;
  if (!page || !page.next_cursor) return;
  return navigate(async (generation) => {
    const next = { cursor: page.next_cursor, position: start.position + rows.length };
    show(await fetchPage(next, generation), next, stack.concat([start]));
  });
}

function goPrevious() {
  const { start, stack } = state;
  return navigate(async (generation) => {
    if (stack.length) {
      const previous = stack.at(-1);
      show(await fetchPage(previous, generation), previous, stack.slice(0, -1));
    } else if (start.since && start.offset >= LIMIT) {
      const previous = { ...start, offset: start.offset - LIMIT, position: start.position - LIMIT };
      show(await fetchPage(previous, generation), previous, []);
    } else if (start.position > 0) {
      const offset = Math.max(start.position - LIMIT, 0);
      const previous = { offset, position: offset };
      show(await fetchPage(previous, generation), previous, []);
    }
  });
}

async function loadStats() {
  const reading = api.stats().catch((error) => {
    report(error);
    return null;
  });
  if (!state.stats) state.stats = reading;
  const stats = await reading;
  if (stats) {
    state.stats = stats;
    render.renderStats(stats, pickSender);
  } else if (state.stats === reading) {
    state.stats = null;
  }
}

function setLive(live) {
  state.live = live;
  byId("live").checked = live;
  if (live) poller.start();
  else poller.stop();
}

/** Applies the filters (from the form, a sender in the chart, or the URL). */
function applyFilters(next, { record = true } = {}) {
  state.filters = next;
  filters.fillForm(byId("filters"), next);
  if (record) filters.remember(state);
  return goNewest();
}

function pickSender(from) {
  applyFilters({ ...state.filters, from });
}

function askForToken(error) {
  const dialog = byId("token");
  if (error.hadToken) api.setToken(null);
  byId("token-error").textContent = error.hadToken ? error.message : "";
  if (!dialog.open) dialog.showModal();
  byId("token-input").focus();
}

function wire() {
  const form = byId("filters");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    applyFilters(filters.readForm(form));
  });
  byId("clear").addEventListener("click", () => applyFilters({}));
  byId("live").addEventListener("change", (event) => {
    setLive(event.target.checked);
    filters.remember(state, { replace: true });
    if (state.live && state.page && state.page.next_cursor) goNewest(state.page.total);
  });
  byId("next").addEventListener("click", goNext);
  byId("newest").addEventListener("click", () => goNewest(state.page ? state.page.total : undefined));
  for (const [id, action] of [
    ["previous", goPrevious],
    ["oldest", goOldest],
  ]) {
    byId(id).addEventListener("click", () => {
      // Older pages stand still: live mode follows the newest page only.
      if (state.live) {
        setLive(false);
        filters.remember(state, { replace: true });
      }
      action();
    });
  }
  byId("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = byId("token-input").value.trim();
    if (!value) return;
    api.setToken(value);
    byId("token-input").value = "";
    byId("token").close();
    loadStats();
    if (state.retry) navigate(state.retry);
  });
  byId("token").addEventListener("cancel", (event) => event.preventDefault());
  window.addEventListener("popstate", () => {
    const view = filters.fromUrl();
    setLive(view.live);
    applyFilters(view.filters, { record: false });
  });
}

function main() {
  wire();
  const view = filters.fromUrl();
  loadStats();
  setLive(view.live);
  applyFilters(view.filters, { record: false });
}

main();
