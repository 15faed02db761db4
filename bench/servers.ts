/**
 * Network benchmarks (issue 6): Debian's nginx and redis-server served from uno against the
 * same binaries natively, in the same run, as ratios uno / native.
 *
 *   natively: the server in fresh network, mount and PID namespaces (unshare), chrooted into an
 *             overlay of the servers' root, as tests/ts/servers.test.ts starts it; the client
 *             (wrk, curl, redis-benchmark) runs in the server's network namespace (nsenter):
 *             TCP over that namespace's loopback.
 *   in uno:   `bin/uno run -p 127.0.0.1:PORT:GUESTPORT ROOT -- SERVER …`; the client runs on
 *             the host against the published port: TCP over the host's loopback, whose
 *             connections uno-vmm hands to the guest.
 *
 * Both servers of a kind run at once and the measurements alternate between them (native,
 * uno, native, uno, …), so a change of the machine's load falls on both. Each measurement is
 * short and bounded (wrk -d, curl --max-time, redis-benchmark -n with a timeout); a failed or
 * timed-out one is reported, never retried forever. Nothing here fails on a slow number.
 *
 * The root (build/bench/servers-root): the Debian root of scripts/debian-root.sh hard-linked
 * (cp -al; nothing in it is written) plus tests/debian/nginx.conf (sendfile, access_log off)
 * as /etc/nginx/uno-test.conf (master + 2 workers) and, for the benchmark, as
 * /etc/nginx/uno-bench.conf with one worker (issue 6: "same config, one worker"),
 * /srv/www/1k.bin (1 KiB) and /srv/www/big.bin (100 MiB). Kept
 * between runs (its stamp names the Debian root's), so uno's image cache (UNO_HOME =
 * build/bench/uno-home) is reused.
 *
 * Needs root (unshare, mount, chroot), KVM, wrk, curl and redis-tools (scripts/setup.sh).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { exited, freePort, hasCommand, sleep, spawnIsolated, tail } from "../tests/ts/proc-util.js";

export interface ServersBenchEnv {
  root: string; // the repository
  benchBuild: string; // build/bench
}

export interface Sample {
  min: number;
  median: number;
  max: number;
  n: number;
  /** Failed measurements (errors, timeouts), not in the figures. */
  failed: number;
}

export interface Row {
  what: string;
  unit: string;
  /** Is a larger number better (requests/s, MiB/s)? */
  higherIsBetter: boolean;
  uno: Sample;
  native: Sample;
  /** Median uno / median native. */
  ratio: number;
  note?: string;
}

const LOOPBACK = "127.0.0.1";
const BIG_MIB = 100;
const SMALL_BYTES = 1024;

function sample(xs: number[], failed: number): Sample {
  if (xs.length === 0) return { min: NaN, median: NaN, max: NaN, n: 0, failed };
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  const median = s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  return { min: s[0]!, median, max: s[s.length - 1]!, n: s.length, failed };
}

function log(msg: string): void {
  process.stderr.write(`bench servers: ${msg}\n`);
}

function requireCommand(cmd: string, hint: string): void {
  if (!hasCommand(cmd)) throw new Error(`${cmd} is missing on this host: ${hint}`);
}

/** A running server and the command prefix that puts a client into its network. */
interface Server {
  what: string;
  child: ChildProcess;
  port: number;
  enter: string[];
  output: () => string;
  stop: () => Promise<void>;
}

/** Runs a client in the server's network, bounded; stdout, or undefined on failure. */
function client(s: Server, argv: string[], timeoutMs: number, quiet = false): string | undefined {
  const all = [...s.enter, ...argv];
  const r = spawnSync(all[0]!, all.slice(1), {
    encoding: "utf8",
    timeout: timeoutMs,
    killSignal: "SIGKILL",
    maxBuffer: 16 << 20,
  });
  if (r.error || r.status !== 0) {
    if (quiet) return undefined;
    log(
      `${s.what}: ${argv.join(" ")}: ${r.error ? r.error.message : `status ${r.status}`} ${r.stderr ?? ""}`.trim(),
    );
    return undefined;
  }
  return r.stdout;
}

