// End-to-end tests of the pgtide console in headless Chromium, as a user would click through it.
//
// tests/it/console_browser.rs starts a real `pgtide run --http` on a fresh database, fills it with
// work, runs this file with `node --test`, and then checks the database rows behind every click
// (pause, trigger, retry, cancel, and the audit log's `console` surface). This file checks what the
// browser sees. Environment:
//   PGTIDE_URL    the console's base URL        PGTIDE_TOKEN  the API token
//   DEAD_ID       a dead execution to retry     CANCEL_ID     a scheduled execution to cancel
//   SCREENSHOTS   directory for one PNG per page

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.PGTIDE_URL;
const token = process.env.PGTIDE_TOKEN;
const deadId = process.env.DEAD_ID;
const cancelId = process.env.CANCEL_ID;
const shots = process.env.SCREENSHOTS || "target/console-screenshots";
for (const [name, value] of Object.entries({ PGTIDE_URL: base, PGTIDE_TOKEN: token, DEAD_ID: deadId, CANCEL_ID: cancelId })) {
  assert.ok(value, `${name} must be set (tests/it/console_browser.rs sets it)`);
}
mkdirSync(shots, { recursive: true });

let browser;
let context;
let page;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
  page = await context.newPage();
  page.on("dialog", (dialog) => dialog.accept());
});

after(async () => {
  await browser?.close();
});

async function shot(name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** Clicks `button` inside `scope` and waits for the page the action redirects to. */
async function clickAndWait(locator) {
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), locator.click()]);
}

test("a page without a session sends the user to the login form", async () => {
  const response = await page.goto(`${base}/tasks`);
  assert.equal(response.status(), 200);
  assert.match(page.url(), /\/login\?next=%2Ftasks$/);
  assert.equal(await page.locator("input#token").count(), 1);
  await shot("login");
});

test("a wrong token is refused and sets no cookie", async () => {
  await page.fill("input#token", "not-the-token");
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/login") && r.request().method() === "POST"),
    page.click("button[type=submit]"),
  ]);
  assert.equal(response.status(), 401);
  await page.waitForSelector(".banner.error");
  assert.match(await page.textContent(".banner.error"), /Wrong token/);
  const cookies = await context.cookies();
  assert.equal(cookies.filter((c) => c.name === "pgtide_session").length, 0);
});

test("the token logs in with an HttpOnly, SameSite=Strict cookie", async () => {
  await page.fill("input#token", token);
  await clickAndWait(page.locator("button[type=submit]"));
  assert.equal(new URL(page.url()).pathname, "/tasks");
  const session = (await context.cookies()).find((c) => c.name === "pgtide_session");
  assert.ok(session, "a session cookie");
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Strict");
  // Scripts cannot read it.
  assert.equal(await page.evaluate(() => document.cookie.includes("pgtide_session")), false);
});

test("the overview shows the queues with their counts", async () => {
  await page.goto(`${base}/`);
  const mail = page.locator('tr[data-queue="mail"]');
  await mail.waitFor();
  const cells = await mail.locator("td").allTextContents();
  assert.equal(cells[0], "mail");
  assert.equal(cells[1], "active");
  assert.equal(cells[7], "3", `dead count of mail in ${cells}`);
  const defaults = await page.locator('tr[data-queue="default"] td').allTextContents();
  assert.equal(defaults[5], "20", `succeeded count of default in ${defaults}`);
  assert.ok(await page.locator('tr[data-queue="default"] svg.spark').count(), "a sparkline");
  // The alert rule on mail fires, and every page shows it.
  await page.locator(".banner.firing").waitFor();
  assert.match(await page.textContent(".banner.firing"), /mail failing/);
  await shot("overview");
});

test("pausing a queue marks it paused", async () => {
  await clickAndWait(page.locator('tr[data-queue="default"] button', { hasText: "Pause" }));
  assert.match(await page.textContent(".banner.done"), /Paused queue default\./);
  assert.equal(await page.locator('tr[data-queue="default"] td').nth(1).textContent(), "paused");
});

