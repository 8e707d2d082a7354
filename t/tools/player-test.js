#!/usr/bin/env node
// The web player (www/) end to end in headless Chromium, driven by
// playwright-core with Debian's /usr/bin/chromium:
//
//   node t/tools/player-test.js BASE_URL ACCESS_LOG SCREENSHOT_DIR
//
// BASE_URL serves the player and the API, with audio for songs 1 and 2
// (131 s) and 3 of album 1 ("The Blueprint", Jay-Z) of t/data/catalog.json.
// Prints one TAP line per check ("ok - ..." / "not ok - ... # why"), which
// t/200-player.t turns into its tests.  With TS_RECORD=DIR, every API
// response the browser receives is appended to DIR/browser-PID.jsonl for
// t/tools/openapi-check.js, as the harness records its own.

'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [base, accessLog, shots] = process.argv.slice(2);
if (!base || !accessLog || !shots) {
  console.error('usage: player-test.js BASE_URL ACCESS_LOG SCREENSHOT_DIR');
  process.exit(2);
}
fs.mkdirSync(shots, { recursive: true });

const chromiumPath = process.env.TS_CHROMIUM || '/usr/bin/chromium';
const STEP = 15000;
let failures = 0;

function report(ok, name, why) {
  if (!ok) failures++;
  console.log(`${ok ? 'ok' : 'not ok'} - ${name}${ok || !why ? '' : ` # ${String(why).replace(/\s+/g, ' ').slice(0, 300)}`}`);
}

// runs a check; an exception is its failure, and the run goes on
async function check(name, fn) {
  try {
    const r = await fn();
    report(r !== false, name, r === false ? 'condition false' : undefined);
  } catch (e) {
    report(false, name, e.message);
  }
}

// what the browser received from the API, for the OpenAPI check
const pending = [];
function recorder(page) {
  const dir = process.env.TS_RECORD;
  if (!dir) return;
  const file = path.join(dir, `browser-${process.pid}.jsonl`);
  page.on('response', (res) => {
    const url = new URL(res.url());
    if (!url.pathname.startsWith('/api/v1/')) return;
    pending.push((async () => {
      const headers = await res.allHeaders();
      const type = headers['content-type'] || '';
      let status = res.status();
      // a cached answer the server confirmed (If-None-Match: 304) is shown
      // as a 200 with the 304's headers: record what the server sent
      if (status === 200 && !type && !headers['content-length']
          && !headers['transfer-encoding']) {
        status = 304;
      }
      let body = null;
      let length = Number(headers['content-length'] || 0);
      if (/^(application\/json|text\/)/.test(type) && status !== 304
          && res.request().method() !== 'HEAD') {
        try {
          body = await res.text();
          length = Buffer.byteLength(body);
        } catch (e) {
          return;     // gone with its page
        }
      }
      fs.appendFileSync(file, JSON.stringify({
        suite: 't/200-player.t', block: 'Chromium',
        method: res.request().method(), target: url.pathname + url.search,
        status, headers, length: status === 304 ? 0 : length, body,
      }) + '\n');
    })().catch(() => {}));
  });
}

const log206 = () => fs.readFileSync(accessLog, 'utf8').split('\n')
  .filter((l) => / "GET \/api\/v1\/songs\/\d+\/stream\?[^"]*" 206 /.test(l));

async function main() {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required',
           '--mute-audio', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    await desktop(browser);
    await phone(browser);
  } finally {
    await Promise.all(pending);
    await browser.close();
  }
}

