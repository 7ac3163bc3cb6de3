// pairing.js - the pairing dialog, both ways: started here from a nearby device's Pair button
// (POST /admin/pair with the ring and daily quota chosen first), or opened by an incoming
// request that GET /admin/pairings shows. Both screens show the same code; each side confirms
// (POST /admin/pairing/accept with its terms) or rejects (POST /admin/pairing/reject).
import { apiJson } from './api.js';
import { $ } from './dom.js';
import { loadPeers, peerName, shortId } from './devices.js';
import { readQuota } from './invite.js';
import { loginShown } from './login.js';

let pairings = []; // GET /admin/pairings entries
let dialog = null; // the pairing the dialog shows: {id, incoming, name, target, terms}
const dismissed = new Set(); // incoming pairings the user answered or closed

const QUOTA_HINT = 'The daily limit must be a whole number of tokens (0 = no limit).';

function fmtCode(code) {
    const c = String(code || '');
    return c.length === 6 ? `${c.slice(0, 3)} ${c.slice(3)}` : c;
}

// True while the dialog follows a pairing (the peers list is then polled more often).
export function pairingShown() {
    return dialog !== null;
}

// Pair on a nearby device: the dialog first asks how to treat it (ring, daily quota), since
// the node applies an outgoing pairing's terms from POST /admin/pair; then it starts.
export function startPairing(p) {
    openPairDialog({ id: null, incoming: false, state: 'setup', peer_name: peerName(p) });
    dialog.target = p.id || p.addr;
    $('pair-ring').focus();
}

async function beginPairing() {
    const d = dialog;
    if (!d || d.id || !d.target) return;
    const quota = readQuota($('pair-quota'));
    if (quota === null) {
        $('pair-msg').textContent = QUOTA_HINT;
        $('pair-quota').focus();
        return;
    }
    $('pair-msg').textContent = '';
    d.terms = { ring: $('pair-ring').value, quota };
    drawPairing({ id: null, incoming: false, state: 'connecting', peer_name: d.name });
    try {
        const r = await apiJson('/admin/pair', { method: 'POST', json: { target: d.target, ...d.terms } });
        if (dialog !== d) return; // closed meanwhile
        d.id = r.pairing.id;
        drawPairing(r.pairing);
    } catch (e) {
        if (dialog === d) drawPairing({ state: 'failed', message: e.message, peer_name: d.name });
    }
}

function openPairDialog(p) {
    dialog = { id: p.id, incoming: !!p.incoming, name: p.peer_name };
    $('pair-ring').value = 'own';
    $('pair-quota').value = '0';
    $('pair-msg').textContent = '';
    $('pair-dialog').dataset.state = '';
    $('pair-dialog').dataset.step = '';
    drawPairing(p);
    const d = $('pair-dialog');
    if (!d.open) d.showModal();
}

