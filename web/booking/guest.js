// Guest sign-in on the event page: the dialog that asks for an email, and
// withToken(), which signs in first when needed (and again on a 401).

import { errorText } from '../lib/api.js';
import { byId as $ } from '../lib/dom.js';
import { guestLogin, session } from '../lib/session.js';

/** What withToken() answers when the buyer closes the dialog. */
export const CANCELLED = Symbol('cancelled');

function askForGuest() {
  const dialog = $('guest-dialog');
  const form = $('guest-form');
  const input = $('guest-email');
  const error = $('guest-error');
  input.value = session.email ?? '';
  error.textContent = '';
  return new Promise((resolve) => {
    let done = false;
    const finish = (token) => {
      if (done) return;
      done = true;
      form.removeEventListener('submit', submit);
      $('guest-cancel').removeEventListener('click', cancel);
      dialog.removeEventListener('close', cancel);
      if (dialog.open) dialog.close();
      resolve(token);
    };
    const cancel = () => finish(CANCELLED);
    async function submit(e) {
      e.preventDefault();
      $('guest-submit').disabled = true;
      error.textContent = '';
      try {
        finish(await guestLogin(input.value.trim()));
      } catch (err) {
        error.textContent = errorText(err);
      } finally {
        $('guest-submit').disabled = false;
      }
    }
    form.addEventListener('submit', submit);
    $('guest-cancel').addEventListener('click', cancel);
    dialog.addEventListener('close', cancel);
    dialog.showModal();
    input.focus();
  });
}

/** Runs fn(token), signing in as a guest first if needed (and again on a 401). */
export async function withToken(fn) {
  let token = session.token;
  if (!token) token = await askForGuest();
  if (token === CANCELLED) return CANCELLED;
  try {
    return await fn(token);
  } catch (e) {
    if (e.status !== 401) throw e;
    session.clear();
    token = await askForGuest();
    if (token === CANCELLED) return CANCELLED;
    return fn(token);
  }
}
