// login.js - the sign-in dialog, shown when the node answers 401 (a page opened from another
// machine needs the node's API token; `unhosted token` prints it). The token is checked against
// the node before it is kept.
import { apiJson, onUnauthorized, setToken } from './api.js';
import { $ } from './dom.js';

function showLogin(message) {
    const d = $('login-dialog');
    $('login-msg').textContent = message || '';
    if (!d.open) d.showModal();
    $('login-token').focus();
}

export function loginShown() {
    return $('login-dialog').open;
}

// onSignedIn(): runs once a token was accepted (reload everything with it).
export function initLogin(onSignedIn) {
    onUnauthorized((hadToken) => showLogin(hadToken ? 'That token was not accepted.' : ''));
    $('login-dialog').addEventListener('cancel', (e) => e.preventDefault());
    $('login').addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const token = $('login-token').value.trim();
        if (!/^[0-9a-f]{64}$/i.test(token)) {
            $('login-msg').textContent = 'A token is 64 hexadecimal characters.';
            return;
        }
        setToken(token, false);
        try {
            await apiJson('/v1/models');
        } catch (e) {
            if (e.status === 401) return;
            $('login-msg').textContent = e.message;
            return;
        }
        setToken(token, true);
        $('login-token').value = '';
        $('login-dialog').close();
        onSignedIn();
    });
}
