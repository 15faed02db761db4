/**
 * Debian's nginx and redis-server serving real traffic (issue 6), from the Debian root of
 * scripts/debian-root.sh (which installs nginx-light and redis-server):
 *
 *   natively: in a network, mount and PID namespace this test makes (unshare), on an overlay of
 *             the root, reached with nsenter: never on the host's ports;
 *   in uno:   bin/uno run -p 127.0.0.1:PORT:80 ROOT -- /usr/sbin/nginx …, a free host port of
 *             the loopback chosen per run, reached from the host.
 *
 * The same checks run against both (a differential: the native run shows the harness and the
 * servers are right). nginx: byte-exact small and 100 MiB files (sha256), keep-alive, 1,000
 * concurrent connections, proxy_pass to a second server of the same nginx on the in-guest
 * loopback (tests/debian/nginx.conf: master + 2 workers, fork). redis: redis-cli, a 1 MiB
 * value, redis-benchmark, BGSAVE (fork) writing a dump that redis-check-rdb accepts.
 *
 * The servers run on a per-run root, build/servers-root: the Debian root hard-linked (cp -al,
 * nothing in it is written: uno writes to its instance's layer, the native run to an overlay)
 * plus the nginx configuration, /srv/www (a small file, 100 MiB of random bytes) and /data.
 *
 * Needs root (unshare, mount, chroot), KVM, and curl + redis-tools on the host
 * (scripts/setup.sh): fails without them, never skips. Run by `make test-servers`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { requireKvm, ROOT, UNO } from "./guest-util.js";
import { exited, freePort, hasCommand, sleep, spawnIsolated, tail } from "./proc-util.js";

const BUILD = path.join(ROOT, "build");
const SERVERS_ROOT = path.join(BUILD, "servers-root");
const NGINX_CONF = path.join(ROOT, "tests", "debian", "nginx.conf");
const CLIENT = path.join(ROOT, "dist", "tests", "ts", "servers-client.js");
const BIG_BYTES = 100 * 1024 * 1024;
const LOOPBACK = "127.0.0.1";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "uno-servers-test-"));

/**
 * Every wait on a server (starting, clients, saves) shares one budget of 200 s from the end of
 * the setup, so that even a run where everything hangs ends in about 5 minutes (stopping the
 * servers comes on top: at most 40 s for each uno instance).
 */
let budgetEnd = Number.POSITIVE_INFINITY;
function budget(ms: number): number {
  return Math.max(1_000, Math.min(ms, budgetEnd - Date.now()));
}
/** A private UNO_HOME: the image cache and instances of this run. */
const unoHome = path.join(tmp, "uno-home");

