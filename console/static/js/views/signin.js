/**
 * Sign-in: the operator types an API key; it is checked with GET /api/v1/auth/me before
 * it is kept (in sessionStorage, see session.js), so a wrong key is reported here and
 * never stored.
 */

import { get } from '../api.js';
import { el, field, message, replace } from '../dom.js';
import { setIdentity, signIn } from '../session.js';
import { navigate } from '../app.js';

export async function render(main) {
  const keyInput = el('input', {
    type: 'password', name: 'api-key', autocomplete: 'off', spellcheck: 'false', required: true,
  });
  const feedback = el('div', { class: 'feedback' });
  const submit = el('button', { type: 'submit', text: 'Sign in' });
  const form = el('form', { class: 'card narrow', 'aria-labelledby': 'signin-title' },
    field('API key', keyInput, 'An admin or viewer key. It is kept in this tab only and forgotten when you sign out or close the tab.'),
    submit,
    feedback);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!key) {
      replace(feedback, message('error', 'Enter an API key.'));
      keyInput.focus();
      return;
    }
    submit.disabled = true;
    replace(feedback, message('info', 'Checking the key…'));
    try {
      const me = (await get('/auth/me', undefined, key)).data;
      signIn(key);
      setIdentity(me);
      keyInput.value = '';
      navigate('#/dashboard');
    } catch (error) {
      replace(feedback, message('error', error.message));
      keyInput.focus();
      keyInput.select();
    } finally {
      submit.disabled = false;
    }
  });

  replace(main,
    el('h1', { id: 'signin-title', tabindex: '-1', text: 'Sign in' }),
    el('p', { text: 'The operator console for the Inventory & Orders API. Sign in with an API key to see stock, sales, orders and keys.' }),
    form);
}
