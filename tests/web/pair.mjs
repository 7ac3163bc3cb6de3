// pair.mjs URL_A URL_B PEER_ADDR_B ARTIFACTS MODEL URL_C PEER_ADDR_C - nodes pair from their
// dashboards. A adds C by address and asks to pair; C's user sees the codes differ and says so:
// both dialogs say nothing was paired and neither sidebar lists the other. Then A adds B, Pair
// on A asks for B's ring and daily quota, then shows a 6-digit code, B's dashboard shows the
// incoming request with the same code, B picks "trusted" and a quota, both confirm, both
// sidebars list the other device without a reload, with the ring and quota each side chose
// (also in GET /admin/peers); a chat on A with a model only B has names B as the server.
import { check, expect, failed, launch, screenshotter, watchErrors } from './lib.mjs';

const [urlA, urlB, peerB, artifacts, model, urlC, peerC] = process.argv.slice(2);
const shotA = screenshotter(artifacts, 'pair-a');
const shotB = screenshotter(artifacts, 'pair-b');
const shotC = screenshotter(artifacts, 'pair-c');
const { context, close } = await launch();
const a = await context.newPage();
const b = await context.newPage();
const c = await context.newPage();
for (const p of [a, b, c]) p.setDefaultTimeout(30000);
const errors = [...[a, b, c].map(watchErrors)];
const selfA = await (await fetch(`${urlA}/admin/self`)).json();
const selfB = await (await fetch(`${urlB}/admin/self`)).json();
const selfC = await (await fetch(`${urlC}/admin/self`)).json();

let ok = await check('web_pair_dashboards_load', async () => {
    await a.goto(urlA);
    await b.goto(urlB);
    await a.waitForSelector('#self-id');
    await b.waitForSelector('#self-id');
    expect(await a.locator('#self-id').innerText() === selfA.id, 'A shows another id');
});

await check('web_pair_mismatch_rejected', async () => {
    await c.goto(urlC);
    await c.waitForSelector('#self-id');
    await a.fill('#add-peer-addr', peerC);
    await a.press('#add-peer-addr', 'Enter');
    await a.waitForSelector(`#nearby li[data-id="${selfC.id}"]`);
    await a.locator(`#nearby li[data-id="${selfC.id}"] button`).click();
    await a.waitForSelector('#pair-dialog[data-state="setup"] #pair-start');
    await a.click('#pair-start');
    await c.waitForSelector('#pair-dialog[open]');
    await c.waitForFunction(() => /^\d{3} \d{3}$/.test(document.getElementById('pair-code').textContent));
    await shotC(c, 'incoming');
    await c.click('#pair-reject');
    await c.waitForSelector('#pair-dialog[data-state="rejected"], #pair-dialog[data-state="failed"]');
    await a.waitForSelector('#pair-dialog[data-state="rejected"], #pair-dialog[data-state="failed"]');
    const textA = await a.locator('#pair-text').innerText();
    await shotA(a, 'rejected');
    await shotC(c, 'rejected');
    expect(/nothing was paired|cancel|reject|declin/i.test(textA), `A says: ${textA}`);
    expect(await a.isVisible('#pair-close') && !(await a.isVisible('#pair-accept')), 'A still offers to confirm');
    await a.click('#pair-close');
    await c.click('#pair-close');
    await a.waitForTimeout(1500);
    expect(await a.locator(`#paired li[data-id="${selfC.id}"]`).count() === 0, 'A lists C as paired');
    expect(await c.locator(`#paired li[data-id="${selfA.id}"]`).count() === 0, 'C lists A as paired');
});

ok = ok && await check('web_pair_add_by_address', async () => {
    await a.fill('#add-peer-addr', peerB);
    await a.press('#add-peer-addr', 'Enter');
    await a.waitForSelector(`#nearby li[data-id="${selfB.id}"]`);
    await shotA(a, 'nearby');
});

const QUOTA_A_FOR_B = 5000; // what B may use on A per day (chosen on A before starting)
const QUOTA_B_FOR_A = 12345; // what A may use on B per day (chosen on B when accepting)

ok = ok && await check('web_pair_choose_terms_first', async () => {
    await a.locator(`#nearby li[data-id="${selfB.id}"] button`).click();
    await a.waitForSelector('#pair-dialog[data-state="setup"]');
    expect(await a.isVisible('#pair-ring') && await a.isVisible('#pair-quota') &&
        await a.isVisible('#pair-start'), 'no ring / quota / start in the first step');
    expect(await a.evaluate(() => document.activeElement.id) === 'pair-ring', 'focus is not on the ring');
    await a.selectOption('#pair-ring', 'own');
    await a.fill('#pair-quota', '1.5');
    await a.click('#pair-start');
    expect(/whole number/.test(await a.locator('#pair-msg').innerText()), 'a bad quota was not refused');
    await a.fill('#pair-quota', String(QUOTA_A_FOR_B));
    await shotA(a, 'terms');
    await a.click('#pair-start');
});