/** What the test put into /srv/www and /srv/upstream. */
const www = {
  small: Buffer.from(
    Array.from({ length: 64 }, (_, i) => `line ${i}: uno serves this file byte for byte\n`).join(
      "",
    ),
  ),
  bigSha256: "",
  upstream: Buffer.from("from the upstream server on the in-guest loopback\n"),
};

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function sha256File(file: string): string {
  const h = createHash("sha256");
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.alloc(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}

function clip(s: string, n = 3000): string {
  return s.length > n ? `…${s.slice(-n)}` : s;
}

/** Fails unless `cmd` is on PATH. */
function requireCommand(cmd: string, hint: string): void {
  assert.ok(hasCommand(cmd), `${cmd} is missing on this host: ${hint}`);
}

/** Does something accept TCP connections on 127.0.0.1:port of the host? */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: LOOPBACK, port });
    s.setTimeout(2000);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
    s.once("timeout", () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** Processes in the network namespace of process `pid`, other than `pid` itself. */
function inNetns(pid: number): string[] {
  let ns: string;
  try {
    ns = fs.readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return [];
  }
  return fs.readdirSync("/proc").filter((d) => {
    if (!/^\d+$/.test(d) || d === String(pid)) return false;
    try {
      return fs.readlinkSync(`/proc/${d}/ns/net`) === ns;
    } catch {
      return false; // gone meanwhile
    }
  });
}

/** /proc entries whose command line contains `mark` (the uno-vmm processes of an instance). */
function marked(mark: string): string[] {
  return fs.readdirSync("/proc").filter((d) => {
    if (!/^\d+$/.test(d)) return false;
    try {
      return fs.readFileSync(`/proc/${d}/cmdline`, "utf8").includes(mark);
    } catch {
      return false; // gone meanwhile
    }
  });
}

/**
 * A server under test, and how to reach it: `enter` is the command prefix that puts a client
 * into the server's network (nothing for uno's published port on the host's loopback,
 * nsenter for a native server's namespace).
 */
interface Server {
  what: string;
  child: ChildProcess;
  host: string;
  port: number;
  enter: string[];
  /** The host directory holding the server's writes to its root (overlay upper, uno layer). */
  upper: string;
  /** The server's stdout and stderr so far (nginx and redis log to them). */
  output: () => string;
  /** How many processes the server has now (natively: in its namespace; uno: its VMMs). */
  processes: () => number;
  /** Set when a client timed out: the later checks fail at once instead of waiting again. */
  hung?: string;
  stop: () => Promise<void>;
}

/** Runs a client command in the server's network; bounded. */
function client(
  s: Server,
  cmd: string,
  args: string[],
  o: { input?: string | Buffer; timeoutMs?: number } = {},
): { status: number; stdout: Buffer; stderr: string } {
  const argv = [...s.enter, cmd, ...args];
  const timeoutMs = budget(o.timeoutMs ?? 30_000);
  const r = spawnSync(argv[0]!, argv.slice(1), {
    input: o.input ?? "",
    timeout: timeoutMs,
    maxBuffer: 256 << 20,
    killSignal: "SIGKILL",
  });
  if (r.error) {
    const timedOut = (r.error as NodeJS.ErrnoException).code === "ETIMEDOUT";
    if (timedOut) s.hung = `${cmd} ${args[0] ?? ""}… timed out after ${timeoutMs} ms`;
    assert.fail(
      `${cmd} ${args.join(" ")} (${s.what}): ${timedOut ? `timed out after ${timeoutMs} ms` : r.error.message}\n` +
        `server output:\n${clip(s.output())}`,
    );
  }
  return { status: r.status ?? 128, stdout: r.stdout, stderr: r.stderr.toString("utf8") };
}

/** Polls `ready` every 200 ms until it is true, the server exits, or `ms` pass. */
async function waitReady(s: Server, ready: () => boolean, ms: number): Promise<void> {
  ms = budget(ms);
  const end = Date.now() + ms;
  for (;;) {
    if (s.child.exitCode !== null || s.child.signalCode !== null) {
      assert.fail(
        `${s.what} exited (status ${s.child.exitCode ?? s.child.signalCode}) before it answered\n` +
          `its output:\n${clip(s.output())}`,
      );
    }
    if (ready()) return;
    if (Date.now() > end) {
      assert.fail(`${s.what} did not answer within ${ms} ms\nits output:\n${clip(s.output())}`);
    }
    await sleep(200);
  }
}

/** Starts `cmd` natively in namespaces of its own over SERVERS_ROOT (spawnIsolated). */
function startNative(what: string, cmd: string[], port: number): Server {
  const { child, dir } = spawnIsolated(tmp, SERVERS_ROOT, cmd);
  const out = tail(child.stdout);
  const err = tail(child.stderr);
  return {
    what: `native ${what}`,
    child,
    host: LOOPBACK,
    port,
    enter: ["nsenter", `--net=/proc/${child.pid}/ns/net`],
    upper: path.join(dir, "upper"),
    output: () => out() + err(),
    processes: () => inNetns(child.pid!).length,
    stop: async () => {
      child.kill("SIGKILL");
      assert.ok(await exited(child, 10_000), `${what}: unshare did not end after SIGKILL`);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts `uno run --verbose -p 127.0.0.1:HOSTPORT:GUESTPORT SERVERS_ROOT -- cmd` with a mark in
 * its environment (to find its VMM processes), and learns its instance directory from the
 * verbose output. stop() sends uno SIGTERM (which it forwards to the guest's PID 1), then
 * SIGKILL if it has not ended within 20 s, and checks that no process of the instance is left
 * and that a running server ended with status 0 on SIGTERM (as nginx and redis-server do).
 */
async function startUno(what: string, cmd: string[], guestPort: number): Promise<Server> {
  requireKvm();
  const port = await freePort();
  const mark = `UNO_SERVERS_TEST=${process.pid}-${what.replace(/\W/g, "")}-${port}`;
  const child = spawn(
    UNO,
    [
      "run",
      "--verbose",
      "-e",
      mark,
      "-p",
      `${LOOPBACK}:${port}:${guestPort}`,
      SERVERS_ROOT,
      "--",
      ...cmd,
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, UNO_HOME: unoHome } },
  );
  const out = tail(child.stdout);
  const err = tail(child.stderr, 256 * 1024);
  // uno prints its instance directory, the network and the published ports, then the
  // uno-vmm command line it runs: the lines come one write at a time, so wait for the last.
  const end = Date.now() + budget(120_000);
  let instanceDir: string | undefined;
  while (instanceDir === undefined) {
    const m = /^uno: instance [0-9a-f]+ \((.+)\)$/m.exec(err());
    if (m && /^uno: exec /m.test(err())) instanceDir = m[1]!;
    else if (child.exitCode !== null || Date.now() > end) {
      child.kill("SIGKILL");
      assert.fail(`uno run (${what}) did not start an instance:\n${clip(out() + err())}`);
    } else await sleep(100);
  }
  // The mapping, as docker shows it, is what uno-vmm was given.
  assert.ok(
    err().includes(`uno: publish ${LOOPBACK}:${port}->${guestPort}/tcp\n`),
    `uno --verbose did not show the published port:\n${clip(err())}`,
  );
  return {
    what: `${what} in uno`,
    child,
    host: LOOPBACK,
    port,
    enter: [],
    upper: path.join(instanceDir, "upper"),
    output: () => out() + err(),
    processes: () => marked(mark).length,
    stop: async () => {
      const wasRunning = child.exitCode === null && child.signalCode === null;
      child.kill("SIGTERM");
      const graceful = await exited(child, 20_000);
      if (!graceful) {
        child.kill("SIGKILL");
        assert.ok(await exited(child, 10_000), `uno run (${what}) did not end after SIGKILL`);
      }
      const end2 = Date.now() + 10_000;
      while (marked(mark).length > 0 && Date.now() < end2) await sleep(100);
      assert.deepEqual(marked(mark), [], `processes of the ${what} instance outlived uno`);
      // docker stop's way: nginx and redis-server end cleanly on SIGTERM, and so must uno.
      if (wasRunning) {
        assert.ok(graceful, `uno run (${what}) did not end within 20 s of SIGTERM`);
        assert.equal(
          child.exitCode,
          0,
          `uno run (${what}) ended with ${child.exitCode ?? child.signalCode} after SIGTERM\n${clip(out() + err())}`,
        );
      }
    },
  };
}

/** Builds SERVERS_ROOT from the Debian root (see the top of this file). */
function makeServersRoot(debianRoot: string): void {
  fs.rmSync(SERVERS_ROOT, { recursive: true, force: true });
  const cp = spawnSync("cp", ["-al", debianRoot, SERVERS_ROOT], { encoding: "utf8" });
  assert.equal(cp.status, 0, `cp -al ${debianRoot} ${SERVERS_ROOT}: ${cp.stderr}`);
  const put = (rel: string, data: Buffer | string): void => {
    const f = path.join(SERVERS_ROOT, rel);
    fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o755 });
    fs.writeFileSync(f, data, { mode: 0o644 });
  };
  put("etc/nginx/uno-test.conf", fs.readFileSync(NGINX_CONF));
  put("srv/www/small.txt", www.small);
  put("srv/upstream/hello.txt", www.upstream);
  fs.mkdirSync(path.join(SERVERS_ROOT, "data"), { mode: 0o755 });
  // 100 MiB of random bytes, hashed while written.
  const big = path.join(SERVERS_ROOT, "srv", "www", "big.bin");
  const h = createHash("sha256");
  const fd = fs.openSync(big, "w", 0o644);
  try {
    for (let done = 0; done < BIG_BYTES; done += 1 << 20) {
      const chunk = randomBytes(1 << 20);
      h.update(chunk);
      fs.writeSync(fd, chunk);
    }
  } finally {
    fs.closeSync(fd);
  }
  www.bigSha256 = h.digest("hex");
}

/** curl GET url in the server's network: status line, headers (lower-case names), body. */
function curl(
  s: Server,
  urlPath: string,
  extra: string[] = [],
  timeoutMs = 30_000,
): { status: number; headers: Map<string, string>; body: Buffer } {
  const url = `http://${s.host}:${s.port}${urlPath}`;
  const r = client(
    s,
    "curl",
    ["-sS", "--max-time", String(timeoutMs / 1000 - 1), "-D", "-", ...extra, url],
    {
      timeoutMs,
    },
  );
  assert.equal(
    r.status,
    0,
    `curl ${url} (${s.what}): ${r.stderr}\nserver output:\n${clip(s.output())}`,
  );
  const end = r.stdout.indexOf("\r\n\r\n");
  assert.ok(end > 0, `curl ${url}: no header in the output`);
  const lines = r.stdout.subarray(0, end).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(lines[0]!)?.[1] ?? 0);
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i > 0) headers.set(l.slice(0, i).toLowerCase(), l.slice(i + 1).trim());
  }
  return { status, headers, body: r.stdout.subarray(end + 4) };
}

