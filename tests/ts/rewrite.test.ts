/**
 * Syscall-site rewriting (libos/arch/x86_64/rewrite.c): the `rewrite` guest program (red
 * zone, registers, signals, restarts, fork/vfork, generated code, shared file mappings) and
 * the signal and process programs, natively and in uno both with rewriting (the default)
 * and with --no-syscall-rewrite (every syscall traps), section by section; and a check that
 * rewriting happens at all: the stub pages show in /proc/self/maps as [uno-syscall] only
 * when it is on. Needs KVM: fails without it, never skips.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { compareSections, requireKvm, ROOT, runNative, runUno, tempDir } from "./guest-util.js";

const tmp = tempDir("uno-rewrite-test-");
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const VARIANTS = ["musl", "glibc", "glibc-pie"] as const;
const prog = (v: string, name: string): string => path.join(ROOT, "build", "guest", v, name);

describe("syscall-site rewriting", () => {
  for (const v of VARIANTS) {
    for (const name of ["rewrite", "signals", "sigasync", "exec"]) {
      for (const mode of [[], ["--no-syscall-rewrite"]]) {
        it(`${name} (${v}) ${mode.length ? "without rewriting" : "with rewriting"}`, async (t) => {
          requireKvm();
          const native = runNative(prog(v, name), []);
          assert.equal(native.status, 0, `native ${name}: ${native.stderr}`);
          await compareSections(t, native, runUno(prog(v, name), [], { unoFlags: mode }), {});
        });
      }
    }
  }

  it("the stubs exist only with rewriting on ([uno-syscall] in /proc/self/maps)", () => {
    requireKvm();
    const root = path.join(tmp, "root");
    fs.mkdirSync(path.join(root, "bin"), { recursive: true });
    fs.copyFileSync("/bin/busybox", path.join(root, "bin", "busybox"));
    fs.chmodSync(path.join(root, "bin", "busybox"), 0o755);
    // busybox (static, glibc) reads /proc/self/maps after many syscalls of its own.
    const args = ["--", "/bin/busybox", "sh", "-c", "echo x > /dev/null; cat /proc/self/maps"];
    const on = runUno(root, args);
    const off = runUno(root, args, { unoFlags: ["--no-syscall-rewrite"] });
    assert.equal(on.status, 0, on.stderr);
    assert.equal(off.status, 0, off.stderr);
    assert.match(on.stdout, /\[uno-syscall\]/);
    assert.doesNotMatch(off.stdout, /\[uno-syscall\]/);
  });
});