ok = ok && await check('web_pair_same_code_on_both', async () => {
    await a.waitForFunction(() => /^\d{3} \d{3}$/.test(document.getElementById('pair-code').textContent));
    await b.waitForSelector('#pair-dialog[open]');
    await b.waitForFunction(() => /^\d{3} \d{3}$/.test(document.getElementById('pair-code').textContent));
    const codeA = await a.locator('#pair-code').innerText();
    const codeB = await b.locator('#pair-code').innerText();
    await shotA(a, 'code');
    await shotB(b, 'incoming');
    expect(codeA === codeB, `A shows ${codeA}, B shows ${codeB}`);
});

ok = ok && await check('web_pair_confirm_both', async () => {
    expect(await a.isDisabled('#pair-quota') && await a.inputValue('#pair-quota') === String(QUOTA_A_FOR_B),
        'A can still change the terms it started with, or lost them');
    expect(await b.isEnabled('#pair-ring') && await b.isEnabled('#pair-quota'), 'B cannot choose the terms');
    // B types its quota while the page keeps polling: focus must stay in the field
    await b.selectOption('#pair-ring', 'trusted');
    await b.click('#pair-quota');
    await b.fill('#pair-quota', '');
    await b.keyboard.type('123');
    await b.waitForTimeout(1500);
    await b.keyboard.type('45');
    expect(await b.inputValue('#pair-quota') === String(QUOTA_B_FOR_A),
        `typing was interrupted: ${await b.inputValue('#pair-quota')}`);
    await shotB(b, 'terms');
    await a.click('#pair-accept');
    await a.waitForFunction(() => /Waiting for/.test(document.getElementById('pair-text').textContent) ||
        document.getElementById('pair-dialog').dataset.state === 'done');
    await shotA(a, 'waiting');
    await b.click('#pair-accept');
    await a.waitForSelector('#pair-dialog[data-state="done"]');
    await b.waitForSelector('#pair-dialog[data-state="done"]');
    await shotA(a, 'done');
    await shotB(b, 'done');
    await a.click('#pair-close');
    await b.click('#pair-close');
});

ok = ok && await check('web_pair_sidebars_update', async () => {
    await a.waitForSelector(`#paired li[data-id="${selfB.id}"]`);
    await b.waitForSelector(`#paired li[data-id="${selfA.id}"]`);
    await a.waitForSelector(`#paired li[data-id="${selfB.id}"] .dot.on`);
    await shotA(a, 'paired');
    await shotB(b, 'paired');
});

ok = ok && await check('web_pair_ring_and_quota_stored', async () => {
    const onA = (await (await fetch(`${urlA}/admin/peers`)).json()).peers.find((p) => p.id === selfB.id);
    const onB = (await (await fetch(`${urlB}/admin/peers`)).json()).peers.find((p) => p.id === selfA.id);
    expect(onA && onA.ring === 'own' && onA.quota === QUOTA_A_FOR_B, `A has B as ${JSON.stringify(onA)}`);
    expect(onB && onB.ring === 'trusted' && onB.quota === QUOTA_B_FOR_A, `B has A as ${JSON.stringify(onB)}`);
    const rowA = await a.locator(`#paired li[data-id="${selfB.id}"] .quota`).innerText();
    const rowB = await b.locator(`#paired li[data-id="${selfA.id}"] .quota`).innerText();
    expect(/My device/.test(rowA) && rowA.includes('5,000'), `A's row: ${rowA}`);
    expect(/Trusted/.test(rowB) && rowB.includes('12,345'), `B's row: ${rowB}`);
});

ok = ok && await check('web_chat_served_by_peer', async () => {
    await a.waitForSelector(`#model option[value="${model}"]`, { state: 'attached' });
    await a.selectOption('#model', model);
    await a.selectOption('#ring', 'local');
    await a.fill('#prompt', 'Once upon a time');
    await a.press('#prompt', 'Enter');
    await a.waitForFunction(() => document.querySelector('#log .msg.assistant')?.dataset.outcome);
    const ans = a.locator('#log .msg.assistant').last();
    const served = await ans.getAttribute('data-served-by');
    const meta = await ans.locator('.meta').innerText();
    await shotA(a, 'chat-on-b');
    expect(await ans.getAttribute('data-outcome') !== 'error', `error: ${meta}`);
    expect(served === `peer:${selfB.id}`, `served by ${served}`);
    expect(meta.includes(selfB.name) && meta.includes(selfB.id.split('-')[0]) && /tokens\/s/.test(meta), `meta: ${meta}`);
    expect((await ans.locator('.body').innerText()).trim().length > 0, 'empty answer');
});

await check('web_pair_no_console_errors', async () => {
    const all = errors.flat();
    expect(all.length === 0, all.join('\n'));
});
await close();
process.exit(failed() || !ok ? 1 : 0);
