/**
 * Threads, futexes and SMP (issue 5, items 3 and 4). tests/guest/threads.c and futex.c run
 * natively and inside uno, compared section by section; tests/guest/cpuwork.c measures, in
 * the same run, two CPU-bound threads against the same work done twice by one (a ratio,
 * never an absolute time) and checks that a thread spinning in app code does not starve
 * another on one CPU. These tests need KVM: without a usable /dev/kvm they fail, they are
 * never skipped.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import {
  compareSections,
  GUEST_PATH,
  requireFile,
  requireKvm,
  ROOT,
  runNative,
  runUno,
} from "./guest-util.js";

const VARIANTS = ["musl", "glibc", "glibc-pie"] as const;
type Variant = (typeof VARIANTS)[number];
const NATIVE_ENV = { PATH: GUEST_PATH, HOME: "/root" };

function prog(variant: Variant, name: string): string {
  const p = path.join(ROOT, "build", "guest", variant, name);
  requireFile(p, "build the guest programs with `make guest-progs`");
  return p;
}

// glibc gives each thread an 8 MiB stack (RLIMIT_STACK) and uno maps memory eagerly: the
// 20 threads at once of threads.c need more than the default 128 MiB.
const THREAD_FLAGS = ["--memory", "1g"];

for (const v of VARIANTS) {
  describe(`threads (${v})`, () => {
    const programs: [string, string][] = [
      [
        "threads",
        "create/join, 60 threads, mutex/condvar/barrier, TLS, per-thread masks, tgkill, exit vs exit_group, fork and execve from threads, munmap/mprotect seen by a busy thread, affinity, membarrier",
      ],
      [
        "futex",
        "WAIT/WAKE, timeouts on both clocks, bitsets, REQUEUE/CMP_REQUEUE, WAKE_OP, EINTR/SA_RESTART, errors, robust mutexes",
      ],
    ];
    for (const [name, what] of programs) {
      it(`${name}: ${what}`, async (t) => {
        requireKvm();
        const exe = prog(v, name);
        const native = runNative(exe, [], { env: NATIVE_ENV });
        assert.equal(
          native.status,
          0,
          `native ${name} failed:\n${native.stdout}\n${native.stderr}`,
        );
        const uno = runUno(exe, [], { unoFlags: THREAD_FLAGS });
        await compareSections(t, native, uno);
      });
    }
  });
}

/** Two threads' work over the same work done twice by one thread: in uno with --cpus n, or
 * natively (cpus 0). */
function parallelRatio(cpus: number): { ratio: number; out: string } {
  const exe = prog("glibc", "cpuwork");
  const args = ["ratio", "150000000"];
  const r =
    cpus > 0
      ? runUno(exe, args, { unoFlags: ["--cpus", String(cpus)], timeoutMs: 120_000 })
      : runNative(exe, args, { timeoutMs: 120_000 });
  assert.equal(r.status, 0, `cpuwork ratio failed ${cpus ? "in uno" : "natively"}: ${r.stderr}`);
  const [seq, par] = r.stdout.trim().split(" ").map(Number);
  assert.ok(seq! > 0 && par! > 0, `unexpected output: ${r.stdout}`);
  return { ratio: par! / seq!, out: r.stdout.trim() };
}

describe("SMP and preemption", () => {
  it("--cpus 2: two CPU-bound threads take clearly less time than the same work in sequence", () => {
    requireKvm();
    // Measured against the same program natively, alternately, best of up to five each: on
    // a quiet machine native's ratio is about 0.5 and uno's must be under 0.8; when other
    // work takes the cores (a shared CI machine) native cannot reach it either, and uno must
    // then come within 0.2 of native. One CPU's worth of parallelism gives a ratio near 1.
    const seen: string[] = [];
    let bestUno = Infinity;
    let bestNative = Infinity;
    for (let i = 0; i < 5 && bestUno >= 0.8; i++) {
      const n = parallelRatio(0);
      const u = parallelRatio(2);
      seen.push(`native ${n.out} (${n.ratio.toFixed(2)}), uno ${u.out} (${u.ratio.toFixed(2)})`);
      bestNative = Math.min(bestNative, n.ratio);
      bestUno = Math.min(bestUno, u.ratio);
    }
    assert.ok(
      bestUno < Math.max(0.8, bestNative + 0.2),
      `parallel/sequential time ratio ${bestUno.toFixed(2)}, native ${bestNative.toFixed(2)}: ${seen.join("; ")}`,
    );
  });

  it("--cpus 1: the same two threads share one CPU (no speed-up)", () => {
    requireKvm();
    const { ratio, out } = parallelRatio(1);
    assert.ok(ratio > 0.85, `with one CPU, parallel/sequential ratio ${ratio.toFixed(2)}: ${out}`);
  });

  it("--cpus 1: a thread spinning in app code does not starve another", () => {
    requireKvm();
    const r = runUno(prog("glibc", "cpuwork"), ["starve"], {
      unoFlags: ["--cpus", "1"],
      timeoutMs: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "worker done\n");
  });

  it("--cpus is validated", () => {
    const r = runUno(prog("glibc", "cpuwork"), ["starve"], { unoFlags: ["--cpus", "0"] });
    assert.equal(r.status, 125);
    assert.match(r.stderr, /--cpus/);
  });
});
