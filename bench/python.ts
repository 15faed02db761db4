/**
 * Python benchmarks (issue 5 §9): `python3 -c pass` start-up and a CPU-bound Python loop,
 * Debian's python3 from the root of scripts/debian-root.sh, in uno (uno-vmm straight, as the
 * other benchmarks) and natively (chroot into the same root: the same binary and libraries).
 * Ratios of the same run; nothing here fails on a slow number.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { packDirectory } from "../src/image/rootfs.js";

export interface PythonBenchEnv {
  root: string; // the repository
  vmm: string;
  cpuidCache: string;
  imageCache: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function timed(argv: string[], input?: string): { ms: number; out: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", input, timeout: 120_000 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(" ")}: status ${r.status}: ${r.stderr}`);
  return { ms, out: r.stdout };
}

const LOOP =
  "import time\nt = time.perf_counter()\ns = 0\nfor i in range(3_000_000):\n    s += i * i\n" +
  "print(time.perf_counter() - t)\n";

export async function benchPython(env: PythonBenchEnv, runs: number) {
  const debRoot = path.resolve(
    env.root,
    execFileSync(path.join(env.root, "scripts", "debian-root.sh"), {
      cwd: env.root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    }).trim(),
  );
  const img = await packDirectory(debRoot, env.imageCache);
  const upper = fs.mkdtempSync(path.join(os.tmpdir(), "uno-bench-py-"));
  const uno = (extra: string[], args: string[]) => [
    env.vmm,
    "--image",
    img.erofsPath,
    "--upper",
    upper,
    "--cpuid-cache",
    env.cpuidCache,
    ...extra,
    "--env",
    "PATH=/usr/bin:/bin",
    "--",
    "/usr/bin/python3",
    ...args,
  ];
  const native = (args: string[]) => [
    "chroot",
    debRoot,
    "/usr/bin/env",
    "-i",
    "PATH=/usr/bin:/bin",
    "/usr/bin/python3",
    ...args,
  ];
  const start = { uno: [] as number[], trap: [] as number[], native: [] as number[] };
  timed(uno([], ["-c", "pass"])); // warm the host's page cache for the image
  for (let i = 0; i < runs; i++) {
    start.native.push(timed(native(["-c", "pass"])).ms);
    start.uno.push(timed(uno([], ["-c", "pass"])).ms);
    start.trap.push(timed(uno(["--no-syscall-rewrite"], ["-c", "pass"])).ms);
  }
  const loop = { uno: [] as number[], native: [] as number[] };
  for (let i = 0; i < 3; i++) {
    loop.native.push(Number(timed(native(["-"]), LOOP).out.trim()) * 1000);
    loop.uno.push(Number(timed(uno([], ["-"]), LOOP).out.trim()) * 1000);
  }
  fs.rmSync(upper, { recursive: true, force: true });
  return {
    startup_ms: {
      uno: median(start.uno),
      uno_min: Math.min(...start.uno),
      uno_no_rewrite: median(start.trap),
      native: median(start.native),
      native_min: Math.min(...start.native),
      ratio: median(start.uno) / median(start.native),
    },
    loop_ms: {
      uno_min: Math.min(...loop.uno),
      native_min: Math.min(...loop.native),
      ratio: Math.min(...loop.uno) / Math.min(...loop.native),
    },
  };
}
