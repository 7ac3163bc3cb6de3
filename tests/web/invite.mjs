// invite.mjs URL_A URL_C ARTIFACTS - pairing at a distance from the dashboards. On A, "Invite a
// friend" (ring trusted, a daily quota, lifetime 1 hour) shows a code, its expiry and a Copy
// button in a dialog; on C, "Join with a code" with that code and a quota pairs the two: both
// sidebars list the other without a reload (C sees A as trusted), with the quotas each chose
// (also in GET /admin/peers). The same code a second time, a code with a wrong secret, a code
// that is not one and a code naming an address nobody listens on each show the node's error in
// the dialog. The controls work by keyboard and fit a 390 px wide screen.
import { check, expect, failed, launch, screenshotter, watchErrors } from './lib.mjs';

const [urlA, urlC, artifacts] = process.argv.slice(2);
const shotA = screenshotter(artifacts, 'invite-a');
const shotC = screenshotter(artifacts, 'invite-c');
const { context, close } = await launch();
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: urlA }).catch(() => {});
const a = await context.newPage();
const c = await context.newPage();
for (const p of [a, c]) p.setDefaultTimeout(30000);
const errors = [a, c].map((p) => watchErrors(p));
const selfA = await (await fetch(`${urlA}/admin/self`)).json();
const selfC = await (await fetch(`${urlC}/admin/self`)).json();
const peersOf = async (url) => (await (await fetch(`${url}/admin/peers`)).json()).peers;
const CODE_RE = /^[0-9.]+:\d+\/[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$/;
const QUOTA_C_ON_A = 777; // chosen in A's invite: what C may use on A per day
const QUOTA_A_ON_C = 4242; // chosen when joining on C: what A may use on C per day
let code = '';

// Creates an invite on A's dashboard; returns the code shown.
async function invite(quota, shotName) {
    await a.click('#invite-open');
    await a.waitForSelector('#invite-dialog[open]');
    expect(await a.evaluate(() => document.activeElement.id) === 'invite-ring', 'focus is not in the dialog');
    expect(await a.inputValue('#invite-ring') === 'trusted', 'the ring does not default to trusted');
    expect(await a.inputValue('#invite-ttl') === '3600', 'the lifetime does not default to 1 hour');
    await a.fill('#invite-quota', String(quota));
    if (shotName) await shotA(a, `${shotName}-form`);
    await a.click('#invite-create');
    await a.waitForSelector('#invite-result:not([hidden])');
    const shown = await a.inputValue('#invite-code');
    if (shotName) await shotA(a, shotName);
    return shown;
}

// Joins on C's dashboard; returns the dialog's state ("done" or "failed") and message.
async function join(text, quota, shotName) {
    if (!(await c.isVisible('#join-dialog'))) await c.click('#join-open');
    await c.waitForSelector('#join-dialog[open]');
    await c.fill('#join-code', text);
    await c.fill('#join-quota', String(quota));
    await c.evaluate(() => { document.getElementById('join-dialog').dataset.state = ''; });
    await c.click('#join-submit');
    await c.waitForSelector('#join-dialog[data-state="done"], #join-dialog[data-state="failed"]', { timeout: 60000 });
    const res = {
        state: await c.getAttribute('#join-dialog', 'data-state'),
        msg: await c.locator('#join-msg').innerText(),
        visible: await c.isVisible('#join-msg'),
    };
    if (shotName) await shotC(c, shotName);
    return res;
}

let ok = await check('web_invite_shows_code', async () => {
    await a.goto(urlA);
    await c.goto(urlC);
    await a.waitForSelector('#self-id');
    await c.waitForSelector('#self-id');
    code = await invite(QUOTA_C_ON_A, 'code');
    expect(CODE_RE.test(code), `code: ${code}`);
    const expiry = await a.locator('#invite-expiry').innerText();
    expect(/until .*\(60 min from now\)/.test(expiry), `expiry: ${expiry}`);
    expect(await a.isVisible('#invite-copy'), 'no Copy button');
});

await check('web_invite_copy', async () => {
    await a.click('#invite-copy');
    await a.waitForFunction(() => /Copied|Ctrl\+C/.test(document.getElementById('invite-msg').textContent));
    const msg = await a.locator('#invite-msg').innerText();
    if (/Copied/.test(msg)) {
        const clip = await a.evaluate(() => navigator.clipboard.readText());
        expect(clip === code, `the clipboard holds ${clip}`);
    } else {
        // no clipboard access: the code is selected for Ctrl+C instead
        const sel = await a.evaluate(() => {
            const f = document.getElementById('invite-code');
            return f.value.slice(f.selectionStart, f.selectionEnd);
        });
        expect(sel === code, `selected: ${sel}`);
    }
    await a.click('#invite-close');
    expect(!(await a.isVisible('#invite-dialog')), 'the dialog did not close');
});

ok = ok && await check('web_join_with_code', async () => {
    const r = await join(code, QUOTA_A_ON_C, 'joined');
    expect(r.state === 'done', `join failed: ${r.msg}`);
    expect(r.msg.includes(selfA.id.split('-')[0]) && /trusted/.test(r.msg), `message: ${r.msg}`);
    await c.click('#join-close');
});

ok = ok && await check('web_join_sidebars_update', async () => {
    await c.waitForSelector(`#paired li[data-id="${selfA.id}"]`);
    await a.waitForSelector(`#paired li[data-id="${selfC.id}"]`);
    const rowC = await c.locator(`#paired li[data-id="${selfA.id}"]`).innerText();
    const rowA = await a.locator(`#paired li[data-id="${selfC.id}"]`).innerText();
    await shotC(c, 'paired');
    await shotA(a, 'paired');
    expect(/trusted/i.test(rowC) && rowC.includes('4,242'), `C's row for A: ${rowC}`);
    expect(/trusted/i.test(rowA) && rowA.includes('777'), `A's row for C: ${rowA}`);
    const onC = (await peersOf(urlC)).find((p) => p.id === selfA.id);
    const onA = (await peersOf(urlA)).find((p) => p.id === selfC.id);
    expect(onC && onC.paired && onC.ring === 'trusted' && onC.quota === QUOTA_A_ON_C, `C has A as ${JSON.stringify(onC)}`);
    expect(onA && onA.paired && onA.ring === 'trusted' && onA.quota === QUOTA_C_ON_A, `A has C as ${JSON.stringify(onA)}`);
});

await check('web_join_code_used_once', async () => {
    const r = await join(code, 0, 'reused');
    expect(r.state === 'failed' && r.visible, `state ${r.state}`);
    expect(/^Not paired: .*(unknown|expired)/i.test(r.msg), `message: ${r.msg}`);
    expect(await c.isVisible('#join-submit'), 'no way to try again');
});

await check('web_join_wrong_code', async () => {
    const fresh = await invite(0, null);
    await a.click('#invite-close');
    // same address and invite, another secret: the last character changed
    const last = fresh.slice(-1);
    const wrong = fresh.slice(0, -1) + (last === 'A' ? 'B' : 'A');
    let r = await join(wrong, 0, 'wrong-secret');
    expect(r.state === 'failed' && /^Not paired: .*wrong invite code/i.test(r.msg), `wrong secret: ${r.msg}`);
    r = await join('not a code', 0, 'not-a-code');
    expect(r.state === 'failed' && /^Not paired: .*not an invite code/i.test(r.msg), `not a code: ${r.msg}`);
    r = await join('127.0.0.1:1/AAAA-BBBB-CCCC-DDDD', 0, 'unreachable');
    expect(r.state === 'failed' && /^Not paired: ./.test(r.msg), `unreachable: ${r.msg}`);
    await c.keyboard.press('Escape');
    expect(!(await c.isVisible('#join-dialog')), 'Escape did not close the dialog');
});

await check('web_invite_keyboard_and_phone', async () => {
    await c.setViewportSize({ width: 390, height: 844 });
    await c.goto(urlC);
    await c.waitForSelector('#self-id', { state: 'attached' });
    await c.click('#menu');
    await c.waitForSelector('#join-open', { state: 'visible' });
    await c.focus('#add-peer-addr');
    const seen = [];
    for (let i = 0; i < 4 && !seen.includes('invite-open'); i++) {
        await c.keyboard.press('Shift+Tab');
        seen.push(await c.evaluate(() => document.activeElement.id));
    }
    expect(seen.includes('invite-open') && seen.includes('join-open'), `Tab order: ${seen.join(' ')}`);
    await c.focus('#join-open');
    await c.keyboard.press('Enter');
    await c.waitForSelector('#join-dialog[open]');
    expect(await c.evaluate(() => document.activeElement.id) === 'join-code', 'focus is not on the code field');
    const box = await c.locator('#join-dialog').boundingBox();
    const wide = await c.evaluate(() => document.documentElement.scrollWidth);
    expect(box && box.x >= 0 && box.x + box.width <= 390 && wide <= 390, `dialog ${JSON.stringify(box)}, page ${wide}`);
    await shotC(c, 'phone-join');
    await c.keyboard.press('Escape');
    await c.waitForSelector('#join-dialog', { state: 'hidden' });
    expect(await c.isVisible('#invite-open'), 'Escape in the dialog also closed the sidebar');
    expect(await c.evaluate(() => document.activeElement.id) === 'join-open', 'focus did not return to Join');
    await c.focus('#invite-open');
    await c.keyboard.press('Enter');
    await c.waitForSelector('#invite-dialog[open]');
    const ibox = await c.locator('#invite-dialog').boundingBox();
    expect(ibox && ibox.x >= 0 && ibox.x + ibox.width <= 390, `invite dialog ${JSON.stringify(ibox)}`);
    await shotC(c, 'phone-invite');
    await c.keyboard.press('Escape');
});

await check('web_invite_no_console_errors', async () => {
    // the failed joins answer with 4xx/5xx on purpose: the browser logs those responses
    const all = errors.flat().filter((e) => !/Failed to load resource/.test(e) || !/\/admin\/join/.test(e));
    expect(all.length === 0, all.join('\n'));
});
await close();
process.exit(failed() || !ok ? 1 : 0);