async function desktop(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  recorder(page);
  page.setDefaultTimeout(STEP);

  const names = () => page.$$eval('#list li .name', (n) => n.map((x) => x.textContent));
  const audio = (fn) => page.$eval('#audio', fn);

  await check('the player loads at / with the first page of artists', async () => {
    await page.goto(`${base}/?limit=3`);
    await page.waitForSelector('#list li[data-artist]');
    const n = await names();
    if (n.length !== 3) throw new Error(`${n.length} artists shown: ${n}`);
    return (await page.title()).includes('Tunesheap');
  });
  const first = await names().catch(() => []);
  await page.screenshot({ path: path.join(shots, 'artists.png') });

  await check('Next page shows the following artists (after=)', async () => {
    await page.click('#next-page');
    await page.waitForFunction((f) => {
      const n = [...document.querySelectorAll('#list li .name')].map((x) => x.textContent);
      return n.length && n[0] !== f;
    }, first[0]);
    if (!/after=/.test(page.url())) throw new Error(`url ${page.url()}`);
    const n = await names();
    return !n.some((x) => first.includes(x)) && n.includes('Jay-Z');
  });

  await check('Previous page goes back (before=)', async () => {
    await page.click('#prev-page');
    await page.waitForFunction((f) => document.querySelector('#list li .name')
      && document.querySelector('#list li .name').textContent === f, first[0]);
    if (!/before=/.test(page.url())) throw new Error(`url ${page.url()}`);
    await page.click('#next-page');
    await page.waitForSelector('#list li[data-artist="4"]');
    return true;
  });

  await check('browse: an artist shows its albums', async () => {
    await page.click('#list li[data-artist="4"] a');
    await page.waitForSelector('#list li[data-album]');
    const t = await page.textContent('#title');
    const n = await names();
    if (t !== 'Jay-Z') throw new Error(`title ${t}`);
    return n.includes('The Blueprint');
  });

  await check('browse: an album shows its songs by track, paged', async () => {
    await page.click('#list li[data-album="1"] a');
    await page.waitForSelector('#list li[data-song]');
    const n = await names();
    if (n.join('|') !== "The Ruler's Back|Takeover|Izzo (H.O.V.A.)") {
      throw new Error(`songs ${n}`);
    }
    const info = await page.textContent('#page-info');
    return /1–3 of 4/.test(info) && !(await page.isDisabled('#next-page'));
  });

  await check('play: the song plays through its stream_url, time advances', async () => {
    await page.click('#list li[data-song="1"] button');
    await page.waitForFunction(() => {
      const a = document.getElementById('audio');
      return !a.paused && a.currentTime > 1.5;
    }, null, { timeout: 20000 });
    const src = await audio((a) => a.currentSrc);
    if (!/\/api\/v1\/songs\/1\/stream\?expires=\d+&key=[^&]+&signature=/.test(src)) {
      throw new Error(`src ${src}`);
    }
    return (await page.textContent('#now-title')) === "The Ruler's Back";
  });
  await page.screenshot({ path: path.join(shots, 'playing.png') });

  await check('the access log shows 206 answers for the stream', async () => {
    for (let i = 0; i < 30 && !log206().length; i++) {
      await page.waitForTimeout(200);
    }
    const lines = log206();
    if (!lines.length) throw new Error('no 206 in ' + accessLog);
    return true;
  });

  await check('seek: jumping to 100 s plays from there (Range)', async () => {
    const before = log206().length;
    await audio((a) => { a.currentTime = 100; });
    await page.waitForFunction(() => {
      const a = document.getElementById('audio');
      return !a.seeking && !a.paused && a.currentTime > 101;
    }, null, { timeout: 20000 });
    const t = await audio((a) => a.currentTime);
    if (t < 100 || t > 125) throw new Error(`currentTime ${t}`);
    // Chromium asked for bytes from the middle of the file, or had them
    const ranges = log206().length;
    return ranges >= before;
  });

  await check('keyboard: → seeks 10 s forward', async () => {
    const t0 = await audio((a) => a.currentTime);
    await page.focus('#main');
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction((t) => document.getElementById('audio').currentTime >= t + 9,
      t0);
    return true;
  });

  await check('next song: the queue plays the album\'s next song', async () => {
    const count = await page.textContent('#queue-count');
    if (count !== '3') throw new Error(`queue of ${count}`);  // song 12 has no audio
    await page.click('#next');
    await page.waitForFunction(() => {
      const a = document.getElementById('audio');
      return /\/songs\/2\/stream/.test(a.currentSrc) && !a.paused && a.currentTime > 1;
    }, null, { timeout: 20000 });
    return (await page.textContent('#now-title')) === 'Takeover';
  });

  await check('keyboard: p goes back, space pauses', async () => {
    await page.focus('#main');
    await page.keyboard.press('p');
    await page.waitForFunction(() => /\/songs\/1\/stream/.test(
      document.getElementById('audio').currentSrc));
    await page.waitForFunction(() => !document.getElementById('audio').paused);
    const t = await audio((a) => a.currentTime);
    if (t > 5) throw new Error(`song 1 again, from ${t} s, not its start`);
    await page.keyboard.press(' ');
    await page.waitForFunction(() => document.getElementById('audio').paused
      && document.getElementById('play').getAttribute('aria-label').startsWith('Play'));
    return true;
  });

  await check('search as you type: "jay" finds Jay-Z (prefix search)', async () => {
    await page.keyboard.press('/');
    await page.keyboard.type('ja', { delay: 60 });
    await page.keyboard.type('y', { delay: 60 });
    await page.waitForFunction(() => [...document.querySelectorAll('#results button')]
      .some((b) => b.textContent === 'Jay-Z'));
    return true;
  });

  await check('search: "karma pol" finds the song, plays it from the keyboard', async () => {
    await page.fill('#q', '');
    await page.keyboard.type('karma pol', { delay: 40 });
    await page.waitForFunction(() => [...document.querySelectorAll('#results button')]
      .some((b) => b.textContent.startsWith('Karma Police')));
    await page.keyboard.press('ArrowDown');
    const focused = await page.evaluate(() => document.activeElement.textContent);
    return focused.startsWith('Karma Police');
  });
  await page.screenshot({ path: path.join(shots, 'search.png') });

  await check('search: Enter on an artist opens it', async () => {
    await page.fill('#q', 'jay');
    await page.waitForFunction(() => [...document.querySelectorAll('#results button')]
      .some((b) => b.textContent === 'Jay-Z'));
    await page.focus('#q');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => location.hash === '#/artists/4');
    await page.waitForFunction(() => document.getElementById('title').textContent === 'Jay-Z');
    return await page.isHidden('#results');
  });

  await check('an API error is shown to the user (404)', async () => {
    await page.goto(`${base}/?limit=3#/artists/999999`);
    await page.waitForSelector('#error:not([hidden])');
    const t = await page.textContent('#error-text');
    if (t !== 'The server answered 404: artist 999999 not found.') {
      throw new Error(`message "${t}"`);
    }
    const title = await page.textContent('#title');
    const rows = await page.$$eval('#list li', (l) => l.length);
    if (title !== 'Not found' || rows) {
      throw new Error(`the page still shows "${title}", ${rows} rows`);
    }
    return page.isVisible('#error-retry');
  });
  await page.screenshot({ path: path.join(shots, 'error.png') });

  await check('an unreachable server is said so, and Retry recovers', async () => {
    await page.goto(`${base}/?limit=3#/artists`);
    await page.waitForSelector('#list li[data-artist]');
    await page.route('**/api/v1/**', (r) => r.abort('connectionrefused'));
    await page.click('#next-page');
    await page.waitForSelector('#error:not([hidden])');
    const t = await page.textContent('#error-text');
    if (!/^Cannot reach the Tunesheap server/.test(t)) throw new Error(`message "${t}"`);
    await page.unroute('**/api/v1/**');
    await page.click('#error-retry');
    await page.waitForSelector('#list li[data-artist="4"]');
    return page.isHidden('#error');
  });

  await check('the API description is linked and served', async () => {
    const href = await page.getAttribute('.api-link', 'href');
    const res = await page.request.get(base + href);
    const doc = await res.json();
    return res.status() === 200 && doc.openapi === '3.1.0';
  });

  // the README's picture: an album, a song playing
  await page.goto(`${base}/#/albums/1`);
  await page.waitForSelector('#list li[data-song]');
  await page.click('#list li[data-song="2"] button');
  await page.waitForFunction(() => document.getElementById('audio').currentTime > 1,
    null, { timeout: 20000 }).catch(() => {});
  await page.waitForTimeout(1200);      // the controls' clock catches up
  await page.screenshot({ path: path.join(shots, 'player.png') });

  await check('no script errors in the page', async () => {
    if (consoleErrors.length) throw new Error(consoleErrors.join('; '));
    return true;
  });
  await context.close();
}