test("a form without its CSRF token is rejected and changes nothing", async () => {
  const without = await page.request.post(`${base}/queues/mail/pause`, { form: { back: "/" }, maxRedirects: 0 });
  assert.equal(without.status(), 403);
  assert.match(await without.text(), /CSRF/);
  const wrong = await page.request.post(`${base}/queues/mail/pause`, {
    form: { back: "/", csrf: "0".repeat(64) },
    maxRedirects: 0,
  });
  assert.equal(wrong.status(), 403);
  await page.goto(`${base}/`);
  assert.equal(await page.locator('tr[data-queue="mail"] td').nth(1).textContent(), "active");
});

test("the tasks page says the schedule in words and triggers a task", async () => {
  await page.goto(`${base}/tasks`);
  const row = page.locator('tr[data-task="nightly"]');
  await row.waitFor();
  assert.match(await row.textContent(), /every day at 02:30 Europe\/Berlin/);
  assert.equal(await row.locator("td.runs div").count(), 5, "the next five runs");
  await shot("tasks");
  await clickAndWait(row.locator("button", { hasText: "Trigger now" }));
  assert.match(await page.textContent(".banner.done"), /Triggered task nightly: execution \d+\./);
});

test("a dead letter is retried from the dead-letter page", async () => {
  await page.goto(`${base}/dead-letters`);
  const row = page.locator(`tr[data-id="${deadId}"]`);
  await row.waitFor();
  await shot("dead-letters");
  await clickAndWait(row.locator("button", { hasText: "Retry" }));
  assert.match(await page.textContent(".banner.done"), new RegExp(`Requeued dead execution ${deadId} as \\d+\\.`));
});

test("an execution's page shows its retry chain, and cancel works", async () => {
  await page.goto(`${base}/executions/${deadId}`);
  const chain = page.locator("table.chain tbody tr");
  assert.equal(await chain.count(), 2, "the dead attempt and its requeue");
  assert.match(await page.locator("table.chain").textContent(), /dead/);
  await shot("execution");
  await page.goto(`${base}/executions?status=scheduled`);
  const row = page.locator(`tr[data-id="${cancelId}"]`);
  await row.waitFor();
  await shot("executions");
  await clickAndWait(row.locator("button", { hasText: "Cancel" }));
  assert.match(await page.textContent(".banner.done"), new RegExp(`Cancelled execution ${cancelId} \\(it was scheduled\\)\\.`));
});

test("charts, workers, alerts and the audit log render", async () => {
  await page.goto(`${base}/charts`);
  assert.ok(await page.locator("svg.chart").count() >= 2, "one chart per queue");
  assert.ok(await page.locator("svg.chart rect.ok").count() >= 1, "succeeded bars");
  assert.ok(await page.locator("svg.chart rect.failed").count() >= 1, "failed bars");
  await shot("charts");

  await page.goto(`${base}/workers`);
  assert.equal(await page.locator("table.workers tbody tr").count(), 1);
  assert.match(await page.locator("table.workers").textContent(), /live/);
  assert.match(await page.textContent("main"), /held/);
  await shot("workers");

  await page.goto(`${base}/alerts`);
  assert.match(await page.textContent("main"), /mail failing/);
  await shot("alerts");

  await page.goto(`${base}/audit?surface=console`);
  const actions = await page.locator("table.audit tbody tr td:nth-child(4)").allTextContents();
  for (const action of ["queue.pause", "task.trigger", "execution.retry_dead", "execution.cancel"]) {
    assert.ok(actions.includes(action), `${action} in ${actions}`);
  }
  await shot("audit");
});

test("live refresh swaps in fresh data without a reload", async () => {
  await page.goto(`${base}/`);
  const before = await page.textContent("span.updated");
  await page.waitForFunction((old) => document.querySelector("span.updated")?.textContent !== old, before, {
    timeout: 15000,
  });
});

test("logging out ends the session", async () => {
  await clickAndWait(page.locator("form.logout button"));
  assert.match(page.url(), /\/login$/);
  const response = await page.goto(`${base}/workers`);
  assert.equal(response.status(), 200);
  assert.match(page.url(), /\/login\?next=/);
});
