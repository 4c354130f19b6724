// Browser checks of the Sovgate plugin on the tests' real WordPress, in Debian's headless
// chromium driven by playwright-core (no browser download). Prints one JSON object with
// what it saw; tests/wordpress/test_wordpress.py judges it. Screenshots go to SG_ARTIFACTS.
//
// Environment: SG_URL, SG_USER, SG_PASS, SG_OLD_KEY (stored key), SG_NEW_KEY (typed in),
// SG_ARTIFACTS, SG_CHAT_PATH, SG_CHAT_QUESTION, SG_CHROMIUM (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import path from 'node:path';

const env = process.env;
const out = {};
const browser = await chromium.launch({
  executablePath: env.SG_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});

// Only the test site is reachable: everything else (gravatar, fonts, …) is refused at once.
async function context() {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  await ctx.route('**/*', (route) =>
    new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort());
  return ctx;
}

try {
  const admin = await context();
  const page = await admin.newPage();
  page.setDefaultTimeout(30000);
  await page.goto(`${env.SG_URL}/wp-login.php`);
  await page.fill('#user_login', env.SG_USER);
  await page.fill('#user_pass', env.SG_PASS);
  // Only the redirect matters (the login cookie is set): the dashboard it leads to loads
  // widgets and feeds this test does not use, and waiting for all of them once timed out.
  await Promise.all([page.waitForURL(/wp-admin/, { waitUntil: 'commit' }), page.click('#wp-submit')]);

  // The settings page as it renders.
  await page.goto(`${env.SG_URL}/wp-admin/options-general.php?page=sovgate`, { waitUntil: 'domcontentloaded' });
  out.heading = (await page.textContent('#sovgate-settings h1')).trim();
  out.fields = {};
  for (const id of ['sovgate_gateway_url', 'sovgate_api_key', 'sovgate_ca_bundle', 'sovgate_hosts', 'sovgate_chat_model']) {
    out.fields[id] = await page.locator(`#${id}`).count();
  }
  out.keyType = await page.getAttribute('#sovgate_api_key', 'type');
  out.keyValueBefore = await page.inputValue('#sovgate_api_key');
  out.keyStatusBefore = (await page.textContent('#sovgate_api_key_status')).trim();
  out.gatewayValue = await page.inputValue('#sovgate_gateway_url');
  out.hostsValue = await page.inputValue('#sovgate_hosts');
  out.status = (await page.textContent('#sovgate-status')).replace(/\s+/g, ' ').trim();
  out.nonceFields = await page.locator('#sovgate-settings-form input[name="_wpnonce"]').count();
  out.oldKeyInPage = (await page.content()).includes(env.SG_OLD_KEY);

  // Save: a new key, monitor mode, an extra host.
  await page.fill('#sovgate_api_key', env.SG_NEW_KEY);
  await page.check('input[name="sovgate_settings[mode]"][value="monitor"]');
  await page.fill('#sovgate_hosts', out.hostsValue + '\nllm.example.internal');
  await Promise.all([page.waitForURL(/settings-updated=true/), page.click('#sovgate-settings-form #submit')]);
  out.savedNotice = (await page.locator('.notice, .updated').allTextContents()).join(' ').replace(/\s+/g, ' ');
  out.keyValueAfter = await page.inputValue('#sovgate_api_key');
  out.keyStatusAfter = (await page.textContent('#sovgate_api_key_status')).trim();
  out.modeAfter = await page.locator('input[name="sovgate_settings[mode]"]:checked').getAttribute('value');
  out.hostsAfter = await page.inputValue('#sovgate_hosts');

  // Back to enforce, and an invalid gateway URL (refused, the old one kept).
  await page.check('input[name="sovgate_settings[mode]"][value="enforce"]');
  await page.fill('#sovgate_gateway_url', 'https://api.openai.com/v1');
  await Promise.all([page.waitForURL(/settings-updated=true/), page.click('#sovgate-settings-form #submit')]);
  out.invalidUrlNotice = (await page.locator('.notice-error, .error').allTextContents()).join(' ').replace(/\s+/g, ' ');
  out.gatewayAfterInvalid = await page.inputValue('#sovgate_gateway_url');

  // The connection test (the button posts to admin-post.php with a nonce).
  await Promise.all([page.waitForURL(/sovgate-tested=1/), page.click('#sovgate-test')]);
  out.testResult = (await page.textContent('#sovgate-test-result')).replace(/\s+/g, ' ').trim();
  const html = await page.content();
  out.oldKeyInPageAfter = html.includes(env.SG_OLD_KEY);
  out.newKeyInPageAfter = html.includes(env.SG_NEW_KEY);
  await page.screenshot({ path: path.join(env.SG_ARTIFACTS, 'wordpress-settings.png'), fullPage: true });

  // Site Health's Info tab lists Sovgate without the key.
  await page.goto(`${env.SG_URL}/wp-admin/site-health.php?tab=debug`);
  const info = await page.content();
  out.siteHealthInfo = info.includes('Sovgate');
  out.newKeyInSiteHealth = info.includes(env.SG_NEW_KEY);
  await admin.close();

  // A visitor asks on the chat page: the answer streams in through the site's REST route.
  const visitor = await context();
  const vpage = await visitor.newPage();
  vpage.setDefaultTimeout(30000);
  await vpage.goto(`${env.SG_URL}${env.SG_CHAT_PATH}`);
  await vpage.fill('.sovgate-chat__input', env.SG_CHAT_QUESTION);
  await vpage.click('.sovgate-chat__send');
  const answer = vpage.locator('.sovgate-chat__message--assistant').first();
  await vpage.waitForFunction(
    () => {
      const a = document.querySelector('.sovgate-chat__message--assistant');
      return a && a.textContent.length > 3 && !document.querySelector('.sovgate-chat__send').disabled;
    });
  out.chatAnswer = await answer.textContent();
  out.chatError = await answer.evaluate((el) => el.classList.contains('is-error'));
  await vpage.screenshot({ path: path.join(env.SG_ARTIFACTS, 'wordpress-chat.png'), fullPage: true });
  await visitor.close();
} catch (e) {
  out.exception = String(e && e.stack || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
