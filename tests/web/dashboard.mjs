// dashboard.mjs URL ARTIFACTS PULL_URL MODEL - the dashboard of one node in headless Chromium:
// the page loads under its CSP without console errors, the sidebar lists the node's model, a
// chat answer streams with its served-by line and tokens/s, Stop ends a stream, a second turn
// sends the history, a model answer full of HTML and link tricks shows as text, a pull shows
// progress to completion and the model can be deleted, the main controls work by keyboard, the
// page fits a phone's width, the cluster view lists this device. Screenshots go to ARTIFACTS.
// WEB_MODULES (the names of web/*.js) must all load as JavaScript with no error on the way; if
// they do not, the cases that need a working page are not run.
import { check, expect, failed, launch, screenshotter, watchErrors, watchScripts } from './lib.mjs';

const [url, artifacts, pullUrl, model] = process.argv.slice(2);
const shot = screenshotter(artifacts, 'dashboard');
const { context, close } = await launch();
const page = await context.newPage();
page.setDefaultTimeout(20000);
const errors = watchErrors(page, true);
const scripts = watchScripts(page);
const modules = (process.env.WEB_MODULES || '').split(/\s+/).filter(Boolean);
let dialogs = 0;
page.on('dialog', (d) => {
    dialogs++;
    d.dismiss().catch(() => {});
});

const lastAnswer = () => page.locator('#log .msg.assistant').last();
async function ask(text) {
    const before = await page.locator('#log .msg.assistant').count();
    await page.fill('#prompt', text);
    await page.press('#prompt', 'Enter');
    await page.waitForFunction((n) => {
        const a = document.querySelectorAll('#log .msg.assistant');
        return a.length > n && a[a.length - 1].dataset.outcome;
    }, before);
    return lastAnswer();
}

await check('web_page_loads', async () => {
    const res = await page.goto(url);
    expect(res.status() === 200, `GET / answered ${res.status()}`);
    const hd = res.headers();
    expect(/default-src 'self'/.test(hd['content-security-policy'] || ''), `CSP: ${hd['content-security-policy']}`);
    expect(/frame-ancestors 'none'/.test(hd['content-security-policy'] || ''), 'CSP without frame-ancestors');
    expect(hd['x-frame-options'] === 'DENY', `X-Frame-Options: ${hd['x-frame-options']}`);
    expect(hd['x-content-type-options'] === 'nosniff', 'no nosniff');
    expect(hd['referrer-policy'] === 'no-referrer', `Referrer-Policy: ${hd['referrer-policy']}`);
    await page.waitForSelector(`#model option[value="${model}"]`, { state: 'attached' });
    await shot(page, 'loaded');
});

// A module that is missing, served with the wrong type, or that imports a name its dependency
// does not export stops the whole module graph: fail here, by name, rather than by a timeout.
const modulesLoad = await check('web_modules_load', async () => {
    expect(modules.includes('app.js'), `WEB_MODULES lists no app.js: '${modules.join(' ')}'`);
    expect(errors.length === 0, `errors while loading:\n${errors.join('\n')}`);
    const bad = scripts.filter((s) => s.status !== 200 || !/^text\/javascript/.test(s.type));
    expect(bad.length === 0, `scripts not loaded as JavaScript: ${JSON.stringify(bad)}`);
    const loaded = new Set(scripts.map((s) => s.name));
    const missing = modules.filter((m) => !loaded.has(m));
    expect(missing.length === 0, `modules the page never loaded: ${missing.join(' ')}`);
});
if (!modulesLoad) {
    await close();
    process.exit(1);
}

await check('web_sidebar_lists_models', async () => {
    await page.waitForSelector(`#models li[data-model="${model}"]`);
    const self = await page.locator('#self').innerText();
    expect(self.length > 0, 'the This device section is empty');
});

await check('web_chat_answer_served_by_local', async () => {
    const a = await ask('Once upon a time');
    expect(await a.getAttribute('data-outcome') !== 'error', `error: ${await a.innerText()}`);
    const body = await a.locator('.body').innerText();
    expect(body.trim().length > 0, 'empty answer');
    expect(await a.getAttribute('data-served-by') === 'local', 'served-by is not local');
    const meta = await a.locator('.meta').innerText();
    expect(/Served by this device/.test(meta), `meta: ${meta}`);
    expect(/[0-9.]+ tokens\/s/.test(meta), `no tokens/s in: ${meta}`);
    await shot(page, 'chat-local');
});

// Throttle the page's network so that tokens arrive one by one, then watch them come in.
const cdp = await context.newCDPSession(page);
const throttle = (bytesPerS) => cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 0, downloadThroughput: bytesPerS, uploadThroughput: -1,
});

