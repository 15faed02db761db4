/**
 * Benchmark driver for issue 2 §8 (boot, syscalls, file write) and issue 4 §9 (procs: fork,
 * exec, pipes, a forking shell script) — each in uno and natively, in the same run, reported
 * as ratios. Prints a markdown table per benchmark, then one JSON line for it (so
 * `grep '^{'` gives the machine-readable results).
 *
 *   node dist/bench/run.js [boot] [syscalls] [file] [procs] [threads] [python] [servers]
 *                          [netloop] [images] [--runs N] [--out FILE]
 *
 * `servers` (nginx, redis-server: bench/servers.ts, then the loopback of `netloop`) needs root
 * and is not in the default set. Neither is `images` (bench/images.ts: uno pull and uno run
 * IMAGE from a loopback docker-registry; needs docker-registry, skopeo, umoci; --runs defaults
 * to 3 for it).
 *
 * The guest programs and the boot timer are built by `make bench` (bench/bench.mk) into
 * build/bench/. Images are packed with uno's own packer (src/image/rootfs.ts), as `uno run`
 * does. No absolute-time assertions here: this measures and reports, it never fails on a
 * slow number.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { packDirectory, packElf } from "../src/image/rootfs.js";
import { benchImages, type Series } from "./images.js";
import { benchPython } from "./python.js";
import { benchServers, type Row as ServerRow } from "./servers.js";

const ROOT =
  process.env.UNO_BENCH_ROOT ??
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const BENCH_BUILD = path.join(ROOT, "build", "bench");
const VMM = path.resolve(process.env.UNO_VMM ?? path.join(ROOT, "build", "uno-vmm"));
const LIBCS = ["musl", "glibc"] as const;
type Libc = (typeof LIBCS)[number];

// ---------------------------------------------------------------------------------------
// small helpers

interface Stats {
  min: number;
  median: number;
  max: number;
  n: number;
}

function stats(xs: number[]): Stats {
  if (xs.length === 0) return { min: NaN, median: NaN, max: NaN, n: 0 };
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  const median = s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  return { min: s[0]!, median, max: s[s.length - 1]!, n: s.length };
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const r2 = (x: number): number => Math.round(x * 100) / 100;
const r1 = (x: number): number => Math.round(x * 10) / 10;
const fmt = (x: number, digits = 3): string => (Number.isFinite(x) ? x.toFixed(digits) : "—");

function die(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(1);
}

function need(file: string, hint: string): string {
  if (!fs.existsSync(file)) die(`${file} not found: ${hint}`);
  return file;
}

function guestBin(prog: string, libc: Libc): string {
  return need(path.join(BENCH_BUILD, `${prog}-${libc}`), "run `make bench` (bench/bench.mk) first");
}

function loadavg(): string {
  return fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}

function machine(): Record<string, string | number> {
  const cpuinfo = fs.readFileSync("/proc/cpuinfo", "utf8");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown";
  // This machine's /dev/kvm is served by kvm_pvm (guest CPL 0 emulated, CPL 3 native).
  const kvm = fs.existsSync("/sys/module/kvm_pvm")
    ? "kvm_pvm"
    : fs.existsSync("/sys/module/kvm_intel")
      ? "kvm_intel"
      : fs.existsSync("/sys/module/kvm_amd")
        ? "kvm_amd"
        : "unknown";
  return {
    nproc: os.availableParallelism(),
    cpu: model,
    kernel: os.release(),
    kvm,
    node: process.version,
    date: new Date().toISOString(),
  };
}

/** Each VM gets its own empty writable layer, as `uno run` gives each instance. */
const tmpDirs: string[] = [];
function freshDir(base: string, prefix: string): string {
  const d = fs.mkdtempSync(path.join(base, prefix));
  tmpDirs.push(d);
  return d;
}
process.on("exit", () => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** An image holding just `file` (as /<basename>), made by uno's own packer. */
async function image(file: string): Promise<{ erofs: string; exec: string }> {
  const cache = path.join(BENCH_BUILD, "images");
  const p = await packElf(file, cache);
  return { erofs: p.erofsPath, exec: p.execPath };
}

/** As `uno run` does: KVM's CPUID table cached per host boot (see src/lib/instance.ts). */
const CPUID_CACHE = path.join(BENCH_BUILD, "kvm-cpuid.bin");

function vmmArgs(img: { erofs: string; exec: string }, upper: string, extra: string[] = []) {
  const cache = ["--cpuid-cache", CPUID_CACHE];
  return [VMM, "--image", img.erofs, "--upper", upper, ...cache, ...extra, "--", img.exec];
}

/** Runs a program that prints one JSON line last; returns it parsed. */
function runJson(argv: string[], what: string): Record<string, unknown> {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", maxBuffer: 1 << 24 });
  const last = r.stdout?.trim().split("\n").pop() ?? "";
  if (r.status !== 0 || !last.startsWith("{"))
    die(`${what} failed (status ${r.status}): ${argv.join(" ")}\n${r.stderr}${r.stdout}`);
  return JSON.parse(last) as Record<string, unknown>;
}

function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

function emit(text: string, json: Record<string, unknown>, results: Record<string, unknown>[]) {
  process.stdout.write(`${text}\n\n${JSON.stringify(json)}\n\n`);
  results.push(json);
}

// ---------------------------------------------------------------------------------------
// 1. boot: exec -> first byte on stdout, via build/bench/boot-timer (C, CLOCK_MONOTONIC)

interface TimerRun {
  cmd: number;
  run: number;
  status: number;
  first_byte_ns: number;
  exit_ns: number;
  stdout_bytes: number;
  stderr: [number, string][];
}

function bootTimer(runs: number, warmup: number, cmds: string[][], env?: NodeJS.ProcessEnv) {
  const timer = need(path.join(BENCH_BUILD, "boot-timer"), "run `make bench` first");
  const args = [String(runs), String(warmup)];
  cmds.forEach((c, i) => args.push(...(i ? [":::"] : []), ...c));
  const r = spawnSync(timer, args, { encoding: "utf8", maxBuffer: 1 << 26, env });
  if (r.status !== 0) die(`boot-timer failed: ${r.stderr}`);
  const all = r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as TimerRun);
  return cmds.map((_, i) => {
    const mine = all.filter((x) => x.cmd === i);
    const bad = mine.find((x) => x.status !== 0 || x.first_byte_ns < 0);
    if (bad)
      die(
        `boot run failed (status ${bad.status}, ${bad.stdout_bytes} bytes out): ${cmds[i]!.join(" ")}\n` +
          bad.stderr.map((l) => l[1]).join("\n"),
      );
    return mine;
  });
}

