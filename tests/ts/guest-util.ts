/**
 * Helpers for the differential suites (guest.test.ts, busybox.test.ts): run a program
 * natively and inside uno (through bin/uno, as a user would), and compare what they print.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { TestContext } from "node:test";
import { kvmProblem } from "../../src/lib/kvm.js";
import { repoRoot } from "../../src/lib/paths.js";

export const ROOT = repoRoot();
export const UNO = path.join(ROOT, "bin", "uno");

/** The environment uno gives a guest besides HOSTNAME (see src/lib/instance.ts). */
export const GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface Result {
  /** Exit status; 128+N when the process was killed by signal N (like a shell reports it). */
  status: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string | Buffer;
  /** Native runs: the whole environment. uno runs: variables passed with -e. */
  env?: Record<string, string>;
  /** Native runs: the working directory. uno runs: -w DIR. */
  cwd?: string;
  timeoutMs?: number;
}

function toResult(what: string, r: ReturnType<typeof spawnSync>, timeoutMs: number): Result {
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === "ETIMEDOUT") assert.fail(`${what}: timed out after ${timeoutMs} ms`);
    assert.fail(`${what}: could not run: ${r.error.message}`);
  }
  let status: number;
  if (r.status !== null) {
    status = r.status;
  } else {
    const n = r.signal ? os.constants.signals[r.signal] : undefined;
    assert.ok(n !== undefined, `${what}: ended without status or known signal`);
    status = 128 + n;
  }
  return {
    status,
    stdout: (r.stdout as Buffer).toString("utf8"),
    stderr: (r.stderr as Buffer).toString("utf8"),
  };
}

/**
 * The native side runs the program the way a shell user would in `… | prog | …`: stdin and
 * stdout are pipes (node's own stdio pipes are sockets, which e.g. cannot be reopened
 * through /dev/stdout) and no descriptor but 0, 1 and 2 is inherited. The exit status is
 * the program's (pipefail); a death by signal N shows as 128+N. The program leads a new
 * session and process group, as uno's PID 1 does (and a container's): what it sees of its
 * session then does not depend on the test runner's (in a PID namespace whose session leader
 * is outside it, getsid() and getpgrp() return 0). /proc/self, not /proc/$$: the /proc
 * mounted may belong to another PID namespace than the shell's. setsid is util-linux's (a
 * PATH given to the program may lead to busybox's, which has no -w).
 */
const NATIVE_WRAPPER =
  'for f in /proc/self/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done; ' +
  'set -o pipefail; cat | /usr/bin/setsid -w "$@" | cat';

/** Runs a host program (through NATIVE_WRAPPER). */
export function runNative(cmd: string, args: string[], o: RunOptions = {}): Result {
  const timeoutMs = o.timeoutMs ?? 60_000;
  const r = spawnSync(
    "bash",
    ["--norc", "--noprofile", "-c", NATIVE_WRAPPER, "native-run", cmd, ...args],
    {
      input: o.input ?? "",
      env: o.env ?? { PATH: GUEST_PATH, HOME: "/root" },
      cwd: o.cwd,
      timeout: timeoutMs,
      maxBuffer: 64 << 20,
      killSignal: "SIGKILL",
    },
  );
  return toResult(`native ${cmd} ${args.join(" ")}`, r, timeoutMs);
}

let unoHome: string | undefined;

