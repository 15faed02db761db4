/**
 * HTTP client checks for tests/ts/servers.test.ts, run as a separate process so that the same
 * client can be started on the host (against uno's published port) or inside a network
 * namespace (nsenter, against the native baseline):
 *
 *   node servers-client.js concurrent HOST PORT PATH COUNT SHA256 TIMEOUT_MS
 *       COUNT connections opened at once; once every one is connected, each sends one
 *       GET PATH (Connection: close); every response must be 200 with a body of SHA256.
 *   node servers-client.js keepalive HOST PORT PATH
 *       two GETs through one keep-alive http.Agent (one socket at most); reports whether the
 *       second reused the first one's connection.
 *
 * Prints one JSON object on stdout; exits 0 when the check passed, 1 when it did not.
 */
import { createHash } from "node:crypto";
import * as http from "node:http";
import { realpathSync } from "node:fs";
import * as net from "node:net";
import { fileURLToPath } from "node:url";

export interface ConcurrentResult {
  ok: boolean;
  count: number;
  /** Connections that were established (all at once, before any request). */
  connected: number;
  /** Responses with status 200 and the expected body. */
  succeeded: number;
  /** The first few problems, one line each. */
  errors: string[];
  ms: number;
}

export interface KeepAliveResult {
  ok: boolean;
  statuses: number[];
  /** http.ClientRequest.reusedSocket of the second request. */
  reused: boolean;
  /** The local ports of the two requests' sockets (equal when the connection was reused). */
  localPorts: number[];
  error?: string;
}

/** Splits one HTTP/1.1 response (read until the server closed) into status and body. */
function parseResponse(raw: Buffer): { status: number; body: Buffer } | string {
  const end = raw.indexOf("\r\n\r\n");
  if (end < 0) return `no complete header in ${raw.length} bytes`;
  const head = raw.subarray(0, end).toString("latin1");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  if (!m) return `bad status line: ${JSON.stringify(head.split("\r\n")[0])}`;
  const body = raw.subarray(end + 4);
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (cl && Number(cl[1]) !== body.length) {
    return `Content-Length ${cl[1]} but ${body.length} body bytes`;
  }
  return { status: Number(m[1]), body };
}

export function concurrent(
  host: string,
  port: number,
  path: string,
  count: number,
  sha256: string,
  timeoutMs: number,
): Promise<ConcurrentResult> {
  const start = Date.now();
  return new Promise((resolve) => {
    const errors: string[] = [];
    const sockets: net.Socket[] = [];
    let connected = 0;
    let finished = 0;
    let succeeded = 0;
    let done = false;
    const note = (i: number, why: string): void => {
      if (errors.length < 10) errors.push(`connection ${i}: ${why}`);
    };
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const s of sockets) s.destroy();
      resolve({
        ok: succeeded === count,
        count,
        connected,
        succeeded,
        errors,
        ms: Date.now() - start,
      });
    };
    const timer = setTimeout(() => {
      errors.push(
        `timed out after ${timeoutMs} ms: ${connected} connected, ${finished} finished, ${succeeded} succeeded`,
      );
      finish();
    }, timeoutMs);
    const request = `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`;
    const oneDone = (): void => {
      if (++finished === count) finish();
    };
    for (let i = 0; i < count; i++) {
      const chunks: Buffer[] = [];
      let ended = false;
      const s = net.connect({ host, port });
      sockets.push(s);
      s.on("connect", () => {
        // Every connection is open before the first request goes out.
        if (++connected === count) for (const t of sockets) t.write(request);
      });
      s.on("data", (d: Buffer) => chunks.push(d));
      s.on("error", (e: Error) => {
        if (ended) return;
        ended = true;
        note(i, e.message);
        oneDone();
      });
      s.on("close", () => {
        if (ended) return;
        ended = true;
        const r = parseResponse(Buffer.concat(chunks));
        if (typeof r === "string") note(i, r);
        else if (r.status !== 200) note(i, `status ${r.status}`);
        else if (createHash("sha256").update(r.body).digest("hex") !== sha256) {
          note(i, `a body of ${r.body.length} bytes with another sha256`);
        } else succeeded++;
        oneDone();
      });
    }
  });
}

export async function keepAlive(
  host: string,
  port: number,
  path: string,
): Promise<KeepAliveResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const statuses: number[] = [];
  const localPorts: number[] = [];
  let reused = false;
  const get = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = http.get({ host, port, path, agent, timeout: 30_000 }, (res) => {
        statuses.push(res.statusCode ?? 0);
        localPorts.push(res.socket.localPort ?? -1);
        res.resume();
        res.on("end", () => resolve());
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", reject);
      if (statuses.length === 1) req.on("socket", () => (reused = req.reusedSocket));
    });
  try {
    await get();
    await get();
  } catch (e) {
    agent.destroy();
    return { ok: false, statuses, reused, localPorts, error: (e as Error).message };
  }
  agent.destroy();
  const ok =
    statuses.length === 2 &&
    statuses.every((s) => s === 200) &&
    reused &&
    localPorts[0] === localPorts[1];
  return { ok, statuses, reused, localPorts };
}

async function main(argv: string[]): Promise<number> {
  const [mode, host, port, path, ...rest] = argv;
  if (mode === "concurrent" && host && port && path && rest.length === 3) {
    const r = await concurrent(
      host,
      Number(port),
      path,
      Number(rest[0]),
      rest[1]!,
      Number(rest[2]),
    );
    process.stdout.write(JSON.stringify(r) + "\n");
    return r.ok ? 0 : 1;
  }
  if (mode === "keepalive" && host && port && path && rest.length === 0) {
    const r = await keepAlive(host, Number(port), path);
    process.stdout.write(JSON.stringify(r) + "\n");
    return r.ok ? 0 : 1;
  }
  process.stderr.write(
    "usage: servers-client.js concurrent HOST PORT PATH COUNT SHA256 TIMEOUT_MS\n" +
      "       servers-client.js keepalive HOST PORT PATH\n",
  );
  return 2;
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
