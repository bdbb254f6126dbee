/**
 * Opens a page in headless Chromium (Debian's `chromium`) and evaluates an
 * expression in it, over the DevTools protocol on a pipe (no port, no
 * WebSocket). Also returns every URL the page requested, to show that a
 * report fetches nothing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { tempDir } from './helpers.js';

export const CHROMIUM = process.env.CHROMIUM ?? 'chromium';

export function chromiumAvailable(): boolean {
  return spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).status === 0;
}

interface Message {
  id?: number;
  method?: string;
  sessionId?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
}

export interface PageOptions {
  /** Viewport width in CSS pixels (height 1000). */
  width?: number;
  /** Where to write a PNG screenshot of the whole page. */
  screenshot?: string;
  timeoutMs?: number;
}

export async function evaluateInChromium<T>(
  file: string,
  expression: string,
  { width, screenshot, timeoutMs = 60_000 }: PageOptions = {},
): Promise<{ value: T; requests: string[] }> {
  const browser = spawn(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-extensions',
      '--no-first-run',
      '--remote-debugging-pipe',
      `--user-data-dir=${tempDir()}`,
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] },
  );
  const input = browser.stdio[3] as Writable;
  const output = browser.stdio[4] as Readable;
  const waiting = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  const listeners: ((m: Message) => void)[] = [];
  let buffer = '';
  output.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    for (let end = buffer.indexOf('\0'); end >= 0; end = buffer.indexOf('\0')) {
      const message = JSON.parse(buffer.slice(0, end)) as Message;
      buffer = buffer.slice(end + 1);
      if (message.id !== undefined) {
        const w = waiting.get(message.id);
        waiting.delete(message.id);
        if (message.error) w?.reject(new Error(message.error.message));
        else w?.resolve(message);
      } else {
        for (const listen of listeners) listen(message);
      }
    }
  });
  let nextId = 1;
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string) =>
    new Promise<Message>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      input.write(`${JSON.stringify({ id, method, params, sessionId })}\0`);
    });
  const timer = setTimeout(() => browser.kill('SIGKILL'), timeoutMs);
  try {
    const { targetId } = (await send('Target.createTarget', { url: 'about:blank' })).result as { targetId: string };
    const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })).result as { sessionId: string };
    const requests: string[] = [];
    const loaded = new Promise<void>((resolve) =>
      listeners.push((m) => {
        if (m.sessionId !== sessionId) return;
        if (m.method === 'Network.requestWillBeSent') requests.push((m.params as { request: { url: string } }).request.url);
        if (m.method === 'Page.loadEventFired') resolve();
      }),
    );
    await send('Network.enable', {}, sessionId);
    await send('Page.enable', {}, sessionId);
    if (width !== undefined) await send('Emulation.setDeviceMetricsOverride', { width, height: 1000, deviceScaleFactor: 1, mobile: false }, sessionId);
    await send('Page.navigate', { url: pathToFileURL(file).href }, sessionId);
    await loaded;
    const evaluated = await send('Runtime.evaluate', { expression, returnByValue: true }, sessionId);
    const result = evaluated.result as { result: { value: T }; exceptionDetails?: { text: string } };
    if (result.exceptionDetails) throw new Error(`in the page: ${result.exceptionDetails.text}`);
    if (screenshot !== undefined) {
      const shot = (await send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true }, sessionId)).result as { data: string };
      writeFileSync(screenshot, Buffer.from(shot.data, 'base64'));
    }
    await send('Browser.close').catch(() => undefined);
    return { value: result.result.value, requests };
  } finally {
    clearTimeout(timer);
    browser.kill();
  }
}