function startNative(tmp: string, root: string, what: string, cmd: string[], port: number): Server {
  const { child, dir } = spawnIsolated(tmp, root, cmd);
  const out = tail(child.stdout);
  const err = tail(child.stderr);
  return {
    what: `native ${what}`,
    child,
    port,
    enter: ["nsenter", `--net=/proc/${child.pid}/ns/net`],
    output: () => out() + err(),
    stop: async () => {
      child.kill("SIGKILL");
      await exited(child, 10_000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startUno(
  env: ServersBenchEnv,
  unoHome: string,
  root: string,
  what: string,
  cmd: string[],
  guestPort: number,
): Promise<Server> {
  const port = await freePort();
  const child = spawn(
    path.join(env.root, "bin", "uno"),
    ["run", "-p", `${LOOPBACK}:${port}:${guestPort}`, root, "--", ...cmd],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, UNO_HOME: unoHome } },
  );
  const out = tail(child.stdout);
  const err = tail(child.stderr);
  return {
    what: `uno ${what}`,
    child,
    port,
    enter: [],
    output: () => out() + err(),
    stop: async () => {
      child.kill("SIGTERM");
      if (!(await exited(child, 20_000))) {
        child.kill("SIGKILL");
        await exited(child, 10_000);
      }
    },
  };
}

/** Polls `ready` every 200 ms until it holds, the server exits, or `ms` pass. */
async function waitReady(s: Server, ready: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (s.child.exitCode !== null || s.child.signalCode !== null)
      throw new Error(`${s.what} exited before it answered:\n${s.output()}`);
    if (ready()) return;
    if (Date.now() > end)
      throw new Error(`${s.what} did not answer within ${ms} ms:\n${s.output()}`);
    await sleep(200);
  }
}

/** build/bench/servers-root, made again when the Debian root changed. */
function serversRoot(env: ServersBenchEnv, debianRoot: string): string {
  const dir = path.join(env.benchBuild, "servers-root");
  const stampFile = path.join(dir, ".uno-bench-servers-root");
  const want =
    fs.readFileSync(path.join(debianRoot, ".uno-debian-root"), "utf8").trim() +
    ` | nginx.conf ${fs.statSync(path.join(env.root, "tests", "debian", "nginx.conf")).mtimeMs}` +
    " | uno-bench.conf";
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, "utf8") === want) return dir;
  log(`making ${dir} from ${debianRoot}`);
  fs.rmSync(dir, { recursive: true, force: true });
  const cp = spawnSync("cp", ["-al", debianRoot, dir], { encoding: "utf8" });
  if (cp.status !== 0) throw new Error(`cp -al ${debianRoot} ${dir}: ${cp.stderr}`);
  // New files only (flag wx): the tree's other files are the Debian root's, hard-linked.
  const put = (rel: string, data: Buffer): void => {
    const f = path.join(dir, rel);
    fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o755 });
    fs.writeFileSync(f, data, { mode: 0o644, flag: "wx" });
  };
  const conf = fs.readFileSync(path.join(env.root, "tests", "debian", "nginx.conf"), "utf8");
  put("etc/nginx/uno-test.conf", Buffer.from(conf));
  // The benchmark's: the same with one worker, as issue 6 asks ("same config, one worker").
  const one = conf.replace(/^worker_processes 2;$/m, "worker_processes 1;");
  if (one === conf) throw new Error("tests/debian/nginx.conf no longer says worker_processes 2");
  put("etc/nginx/uno-bench.conf", Buffer.from(one));
  put("srv/www/1k.bin", randomBytes(SMALL_BYTES));
  put("srv/upstream/hello.txt", Buffer.from("upstream\n"));
  fs.mkdirSync(path.join(dir, "data"), { mode: 0o755 });
  const fd = fs.openSync(path.join(dir, "srv", "www", "big.bin"), "wx", 0o644);
  try {
    for (let i = 0; i < BIG_MIB; i++) fs.writeSync(fd, randomBytes(1 << 20));
  } finally {
    fs.closeSync(fd);
  }
  fs.writeFileSync(stampFile, want);
  return dir;
}

/** One measurement: a number, or undefined when the client failed. */
type Measure = (s: Server) => number | undefined;

