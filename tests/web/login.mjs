// login.mjs URL ARTIFACTS TOKEN - a node that requires its token: the page shell loads, shows
// the login form, refuses a wrong token, accepts the right one (kept in sessionStorage for this
// tab only) and then loads the node's data with it.
import { check, expect, failed, launch, screenshotter, watchErrors } from './lib.mjs';

const [url, artifacts, token] = process.argv.slice(2);
const shot = screenshotter(artifacts, 'login');
const { context, close } = await launch();
const page = await context.newPage();
page.setDefaultTimeout(20000);
watchErrors(page);

await check('web_login_form', async () => {
    await page.goto(url);
    await page.waitForSelector('#login-dialog[open]');
    await shot(page, 'form');
    await page.fill('#login-token', '0'.repeat(64));
    await page.press('#login-token', 'Enter');
    await page.waitForFunction(() => /not accepted/.test(document.getElementById('login-msg').textContent));
    expect(await page.evaluate(() => sessionStorage.length) === 0, 'a refused token was stored');
    await shot(page, 'refused');
    await page.fill('#login-token', token);
    await page.press('#login-token', 'Enter');
    await page.waitForSelector('#login-dialog', { state: 'hidden' });
    await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0);
    await page.reload();
    await page.waitForFunction(() => document.querySelectorAll('#model option').length > 0);
    expect(!(await page.isVisible('#login-dialog')), 'the token was not kept for the tab');
    await shot(page, 'signed-in');
});

await close();
process.exit(failed() ? 1 : 0);
