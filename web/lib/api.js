// Calls to the boxoffice API: JSON in and out, RFC 9457 problems as errors.
// Pure apart from `fetch`; no DOM.

/** An HTTP failure carrying the server's RFC 9457 problem object. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.code = problem.code || null;
  }
}

/**
 * Calls the API and returns the parsed JSON body, or throws an ApiError.
 * A network failure is an ApiError with status 0 and code "network_error".
 */
export async function api(path, {
  method = 'GET', body, headers = {}, token, signal, credentials = 'same-origin',
} = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (token) h.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials,
      signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, {
      code: 'network_error',
      title: 'Network error',
      detail: 'Could not reach the server. Check your connection and try again.',
    });
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    const problem = data && typeof data === 'object'
      ? data
      : { title: res.statusText || 'Error', detail: `The server answered ${res.status}.` };
    throw new ApiError(res.status, problem);
  }
  return data;
}

/** A human sentence for any error. */
export function errorText(error) {
  if (error instanceof ApiError) {
    const { title, detail } = error.problem;
    const text = String(detail || title || `Request failed (${error.status})`).trim();
    return sentence(text);
  }
  return error?.message || String(error);
}

/** Capitalised, with a full stop: the server's details are lower-case phrases. */
const sentence = (text) => {
  const t = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?)]$/.test(t) ? t : `${t}.`;
};

/** A random UUID (v4), also outside secure contexts: an Idempotency-Key. */
export function uuid() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