/**
 * `reps` rounds of (native, uno), after one unrecorded warm-up round.
 */
function compare(
  pair: { native: Server; uno: Server },
  what: string,
  unit: string,
  higherIsBetter: boolean,
  reps: number,
  measure: Measure,
  note?: string,
): Row {
  const xs = { native: [] as number[], uno: [] as number[] };
  const failed = { native: 0, uno: 0 };
  log(what);
  for (let r = -1; r < reps; r++) {
    for (const k of ["native", "uno"] as const) {
      const v = measure(pair[k]);
      if (r < 0) continue;
      if (v === undefined || !Number.isFinite(v)) failed[k]++;
      else xs[k].push(v);
    }
  }
  const uno = sample(xs.uno, failed.uno);
  const native = sample(xs.native, failed.native);
  return { what, unit, higherIsBetter, uno, native, ratio: uno.median / native.median, note };
}

/** wrk against the server: requests/s, or undefined when wrk failed or saw errors. */
function wrk(s: Server, conns: number, seconds: number, urlPath: string, close: boolean) {
  const argv = ["wrk", "-t", "1", "-c", String(conns), "-d", `${seconds}s`, "--timeout", "5s"];
  if (close) argv.push("-H", "Connection: close");
  argv.push(`http://${LOOPBACK}:${s.port}${urlPath}`);
  const out = client(s, argv, (seconds + 30) * 1000);
  if (out === undefined) return undefined;
  const rps = Number(/^Requests\/sec:\s*([\d.]+)/m.exec(out)?.[1] ?? NaN);
  const non2xx = /Non-2xx or 3xx responses:\s*(\d+)/.exec(out);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  // With Connection: close, wrk counts the server's close after each response as a read
  // "error" on some versions; connect, write and timeout errors (and non-2xx) are real ones.
  const bad =
    (non2xx ? Number(non2xx[1]) : 0) +
    (sockErr ? Number(sockErr[1]) + Number(sockErr[3]) + Number(sockErr[4]) : 0) +
    (sockErr && !close ? Number(sockErr[2]) : 0);
  if (bad > 0) {
    log(`${s.what}: wrk ${argv.slice(1).join(" ")}: ${bad} errors\n${out}`);
    return undefined;
  }
  return rps;
}

/** curl of the 100 MiB file to /dev/null: MiB/s. */
function download(s: Server): number | undefined {
  const out = client(
    s,
    [
      "curl",
      "-sS",
      "--max-time",
      "60",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code} %{size_download} %{time_total}",
      `http://${LOOPBACK}:${s.port}/big.bin`,
    ],
    70_000,
  );
  const m = /^(\d+) (\d+) ([\d.]+)$/.exec(out?.trim() ?? "");
  if (!m || m[1] !== "200" || Number(m[2]) !== BIG_MIB << 20) {
    log(`${s.what}: download: ${out}`);
    return undefined;
  }
  return BIG_MIB / Number(m[3]);
}

/** redis-benchmark -t set,get: requests/s of each. */
function redisBench(s: Server, n: number, pipeline: number): { SET?: number; GET?: number } {
  const argv = ["redis-benchmark", "-h", LOOPBACK, "-p", String(s.port), "-n", String(n)];
  argv.push("-c", "50", "-P", String(pipeline), "-q", "-t", "set,get");
  const out = client(s, argv, 120_000);
  const res: { SET?: number; GET?: number } = {};
  for (const line of (out ?? "").split(/[\r\n]+/)) {
    const m = /^(SET|GET): ([\d.]+) requests per second/.exec(line);
    if (m) res[m[1] as "SET" | "GET"] = Number(m[2]);
  }
  return res;
}

export interface ServersOptions {
  reps: number;
  /** wrk's duration per measurement, seconds. */
  seconds: number;
  redisN: number;
}