/** The uno-vmm --verbose lines this benchmark knows, in order. */
const MARKS = [
  ["kvm", /kvm and memory ready/],
  ["libos", /libOS loaded/],
  ["enter", /entering guest/],
  ["finished", /guest finished/],
] as const;
type Mark = (typeof MARKS)[number][0];

/** The libOS's own --verbose lines ("uno-libos: [ N us] ..."), stamped by the guest clock
 * from the libOS's first clock reading; they reach our pipe through the ring, so only their
 * stamps count, not their arrival. */
const GUEST_MARKS = [
  ["memory", /memory ready/],
  ["namespace", /namespace ready/],
  ["loaded", /program loaded/],
] as const;
type GuestMark = (typeof GUEST_MARKS)[number][0];

/** Phase names, in order, with what each covers (for the table). */
const PHASES: [string, string][] = [
  ["spawn_to_main_ms", "posix_spawn → uno-vmm main(): exec, ld.so, glibc start-up"],
  ["kvm_and_memory_ms", "main() → KVM VM created, guest RAM/shared/image mapped"],
  ["libos_and_page_tables_ms", "libOS read + copied into guest RAM, page tables, memory slots"],
  ["vcpu_and_io_thread_ms", "vCPU created (CPUID, sregs, MSRs), boot info, I/O thread"],
  ["guest_to_first_byte_ms", "vCPU entered → first byte on our pipe (sum of the 4 below)"],
  ["guest_libos_memory_ms", "  libOS: clock start → heap + frame allocator ready"],
  ["guest_libos_namespace_ms", "  libOS: → fs namespace, console, cwd"],
  ["guest_libos_exec_load_ms", "  libOS: → hello's ELF loaded, its stack built"],
  ["guest_rest_ms", "  vCPU entry → libOS clock, hello runs, write → VMM → pipe"],
  ["first_byte_to_guest_exit_ms", "first byte → uno-vmm logs guest finished"],
  ["teardown_to_reaped_ms", "→ process reaped (exit, KVM VM destroy)"],
];

/**
 * Phases of one --verbose run, in ms. uno-vmm stamps its lines relative to its own main();
 * each line's arrival on our pipe is stamped relative to just before spawn, so
 * min(arrival - stamp) over the lines is spawn -> main() (plus at most the pipe latency).
 */
function phasesOf(run: TimerRun): Record<string, number> | undefined {
  const at: Partial<Record<Mark, number>> = {};
  const gat: Partial<Record<GuestMark, number>> = {};
  let offset = Infinity;
  for (const [arrivalNs, text] of run.stderr) {
    const g = /^uno-libos: \[\s*(\d+) us\]\s*(.*)$/.exec(text);
    if (g) {
      for (const [key, re] of GUEST_MARKS) if (re.test(g[2]!)) gat[key] = Number(g[1]) / 1000;
      continue;
    }
    const m = /^uno-vmm: \[\s*([\d.]+) ms\]\s*(.*)$/.exec(text);
    if (!m) continue;
    const stamp = Number(m[1]);
    offset = Math.min(offset, arrivalNs / 1e6 - stamp);
    for (const [key, re] of MARKS) if (re.test(m[2]!)) at[key] = stamp;
  }
  if (at.kvm === undefined || at.libos === undefined || at.enter === undefined) return undefined;
  const fb = run.first_byte_ns / 1e6 - offset; // first byte, in uno-vmm's clock
  const p: Record<string, number> = {
    spawn_to_main_ms: offset,
    kvm_and_memory_ms: at.kvm,
    libos_and_page_tables_ms: at.libos - at.kvm,
    vcpu_and_io_thread_ms: at.enter - at.libos,
    guest_to_first_byte_ms: fb - at.enter,
  };
  if (gat.memory !== undefined && gat.namespace !== undefined && gat.loaded !== undefined) {
    p.guest_libos_memory_ms = gat.memory;
    p.guest_libos_namespace_ms = gat.namespace - gat.memory;
    p.guest_libos_exec_load_ms = gat.loaded - gat.namespace;
    p.guest_rest_ms = fb - at.enter - gat.loaded;
  }
  if (at.finished !== undefined) {
    p.first_byte_to_guest_exit_ms = at.finished - fb;
    p.teardown_to_reaped_ms = run.exit_ns / 1e6 - offset - at.finished;
  }
  return p;
}

