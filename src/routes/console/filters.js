// The filters of the view and the page's URL: `/?q=hello&from=%2B9198…` reproduces a view.

export const FILTERS = ["from", "since", "q"];

/** The filters a URL's query string names (empty ones left out). */
export function fromUrl(search = location.search) {
  const params = new URLSearchParams(search);
  const filters = {};
  for (const name of FILTERS) {
    let value = params.get(name) || "";
    // A `+` typed unencoded in a link arrives as a space: read it as `+`, as the API does.
    if (name === "from" && value.startsWith(" ")) value = `+${value.slice(1)}`;
    value = value.trim();
    if (value) filters[name] = value;
  }
  return { filters, live: params.get("live") === "1" };
}

/** The page's URL for these filters (`+` encoded as %2B, as the API wants it). */
export function toUrl({ filters, live }) {
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    if (filters[name]) params.set(name, filters[name]);
  }
  if (live) params.set("live", "1");
  const query = params.toString();
  return query ? `/?${query}` : "/";
}

/** Records the view in the address bar: a new history entry when the filters change. */
export function remember(view, { replace = false } = {}) {
  const url = toUrl(view);
  if (url === `${location.pathname}${location.search}`) return;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
}

/** The filters typed in the form. */
export function readForm(form) {
  const filters = {};
  for (const name of FILTERS) {
    const value = form.elements[name].value.trim();
    if (value) filters[name] = value;
  }
  return filters;
}

export function fillForm(form, filters) {
  for (const name of FILTERS) form.elements[name].value = filters[name] || "";
}

export function same(a, b) {
  return FILTERS.every((name) => (a[name] || "") === (b[name] || ""));
}