/** A private UNO_HOME (image cache, instances) for this test process, removed at exit. */
function home(): string {
  if (!unoHome) {
    unoHome = fs.mkdtempSync(path.join(os.tmpdir(), "uno-test-home-"));
    const dir = unoHome;
    process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return unoHome;
}

/**
 * Runs `bin/uno run [-e K=V]... [-w DIR] [extra...] TARGET ARGS...`. TARGET is a static ELF or
 * a root directory; for a directory, ARGS start with "--" and the program's path.
 */
export function runUno(
  target: string,
  args: string[],
  o: RunOptions & { unoFlags?: string[] } = {},
): Result {
  const timeoutMs = o.timeoutMs ?? 60_000;
  const flags: string[] = [];
  for (const [k, v] of Object.entries(o.env ?? {})) flags.push("-e", `${k}=${v}`);
  if (o.cwd !== undefined) flags.push("-w", o.cwd);
  flags.push(...(o.unoFlags ?? []));
  const r = spawnSync(UNO, ["run", ...flags, target, ...args], {
    input: o.input ?? "",
    env: { ...process.env, UNO_HOME: home() },
    timeout: timeoutMs,
    maxBuffer: 64 << 20,
    killSignal: "SIGKILL",
  });
  return toResult(`uno run ${target} ${args.join(" ")}`, r, timeoutMs);
}

/** Fails (never skips) the current test when /dev/kvm cannot be used. */
export function requireKvm(): void {
  const p = kvmProblem();
  if (p) assert.fail(`this test runs programs in uno and needs KVM, but: ${p.message}`);
}

/** Fails the current test when a file the suite needs is missing. */
export function requireFile(file: string, hint: string): void {
  assert.ok(fs.existsSync(file), `${file} is missing: ${hint}`);
}

/** The first differing lines of two texts, with a little context, for assertion messages. */
export function firstDifference(expected: string, actual: string): string {
  const a = expected.split("\n");
  const b = actual.split("\n");
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (i === a.length && i === b.length) return "(identical)";
  const from = Math.max(0, i - 2);
  const show = (lines: string[]): string =>
    lines
      .slice(from, i + 3)
      .map((l, k) => `    ${from + k + 1}: ${JSON.stringify(l).slice(0, 200)}`)
      .join("\n") || "    (nothing)";
  return `first difference at line ${i + 1}\n  native:\n${show(a)}\n  uno:\n${show(b)}`;
}

function clip(s: string, n = 1500): string {
  return s.length > n ? s.slice(0, n) + `… (${s.length - n} more chars)` : s;
}

/** Asserts that uno printed the same stdout and ended with the same status as native. */
export function assertSame(what: string, native: Result, uno: Result): void {
  assert.ok(
    uno.stdout === native.stdout,
    `${what}: stdout differs, ${firstDifference(native.stdout, uno.stdout)}\n` +
      `uno stderr: ${clip(uno.stderr)}`,
  );
  assert.equal(
    uno.status,
    native.status,
    `${what}: exit status ${uno.status} in uno, ${native.status} natively; uno stderr: ${clip(uno.stderr)}`,
  );
}

/** Splits output into sections headed by "== NAME" lines (text before the first: "(start)"). */
export function sections(out: string): Map<string, string> {
  const m = new Map<string, string>();
  let name = "(start)";
  let buf: string[] = [];
  const flush = (): void => {
    if (buf.length || name !== "(start)") m.set(name, buf.join("\n"));
  };
  const lines = out.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  for (const l of lines) {
    if (l.startsWith("== ")) {
      flush();
      name = l.slice(3);
      buf = [];
    } else {
      buf.push(l);
    }
  }
  flush();
  return m;
}

/**
 * Compares native and uno output section by section, one subtest each (so a known bug in
 * one section is reported alone), plus one subtest for the exit status. `todo` maps a
 * section name (or "exit status") to the reason it is a known uno bug.
 */
export async function compareSections(
  t: TestContext,
  native: Result,
  uno: Result,
  todo: Record<string, string> = {},
): Promise<void> {
  const n = sections(native.stdout);
  const u = sections(uno.stdout);
  assert.ok(n.size > 0, "the native run printed nothing");
  for (const [name, text] of n) {
    await t.test(`section: ${name}`, { todo: todo[name] }, () => {
      const got = u.get(name);
      assert.ok(
        got !== undefined,
        `section "${name}" missing from uno's output (status ${uno.status}); uno stderr: ${clip(uno.stderr)}`,
      );
      assert.ok(
        got === text,
        `section "${name}" differs, ${firstDifference(text, got)}\nuno stderr: ${clip(uno.stderr)}`,
      );
    });
  }
  await t.test("no extra sections in uno", () => {
    const extra = [...u.keys()].filter((k) => !n.has(k));
    assert.deepEqual(extra, [], "uno printed sections the native run did not");
  });
  await t.test("exit status", { todo: todo["exit status"] }, () => {
    assert.equal(
      uno.status,
      native.status,
      `exit status ${uno.status} in uno, ${native.status} natively; uno stderr: ${clip(uno.stderr)}`,
    );
  });
}

/** A fresh temporary directory. */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