async function benchBoot(runs: number, results: Record<string, unknown>[]) {
  const upperBase = os.tmpdir();
  const imgs = {
    musl: await image(guestBin("hello", "musl")),
    glibc: await image(guestBin("hello", "glibc")),
  };
  // hello writes nothing to its writable layer, so one empty upper dir serves every run.
  const upper = freshDir(upperBase, "uno-bench-boot-");
  const cmds = [
    [guestBin("hello", "musl")],
    vmmArgs(imgs.musl, upper),
    vmmArgs(imgs.musl, upper, ["--verbose"]),
    [guestBin("hello", "glibc")],
    vmmArgs(imgs.glibc, upper),
  ];
  const load0 = loadavg();
  const [natM, unoM, verbM, natG, unoG] = bootTimer(runs, 3, cmds);
  const ms = (rs: TimerRun[], f: (r: TimerRun) => number) => stats(rs.map((r) => f(r) / 1e6));
  const fbMs = (rs: TimerRun[]) => ms(rs, (r) => r.first_byte_ns);
  const exitMs = (rs: TimerRun[]) => ms(rs, (r) => r.exit_ns);
  const uno = fbMs(unoM!);
  const nat = fbMs(natM!);
  const verb = fbMs(verbM!);
  const unoGl = fbMs(unoG!);
  const natGl = fbMs(natG!);

  const per = verbM!.map(phasesOf).filter((p): p is Record<string, number> => p !== undefined);
  const phases: Record<string, number> = {};
  const phaseRows: (string | number)[][] = [];
  for (const [k, what] of PHASES) {
    const xs = per.map((p) => p[k]).filter((x): x is number => x !== undefined);
    if (xs.length === 0) continue;
    const s = stats(xs);
    phases[k] = r3(s.median);
    phaseRows.push([k.replace(/_ms$/, ""), what, fmt(s.median), fmt(s.min), fmt(s.max)]);
  }

  // Informational: the whole CLI path (node start, packing cache hit, instance dir), beside
  // node alone writing one byte.
  const cliRuns = Math.max(5, Math.min(10, runs));
  const cliHome = freshDir(upperBase, "uno-bench-home-");
  const [cli, nodeOnly] = bootTimer(
    cliRuns,
    1,
    [
      [path.join(ROOT, "bin", "uno"), "run", guestBin("hello", "musl")],
      [process.execPath, "-e", "process.stdout.write('x')"],
    ],
    { ...process.env, UNO_HOME: cliHome },
  );
  const cliS = fbMs(cli!);
  const nodeS = fbMs(nodeOnly!);

  const row = (what: string, s: Stats, base: Stats | undefined, rs: TimerRun[]) => [
    what,
    fmt(s.median),
    fmt(s.min),
    fmt(s.max),
    base ? fmt(s.median / base.median, 1) : "1",
    fmt(exitMs(rs).median),
  ];
  const rows = [
    row("native hello (musl)", nat, undefined, natM!),
    row("uno-vmm hello (musl)", uno, nat, unoM!),
    row("uno-vmm --verbose hello (musl)", verb, nat, verbM!),
    row("native hello (glibc)", natGl, undefined, natG!),
    row("uno-vmm hello (glibc)", unoGl, natGl, unoG!),
    row(`bin/uno run hello (musl; whole CLI; ${cliRuns} runs)`, cliS, nat, cli!),
    row(`node -e 'write 1 byte' (for the CLI row; ${cliRuns} runs)`, nodeS, nat, nodeOnly!),
  ];
  const text =
    `### Boot: exec → first byte on stdout (${runs} runs each, interleaved; load ${load0} → ${loadavg()})\n\n` +
    table(
      ["what", "median ms", "min ms", "max ms", "× native (median)", "exit (reaped) median ms"],
      rows,
    ) +
    `\n\nPhases of \`uno-vmm --verbose\` (musl hello, ${per.length} runs), ms:\n\n` +
    table(["phase", "covers", "median", "min", "max"], phaseRows);
  emit(
    text,
    {
      bench: "boot",
      libc: "musl",
      runs,
      median_ms: r3(uno.median),
      min_ms: r3(uno.min),
      max_ms: r3(uno.max),
      native_median_ms: r3(nat.median),
      native_min_ms: r3(nat.min),
      native_max_ms: r3(nat.max),
      ratio: r1(uno.median / nat.median),
      exit_median_ms: r3(exitMs(unoM!).median),
      phases,
      verbose_median_ms: r3(verb.median),
      glibc: {
        median_ms: r3(unoGl.median),
        min_ms: r3(unoGl.min),
        max_ms: r3(unoGl.max),
        native_median_ms: r3(natGl.median),
      },
      cli_median_ms: r3(cliS.median),
      node_median_ms: r3(nodeS.median),
      target_ms: 1,
      loadavg: [load0, loadavg()],
    },
    results,
  );
}

// ---------------------------------------------------------------------------------------
// 2. syscalls: getpid, a local mix, libc clock_gettime — ns/call, uno vs native

type Triple = { min_ns: number; median_ns: number; max_ns: number };

