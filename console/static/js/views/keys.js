/**
 * API keys (admins only): the list, minting a key (its secret is shown once, with a copy
 * button, and never again: the API keeps only a hash; its id, which signing in asks
 * for, is said with it), and revoking.
 */

import { del, get, post } from '../api.js';
import { button, confirmInline, copyControls, el, field, message, replace, table } from '../dom.js';
import { formatTime } from '../format.js';

export async function render(main) {
  const owner = el('input', { name: 'owner', required: true, maxlength: '200', autocomplete: 'off' });
  const role = el('select', { name: 'role' },
    el('option', { value: 'viewer', text: 'viewer' }), el('option', { value: 'admin', text: 'admin' }));
  const minted = el('div', { class: 'feedback' });
  const form = el('form', { class: 'form card' },
    el('h2', { text: 'New key' }),
    field('Owner', owner, 'Who or what will use the key, e.g. "warehouse scanner".'),
    field('Role', role),
    el('button', { type: 'submit', text: 'Create key' }), minted);
  const list = el('section', { 'aria-labelledby': 'keys-list-title' },
    el('h2', { id: 'keys-list-title', text: 'Keys' }), el('p', { text: 'Loading…' }));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const { data } = await post('/auth/keys', { owner: owner.value.trim(), role: role.value });
      owner.value = '';
      replace(minted, secretBox(data));
      minted.querySelector('input')?.focus();
      await loadList(list);
    } catch (error) {
      replace(minted, message('error', error.message));
    }
  });

  replace(main, el('h1', { tabindex: '-1', text: 'API keys' }), form, list);
  await loadList(list);
}

/** The new key's secret, once, in a read-only field with a copy button. */
function secretBox(key) {
  const secret = el('input', { type: 'text', readonly: true, class: 'mono', value: key.api_key, id: 'new-key-secret' });
  return message('success',
    el('p', {}, `Key ${key.prefix}… for `, el('strong', { text: key.owner }), ` (${key.role}) created with id ${key.id}. Copy it now: it will not be shown again. ` +
      `It signs in (here, or for an access token) with id ${key.id}.`),
    field('New API key', secret), copyControls(secret, 'Copy key'));
}

async function loadList(section) {
  const title = section.querySelector('h2');
  const { data, next } = await get('/auth/keys', { limit: 200 });
  const feedback = el('div', { class: 'feedback' });
  const rows = data.map((key) => {
    let action = el('span', { class: 'hint', text: 'revoked' });
    if (!key.revoked_at) {
      const revoke = button('Revoke', () => confirmInline(revoke, `Revoke key ${key.prefix}…?`, 'Yes, revoke', async () => {
        try {
          await del(`/auth/keys/${key.id}`);
          await loadList(section);
          section.querySelector('.feedback').append(message('success', `Key ${key.prefix}… revoked.`));
        } catch (error) {
          replace(feedback, message('error', error.message));
        }
      }), { class: 'danger', 'aria-label': `Revoke key ${key.prefix} of ${key.owner}` });
      action = revoke;
    }
    return [String(key.id), key.owner, key.role, el('span', { class: 'mono', text: key.prefix }), formatTime(key.created_at),
      key.revoked_at ? formatTime(key.revoked_at) : '', action];
  });
  replace(section, title, feedback,
    rows.length === 0 ? el('p', { text: 'No keys yet (only the bootstrap key, id 0).' })
      : table('Keys, oldest first', ['Id', 'Owner', 'Role', 'Prefix', 'Created', 'Revoked', 'Action'], rows),
    next ? el('p', { class: 'hint', text: 'Showing the first 200 keys.' }) : null);
}
