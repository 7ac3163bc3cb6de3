// app.js - the dashboard's entry module: starts each panel and polls the node.
//
// Panels (one module each): devices.js (this device, nearby and paired devices), pairing.js
// (the pairing dialog), invite.js (invite and join dialogs), models.js (models, pull, the
// model picker), chat.js (the conversation), cluster.js (the cluster view), login.js (sign-in
// from another machine). Shared below them: api.js (calls to the node), stream.js (NDJSON and
// SSE bodies), dom.js (element helpers), md.js (the markdown parser).
import { apiJson, setConn } from './api.js';
import { initChat } from './chat.js';
import { renderCluster, showView } from './cluster.js';
import { $ } from './dom.js';
import { hasAdmin, initDevices, loadPeers, loadSelf, peerLabel, thisDevice } from './devices.js';
import { initInvites } from './invite.js';
import { initLogin, loginShown } from './login.js';
import { initModels, loadModels, renderModelPicker } from './models.js';
import { initPairing, loadPairings, pairingShown, startPairing } from './pairing.js';

const POLL_MS = 1000;
let tick = 0;

// One poll: the models every 5th, the peers every 2nd (every one while pairing), this device
// every 30th; all of them when all is set.
async function refresh(all) {
    const t = tick++;
    try {
        if (all || hasAdmin === null || (hasAdmin && !thisDevice) || t % 30 === 0) await loadSelf();
        const jobs = [];
        if (all || t % 5 === 0) jobs.push(loadModels());
        if (hasAdmin) {
            jobs.push(loadPairings());
            if (all || t % 2 === 0 || pairingShown()) jobs.push(loadPeers());
        }
        await Promise.all(jobs);
        setConn('');
    } catch (e) {
        if (e.status !== 401) setConn(`Node unreachable: ${e.message}`, true);
    }
}

function poll() {
    if (!loginShown()) refresh(false).finally(() => setTimeout(poll, POLL_MS));
    else setTimeout(poll, POLL_MS);
}

function initLayout() {
    $('tab-chat').addEventListener('click', () => showView('chat'));
    $('tab-cluster').addEventListener('click', () => showView('cluster'));
    $('menu').addEventListener('click', () => {
        const open = document.body.classList.toggle('menu-open');
        $('menu').setAttribute('aria-expanded', String(open));
    });
    document.addEventListener('keydown', (e) => {
        // Escape in a dialog opened from the sidebar closes only the dialog
        if (e.key === 'Escape' && document.body.classList.contains('menu-open') &&
            !document.querySelector('dialog[open]')) {
            document.body.classList.remove('menu-open');
            $('menu').setAttribute('aria-expanded', 'false');
            $('menu').focus();
        }
    });
}

initLogin(() => refresh(true));
initDevices(startPairing, () => {
    renderModelPicker();
    renderCluster();
});
initPairing();
initInvites({ apiJson, onPaired: () => loadPeers().catch(() => {}), peerLabel });
initModels();
initChat();
initLayout();
refresh(true).finally(() => setTimeout(poll, POLL_MS));