async function benchSyscalls(results: Record<string, unknown>[]) {
  const N = 10000;
  const REPS = 15;
  const load0 = loadavg();
  const out: Record<string, Record<string, unknown>> = {};
  const rows: (string | number)[][] = [];
  const kinds = [
    ["getpid", "raw `syscall` getpid"],
    ["mix", "mix: getpid, clock_gettime, getuid, brk(0), sched_yield"],
    ["clock_gettime_libc", "clock_gettime() via libc (the vDSO, in uno too)"],
    ["getpid_libc", "getpid() via libc (a site uno rewrites)"],
  ] as const;
  for (const libc of LIBCS) {
    const bin = guestBin("syscalls", libc);
    const img = await image(bin);
    const nat = runJson([bin, String(N), String(REPS)], "native syscalls");
    const uno = runJson(
      [...vmmArgs(img, freshDir(os.tmpdir(), "uno-bench-sys-")), String(N), String(REPS)],
      "uno syscalls",
    );
    // The same in uno with every syscall trapping, for comparison.
    const trap = runJson(
      [
        ...vmmArgs(img, freshDir(os.tmpdir(), "uno-bench-sys-"), ["--no-syscall-rewrite"]),
        String(N),
        String(REPS),
      ],
      "uno syscalls --no-syscall-rewrite",
    );
    const res: Record<string, unknown> = {};
    for (const [k, label] of kinds) {
      const u = uno[k] as Triple;
      const n = nat[k] as Triple;
      const tr = trap[k] as Triple;
      res[k] = {
        uno_ns: r1(u.median_ns),
        native_ns: r1(n.median_ns),
        ratio: r2(u.median_ns / n.median_ns),
        uno_no_rewrite_ns: r1(tr.median_ns),
        no_rewrite_ratio: r2(tr.median_ns / n.median_ns),
        uno_min_ns: r1(u.min_ns),
        uno_max_ns: r1(u.max_ns),
        native_min_ns: r1(n.min_ns),
        native_max_ns: r1(n.max_ns),
      };
      rows.push([
        `${label} (${libc})`,
        `${fmt(u.median_ns, 0)} (${fmt(u.min_ns, 0)}–${fmt(u.max_ns, 0)})`,
        `${fmt(n.median_ns, 0)} (${fmt(n.min_ns, 0)}–${fmt(n.max_ns, 0)})`,
        fmt(u.median_ns / n.median_ns, 2),
        `${fmt(tr.median_ns, 0)} (${fmt(tr.median_ns / n.median_ns, 1)}×)`,
      ]);
    }
    out[libc] = res;
  }
  const text =
    `### Syscalls: ns per call, median (min–max) of ${REPS} repetitions × ${N} calls (load ${load0} → ${loadavg()})\n\n` +
    table(["what", "uno ns", "native ns", "uno / native", "uno --no-syscall-rewrite ns"], rows);
  emit(
    text,
    {
      bench: "syscalls",
      libc: "musl",
      n: N,
      reps: REPS,
      ...out.musl,
      glibc: out.glibc,
      loadavg: [load0, loadavg()],
    },
    results,
  );
}

// ---------------------------------------------------------------------------------------
// threads (issue 5 §9): futex ping-pong between two threads, and two CPU-bound threads vs
// the same work in sequence, natively and in uno with --cpus 2 and --cpus 1

async function benchThreads(results: Record<string, unknown>[]) {
  const ROUNDS = 2000;
  const ITERS = 100000000;
  const REPS = 5;
  const load0 = loadavg();
  const rows: (string | number)[][] = [];
  const out: Record<string, unknown> = {};
  const range = (s: { min_ns: number; median_ns: number; max_ns: number }): string =>
    `${fmt(s.median_ns / 1000, 1)} (${fmt(s.min_ns / 1000, 1)}–${fmt(s.max_ns / 1000, 1)})`;
  for (const libc of LIBCS) {
    const bin = guestBin("threads", libc);
    const img = await image(bin);
    const args = [String(ROUNDS), String(ITERS), String(REPS)];
    const nat = runJson([bin, ...args], "native threads");
    type T = {
      pingpong: { min_ns: number; median_ns: number; max_ns: number };
      par_over_seq: { min: number; median: number; max: number };
    };
    const n = nat as unknown as T;
    const res: Record<string, unknown> = { native: nat };
    for (const cpus of [2, 1]) {
      const u = runJson(
        [
          ...vmmArgs(img, freshDir(os.tmpdir(), "uno-bench-thr-"), ["--cpus", String(cpus)]),
          ...args,
        ],
        `uno threads --cpus ${cpus}`,
      ) as unknown as T;
      res[`uno_cpus${cpus}`] = u;
      rows.push([
        `futex ping-pong, µs per round trip (${libc}, --cpus ${cpus})`,
        range(u.pingpong),
        range(n.pingpong),
        fmt(u.pingpong.median_ns / n.pingpong.median_ns, 2),
      ]);
      rows.push([
        `2 CPU-bound threads: parallel / sequential time (${libc}, --cpus ${cpus})`,
        `${fmt(u.par_over_seq.median, 2)} (${fmt(u.par_over_seq.min, 2)}–${fmt(u.par_over_seq.max, 2)})`,
        `${fmt(n.par_over_seq.median, 2)} (${fmt(n.par_over_seq.min, 2)}–${fmt(n.par_over_seq.max, 2)})`,
        fmt(u.par_over_seq.median / n.par_over_seq.median, 2),
      ]);
    }
    out[libc] = res;
  }
  const text =
    `### Threads: median (min–max) of ${REPS} repetitions; ping-pong ${ROUNDS} rounds; CPU work ${ITERS} iterations per thread (load ${load0} → ${loadavg()})\n\n` +
    table(["what", "uno", "native", "uno / native"], rows);
  emit(
    text,
    {
      bench: "threads",
      rounds: ROUNDS,
      iters: ITERS,
      reps: REPS,
      ...out,
      loadavg: [load0, loadavg()],
    },
    results,
  );
}

// ---------------------------------------------------------------------------------------
// 3. file write: 4 KiB pwrite to a file of the writable layer vs native, same filesystem

function fsType(dir: string): string {
  const r = spawnSync("findmnt", ["-n", "-o", "FSTYPE", "--target", dir], { encoding: "utf8" });
  return r.stdout.trim().split("\n")[0] || "unknown";
}