await check('web_chat_streams_and_sends_history', async () => {
    let sent = null;
    const onReq = (r) => {
        if (r.url().endsWith('/v1/chat/completions')) sent = JSON.parse(r.postData() || '{}');
    };
    page.on('request', onReq);
    await cdp.send('Network.enable');
    await throttle(1500);
    await page.evaluate(() => {
        window.__lengths = new Set();
        const log = document.getElementById('log');
        new MutationObserver(() => {
            const a = log.querySelectorAll('.msg.assistant');
            const last = a[a.length - 1];
            if (last && last.classList.contains('streaming')) window.__lengths.add(last.querySelector('.body').textContent.length);
        }).observe(log, { subtree: true, childList: true, characterData: true });
    });
    await page.fill('#max-tokens', '40');
    const a = await ask('The little dog');
    await throttle(-1);
    page.off('request', onReq);
    const n = await page.evaluate(() => window.__lengths.size);
    expect(n >= 3, `the answer appeared in ${n} steps, not streamed`);
    expect(sent && sent.stream === true && sent.messages.length === 3,
        `request: ${JSON.stringify(sent)}`);
    expect(sent.messages[0].content === 'Once upon a time' && sent.messages[1].role === 'assistant',
        'the history was not sent');
    expect(await a.getAttribute('data-outcome') !== 'error', 'error');
});

await check('web_stop_button', async () => {
    await throttle(600);
    await page.fill('#max-tokens', '400');
    await page.fill('#prompt', 'Tell me a long story');
    await page.click('#send');
    await page.waitForFunction(() => {
        const a = document.querySelectorAll('#log .msg.assistant');
        const last = a[a.length - 1];
        return last.classList.contains('streaming') && last.querySelector('.body').textContent.length > 0;
    });
    expect(await page.isEnabled('#stop'), 'Stop is disabled while streaming');
    expect(await page.isDisabled('#send'), 'Send is enabled while streaming');
    await shot(page, 'streaming');
    await page.click('#stop');
    await page.waitForFunction(() => document.querySelector('#log .msg.assistant:last-child')?.dataset.outcome);
    await throttle(-1);
    const a = lastAnswer();
    expect(await a.getAttribute('data-outcome') === 'stopped', `outcome ${await a.getAttribute('data-outcome')}`);
    expect(/stopped/.test(await a.locator('.meta').innerText()), 'meta does not say stopped');
    expect(await page.isDisabled('#stop') && await page.isEnabled('#send'), 'buttons not reset');
    await shot(page, 'stopped');
});
await page.fill('#max-tokens', '64');

await check('web_model_output_is_text', async () => {
    const evil = 'Look: <script>alert(1)</script> and [x](javascript:alert(1)) and ' +
        '<img src=x onerror=alert(1)> and [y](  javascript:window.__xss=1 ) and ' +
        '<a href="javascript:alert(2)">z</a> **bold** [safe](https://example.com/a?b=c)\n\n' +
        '```html\n<script>window.__xss=1</script>\n```\n\n- item <b>one</b>\n- `<i>code</i>`';
    const chunks = [];
    for (let i = 0; i < evil.length; i += 7) chunks.push(evil.slice(i, i + 7));
    const events = [{ choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] },
        ...chunks.map((c) => ({ choices: [{ index: 0, delta: { content: c } }] })),
        { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
        { choices: [], usage: { prompt_tokens: 3, completion_tokens: chunks.length, total_tokens: chunks.length + 3 } }];
    const body = events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('') + 'data: [DONE]\n\n';
    await page.route('**/v1/chat/completions', (route) => route.fulfill({
        status: 200, body,
        headers: { 'Content-Type': 'text/event-stream', 'X-Unhosted-Served-By': 'local' },
    }));
    const a = await ask('show me html');
    await page.unroute('**/v1/chat/completions');
    const text = await a.locator('.body').innerText();
    for (const s of ['<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '[x](javascript:alert(1))',
        '<a href="javascript:alert(2)">z</a>', '<script>window.__xss=1</script>', '<b>one</b>', '<i>code</i>']) {
        expect(text.includes(s), `not shown as text: ${s}\n${text}`);
    }
    const found = await a.evaluate((el) => ({
        scripts: el.querySelectorAll('script').length,
        imgs: el.querySelectorAll('img').length,
        bad: [...el.querySelectorAll('a')].filter((x) => !/^https:/.test(x.href)).length,
        links: [...el.querySelectorAll('a')].map((x) => [x.href, x.rel]),
        tags: [...el.querySelectorAll('*')].map((x) => x.tagName.toLowerCase()),
        xss: window.__xss,
    }));
    expect(found.scripts === 0 && found.imgs === 0 && found.bad === 0, `elements: ${JSON.stringify(found)}`);
    expect(found.links.length === 1 && found.links[0][1] === 'noopener noreferrer', `links: ${JSON.stringify(found.links)}`);
    const allowed = new Set(['p', 'strong', 'em', 'a', 'span', 'div', 'pre', 'code', 'button', 'ul', 'ol', 'li']);
    expect(found.tags.every((t) => allowed.has(t)), `unexpected elements: ${found.tags}`);
    expect(found.xss === undefined && dialogs === 0, 'script ran');
    expect(text.includes('(https://example.com/a?b=c)'), 'the link URL is not shown as text');
    await shot(page, 'xss-as-text');
});

