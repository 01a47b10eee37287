/**
 * Sign-in: the operator types an API key's id and the key; they are exchanged once at
 * the token endpoint for a short-lived access token, and the key is forgotten at once
 * (the field is emptied and no variable keeps it). Only the token is kept (see
 * session.js), so a wrong id or key is reported here and nothing is stored.
 *
 * The bootstrap key (the server's `admin_api_key`) has no row in the key list; its id
 * is 0, which the id field's hint says, since nothing else in the console shows it.
 */

import { ApiError, exchangeKey, get } from '../api.js';
import { el, field, message, replace } from '../dom.js';
import { setIdentity, signIn, signOut } from '../session.js';
import { navigate } from '../app.js';

export async function render(main) {
  const idInput = el('input', {
    type: 'text', name: 'client-id', inputmode: 'numeric', autocomplete: 'off', spellcheck: 'false', required: true,
  });
  const keyInput = el('input', {
    type: 'password', name: 'api-key', autocomplete: 'off', spellcheck: 'false', required: true,
  });
  const feedback = el('div', { class: 'feedback' });
  const submit = el('button', { type: 'submit', text: 'Sign in' });
  const form = el('form', { class: 'card narrow', 'aria-labelledby': 'signin-title' },
    field('Key id', idInput, 'The key\'s number: its Id under API keys, or the id returned when it was created. ' +
      'The bootstrap key (the server\'s admin_api_key) signs in with id 0.'),
    field('API key', keyInput, 'An admin or viewer key. It is used once, to get an access token, and then forgotten: ' +
      'this tab keeps only the token, which expires after a few minutes or when you sign out.'),
    submit,
    feedback);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const clientId = idInput.value.trim();
    if (!/^\d+$/.test(clientId)) {
      replace(feedback, message('error', 'Enter the key\'s id: a whole number (0 for the bootstrap key).'));
      idInput.focus();
      return;
    }
    if (!keyInput.value.trim()) {
      replace(feedback, message('error', 'Enter an API key.'));
      keyInput.focus();
      return;
    }
    submit.disabled = true;
    replace(feedback, message('info', 'Signing in…'));
    let signedIn = false;
    try {
      const issued = await exchangeKey(clientId, keyInput.value.trim());
      // The key has done its one job: forget it before anything else happens.
      keyInput.value = '';
      signIn(issued.access_token, issued.expires_in);
      signedIn = true;
      setIdentity((await get('/auth/me')).data);
      navigate('#/dashboard');
    } catch (error) {
      // A session that ended meanwhile has put up the sign-in form again already.
      if (error instanceof ApiError && error.code === 'SESSION_ENDED') return;
      if (signedIn) signOut();
      replace(feedback, message('error', explain(error)));
      if (keyInput.value) {
        keyInput.focus();
        keyInput.select();
      } else {
        idInput.focus();
      }
    } finally {
      submit.disabled = false;
    }
  });

  replace(main,
    el('h1', { id: 'signin-title', tabindex: '-1', text: 'Sign in' }),
    el('p', { text: 'The operator console for the Inventory & Orders API. Sign in with an API key and its id to see stock, sales, orders and keys.' }),
    form);
}

/** A refused sign-in, worded for the operator. */
function explain(error) {
  if (error instanceof ApiError && error.code === 'unsupported_grant_type') {
    return 'This server issues no access tokens (its token_signing_key variable is not set), and the console ' +
      'signs in only with one. Ask its operators to set it.';
  }
  return error.message;
}