async function benchFile(results: Record<string, unknown>[]) {
  const N = 1000;
  const REPS = 11;
  const load0 = loadavg();
  const bin = guestBin("filewrite", "musl");
  const img = await image(bin);
  // The writable layer of `uno run` lives on disk (under $UNO_HOME); tmpfs shows the
  // cost without the host filesystem.
  const bases = [os.tmpdir(), "/dev/shm"].filter((d) => fs.existsSync(d));
  const rows: (string | number)[][] = [];
  const variants: Record<string, unknown>[] = [];
  for (const base of bases) {
    const fst = fsType(base);
    const natDir = freshDir(base, "uno-bench-native-");
    const nat = runJson(
      [bin, path.join(natDir, "bench.dat"), String(N), String(REPS)],
      "native filewrite",
    );
    const upper = freshDir(base, "uno-bench-upper-");
    const uno = runJson(
      [...vmmArgs(img, upper), "/bench.dat", String(N), String(REPS)],
      "uno filewrite",
    );
    const v: Record<string, unknown> = { fs: fst, dir: base };
    for (const op of ["pwrite_4k", "pread_4k"] as const) {
      const u = uno[op] as Triple;
      const n = nat[op] as Triple;
      v[op] = {
        uno_ns: Math.round(u.median_ns),
        native_ns: Math.round(n.median_ns),
        ratio: r1(u.median_ns / n.median_ns),
        uno_min_ns: Math.round(u.min_ns),
        uno_max_ns: Math.round(u.max_ns),
        native_min_ns: Math.round(n.min_ns),
        native_max_ns: Math.round(n.max_ns),
      };
      rows.push([
        `${op.replace("_4k", "")} 4 KiB, ${fst} (${base})`,
        `${fmt(u.median_ns, 0)} (${fmt(u.min_ns, 0)}–${fmt(u.max_ns, 0)})`,
        `${fmt(n.median_ns, 0)} (${fmt(n.min_ns, 0)}–${fmt(n.max_ns, 0)})`,
        fmt(u.median_ns / n.median_ns, 1),
      ]);
    }
    variants.push(v);
  }
  const text =
    `### File I/O: ns per 4 KiB op at offset 0, median (min–max) of ${REPS} repetitions × ${N} ops (load ${load0} → ${loadavg()})\n\n` +
    table(["what", "uno ns (writable layer)", "native ns", "uno / native"], rows);
  const head = variants[0]!;
  emit(
    text,
    {
      bench: "file_write",
      libc: "musl",
      n: N,
      reps: REPS,
      fs: head.fs,
      pwrite_4k: head.pwrite_4k,
      pread_4k: head.pread_4k,
      variants: variants.slice(1),
      loadavg: [load0, loadavg()],
    },
    results,
  );
}

// ---------------------------------------------------------------------------------------
// 4. procs (issue 4 §9): fork+_exit+wait (small, and with 100 MiB touched), fork+execve of
//    busybox true+wait, pipe ping-pong, a busybox sh script forking 1,000 times. getpid is
//    the syscalls benchmark's.

const BUSYBOX = process.env.UNO_BENCH_BUSYBOX ?? "/bin/busybox";

/**
 * A root directory with bin/procs-{musl,glibc}, bin/hello-musl, bin/busybox (the host's busybox-static), and
 * bin/true and bin/sh as symlinks to it; packed by uno's own directory packer. Natively the
 * same files are used in place (bin/true → busybox resolves on the host too).
 */
async function procsRoot(): Promise<{ dir: string; erofs: string }> {
  need(BUSYBOX, "install busybox-static (apt-get install busybox-static)");
  const head = fs.readFileSync(BUSYBOX).subarray(0, 4096).toString("latin1");
  if (!head.startsWith("\x7fELF") || head.includes("/lib64/ld-linux"))
    die(`${BUSYBOX} must be a static ELF (busybox-static)`);
  const dir = path.join(BENCH_BUILD, "procs-root");
  fs.rmSync(dir, { recursive: true, force: true });
  for (const d of ["bin", "tmp", "dev", "proc", "etc"])
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.chmodSync(path.join(dir, "tmp"), 0o1777);
  for (const libc of LIBCS)
    fs.copyFileSync(guestBin("procs", libc), path.join(dir, "bin", `procs-${libc}`));
  fs.copyFileSync(guestBin("hello", "musl"), path.join(dir, "bin", "hello-musl"));
  fs.copyFileSync(BUSYBOX, path.join(dir, "bin", "busybox"));
  for (const f of ["procs-musl", "procs-glibc", "hello-musl", "busybox"])
    fs.chmodSync(path.join(dir, "bin", f), 0o755);
  fs.symlinkSync("busybox", path.join(dir, "bin", "true"));
  fs.symlinkSync("busybox", path.join(dir, "bin", "sh"));
  // The packer's cache key is metadata (sizes, mtimes): give the copies their sources'
  // times and everything else the epoch, so an unchanged tree reuses its cached image.
  for (const [f, src] of [
    ["procs-musl", guestBin("procs", "musl")],
    ["procs-glibc", guestBin("procs", "glibc")],
    ["hello-musl", guestBin("hello", "musl")],
    ["busybox", BUSYBOX],
  ] as const) {
    const st = fs.statSync(src);
    fs.utimesSync(path.join(dir, "bin", f), st.atime, st.mtime);
  }
  for (const l of ["true", "sh"]) fs.lutimesSync(path.join(dir, "bin", l), 0, 0);
  for (const d of ["bin", "tmp", "dev", "proc", "etc", "."]) fs.utimesSync(path.join(dir, d), 0, 0);
  const p = await packDirectory(dir, path.join(BENCH_BUILD, "images"), { onWarning: () => {} });
  return { dir, erofs: p.erofsPath };
}

