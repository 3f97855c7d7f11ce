// Live mode: polls `/messages` with `since` = the newest `ts` shown and hands over the
// messages not shown yet (the API's `since` is inclusive, so some come back: deduplicated
// by message_id).

import * as api from "./api.js";

const INTERVAL_MS = 2000;
const PAGE = 100;
/** Pages read in one poll at most; the rest waits for the next poll. */
const MAX_PAGES = 10;

export class LivePoller {
  /**
   * `view()` returns `{filters, newestTs, seen}` (or null to skip a round); `deliver(messages)`
   * receives the new ones; `failed(error)` any error, after which polling goes on.
   */
  constructor({ view, deliver, failed }) {
    this.view = view;
    this.deliver = deliver;
    this.failed = failed;
    this.timer = null;
    this.running = false;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = null;
  }

  schedule() {
    clearTimeout(this.timer);
    if (this.running) this.timer = setTimeout(() => this.poll(), INTERVAL_MS);
  }

  async poll() {
    const view = this.view();
    try {
      if (view) {
        const fresh = await newMessages(view);
        if (this.running && fresh.length) this.deliver(fresh);
      }
    } catch (error) {
      if (this.running) this.failed(error);
    }
    this.schedule();
  }
}

async function newMessages({ filters, newestTs, seen }) {
  const params = { ...filters, limit: PAGE };
  if (newestTs) params.since = newestTs;
  const fresh = [];
  let cursor = null;
  for (let pages = 0; pages < MAX_PAGES; pages += 1) {
    const page = await api.messages(cursor ? { ...params, cursor } : params);
    for (const message of page.data) {
      if (!seen.has(message.message_id)) fresh.push(message);
    }
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return fresh;
}
