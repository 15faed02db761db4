/**
 * Debian's own dynamically linked programs from a Debian 12 root filesystem
 * (scripts/debian-root.sh: mmdebstrap minbase + python3, sqlite3, lua5.4, perl…, built once
 * and cached in build/debian-root): each script in tests/debian/ is fed on stdin to the same
 * binary twice,
 *   natively: chroot ROOT PROGRAM (the root's binaries and libraries, as root);
 *   in uno:   bin/uno run ROOT -- PROGRAM;
 * and the two must print the same stdout and end with the same status.
 * Needs KVM and root (for chroot): fails without them, never skips.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { assertSame, requireKvm, ROOT, runUno, type Result } from "./guest-util.js";

const SCRIPTS = path.join(ROOT, "tests", "debian");
const ENV = ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8"];
let root = "";

/** Runs PROGRAM ARGS inside ROOT natively (chroot), with `input` on stdin. */
function runChroot(args: string[], input: string): Result {
  const r = spawnSync("chroot", [root, "/usr/bin/env", "-i", ...ENV, ...args], {
    input,
    timeout: 300_000,
    maxBuffer: 64 << 20,
    killSignal: "SIGKILL",
  });
  assert.ok(!r.error, `chroot ${args.join(" ")}: ${r.error?.message}`);
  return {
    status: r.status ?? 128,
    stdout: r.stdout.toString("utf8"),
    stderr: r.stderr.toString("utf8"),
  };
}

/** The same in uno: bin/uno run ROOT -- PROGRAM ARGS. */
function runInUno(args: string[], input: string, timeoutMs = 300_000): Result {
  const env: Record<string, string> = {};
  for (const kv of ENV) env[kv.slice(0, kv.indexOf("="))] = kv.slice(kv.indexOf("=") + 1);
  return runUno(root, ["--", ...args], { input, env, cwd: "/", timeoutMs });
}

function compare(what: string, args: string[], script: string, unoTimeoutMs = 300_000): void {
  requireKvm();
  const input = fs.readFileSync(path.join(SCRIPTS, script), "utf8");
  const native = runChroot(args, input);
  assert.equal(native.status, 0, `${what} natively: ${native.stdout}\n${native.stderr}`);
  assert.ok(native.stdout.length > 0, `${what} natively printed nothing`);
  const uno = runInUno(args, input, unoTimeoutMs);
  assertSame(what, native, uno);
}

describe("Debian 12 programs from a Debian root, natively and in uno", () => {
  before(() => {
    assert.equal(process.getuid?.(), 0, "these tests use chroot for the native runs: run as root");
    root = execFileSync(path.join(ROOT, "scripts", "debian-root.sh"), {
      cwd: ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      timeout: 900_000,
    }).trim();
    root = path.resolve(ROOT, root);
    assert.ok(fs.existsSync(path.join(root, "usr", "bin", "python3")), `no python3 in ${root}`);
  });

  it("python3: json, hashlib, sqlite3, subprocess, fork, struct, zlib, decimal, re", () =>
    compare("python3", ["/usr/bin/python3", "-B", "-"], "python.py"));
  it("python3: threading, queue, condition, thread pool", () =>
    compare("python3 threads", ["/usr/bin/python3", "-B", "-"], "python_threads.py"));
  it("python3: multiprocessing.Pool(4): worker processes, /dev/shm semaphores, threads", () =>
    compare("python3 pool", ["/usr/bin/python3", "-B", "-"], "python_pool.py", 120_000));
  it("sqlite3 shell: DDL, a transaction, a trigger, a view, aggregates, rollback", () =>
    compare(
      "sqlite3",
      // The database is a file (locks, journal, fsync); removed again, since the native run
      // writes into the root directory itself.
      ["/bin/sh", "-c", "sqlite3 /tmp/uno-test.db; s=$?; rm -f /tmp/uno-test.db*; exit $s"],
      "sqlite.sql",
    ));
  it("lua5.4: tables, closures, coroutines, metatables, string library, files", () =>
    compare("lua5.4", ["/usr/bin/lua5.4", "-"], "lua.lua"));
  it("perl: regexes, hashes, sort, files, closures, pack, backticks, system", () =>
    compare("perl", ["/usr/bin/perl"], "perl.pl"));
  it("coreutils and findutils under dash: sort, sha256sum, find | xargs, split, dd…", () =>
    compare("coreutils", ["/bin/sh", "-s"], "coreutils.sh"));
});