/** The `sh` script of benchmark 5: $1 forks+execs `count` times, then one line of output. */
const forkScript = (count: number) =>
  `i=0; while [ $i -lt ${count} ]; do "$1"; i=$((i+1)); done; echo done`;

async function benchProcs(results: Record<string, unknown>[]) {
  const REPS = 7;
  const SCRIPT_FORKS = 1000;
  const SCRIPT_RUNS = 3;
  const load0 = loadavg();
  const root = await procsRoot();
  const upper = freshDir(os.tmpdir(), "uno-bench-procs-");
  const uno = (extra: string[], argv: string[]) => [
    VMM,
    "--image",
    root.erofs,
    "--upper",
    upper,
    "--cpuid-cache",
    CPUID_CACHE,
    ...extra,
    "--",
    ...argv,
  ];
  // [key, label, N, uno-vmm flags, guest args (exec's PATH is filled in per side)]
  const cases: [string, string, number, string[], string[]][] = [
    ["fork", "fork + _exit + waitpid, small process", 100, [], ["fork"]],
    [
      "fork_100m",
      "fork + _exit + waitpid, 100 MiB touched (uno --memory 512M)",
      30,
      ["--memory", "512M"],
      ["fork", "", "", "100"],
    ],
    ["fork_exec", "fork + execve(busybox true) + waitpid", 20, [], ["exec"]],
    ["fork_exec_hello", "fork + execve(hello, static musl, 17 KiB) + waitpid", 20, [], ["exec"]],
    ["pipe", "pipe ping-pong, 1 byte each way, per round trip", 1000, [], ["pipe"]],
  ];
  const rows: (string | number)[][] = [];
  const out: Record<string, Record<string, unknown>> = {};
  for (const libc of LIBCS) {
    const res: Record<string, unknown> = {};
    for (const [key, label, n, flags, args] of cases) {
      // exec's PATH: busybox true, or hello; natively the same files in procs-root.
      const guestArgs = (bin: string) => {
        const a = [args[0]!, String(n), String(REPS), ...args.slice(3)];
        if (key === "fork_exec") return [...a, `${bin}/busybox`, "true"];
        if (key === "fork_exec_hello") return [...a, `${bin}/hello-musl`];
        return a;
      };
      const nat = runJson(
        [path.join(root.dir, "bin", `procs-${libc}`), ...guestArgs(path.join(root.dir, "bin"))],
        `native procs ${key}`,
      );
      const u = runJson(
        uno(flags, [`/bin/procs-${libc}`, ...guestArgs("/bin")]),
        `uno procs ${key}`,
      );
      const us = (x: unknown) => Number(x) / 1000;
      const t = {
        uno_us: r1(us(u.median_ns)),
        uno_min_us: r1(us(u.min_ns)),
        uno_max_us: r1(us(u.max_ns)),
        native_us: r1(us(nat.median_ns)),
        native_min_us: r1(us(nat.min_ns)),
        native_max_us: r1(us(nat.max_ns)),
        ratio: r1(Number(u.median_ns) / Number(nat.median_ns)),
        n,
      };
      res[key] = t;
      rows.push([
        `${label} (${libc}; ${REPS} × ${n})`,
        fmt(t.uno_us, 1),
        fmt(t.uno_min_us, 1),
        fmt(t.native_us, 1),
        fmt(t.native_min_us, 1),
        fmt(t.ratio, 1),
      ]);
      if (key === "fork_exec") {
        // execve's own share: fork+exec+wait minus fork+_exit+wait, both medians.
        const fe = res.fork_exec as { uno_us: number; native_us: number };
        const f = res.fork as { uno_us: number; native_us: number };
        res.exec_only = {
          uno_us: r1(fe.uno_us - f.uno_us),
          native_us: r1(fe.native_us - f.native_us),
          ratio: r1((fe.uno_us - f.uno_us) / (fe.native_us - f.native_us)),
        };
        const eo = res.exec_only as { uno_us: number; native_us: number; ratio: number };
        rows.push([
          `execve alone: the row above minus fork + _exit + waitpid (${libc}; medians)`,
          fmt(eo.uno_us, 1),
          "—",
          fmt(eo.native_us, 1),
          "—",
          fmt(eo.ratio, 1),
        ]);
      }
    }
    out[libc] = res;
  }

  // 5. busybox sh forking 1,000 times, timed whole (exec → exit reaped) by boot-timer, beside
  //    the same shell with no loop (start-up alone).
  const sh = (count: number, trueBin: string) => ["sh", "-c", forkScript(count), "sh", trueBin];
  const nativeBb = path.join(root.dir, "bin", "busybox");
  const nativeTrue = path.join(root.dir, "bin", "true");
  const [natS, unoS] = bootTimer(SCRIPT_RUNS, 0, [
    [nativeBb, ...sh(SCRIPT_FORKS, nativeTrue)],
    uno([], ["/bin/busybox", ...sh(SCRIPT_FORKS, "/bin/true")]),
  ]);
  const [natE, unoE] = bootTimer(10, 1, [
    [nativeBb, ...sh(0, nativeTrue)],
    uno([], ["/bin/busybox", ...sh(0, "/bin/true")]),
  ]);
  const exitMs = (rs: TimerRun[]) => stats(rs.map((r) => r.exit_ns / 1e6));
  const sN = exitMs(natS!);
  const sU = exitMs(unoS!);
  const eN = exitMs(natE!);
  const eU = exitMs(unoE!);
  const perFork = (s: Stats, e: Stats) => ((s.median - e.median) * 1000) / SCRIPT_FORKS;
  const script = {
    forks: SCRIPT_FORKS,
    runs: SCRIPT_RUNS,
    uno_ms: r1(sU.median),
    uno_min_ms: r1(sU.min),
    native_ms: r1(sN.median),
    native_min_ms: r1(sN.min),
    ratio: r1(sU.median / sN.median),
    empty_uno_ms: r2(eU.median),
    empty_native_ms: r2(eN.median),
    per_fork_uno_us: r1(perFork(sU, eU)),
    per_fork_native_us: r1(perFork(sN, eN)),
  };
  const scriptRows = [
    [
      `busybox sh: ${SCRIPT_FORKS} × \`/bin/true\` (→ busybox), whole run (${SCRIPT_RUNS} runs)`,
      fmt(sU.median, 1),
      fmt(sU.min, 1),
      fmt(sN.median, 1),
      fmt(sN.min, 1),
      fmt(script.ratio, 1),
    ],
    [
      "busybox sh, same script with 0 iterations (10 runs)",
      fmt(eU.median, 2),
      fmt(eU.min, 2),
      fmt(eN.median, 2),
      fmt(eN.min, 2),
      fmt(eU.median / eN.median, 1),
    ],
    [
      "per iteration: (whole − 0 iterations) / 1000, in µs",
      fmt(script.per_fork_uno_us, 1),
      "—",
      fmt(script.per_fork_native_us, 1),
      "—",
      fmt(script.per_fork_uno_us / script.per_fork_native_us, 1),
    ],
  ];

  const text =
    `### Processes: µs per iteration, median and min of ${REPS} repetitions (load ${load0} → ${loadavg()})\n\n` +
    table(["what", "uno µs", "uno min", "native µs", "native min", "uno / native"], rows) +
    `\n\nShell script, exec → exit reaped, ms:\n\n` +
    table(["what", "uno ms", "uno min", "native ms", "native min", "uno / native"], scriptRows) +
    `\n\ngetpid: see the syscalls benchmark.`;
  emit(
    text,
    {
      bench: "procs",
      libc: "musl",
      reps: REPS,
      ...out.musl,
      glibc: out.glibc,
      script,
      loadavg: [load0, loadavg()],
    },
    results,
  );
}