/** Runs tests/ts/servers-client.ts in the server's network; returns its JSON report. */
function nodeClient(s: Server, args: string[], timeoutMs: number): Record<string, unknown> {
  const r = client(s, process.execPath, [CLIENT, ...args], { timeoutMs });
  const text = r.stdout.toString("utf8").trim();
  assert.ok(
    r.status === 0 || r.status === 1,
    `servers-client ${args[0]} (${s.what}) ended with ${r.status}: ${r.stderr}`,
  );
  return JSON.parse(text) as Record<string, unknown>;
}

/** The nginx checks, the same for the native baseline and for uno. */
function nginxSuite(label: string, start: () => Promise<Server>): void {
  describe(label, () => {
    let server: Server | undefined;
    let ready = false;
    const started = (): Server => {
      assert.ok(server && ready, `nginx did not start (see the first test of "${label}")`);
      assert.ok(!server.hung, `an earlier check hung (${server.hung}): not waiting again`);
      return server;
    };
    after(async () => {
      if (server) await server.stop();
    });

    it("starts (master + 2 workers) and answers on its port", { timeout: 180_000 }, async () => {
      const s = await start();
      server = s;
      await waitReady(
        s,
        () =>
          client(s, "curl", [
            "-s",
            "-o",
            "/dev/null",
            "--max-time",
            "2",
            "-w",
            "%{http_code}",
            `http://${s.host}:${s.port}/small.txt`,
          ]).stdout.toString() === "200",
        120_000,
      );
      ready = true;
      // The master forked its two workers (natively: processes in the namespace; in uno: VMMs).
      const end = Date.now() + budget(20_000);
      while (s.processes() < 3 && Date.now() < end) await sleep(100);
      assert.ok(s.processes() >= 3, `${s.processes()} nginx process(es), not master + 2 workers`);
    });

    it("a small file, byte for byte", () => {
      const s = started();
      const r = curl(s, "/small.txt");
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("content-length"), String(www.small.length));
      assert.ok(
        r.body.equals(www.small),
        `the body differs: ${JSON.stringify(r.body.toString().slice(0, 200))}`,
      );
      assert.equal(curl(s, "/no-such-file").status, 404);
    });

    it("a 100 MiB file of random bytes (sha256)", { timeout: 180_000 }, () => {
      const s = started();
      const file = path.join(tmp, `big-${Date.now()}.bin`);
      try {
        const r = client(
          s,
          "curl",
          [
            "-sS",
            "--max-time",
            "150",
            "-o",
            file,
            "-w",
            "%{http_code} %{size_download}",
            `http://${s.host}:${s.port}/big.bin`,
          ],
          { timeoutMs: 160_000 },
        );
        assert.equal(r.status, 0, `curl: ${r.stderr}\nserver output:\n${clip(s.output())}`);
        assert.equal(r.stdout.toString(), `200 ${BIG_BYTES}`);
        assert.equal(fs.statSync(file).size, BIG_BYTES);
        assert.equal(sha256File(file), www.bigSha256, "the 100 MiB file arrived with other bytes");
      } finally {
        fs.rmSync(file, { force: true });
      }
    });

    it("keep-alive: two requests on one connection (curl, and node's http.Agent)", () => {
      const s = started();
      const url = `http://${s.host}:${s.port}/small.txt`;
      const r = client(s, "curl", [
        "-sS",
        "-v",
        "--max-time",
        "20",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        url,
        url,
      ]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(
        r.stderr,
        /Re-using existing connection/,
        `curl -v did not reuse the connection:\n${r.stderr}`,
      );
      assert.equal((r.stderr.match(/< HTTP\/1\.1 200/g) ?? []).length, 2, r.stderr);
      const k = nodeClient(s, ["keepalive", s.host, String(s.port), "/small.txt"], 60_000);
      assert.equal(k.ok, true, `keep-alive through http.Agent: ${JSON.stringify(k)}`);
    });

    it("1,000 concurrent connections, each served", { timeout: 120_000 }, () => {
      const s = started();
      const r = nodeClient(
        s,
        ["concurrent", s.host, String(s.port), "/small.txt", "1000", sha256(www.small), "60000"],
        90_000,
      );
      assert.equal(r.connected, 1000, `connections open at once: ${JSON.stringify(r)}`);
      assert.equal(
        r.succeeded,
        1000,
        `served: ${JSON.stringify(r)}\nserver output:\n${clip(s.output())}`,
      );
      assert.equal(r.ok, true);
    });

    it("proxy_pass to the upstream on the in-guest loopback (127.0.0.1:8081)", () => {
      const s = started();
      const r = curl(s, "/proxy/hello.txt");
      assert.equal(r.status, 200, `status ${r.status}\nserver output:\n${clip(s.output())}`);
      assert.ok(r.body.equals(www.upstream), `the body: ${JSON.stringify(r.body.toString())}`);
      assert.equal(r.headers.get("x-served-by"), "upstream 127.0.0.1:8081");
      // The upstream is not published: only port 80 is.
      assert.equal(curl(s, "/hello.txt").status, 404, "/srv/upstream is not served on port 80");
    });

    it("proxy_pass to listeners that share a port with SO_REUSEPORT (127.0.0.1:8082)", () => {
      const s = started();
      for (let i = 0; i < 8; i++) {
        const r = curl(s, "/reuse/hello.txt");
        assert.equal(
          r.status,
          200,
          `GET ${i}: status ${r.status}\nserver output:\n${clip(s.output())}`,
        );
        assert.ok(r.body.equals(www.upstream), `the body: ${JSON.stringify(r.body.toString())}`);
        assert.equal(r.headers.get("x-served-by"), "reuseport 127.0.0.1:8082");
      }
    });

    it("stops and leaves nothing behind", { timeout: 60_000 }, async () => {
      const s = server;
      assert.ok(s, "there is no server to stop (see the first test)");
      server = undefined;
      await s.stop();
      if (s.enter.length === 0)
        assert.equal(await accepts(s.port), false, "the published port still accepts");
    });
  });
}

