// The buyer's session: the token lives in localStorage (the server also sets
// an HttpOnly cookie, which EventSource and plain links use).

import { api } from './api.js';

const TOKEN_KEY = 'boxoffice.token';
const EMAIL_KEY = 'boxoffice.email';

export const session = {
  get token() { return localStorage.getItem(TOKEN_KEY); },
  get email() { return localStorage.getItem(EMAIL_KEY); },
  save(token, email) {
    localStorage.setItem(TOKEN_KEY, token);
    if (email) localStorage.setItem(EMAIL_KEY, email);
  },
  clear() { localStorage.removeItem(TOKEN_KEY); },
};

/** POST /auth/guest and remember the token. */
export async function guestLogin(email) {
  const { token } = await api('/auth/guest', { method: 'POST', body: { email } });
  session.save(token, email);
  return token;
}

/** The claims of one of our bearer tokens ({uid, role, exp}), or null. Pure. */
export function tokenClaims(token) {
  try {
    const body = String(token).split('.')[0].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(body + '='.repeat((4 - (body.length % 4)) % 4)));
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}
