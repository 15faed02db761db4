/**
 * Where uno-vmm's boot spends CPU: samples `perf record -g` over repeated boots of the bench
 * hello (run by build/bench/boot-timer, as the boot benchmark does) and sorts every sample
 * of the uno-vmm process (its threads and KVM's per-VM kernel thread) into a phase by the
 * functions on its call stack. Prints a markdown table and one JSON line.
 *
 *   node dist/bench/profile_boot.js [--runs N] [--freq HZ] [--debug]   (needs perf and root)
 * --debug lists the stacks that fell in "other" on stderr.
 *
 * On-CPU time only: sleeping (e.g. the SRCU grace periods KVM waits for when a VM is
 * destroyed) does not show here; the boot benchmark's phase table shows wall time.
 * perf adds its own overhead, so read the shares, not the absolute ms.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { packElf } from "../src/image/rootfs.js";

const ROOT =
  process.env.UNO_BENCH_ROOT ??
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const BENCH_BUILD = path.join(ROOT, "build", "bench");
const VMM = path.resolve(process.env.UNO_VMM ?? path.join(ROOT, "build", "uno-vmm"));

/** First matching rule wins; a rule tests the whole stack (leaf first, joined by "<"). */
const RULES: [string, RegExp, RegExp?][] = [
  [
    "exec of uno-vmm: kernel execve + ld.so",
    /execve|_dl_start|_dl_relocate|dl_main|do_lookup_x|_dl_lookup|check_match|_dl_fixup|_dl_map_object|_dl_runtime|__tunables_init/,
  ],
  [
    "glibc start-up cpuid in uno-vmm (init_cpu_features; cpuid traps here)",
    /init_cpu_features|handle_amd|handle_intel|get_common_indices|get_common_cache|update_active|cpu_features/,
  ],
  [
    "KVM_RUN: host THP allocation + zeroing on guest first touch",
    /kvm_arch_vcpu_ioctl_run/,
    /folio_zero_user|clear_page/,
  ],
  [
    "KVM_RUN: other host fault handling (shadow MMU)",
    /kvm_arch_vcpu_ioctl_run/,
    /handle_mm_fault|kvm_mmu|paging64/,
  ],
  ["KVM_RUN: guest code, exits, rest", /kvm_arch_vcpu_ioctl_run/],
  [
    "KVM_CREATE_VM (debugfs, static-key text patching, MMU init)",
    /kvm_dev_ioctl/,
    /create_vm|static_key|debugfs|kvm_arch_init_vm/,
  ],
  [
    "KVM_GET_SUPPORTED_CPUID / SET_CPUID2 (host cpuid traps)",
    /get_cpuid|set_cpuid|kvm_vcpu_ioctl_set_cpuid/,
  ],
  ["KVM_CREATE_VCPU", /create_vcpu|kvm_arch_vcpu_create/],
  ["KVM_SET_USER_MEMORY_REGION", /kvm_set_memory_region/],
  ["other vCPU ioctls (vcpu_load/put: MSR reads, CR4 writes trap here)", /vcpu_load|vcpu_put/],
  ["I/O thread polling the ring", /io_thread|__vdso_clock_gettime|ring_pending/],
  ["host THP zeroing on VMM first touch (libOS copy, page tables)", /folio_zero_user|clear_page/],
  ["read() of libos.elf into the VMM", /ksys_read/, /filemap_read|copy_page_to_iter|_copy_to_iter/],
  ["other host page faults", /exc_page_fault/],
  ["process exit, VM destroy", /do_exit|do_group_exit|kvm_destroy_vm|exit_mmap/],
  ["thread creation (I/O thread)", /clone|copy_process|start_thread/],
];
const OTHER = "other";

function die(msg: string): never {
  process.stderr.write(`profile_boot: ${msg}\n`);
  process.exit(1);
}

async function main() {
  const argv = process.argv.slice(2);
  let runs = 30;
  let freq = 10000;
  let debug = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--runs") runs = Number(argv[++i]);
    else if (argv[i] === "--freq") freq = Number(argv[++i]);
    else if (argv[i] === "--debug") debug = true;
    else die(`unknown argument ${argv[i]}`);
  }
  if (spawnSync("perf", ["--version"]).status !== 0) die("perf is not installed");
  const timer = path.join(BENCH_BUILD, "boot-timer");
  const hello = path.join(BENCH_BUILD, "hello-musl");
  for (const f of [timer, hello, VMM])
    if (!fs.existsSync(f)) die(`${f} not found: run \`make bench\` first`);
  const img = await packElf(hello, path.join(BENCH_BUILD, "images"));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "uno-bench-prof-"));
  process.on("exit", () => fs.rmSync(work, { recursive: true, force: true }));
  const upper = path.join(work, "upper");
  fs.mkdirSync(upper);
  const data = path.join(work, "perf.data");
  const cmd = [VMM, "--image", img.erofsPath, "--upper", upper, "--", img.execPath];
  const rec = spawnSync(
    "perf",
    ["record", "-q", "-o", data, "-F", String(freq), "-g", "--", timer, String(runs), "0", ...cmd],
    { encoding: "utf8", maxBuffer: 1 << 26 },
  );
  if (rec.status !== 0) die(`perf record failed: ${rec.stderr}`);
  const scr = spawnSync("perf", ["script", "-i", data, "-F", "comm,tid,ip,sym"], {
    encoding: "utf8",
    maxBuffer: 1 << 30,
  });
  if (scr.status !== 0) die(`perf script failed: ${scr.stderr}`);
  const counts = new Map<string, number>();
  const others = new Map<string, number>();
  let total = 0;
  for (const block of scr.stdout.split("\n\n")) {
    const lines = block.trim().split("\n");
    if (!/^(uno-vmm|kvm-nx-lpage)/.test(lines[0]?.trim() ?? "")) continue;
    const stack = lines
      .slice(1)
      .map((l) => l.trim().split(/\s+/)[1] ?? "")
      .join("<");
    const rule = RULES.find(([, a, b]) => a.test(stack) && (!b || b.test(stack)));
    const k = rule?.[0] ?? OTHER;
    if (!rule) {
      const top = stack.split("<").slice(0, 8).join("<");
      others.set(top, (others.get(top) ?? 0) + 1);
    }
    counts.set(k, (counts.get(k) ?? 0) + 1);
    total++;
  }
  if (debug)
    for (const [st, n] of [...others.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25))
      process.stderr.write(`${n}\t${st}\n`);
  if (total === 0) die("no samples of uno-vmm: is perf allowed to sample (root)?");
  const msPerSample = 1000 / freq / runs;
  const rows = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  const out: Record<string, number> = {};
  let text =
    `### uno-vmm boot, on-CPU samples by phase (perf -F ${freq}, ${runs} boots, ` +
    `${(total * msPerSample).toFixed(2)} ms on-CPU per boot)\n\n` +
    `| phase | share | ms per boot |\n| --- | --- | --- |\n`;
  for (const [k, n] of rows) {
    text += `| ${k} | ${((100 * n) / total).toFixed(1)}% | ${(n * msPerSample).toFixed(3)} |\n`;
    out[k] = Math.round(n * msPerSample * 1000) / 1000;
  }
  process.stdout.write(`${text}\n`);
  process.stdout.write(
    JSON.stringify({
      bench: "boot_profile",
      runs,
      freq,
      on_cpu_ms_per_boot: Math.round(total * msPerSample * 1000) / 1000,
      phases_ms: out,
    }) + "\n",
  );
}

main().catch((err: unknown) =>
  die(err instanceof Error ? (err.stack ?? err.message) : String(err)),
);
