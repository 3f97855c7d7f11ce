// The JSON API, with the bearer token kept in this tab's sessionStorage (never the URL).

const TOKEN_KEY = "webhook-inbox.token";

/** The server wants a token (none was given, or the one given was refused). */
export class AuthError extends Error {
  constructor(hadToken) {
    super(hadToken ? "That token was not accepted." : "A token is required.");
    this.hadToken = hadToken;
  }
}

/** Any other answer than 200: the API's `detail`, said as a sentence. */
export class ApiError extends Error {}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

async function get(path, params, signal) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, value);
  }
  const headers = { Accept: "application/json" };
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const url = query.size ? `${path}?${query}` : path;
  const response = await fetch(url, { headers, signal, cache: "no-store" });
  if (response.status === 401) throw new AuthError(Boolean(bearer));
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) throw new ApiError(describe(response.status, body));
  return body;
}

function describe(status, body) {
  const detail = body && body.detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => `${(item.loc || []).slice(1).join(".") || "request"}: ${item.msg}`)
      .join("; ");
  }
  if (typeof detail === "string") return `${status}: ${detail}`;
  return `The server answered ${status}.`;
}

/** One page of `/messages`: filters plus `limit` and either `offset` or `cursor`. */
export function messages(params, signal) {
  return get("/messages", params, signal);
}

export function stats(signal) {
  return get("/stats", {}, signal);
}