await check('web_pull_progress', async () => {
    await page.fill('#pull-name', pullUrl);
    await page.check('#pull-insecure');
    await page.click('#pull-start');
    await page.waitForFunction(() => /Downloading .*[1-9][0-9]*%/.test(document.getElementById('pull-text').textContent));
    const mid = await page.evaluate(() => [document.getElementById('pull-progress').value, document.getElementById('pull-progress').max]);
    await shot(page, 'pull-progress');
    await page.waitForSelector('#pull-status.ok, #pull-status.bad', { timeout: 60000 });
    const text = await page.locator('#pull-text').innerText();
    expect(await page.locator('#pull-status.ok').count() === 1, `pull failed: ${text}`);
    const end = await page.evaluate(() => [document.getElementById('pull-progress').value, document.getElementById('pull-progress').max]);
    expect(mid[0] < mid[1] && end[0] === end[1], `progress mid ${mid} end ${end}`);
    await page.waitForSelector('#models li[data-model^="tiny"]');
    await shot(page, 'pull-done');
});

await check('web_delete_model', async () => {
    const row = page.locator('#models li[data-model^="tiny"]');
    await row.locator('button').click();
    expect(/Really/.test(await row.locator('button').innerText()), 'no confirmation step');
    await row.locator('button').click();
    await page.waitForSelector('#models li[data-model^="tiny"]', { state: 'detached' });
});

await check('web_keyboard', async () => {
    await page.goto(url);
    await page.waitForSelector(`#model option[value="${model}"]`, { state: 'attached' });
    const seen = [];
    for (let i = 0; i < 40; i++) {
        await page.keyboard.press('Tab');
        seen.push(await page.evaluate(() => document.activeElement.id || document.activeElement.className));
    }
    for (const id of ['tab-chat', 'tab-cluster', 'pull-name', 'pull-start', 'model', 'ring', 'prompt', 'send']) {
        expect(seen.includes(id), `Tab never reaches #${id}: ${seen.join(' ')}`);
    }
    // the skip link leads to the prompt; Enter sends from there
    await page.goto(url);
    await page.waitForSelector(`#model option[value="${model}"]`, { state: 'attached' });
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement.className) === 'skip', 'the first Tab is not the skip link');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement.id === 'prompt');
    await page.keyboard.type('Hello');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('#log .msg.assistant')?.dataset.outcome);
    // the cluster tab by keyboard
    await page.focus('#tab-cluster');
    await page.keyboard.press('Enter');
    expect(await page.isVisible('#view-cluster'), 'Enter on Cluster did not switch the view');
    await page.waitForSelector('#cluster-rows tr[data-id="this"]');
    const row = await page.locator('#cluster-rows tr[data-id="this"]').innerText();
    expect(/[0-9.]+/.test(row.split('\t').pop()), `no recent tokens/s: ${row}`);
    await shot(page, 'cluster');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Enter');
    expect(await page.isVisible('#view-chat'), 'Enter on Chat did not switch back');
});

await check('web_phone_width', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(url);
    await page.waitForSelector(`#model option[value="${model}"]`, { state: 'attached' });
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(wide <= 390, `the page is ${wide} px wide at 390`);
    expect(await page.isVisible('#menu') && await page.isVisible('#prompt'), 'menu or prompt hidden');
    expect(!(await page.isVisible('#pull-name')), 'the sidebar covers the chat');
    await shot(page, 'phone');
    await page.click('#menu');
    await page.waitForSelector('#pull-name', { state: 'visible' });
    expect(await page.getAttribute('#menu', 'aria-expanded') === 'true', 'aria-expanded not set');
    await shot(page, 'phone-menu');
    await page.keyboard.press('Escape');
    await page.waitForSelector('#pull-name', { state: 'hidden' });
});

await check('web_no_console_errors', async () => {
    expect(errors.length === 0, errors.join('\n'));
});

await close();
process.exit(failed() ? 1 : 0);
