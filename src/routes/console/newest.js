// Where the newest page starts. The API lists oldest first, so the newest page is at
// offset `total - limit`; on a large inbox an offset that deep costs a scan of every row
// before it. Instead, a `since` window at the end of the stats' time span, sized for a
// page or two of matches (growing when it holds fewer), is read with a small offset.

/** At most this many windows are tried before falling back to the deep offset. */
const PROBES = 5;
/** The largest page the API gives: one probe of a window this full is the page itself. */
const PROBE_LIMIT = 100;

const instant = (ts) => (ts ? Date.parse(ts) : NaN);

/**
 * `{start, page?}` for the newest page of `total` matches: `start` is `{offset, since?,
 * position}`, and `page`, when the probe already holds the page, its rows.
 * `fetchPage(start)` reads one page; `stats` is the last `/stats` answer (or null).
 */
export async function newestStart({ total, limit, filters, stats, fetchPage }) {
  const offset = Math.max(total - limit, 0);
  const plain = { start: { offset, position: offset } };
  const first = instant(stats && stats.first_message_ts);
  const last = instant(stats && stats.last_message_ts);
  if (total <= limit || !Number.isFinite(first) || !Number.isFinite(last)) return plain;
  const floor = filters.since ? instant(filters.since) : -Infinity;
  let fraction = (2 * limit) / total;
  for (let probe = 0; probe < PROBES && fraction < 1; probe += 1, fraction *= 8) {
    // One millisecond early: `ts` may carry digits past the millisecond.
    const from = last - Math.ceil((last - first) * fraction) - 1;
    if (!(from > floor)) break;
    const since = new Date(from).toISOString();
    const window = await fetchPage({ offset: 0, since, limit: PROBE_LIMIT });
    if (window.total >= limit) {
      const start = { offset: window.total - limit, since, position: offset };
      if (window.total > PROBE_LIMIT) return { start };
      return { start, page: { ...window, data: window.data.slice(-limit) } };
    }
  }
  return plain;
}