// ---------------------------------------------------------------------------------------
// python (issue 5 §9): start-up and a CPU-bound loop, Debian's python3 (bench/python.ts)

async function benchPythonTable(results: Record<string, unknown>[]) {
  const load0 = loadavg();
  const r = await benchPython(
    {
      root: ROOT,
      vmm: VMM,
      cpuidCache: CPUID_CACHE,
      imageCache: path.join(BENCH_BUILD, "images"),
    },
    10,
  );
  const s = r.startup_ms;
  const l = r.loop_ms;
  const text =
    `### Python (Debian's python3 from a Debian root; chroot natively) (load ${load0} → ${loadavg()})\n\n` +
    table(
      ["what", "uno", "native", "uno / native"],
      [
        [
          "`python3 -c pass`, ms, median (min) of 10",
          `${fmt(s.uno, 1)} (${fmt(s.uno_min, 1)}); --no-syscall-rewrite ${fmt(s.uno_no_rewrite, 1)}`,
          `${fmt(s.native, 1)} (${fmt(s.native_min, 1)})`,
          fmt(s.ratio, 2),
        ],
        [
          "CPU-bound loop (3M iterations), ms, min of 3",
          fmt(l.uno_min, 1),
          fmt(l.native_min, 1),
          fmt(l.ratio, 2),
        ],
      ],
    );
  emit(text, { bench: "python", ...r, loadavg: [load0, loadavg()] }, results);
}

// ---------------------------------------------------------------------------------------
// networking (issue 6): nginx and redis-server against native (bench/servers.ts), and the
// loopback inside one instance (bench/guest/netloop.c: TCP and AF_UNIX between two processes)

async function benchNetloop(results: Record<string, unknown>[]) {
  const N = 2000;
  const MIB = 256;
  const REPS = 5;
  const load0 = loadavg();
  const rows: (string | number)[][] = [];
  const out: Record<string, unknown> = {};
  type S = { min: number; median: number; max: number };
  type T = { tcp_rtt_ns: S; unix_rtt_ns: S; tcp_bulk_mibs: S };
  for (const libc of LIBCS) {
    const bin = guestBin("netloop", libc);
    const img = await image(bin);
    const args = [String(N), String(MIB), String(REPS)];
    const n = runJson([bin, ...args], "native netloop") as unknown as T;
    const u = runJson(
      [...vmmArgs(img, freshDir(os.tmpdir(), "uno-bench-net-")), ...args],
      "uno netloop",
    ) as unknown as T;
    out[libc] = { uno: u, native: n };
    const us = (s: S) =>
      `${fmt(s.median / 1000, 1)} (${fmt(s.min / 1000, 1)}–${fmt(s.max / 1000, 1)})`;
    const mb = (s: S) => `${fmt(s.median, 0)} (${fmt(s.min, 0)}–${fmt(s.max, 0)})`;
    rows.push(
      [
        `TCP 127.0.0.1 ping-pong, µs per round trip (${libc})`,
        us(u.tcp_rtt_ns),
        us(n.tcp_rtt_ns),
        fmt(u.tcp_rtt_ns.median / n.tcp_rtt_ns.median, 2),
      ],
      [
        `AF_UNIX socketpair ping-pong, µs per round trip (${libc})`,
        us(u.unix_rtt_ns),
        us(n.unix_rtt_ns),
        fmt(u.unix_rtt_ns.median / n.unix_rtt_ns.median, 2),
      ],
      [
        `TCP 127.0.0.1 bulk, ${MIB} MiB in 64 KiB writes, MiB/s (${libc})`,
        mb(u.tcp_bulk_mibs),
        mb(n.tcp_bulk_mibs),
        fmt(u.tcp_bulk_mibs.median / n.tcp_bulk_mibs.median, 2),
      ],
    );
  }
  const text =
    `### Loopback inside one instance: two processes (fork), median (min–max) of ${REPS} repetitions; ` +
    `ping-pong ${N} round trips each (load ${load0} → ${loadavg()})\n\n` +
    table(["what", "uno", "native", "uno / native"], rows);
  emit(
    text,
    { bench: "netloop", n: N, mib: MIB, reps: REPS, ...out, loadavg: [load0, loadavg()] },
    results,
  );
}

