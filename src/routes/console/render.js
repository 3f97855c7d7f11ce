// Everything drawn on the page. Text from the API goes in with textContent only, never as
// markup: a message whose text is `<img src=x onerror=…>` shows exactly those characters.

const byId = (id) => document.getElementById(id);
const numbers = new Intl.NumberFormat("en");

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

/** Totals and the top senders as a bar chart; `pick(from)` filters by a sender. */
export function renderStats(stats, pick) {
  byId("stat-total").textContent = numbers.format(stats.total_messages);
  byId("stat-senders").textContent = numbers.format(stats.senders_count);
  byId("stat-first").textContent = stats.first_message_ts || "–";
  byId("stat-last").textContent = stats.last_message_ts || "–";
  const list = byId("senders");
  const top = stats.messages_per_sender || [];
  const most = Math.max(1, ...top.map((sender) => sender.count));
  const items = top.map((sender) => {
    const item = element("li");
    const name = element("button", sender.from, "sender");
    name.type = "button";
    name.title = `Show the messages from ${sender.from}`;
    name.addEventListener("click", () => pick(sender.from));
    const bar = element("span", undefined, "bar");
    const fill = element("span", undefined, "fill");
    // CSSOM, not a style attribute: allowed by the page's Content-Security-Policy.
    fill.style.width = `${(100 * sender.count) / most}%`;
    bar.append(fill);
    bar.setAttribute("aria-hidden", "true");
    const count = element("span", numbers.format(sender.count), "count");
    item.append(name, bar, count);
    return item;
  });
  if (!items.length) items.push(element("li", "No messages yet.", "empty"));
  list.replaceChildren(...items);
}

function row(message, open, fresh) {
  const tr = element("tr");
  if (fresh) tr.className = "fresh";
  tr.dataset.id = message.message_id;
  const ts = element("td", undefined, "ts");
  ts.dataset.label = "ts";
  const button = element("button", message.ts, "open");
  button.type = "button";
  button.title = "Open the whole message";
  ts.append(button);
  const cells = [ts];
  for (const [label, value] of [
    ["from", message.from],
    ["to", message.to],
    ["text", message.text === null ? "(no text)" : message.text],
  ]) {
    const cell = element("td", value, label);
    cell.dataset.label = label;
    if (label === "text" && message.text === null) cell.classList.add("none");
    cells.push(cell);
  }
  tr.append(...cells);
  tr.addEventListener("click", () => open(message));
  return tr;
}

/** Replaces the table's rows; marks the moment for the benchmark (`console:rows`). */
export function renderRows(messages, open) {
  const body = byId("rows");
  body.replaceChildren(...messages.map((message) => row(message, open, false)));
  if (!messages.length) {
    const empty = element("td", "No messages match.", "empty");
    empty.colSpan = 4;
    const tr = element("tr");
    tr.append(empty);
    body.append(tr);
  }
  rendered();
}

/** Adds rows that arrived in live mode, keeping at most `keep` rows. */
export function appendRows(messages, open, keep) {
  const body = byId("rows");
  body.querySelector("td.empty")?.parentElement.remove();
  body.append(...messages.map((message) => row(message, open, true)));
  while (body.rows.length > keep) body.rows[0].remove();
  rendered();
}

function rendered() {
  const count = Number(document.body.dataset.renders || 0) + 1;
  document.body.dataset.renders = String(count);
  performance.mark("console:rows", { detail: count });
}

export function renderSummary(text) {
  byId("summary").textContent = text;
}

export function renderStatus(text, isError = false) {
  const status = byId("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

export function renderPager({ previous, next, oldest, newest }) {
  byId("previous").disabled = !previous;
  byId("oldest").disabled = !oldest;
  byId("next").disabled = !next;
  byId("newest").disabled = !newest;
}

/** The whole message in a modal dialog (Escape or Close returns to the table). */
export function openMessage(message) {
  byId("m-id").textContent = message.message_id;
  byId("m-ts").textContent = message.ts;
  byId("m-from").textContent = message.from;
  byId("m-to").textContent = message.to;
  const text = byId("m-text");
  text.textContent = message.text === null ? "(no text)" : message.text;
  text.classList.toggle("none", message.text === null);
  const dialog = byId("message");
  if (!dialog.open) dialog.showModal();
}

export function formatCount(n) {
  return numbers.format(n);
}