export async function benchServers(env: ServersBenchEnv, o: ServersOptions): Promise<Row[]> {
  if (process.getuid?.() !== 0)
    throw new Error("the servers benchmark makes network namespaces and overlays: run as root");
  for (const c of ["wrk", "curl", "redis-benchmark", "redis-cli", "unshare", "nsenter", "ip"])
    requireCommand(c, "scripts/setup.sh installs it");
  const debianRoot = path.resolve(
    env.root,
    execFileSync(path.join(env.root, "scripts", "debian-root.sh"), {
      cwd: env.root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    }).trim(),
  );
  const root = serversRoot(env, debianRoot);
  const unoHome = path.join(env.benchBuild, "uno-home");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "uno-bench-servers-"));
  const rows: Row[] = [];
  const running: Server[] = [];
  const stopAll = async () => {
    while (running.length > 0) await running.pop()!.stop();
  };
  /** Starts the pair; each server is stopped in the end even when the other did not start. */
  const startPair = async (what: string, cmd: string[], port: number) => {
    const native = startNative(tmp, root, what, cmd, port);
    running.push(native);
    const uno = await startUno(env, unoHome, root, what, cmd, port);
    running.push(uno);
    return { native, uno };
  };
  try {
    // nginx
    const nginx = ["/usr/sbin/nginx", "-c", "/etc/nginx/uno-bench.conf"];
    const ng = await startPair("nginx", nginx, 80);
    for (const s of [ng.native, ng.uno]) {
      const probe = ["curl", "-s", "-o", "/dev/null", "--max-time", "2", "-w", "%{http_code}"];
      const url = `http://${LOOPBACK}:${s.port}/1k.bin`;
      await waitReady(s, () => client(s, [...probe, url], 5_000, true) === "200", 180_000);
    }
    const w = o.seconds;
    for (const c of [1, 32]) {
      rows.push(
        compare(
          ng,
          `nginx 1 KiB GET, keep-alive, ${c} connection${c > 1 ? "s" : ""} (wrk -t1 -c${c} -d${w}s)`,
          "requests/s",
          true,
          o.reps,
          (s) => wrk(s, c, w, "/1k.bin", false),
        ),
      );
    }
    rows.push(
      compare(ng, `nginx 100 MiB GET (curl to /dev/null)`, "MiB/s", true, o.reps, download),
    );
    for (const c of [1, 32]) {
      rows.push(
        compare(
          ng,
          `nginx new TCP connection per 1 KiB GET (Connection: close), ${c} at a time (wrk -t1 -c${c} -d${w}s)`,
          "connections/s",
          true,
          o.reps,
          (s) => wrk(s, c, w, "/1k.bin", true),
        ),
      );
    }
    await stopAll();

    // redis
    const redisCmd = ["/usr/bin/redis-server", "--port", "6379", "--bind", "0.0.0.0"].concat([
      "--protected-mode",
      "no",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      "/data",
    ]);
    const rd = await startPair("redis-server", redisCmd, 6379);
    for (const s of [rd.native, rd.uno]) {
      const ping = ["redis-cli", "-h", LOOPBACK, "-p", String(s.port), "PING"];
      await waitReady(s, () => client(s, ping, 5_000, true) === "PONG\n", 180_000);
    }
    for (const p of [1, 16]) {
      const n = p > 1 ? o.redisN * 4 : o.redisN;
      // One redis-benchmark run gives SET and GET; both rows come from the same runs.
      const got = {
        native: [] as { SET?: number; GET?: number }[],
        uno: [] as { SET?: number; GET?: number }[],
      };
      log(`redis-benchmark -n ${n} -P ${p}`);
      for (let r = -1; r < o.reps; r++) {
        for (const k of ["native", "uno"] as const) {
          const v = redisBench(rd[k], n, p);
          if (r >= 0) got[k].push(v);
        }
      }
      for (const t of ["SET", "GET"] as const) {
        const vals = (k: "native" | "uno") =>
          got[k].map((v) => v[t]).filter((x): x is number => x !== undefined);
        const uno = sample(vals("uno"), o.reps - vals("uno").length);
        const native = sample(vals("native"), o.reps - vals("native").length);
        rows.push({
          what: `redis ${t} (redis-benchmark -c 50 -n ${n}${p > 1 ? ` -P ${p}` : ""})`,
          unit: "requests/s",
          higherIsBetter: true,
          uno,
          native,
          ratio: uno.median / native.median,
        });
      }
    }
    await stopAll();
  } finally {
    await stopAll();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return rows;
}