async function phone(browser) {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2,
    isMobile: true, hasTouch: true,
  });
  const page = await context.newPage();
  recorder(page);
  page.setDefaultTimeout(STEP);

  await check('phone: the page fits a 390 px screen, nothing wider', async () => {
    await page.goto(`${base}/#/albums/1`);
    await page.waitForSelector('#list li[data-song]');
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    if (w > 390) throw new Error(`scrollWidth ${w}`);
    const box = await page.locator('#q').boundingBox();
    const player = await page.locator('.player').boundingBox();
    if (box.width < 300) throw new Error(`search box ${box.width} px wide`);
    return player.y + player.height <= 844 + 1 && player.y > 0;
  });

  await check('phone: tapping a song plays it', async () => {
    await page.tap('#list li[data-song="3"] button');
    await page.waitForFunction(() => {
      const a = document.getElementById('audio');
      return /\/songs\/3\/stream/.test(a.currentSrc) && a.currentTime > 0.5;
    }, null, { timeout: 20000 });
    return true;
  });
  await page.screenshot({ path: path.join(shots, 'phone.png') });
  await context.close();
}

main().then(() => {
  process.exit(failures ? 1 : 0);
}, (e) => {
  console.log(`not ok - the browser ran # ${e.message.replace(/\s+/g, ' ')}`);
  process.exit(1);
});