async function benchServersTable(results: Record<string, unknown>[]) {
  const load0 = loadavg();
  const opts = { reps: 5, seconds: 3, redisN: 50000 };
  const rows = await benchServers({ root: ROOT, benchBuild: BENCH_BUILD }, opts);
  const cell = (s: ServerRow["uno"], digits: number) =>
    s.n === 0
      ? `failed (${s.failed})`
      : `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})` +
        (s.failed ? `, ${s.failed} failed` : "");
  const text =
    `### Servers: Debian's nginx and redis-server, uno (client on the host, published port) vs ` +
    `native (network namespace, client inside it); median (min–max) of ${opts.reps} alternating ` +
    `runs (load ${load0} → ${loadavg()})\n\n` +
    table(
      ["what", "unit", "uno", "native", "uno / native"],
      rows.map((r) => [r.what, r.unit, cell(r.uno, 0), cell(r.native, 0), fmt(r.ratio, 3)]),
    );
  emit(text, { bench: "servers", ...opts, rows, loadavg: [load0, loadavg()] }, results);
}

// ---------------------------------------------------------------------------------------
// images (issue 7 §8): uno pull vs skopeo copy + umoci unpack, uno run with the EROFS cached
// vs not (bench/images.ts)

async function benchImagesTable(runs: number, results: Record<string, unknown>[]) {
  const load0 = loadavg();
  const r = await benchImages({ root: ROOT }, runs);
  const cell = (s: Series) => `${fmt(s.median, 2)} (${fmt(s.min, 2)}–${fmt(s.max, 2)})`;
  const text =
    `### Images: a ${fmt(r.image_mib, 1)} MiB image (busybox + 4 × 25 MiB random) from ` +
    `docker-registry on 127.0.0.1; seconds, median (min–max) of ${runs} alternating runs ` +
    `(load ${load0} → ${loadavg()})\n\n` +
    table(
      ["what", "uno", "peer", "uno / peer"],
      [
        [
          "pull into a fresh home: `uno pull` (verify, flatten, EROFS) vs `skopeo copy` + `umoci unpack --rootless`",
          cell(r.pull_s.uno),
          cell(r.pull_s.peer),
          fmt(r.pull_s.ratio, 2),
        ],
        [
          "`uno run IMAGE /bin/busybox true`: EROFS deleted (rebuilt by run) vs cached (second run)",
          cell(r.run_s.uncached),
          cell(r.run_s.cached),
          fmt(r.run_s.ratio, 2),
        ],
      ],
    );
  emit(text, { bench: "images", runs, ...r, loadavg: [load0, loadavg()] }, results);
}

async function main() {
  const argv = process.argv.slice(2);
  let runs = 50;
  let runsGiven = false;
  let outFile: string | undefined;
  const which = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--runs") {
      runs = Number(argv[++i]);
      runsGiven = true;
    } else if (a === "--out") outFile = argv[++i];
    else if (
      [
        "boot",
        "syscalls",
        "file",
        "procs",
        "threads",
        "python",
        "servers",
        "netloop",
        "images",
      ].includes(a)
    )
      which.add(a);
    else if (a === "-h" || a === "--help") {
      process.stdout.write(
        "usage: node dist/bench/run.js [boot] [syscalls] [file] [procs] [threads] [python] [servers] [netloop] [images] [--runs N] [--out FILE]\n",
      );
      return;
    } else die(`unknown argument ${a}`);
  }
  if (!Number.isInteger(runs) || runs < 1) die("--runs needs a positive integer");
  if (runs < 30 && (which.size === 0 || which.has("boot")))
    process.stderr.write(`bench: warning: --runs ${runs} < 30: too few for the boot figures\n`);
  if (which.size === 0)
    ["boot", "syscalls", "file", "procs", "threads"].forEach((w) => which.add(w));
  need(VMM, "run `make` first");

  const m = machine();
  process.stdout.write(
    `## Machine\n\n${table(["nproc", "CPU", "kernel", "KVM", "node", "date"], [[m.nproc!, m.cpu!, m.kernel!, m.kvm!, m.node!, m.date!]])}\n\n`,
  );
  const results: Record<string, unknown>[] = [];
  const t0 = Date.now();
  if (which.has("boot")) await benchBoot(runs, results);
  if (which.has("syscalls")) await benchSyscalls(results);
  if (which.has("file")) await benchFile(results);
  if (which.has("procs")) await benchProcs(results);
  if (which.has("threads")) await benchThreads(results);
  if (which.has("python")) await benchPythonTable(results);
  if (which.has("servers")) await benchServersTable(results);
  if (which.has("servers") || which.has("netloop")) await benchNetloop(results);
  if (which.has("images")) await benchImagesTable(runsGiven ? runs : 3, results);
  process.stderr.write(`bench: done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  if (outFile) fs.writeFileSync(outFile, JSON.stringify({ machine: m, results }, null, 2) + "\n");
}

main().catch((err: unknown) =>
  die(err instanceof Error ? (err.stack ?? err.message) : String(err)),
);