/** redis-cli in the server's network; returns its trimmed stdout. */
function redis(s: Server, args: string[], input?: string): string {
  const r = client(
    s,
    "redis-cli",
    ["-h", s.host, "-p", String(s.port), ...args],
    input === undefined ? {} : { input },
  );
  assert.equal(
    r.status,
    0,
    `redis-cli ${args.join(" ")} (${s.what}): ${r.stderr}\n${clip(s.output())}`,
  );
  return r.stdout.toString("utf8").replace(/\n$/, "");
}

const REDIS_CMD = [
  "/usr/bin/redis-server",
  "--port",
  "6379",
  "--bind",
  "0.0.0.0",
  "--protected-mode",
  "no",
  "--save",
  "",
  "--appendonly",
  "no",
  "--dir",
  "/data",
];

/** The redis checks, the same for the native baseline and for uno. */
function redisSuite(label: string, start: () => Promise<Server>): void {
  describe(label, () => {
    let server: Server | undefined;
    let ready = false;
    const started = (): Server => {
      assert.ok(server && ready, `redis-server did not start (see the first test of "${label}")`);
      assert.ok(!server.hung, `an earlier check hung (${server.hung}): not waiting again`);
      return server;
    };
    after(async () => {
      if (server) await server.stop();
    });

    it("starts and answers PING", { timeout: 180_000 }, async () => {
      const s = await start();
      server = s;
      await waitReady(
        s,
        () =>
          client(s, "redis-cli", ["-h", s.host, "-p", String(s.port), "PING"]).stdout.toString() ===
          "PONG\n",
        120_000,
      );
      ready = true;
    });

    it("redis-cli: SET, GET, INCR, a 1 MiB value", () => {
      const s = started();
      assert.equal(redis(s, ["SET", "greeting", "hello from the host"]), "OK");
      assert.equal(redis(s, ["GET", "greeting"]), "hello from the host");
      assert.equal(redis(s, ["INCR", "counter"]), "1");
      assert.equal(redis(s, ["INCR", "counter"]), "2");
      assert.equal(redis(s, ["INCRBY", "counter", "40"]), "42");
      const big = randomBytes(512 * 1024).toString("hex");
      assert.equal(redis(s, ["-x", "SET", "big"], big), "OK");
      assert.equal(redis(s, ["STRLEN", "big"]), String(big.length));
      assert.equal(sha256(Buffer.from(redis(s, ["GET", "big"]))), sha256(Buffer.from(big)));
    });

    it("redis-benchmark -n 20000 -t set,get", { timeout: 180_000 }, (t) => {
      const s = started();
      const r = client(
        s,
        "redis-benchmark",
        ["-h", s.host, "-p", String(s.port), "-n", "20000", "-c", "50", "-q", "-t", "set,get"],
        { timeoutMs: 150_000 },
      );
      assert.equal(r.status, 0, `redis-benchmark: ${r.stderr}\n${clip(s.output())}`);
      const out = r.stdout.toString("utf8").split(/[\r\n]+/);
      for (const test of ["SET", "GET"]) {
        const line = out.find((l) => new RegExp(`^${test}: [\\d.]+ requests per second`).test(l));
        assert.ok(line, `no ${test} result in redis-benchmark's output:\n${out.join("\n")}`);
        assert.ok(Number(/: ([\d.]+) requests/.exec(line)![1]) > 0, line);
        t.diagnostic(`${s.what}: ${line}`);
      }
      // The benchmark left its keys; ours are untouched.
      assert.equal(redis(s, ["GET", "counter"]), "42");
    });

    it(
      "BGSAVE (fork) writes a dump that redis-check-rdb accepts",
      { timeout: 90_000 },
      async () => {
        const s = started();
        const before = Number(redis(s, ["LASTSAVE"]));
        assert.ok(before > 0);
        // LASTSAVE counts seconds: start the save in a later second than the last one.
        while (Date.now() / 1000 < before + 1) await sleep(50);
        assert.match(redis(s, ["BGSAVE"]), /^Background saving started$/);
        const end = Date.now() + budget(60_000);
        while (Number(redis(s, ["LASTSAVE"])) === before) {
          assert.ok(
            Date.now() < end,
            `LASTSAVE did not change in time after BGSAVE\n${clip(s.output())}`,
          );
          await sleep(100);
        }
        const info = redis(s, ["INFO", "persistence"]);
        assert.match(info, /^rdb_last_bgsave_status:ok\r?$/m, info);
        assert.match(info, /^rdb_bgsave_in_progress:0\r?$/m, info);
        const dump = path.join(s.upper, "data", "dump.rdb");
        assert.ok(
          fs.existsSync(dump),
          `no ${dump}: the dump is not in the server's writable layer`,
        );
        const copy = path.join(tmp, `dump-${Date.now()}.rdb`);
        fs.copyFileSync(dump, copy);
        const r = spawnSync("redis-check-rdb", [copy], { encoding: "utf8", timeout: 60_000 });
        assert.equal(r.status, 0, `redis-check-rdb ${copy}:\n${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /RDB looks OK!/);
        // greeting, counter, big, and the benchmark's key:__rand_int__ (at least).
        const keys = Number(/\[info\] (\d+) keys read/.exec(r.stdout)?.[1] ?? -1);
        assert.ok(keys >= 4, `the dump has ${keys} keys:\n${r.stdout}`);
      },
    );

    it("stops and leaves nothing behind", { timeout: 60_000 }, async () => {
      const s = server;
      assert.ok(s, "there is no server to stop (see the first test)");
      server = undefined;
      await s.stop();
      if (s.enter.length === 0)
        assert.equal(await accepts(s.port), false, "the published port still accepts");
    });
  });
}

describe("nginx and redis-server from the Debian root: natively and in uno", () => {
  before(() => {
    assert.equal(
      process.getuid?.(),
      0,
      "these tests make network namespaces and overlays (unshare, mount, chroot): run as root",
    );
    requireCommand("curl", "scripts/setup.sh installs it");
    for (const c of ["redis-cli", "redis-benchmark", "redis-check-rdb"]) {
      requireCommand(c, "scripts/setup.sh installs redis-tools");
    }
    for (const c of ["unshare", "nsenter", "ip"]) {
      requireCommand(c, "scripts/setup.sh installs util-linux and iproute2");
    }
    assert.ok(fs.existsSync(CLIENT), `${CLIENT} is missing: run make`);
    let debianRoot = spawnSync(path.join(ROOT, "scripts", "debian-root.sh"), {
      cwd: ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      timeout: 900_000,
    }).stdout.trim();
    debianRoot = path.resolve(ROOT, debianRoot);
    for (const p of ["usr/sbin/nginx", "usr/bin/redis-server"]) {
      assert.ok(
        fs.existsSync(path.join(debianRoot, p)),
        `no /${p} in ${debianRoot}: scripts/debian-root.sh should have installed it`,
      );
    }
    makeServersRoot(debianRoot);
    budgetEnd = Date.now() + 200_000;
    const t = spawnSync(
      "chroot",
      [SERVERS_ROOT, "/usr/sbin/nginx", "-t", "-c", "/etc/nginx/uno-test.conf"],
      {
        encoding: "utf8",
      },
    );
    assert.equal(t.status, 0, `nginx -t rejects tests/debian/nginx.conf:\n${t.stderr}`);
  });

  after(() => {
    fs.rmSync(SERVERS_ROOT, { recursive: true, force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const nginx = ["/usr/sbin/nginx", "-c", "/etc/nginx/uno-test.conf"];
  nginxSuite("nginx natively, in a network namespace (the baseline)", async () =>
    startNative("nginx", nginx, 80),
  );
  nginxSuite("nginx in uno, -p 127.0.0.1:PORT:80", () => startUno("nginx", nginx, 80));
  redisSuite("redis-server natively, in a network namespace (the baseline)", async () =>
    startNative("redis-server", REDIS_CMD, 6379),
  );
  redisSuite("redis-server in uno, -p 127.0.0.1:PORT:6379", () =>
    startUno("redis-server", REDIS_CMD, 6379),
  );
});
