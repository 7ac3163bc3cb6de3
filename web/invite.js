// invite.js - pairing at a distance from the dashboard: "Invite a friend" (POST /admin/invite
// {ring, quota, ttl} -> {code, expires}) and "Join with a code" (POST /admin/join {code, quota}
// -> {id, short}). Both live in modal dialogs; errors show the node's own message inside them.
// Everything from the network goes through textContent or an input's value.

const $ = (id) => document.getElementById(id);
const QUOTA_MAX = 1e15; // the admin API's limit (tokens per day)

// The quota field's value as a whole number, or null (and a message) when it is not one.
export function readQuota(input) {
    const text = input.value.trim();
    if (text === '') return 0;
    const n = Number(text);
    return Number.isInteger(n) && n >= 0 && n <= QUOTA_MAX ? n : null;
}

function say(el, text, tone) {
    el.textContent = text;
    el.classList.toggle('msg-bad', tone === 'bad');
    el.classList.toggle('msg-ok', tone === 'ok');
}

function fmtExpiry(expires) {
    const when = new Date(expires * 1000);
    const mins = Math.max(0, Math.round((when.getTime() - Date.now()) / 60000));
    const left = mins < 90 ? `${mins} min` : mins < 48 * 60 ? `${Math.round(mins / 60)} h` : `${Math.round(mins / 1440)} days`;
    return `Works once, until ${when.toLocaleString()} (${left} from now).`;
}

// ctx: {apiJson(path, opts), onPaired(id): Promise, peerLabel(id): string}
export function initInvites(ctx) {
    const inv = $('invite-dialog');
    const join = $('join-dialog');

    function openInvite() {
        $('invite-ring').value = 'trusted';
        $('invite-quota').value = '0';
        $('invite-ttl').value = '3600';
        $('invite-result').hidden = true;
        $('invite-terms').hidden = false;
        $('invite-create').hidden = false;
        $('invite-code').value = '';
        say($('invite-msg'), '');
        inv.showModal();
        $('invite-ring').focus();
    }

    async function createInvite(ev) {
        ev.preventDefault();
        const msg = $('invite-msg');
        const quota = readQuota($('invite-quota'));
        if (quota === null) {
            say(msg, 'The daily limit must be a whole number of tokens (0 = no limit).', 'bad');
            $('invite-quota').focus();
            return;
        }
        const body = { ring: $('invite-ring').value, quota, ttl: Number($('invite-ttl').value) };
        $('invite-create').disabled = true;
        say(msg, 'Creating a code…');
        try {
            const r = await ctx.apiJson('/admin/invite', { method: 'POST', json: body });
            $('invite-code').value = String(r.code || '');
            $('invite-expiry').textContent = Number.isFinite(r.expires) ? fmtExpiry(r.expires) : '';
            $('invite-terms').hidden = true;
            $('invite-create').hidden = true;
            $('invite-result').hidden = false;
            say(msg, 'Send this code to your friend; they use "Join with a code" on their device.', 'ok');
            $('invite-code').focus();
            $('invite-code').select();
        } catch (e) {
            say(msg, `No code was made: ${e.message}`, 'bad');
        } finally {
            $('invite-create').disabled = false;
        }
    }

    async function copyCode() {
        const field = $('invite-code');
        const done = (ok) => say($('invite-msg'), ok ? 'Copied.' : 'Press Ctrl+C (or ⌘C) to copy the selected code.', ok ? 'ok' : '');
        field.focus();
        field.select();
        if (!navigator.clipboard || !navigator.clipboard.writeText) {
            done(false);
            return;
        }
        try {
            await navigator.clipboard.writeText(field.value);
            done(true);
        } catch {
            done(false);
        }
    }

    function openJoin() {
        say($('join-msg'), '');
        join.dataset.state = '';
        $('join-submit').hidden = false;
        join.showModal();
        $('join-code').focus();
    }

    async function submitJoin(ev) {
        ev.preventDefault();
        const msg = $('join-msg');
        const code = $('join-code').value.trim();
        const quota = readQuota($('join-quota'));
        if (!code) {
            say(msg, 'Paste the invite code first.', 'bad');
            return;
        }
        if (quota === null) {
            say(msg, 'The daily limit must be a whole number of tokens (0 = no limit).', 'bad');
            $('join-quota').focus();
            return;
        }
        $('join-submit').disabled = true;
        join.dataset.state = 'joining';
        say(msg, 'Contacting the inviting device…');
        try {
            const r = await ctx.apiJson('/admin/join', { method: 'POST', json: { code, quota } });
            await ctx.onPaired(r.id);
            join.dataset.state = 'done';
            say(msg, `Paired with ${ctx.peerLabel(String(r.id || ''))} (trusted).`, 'ok');
            $('join-code').value = '';
            $('join-submit').hidden = true;
            $('join-close').focus();
        } catch (e) {
            join.dataset.state = 'failed';
            say(msg, `Not paired: ${e.message}`, 'bad');
            $('join-code').focus();
        } finally {
            $('join-submit').disabled = false;
        }
    }

    $('invite-open').addEventListener('click', openInvite);
    $('invite-form').addEventListener('submit', createInvite);
    $('invite-copy').addEventListener('click', copyCode);
    $('invite-close').addEventListener('click', () => inv.close());
    $('join-open').addEventListener('click', openJoin);
    $('join-form').addEventListener('submit', submitJoin);
    $('join-close').addEventListener('click', () => join.close());
    // Escape closes (the dialog's default); a join in progress finishes on the node anyway and
    // the sidebar picks it up at the next poll.
}