function drawPairing(p) {
    const who = p.peer_name || shortId(p.peer_id) || p.peer_addr || 'the other device';
    const waiting = p.state === 'waiting';
    const over = ['done', 'rejected', 'failed'].includes(p.state);
    const dlg = $('pair-dialog');
    const setup = p.state === 'setup';
    const step = `${p.state || ''}${p.local_ok ? '+ok' : ''}`;
    const moved = dlg.dataset.step !== step; // focus moves only when the step changes
    dlg.dataset.step = step;
    dlg.dataset.state = p.state || '';
    const failedNow = p.state === 'rejected' || p.state === 'failed';
    $('pair-title').textContent = failedNow ? `Not paired with ${who}`
        : p.incoming ? `${who} wants to pair` : `Pair with ${who}`;
    $('pair-code').textContent = waiting || p.state === 'done' ? fmtCode(p.code) : '';
    // terms: chosen before starting (outgoing) or before confirming (incoming)
    const fixed = !setup && !(p.incoming && waiting && !p.local_ok);
    $('pair-terms').hidden = !(setup || (waiting && !p.local_ok));
    $('pair-ring').disabled = fixed;
    $('pair-quota').disabled = fixed;
    let text = '';
    if (setup) text = `Choose how this device treats ${who}, then start: both screens will show a code.`;
    else if (p.state === 'connecting') text = `Connecting to ${who}…`;
    else if (waiting && !p.local_ok) {
        text = `Check that ${who} shows the same code, then confirm on both devices.`;
    } else if (waiting) text = `Confirmed here. Waiting for ${who} to confirm…`;
    else if (p.state === 'done') text = `Paired with ${who}.`;
    else if (p.state === 'rejected') {
        text = `The pairing was cancelled${p.message ? ` (${p.message})` : ''}. Nothing was paired; you can try again.`;
    } else if (p.state === 'failed') text = `Pairing failed: ${p.message || 'unknown error'}. Nothing was paired.`;
    $('pair-text').textContent = text;
    dlg.classList.toggle('ok', p.state === 'done');
    dlg.classList.toggle('bad', p.state === 'rejected' || p.state === 'failed');
    $('pair-start').hidden = !setup;
    $('pair-accept').hidden = !waiting || !!p.local_ok;
    $('pair-reject').hidden = over;
    $('pair-reject').textContent = waiting && !p.local_ok ? 'Codes differ' : 'Cancel';
    $('pair-close').hidden = !over;
    if (!moved) return;
    if (over) $('pair-close').focus();
    else if (waiting && !p.local_ok) $('pair-accept').focus();
}

async function answerPairing(accept) {
    const d = dialog;
    if (!d || !d.id) {
        closePairDialog();
        return;
    }
    let body = { id: d.id };
    if (accept) {
        const quota = d.terms ? d.terms.quota : readQuota($('pair-quota'));
        if (quota === null) {
            $('pair-msg').textContent = QUOTA_HINT;
            $('pair-quota').focus();
            return;
        }
        body = { id: d.id, ring: d.terms ? d.terms.ring : $('pair-ring').value, quota };
    }
    $('pair-msg').textContent = '';
    dismissed.add(d.id);
    const path = accept ? '/admin/pairing/accept' : '/admin/pairing/reject';
    try {
        const r = await apiJson(path, { method: 'POST', json: body });
        drawPairing({ ...r.pairing, incoming: d.incoming });
    } catch (e) {
        drawPairing({ state: 'failed', message: e.message, incoming: d.incoming });
    }
}

function closePairDialog() {
    const d = $('pair-dialog');
    if (dialog && dialog.id) dismissed.add(dialog.id);
    dialog = null;
    if (d.open) d.close();
}

// Follows the pairing the dialog shows, or opens the dialog for a new incoming request.
export async function loadPairings() {
    const r = await apiJson('/admin/pairings');
    pairings = Array.isArray(r && r.pairings) ? r.pairings : [];
    const d = dialog;
    if (d && d.id) {
        const p = pairings.find((x) => x.id === d.id);
        if (p) {
            drawPairing(p);
            if (p.state === 'done') loadPeers().catch(() => {});
        }
        return;
    }
    // an incoming request opens the dialog, unless another dialog is open
    const incoming = pairings.find((x) => x.incoming && !dismissed.has(x.id) &&
        (x.state === 'waiting' || x.state === 'connecting') && !x.local_ok);
    if (incoming && !loginShown() && !$('pair-dialog').open) openPairDialog(incoming);
}

export function initPairing() {
    $('pair-start').addEventListener('click', beginPairing);
    $('pair-accept').addEventListener('click', () => answerPairing(true));
    $('pair-reject').addEventListener('click', () => answerPairing(false));
    $('pair-close').addEventListener('click', closePairDialog);
    $('pair-dialog').addEventListener('cancel', (e) => {
        e.preventDefault();
        const over = ['done', 'rejected', 'failed'].includes($('pair-dialog').dataset.state);
        if (over) closePairDialog();
        else answerPairing(false);
    });
}
