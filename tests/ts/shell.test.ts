/**
 * busybox sh scripts (tests/shell/*.sh) natively and inside uno: pipelines, command
 * substitution, subshells, background jobs and wait, traps and signals, set -e, xargs,
 * find -exec, here-documents, nested sh -c, exec redirections, read loops, a fork loop.
 *
 * The suite builds a root directory in a temp dir: bin/busybox (Debian's busybox-static),
 * a symlink per applet in bin/ (busybox --install -s style: bin/sh, bin/cat, … → busybox),
 * etc/passwd, etc/group, tmp/, the scripts as /NAME.sh and tests/shell/lib.sh (the helpers the
 * scripts source, as "${0%/*}/lib.sh") as /lib.sh. Each script runs
 *   natively: /bin/busybox sh ROOTDIR/NAME.sh, PATH = a directory of symlinks to the
 *             host's /bin/busybox first, TMPDIR = a private temp dir;
 *   in uno:   bin/uno run -w / ROOTDIR -- /bin/busybox sh /NAME.sh, TMPDIR=/tmp;
 * and must print the same stdout and end with the same status. The scripts check
 * themselves too ("ok NAME" / "FAIL NAME: …" lines): the native run must have no FAIL line
 * and end with the status its "# expect-status: N" line names (default 0).
 * These tests need KVM: without a usable /dev/kvm they fail, they are never skipped.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  assertSame,
  GUEST_PATH,
  requireKvm,
  ROOT,
  runNative,
  runUno,
  tempDir,
} from "./guest-util.js";

const BUSYBOX = "/bin/busybox";
const SCRIPTS = path.join(ROOT, "tests", "shell");

/**
 * Known uno gaps: script file name → reason. Such a script still runs; a failure is
 * reported as a todo, not as a failure of the suite.
 */
const todo: Record<string, string> = {};

const tmp = tempDir("uno-shell-test-");
const rootfs = path.join(tmp, "root");
const nativeBin = path.join(tmp, "native-bin");
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Sourced by the scripts (from the directory of $0), not a test itself. */
const LIB = "lib.sh";

const scripts = fs
  .readdirSync(SCRIPTS)
  .filter((f) => f.endsWith(".sh") && f !== LIB)
  .sort();

/** The status a script ends with natively: its "# expect-status: N" line, else 0. */
function expectedStatus(file: string): number {
  const m = /^# expect-status: (\d+)$/m.exec(fs.readFileSync(path.join(SCRIPTS, file), "utf8"));
  return m ? Number(m[1]) : 0;
}

/** The applets busybox was built with (busybox --list). */
function applets(): string[] {
  const r = spawnSync(BUSYBOX, ["--list"], { encoding: "utf8" });
  assert.equal(r.status, 0, `${BUSYBOX} --list: ${r.stderr}`);
  return r.stdout.split("\n").filter((a) => a && a !== "busybox");
}

function buildRootfs(): void {
  for (const d of ["bin", "etc", "tmp"]) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.chmodSync(path.join(rootfs, "tmp"), 0o1777);
  fs.copyFileSync(BUSYBOX, path.join(rootfs, "bin", "busybox"));
  fs.chmodSync(path.join(rootfs, "bin", "busybox"), 0o755);
  fs.mkdirSync(nativeBin);
  for (const a of applets()) {
    fs.symlinkSync("busybox", path.join(rootfs, "bin", a));
    fs.symlinkSync(BUSYBOX, path.join(nativeBin, a));
  }
  fs.writeFileSync(path.join(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  fs.writeFileSync(path.join(rootfs, "etc", "group"), "root:x:0:\n");
  for (const f of [...scripts, LIB]) fs.copyFileSync(path.join(SCRIPTS, f), path.join(rootfs, f));
}

before(() => {
  assert.ok(
    fs.existsSync(BUSYBOX),
    `${BUSYBOX} is missing: install Debian's busybox-static (apt-get install busybox-static)`,
  );
  const f = spawnSync("sh", ["-c", `command -v file >/dev/null && file -L ${BUSYBOX}`]);
  if (f.status === 0) {
    assert.doesNotMatch(
      f.stdout.toString(),
      /dynamically linked/,
      `${BUSYBOX} is dynamically linked: install busybox-static instead of busybox`,
    );
  }
  buildRootfs();
});

describe("busybox sh scripts in uno", () => {
  it("finds the scripts", () => {
    assert.ok(scripts.length >= 10, `only ${scripts.length} scripts in ${SCRIPTS}`);
  });

  for (const file of scripts) {
    it(file, { todo: todo[file] }, () => {
      const status = expectedStatus(file);
      const nativeTmp = fs.mkdtempSync(path.join(tmp, "native-tmp-"));
      const native = runNative(BUSYBOX, ["sh", path.join(rootfs, file)], {
        cwd: rootfs,
        // (the host's directories after nativeBin: runNative's wrapper needs bash)
        env: { PATH: `${nativeBin}:${GUEST_PATH}`, HOME: "/root", TZ: "UTC", TMPDIR: nativeTmp },
        timeoutMs: 30_000,
      });
      const fails = native.stdout.split("\n").filter((l) => l.startsWith("FAIL"));
      assert.deepEqual(fails, [], `native run of ${file} failed its own checks`);
      assert.equal(
        native.status,
        status,
        `native run of ${file}: status ${native.status}, expected ${status}; stderr: ${native.stderr}`,
      );
      requireKvm();
      const uno = runUno(rootfs, ["--", "/bin/busybox", "sh", `/${file}`], {
        cwd: "/",
        env: { TZ: "UTC", TMPDIR: "/tmp" },
        timeoutMs: 120_000,
      });
      assertSame(`busybox sh ${file}`, native, uno);
    });
  }
});
