/**
 * An Instance is one run of a prepared image: one uno-vmm process (which forks further VMMs
 * when the guest forks) plus a directory under <state>/instances/<id> holding its writable
 * layer ("upper"). The directory is removed after the run unless `keep` is set.
 *
 *   const result = await Instance.run({ image, command: "/hello", args: [] });
 *   process.exitCode = result.exitCode;
 */
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { UsageError, VmmError } from "./errors.js";
import { checkKvm } from "./kvm.js";
import { mergeEnv, MIN_MEMORY_BYTES, type EnvEntry } from "./options.js";
import * as paths from "./paths.js";
import {
  checkPublishConflicts,
  checkPublishCount,
  formatNetwork,
  formatVmmPublish,
  publishAllRequests,
  resolveHostPorts,
  type NetworkMode,
  type PortRequest,
  type PublishedPort,
} from "./ports.js";

/** The PATH docker gives containers whose image sets none. */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface InstanceOptions {
  /** The EROFS image to run (from packElf/packDirectory). */
  image: string;
  /** Absolute path of the program inside the image; also the program's argv[0]. */
  command: string;
  /** argv[1..] of the program. */
  args?: string[];
  /** Environment from the image's config (overrides the defaults). */
  imageEnv?: EnvEntry[];
  /** Environment given by the user (overrides defaults and image config). */
  env?: EnvEntry[];
  /** Working directory inside the guest (absolute). */
  cwd?: string;
  /** Credentials of the first process (uno-vmm --user UID:GID[:GID,...]); root when undefined. */
  user?: { uid: number; gid: number; groups?: number[] };
  /** Guest memory in bytes; uno-vmm's default when undefined. */
  memoryBytes?: number;
  /** Ask uno-vmm to print strace-like lines and an ENOSYS summary to stderr. */
  trace?: boolean;
  /** Ask uno-vmm to log what it does to stderr. */
  verbose?: boolean;
  /** The console is the guest's terminal (uno run -t): uno-vmm --tty. */
  tty?: boolean;
  /** Most processes the instance may have at once (uno-vmm --pids-limit). */
  pidsLimit?: number;
  /** Leave syscall sites alone: uno-vmm --no-syscall-rewrite. */
  noSyscallRewrite?: boolean;
  /** CPUs the guest sees and its threads run on at once (uno-vmm --cpus). */
  cpus?: number;
  /** Ports to publish (uno run -p; ports.ts parsePublish), host ports chosen by create(). */
  publish?: PortRequest[];
  /** Publish every port of exposedPorts on a random host port (uno run -P). */
  publishAll?: boolean;
  /** The ports the image EXPOSEs ("80/tcp", "53/udp"); from its config (none yet for directories). */
  exposedPorts?: string[];
  /** Network mode (uno-vmm --network); default: { mode: "default" }. */
  network?: NetworkMode;
  /** Keep <state>/instances/<id> (and its writable layer) after the run. */
  keep?: boolean;
  /** Instance id (64 hex digits by default). */
  id?: string;
  /** Overrides for the build outputs and state directory (default: paths.ts). */
  vmmPath?: string;
  libosPath?: string;
  stateDir?: string;
  /** KVM device to check before starting, or false to skip the check. */
  kvmDevice?: string | false;
}

export interface RunResult {
  /** The program's exit status; 128+N when uno-vmm was killed by signal N. */
  exitCode: number;
  /** Set when uno-vmm itself was killed by a signal (e.g. "SIGKILL"). */
  signal?: string;
}

export interface SpawnedInstance {
  child: ChildProcess;
  /** Resolves when uno-vmm exits (after the instance directory is cleaned up). */
  done: Promise<RunResult>;
}

/** Signals uno passes on to uno-vmm while it runs. */
const FORWARDED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"] as const;
/** Signals a terminal sends to its whole foreground process group (so the child has it too). */
const TERMINAL_SIGNALS = new Set<string>(["SIGINT", "SIGQUIT", "SIGHUP", "SIGTSTP"]);

/**
 * True when this process belongs to the foreground process group of its controlling
 * terminal. Then a Ctrl-C (SIGINT), Ctrl-\ (SIGQUIT) or hangup is delivered by the kernel to
 * uno-vmm as well (it shares our process group), and forwarding it would deliver it twice.
 */
export function inForegroundOfTerminal(): boolean {
  try {
    const stat = fs.readFileSync("/proc/self/stat", "utf8");
    // "pid (comm) state ppid pgrp session tty_nr tpgid ..."; comm may contain spaces/parens.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const pgrp = Number(fields[2]);
    const tpgid = Number(fields[5]);
    return tpgid > 0 && tpgid === pgrp;
  } catch {
    return false;
  }
}

function newId(): string {
  return randomBytes(32).toString("hex");
}

function checkArg(what: string, v: string): void {
  if (v.includes("\0")) throw new UsageError(`${what} contains a NUL byte`);
}

/** Removes a directory tree, making read-only directories writable if needed. */
export function removeTree(dir: string): void {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EACCES" && code !== "EPERM") throw e;
  }
  const makeWritable = (p: string): void => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return;
    }
    if (!st.isDirectory()) return;
    try {
      fs.chmodSync(p, 0o700);
    } catch {
      /* best effort */
    }
    for (const name of fs.readdirSync(p)) makeWritable(path.join(p, name));
  };
  makeWritable(dir);
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * KVM's supported-CPUID table only changes with the host, and asking for it is a tenth of a
 * boot here, so uno-vmm keeps it in a file named after the host's boot id.
 */
function cpuidCachePath(stateDir: string): string | undefined {
  try {
    const bootId = fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    if (!/^[0-9a-f-]{36}$/.test(bootId)) return undefined;
    return path.join(stateDir, `kvm-cpuid-${bootId}.bin`);
  } catch {
    return undefined;
  }
}

export class Instance {
  readonly id: string;
  /** <state>/instances/<id> */
  readonly dir: string;
  /** The writable layer handed to uno-vmm as --upper. */
  readonly upperDir: string;
  /** The published ports, host ports chosen (uno run -p, -P). */
  readonly ports: readonly PublishedPort[];
  readonly network: NetworkMode;
  readonly vmmPath: string;
  readonly libosPath: string;
  /** The final environment given to the program. */
  readonly env: EnvEntry[];
  /** Where uno-vmm keeps KVM's CPUID table between runs (one file per host boot). */
  readonly cpuidCache: string | undefined;
  private finished = false;

  private constructor(
    readonly options: Readonly<InstanceOptions>,
    init: {
      id: string;
      dir: string;
      vmmPath: string;
      libosPath: string;
      ports: PublishedPort[];
    },
  ) {
    this.id = init.id;
    this.ports = init.ports;
    this.network = options.network ?? { mode: "default" };
    this.cpuidCache = cpuidCachePath(path.dirname(path.dirname(init.dir)));
    this.dir = init.dir;
    this.upperDir = path.join(init.dir, "upper");
    this.vmmPath = init.vmmPath;
    this.libosPath = init.libosPath;
    const defaults: EnvEntry[] = [
      ["PATH", DEFAULT_PATH],
      ["HOSTNAME", this.id.slice(0, 12)],
      ["HOME", "/root"],
    ];
    this.env = mergeEnv(defaults, options.imageEnv ?? [], options.env ?? []);
  }

  /**
   * Checks the build outputs and KVM, chooses the published host ports (checking that the
   * fixed ones are free), and creates the instance directory.
   * @throws NotBuiltError, KvmUnavailableError, UsageError, PortUnavailableError
   */
  static async create(options: InstanceOptions): Promise<Instance> {
    const vmmPath = options.vmmPath ?? paths.requireVmm();
    const libosPath = options.libosPath ?? paths.requireLibos();
    if (!path.posix.isAbsolute(options.command)) {
      throw new UsageError(
        `the program path must be absolute inside the image: "${options.command}"`,
      );
    }
    checkArg("the program path", options.command);
    for (const a of options.args ?? []) checkArg("a program argument", a);
    for (const [k, v] of [...(options.imageEnv ?? []), ...(options.env ?? [])]) {
      checkArg(`environment variable ${k}`, k + v);
    }
    if (options.cwd !== undefined && !path.posix.isAbsolute(options.cwd)) {
      throw new UsageError(`the working directory "${options.cwd}" must be an absolute path`);
    }
    if (options.memoryBytes !== undefined && options.memoryBytes < MIN_MEMORY_BYTES) {
      throw new UsageError(
        `memory ${options.memoryBytes} bytes is too small: uno needs at least 16m`,
      );
    }
    if (options.kvmDevice !== false) checkKvm(options.kvmDevice);

    const requests = [...(options.publish ?? [])];
    if (options.publishAll)
      requests.push(...publishAllRequests(options.exposedPorts ?? [], requests));
    checkPublishCount(requests);
    checkPublishConflicts(requests);
    if (options.network?.mode === "none" && requests.length > 0) {
      throw new UsageError("--network none gives the instance no network: it cannot publish ports");
    }

    // Before anything is created: a port that cannot be bound leaves nothing behind.
    const ports = await resolveHostPorts(requests);

    const id = options.id ?? newId();
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id)) {
      throw new UsageError(`invalid instance id "${id}"`);
    }
    const base = options.stateDir
      ? path.join(path.resolve(options.stateDir), "instances")
      : paths.instancesDir();
    const dir = path.join(base, id);
    fs.mkdirSync(base, { recursive: true, mode: 0o700 });
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") {
        throw new UsageError(`instance ${id} already exists (${dir})`);
      }
      throw e;
    }
    const inst = new Instance(options, { id, dir, vmmPath, libosPath, ports });
    fs.mkdirSync(inst.upperDir, { mode: 0o755 });
    return inst;
  }

  /** Creates an instance, runs it with the terminal attached, and cleans up. */
  static async run(options: InstanceOptions): Promise<RunResult> {
    const inst = await Instance.create(options);
    return inst.run();
  }

  /** Creates an instance and starts it with piped stdio (for tests and benchmarks). */
  static async spawn(
    options: InstanceOptions,
    stdio: StdioOptions = "pipe",
  ): Promise<SpawnedInstance> {
    const inst = await Instance.create(options);
    return inst.spawn(stdio);
  }

  /** The uno-vmm command line (without the executable). */
  vmmArgs(): string[] {
    const o = this.options;
    const args = ["--image", o.image, "--upper", this.upperDir, "--libos", this.libosPath];
    args.push("--hostname", this.id.slice(0, 12));
    if (this.cpuidCache) args.push("--cpuid-cache", this.cpuidCache);
    if (o.memoryBytes !== undefined) args.push("--memory", String(o.memoryBytes));
    for (const [k, v] of this.env) args.push("--env", `${k}=${v}`);
    if (o.cwd !== undefined) args.push("--cwd", o.cwd);
    if (o.user !== undefined)
      args.push(
        "--user",
        `${o.user.uid}:${o.user.gid}` +
          (o.user.groups?.length ? `:${o.user.groups.join(",")}` : ""),
      );
    if (o.trace) args.push("--trace");
    if (o.verbose) args.push("--verbose");
    if (o.tty) args.push("--tty");
    if (o.pidsLimit !== undefined) args.push("--pids-limit", String(o.pidsLimit));
    if (o.noSyscallRewrite) args.push("--no-syscall-rewrite");
    if (o.cpus !== undefined) args.push("--cpus", String(o.cpus));
    args.push("--network", formatNetwork(this.network));
    for (const p of this.ports) args.push("--publish", formatVmmPublish(p));
    args.push("--", o.command, ...(o.args ?? []));
    return args;
  }

  /**
   * Runs uno-vmm with stdin/stdout/stderr inherited, forwarding SIGINT/SIGTERM/SIGHUP/SIGQUIT
   * to it (except terminal-generated ones, which it already receives), and resolves with the
   * program's exit status once it exits. `stdio` may send the output elsewhere (uno build -q
   * discards RUN's).
   */
  run(stdio: StdioOptions = "inherit"): Promise<RunResult> {
    // The handlers go in before the spawn: the child writes straight to our stdout, so whoever
    // reads it may signal us before spawn() has even returned. A signal that arrives first is
    // delivered to the child as soon as it exists.
    let child: ChildProcess | undefined;
    const pending: NodeJS.Signals[] = [];
    const handlers = new Map<string, () => void>();
    // With a terminal (-t) the guest's jobs take ^Z: uno-vmm, in our process group, turns the
    // terminal's SIGTSTP into the guest's, and uno must not stop for it.
    const forwarded: NodeJS.Signals[] = [...FORWARDED_SIGNALS];
    if (this.options.tty) forwarded.push("SIGTSTP");
    for (const sig of forwarded) {
      const h = (): void => {
        if (sig === "SIGTSTP") return;
        if (TERMINAL_SIGNALS.has(sig) && inForegroundOfTerminal()) return;
        if (!child) pending.push(sig);
        else if (child.exitCode === null && child.signalCode === null) child.kill(sig);
      };
      handlers.set(sig, h);
      process.on(sig, h);
    }
    const uninstall = (): void => {
      for (const [sig, h] of handlers) process.removeListener(sig, h);
    };
    let spawned: SpawnedInstance;
    try {
      spawned = this.spawn(stdio);
    } catch (e) {
      uninstall();
      throw e;
    }
    child = spawned.child;
    for (const sig of pending) child.kill(sig);
    const done = spawned.done;
    return done.then(
      (r) => {
        uninstall();
        return r;
      },
      (e: unknown) => {
        uninstall();
        throw e;
      },
    );
  }

  /** Starts uno-vmm with the given stdio; the caller handles signals. */
  spawn(stdio: StdioOptions = "pipe"): SpawnedInstance {
    if (this.finished) throw new VmmError(`instance ${this.id} has already run`);
    let child: ChildProcess;
    try {
      child = spawn(this.vmmPath, this.vmmArgs(), { stdio });
    } catch (e) {
      this.cleanupQuietly();
      throw new VmmError(`cannot start ${this.vmmPath}: ${(e as Error).message}`);
    }
    const done = new Promise<RunResult>((resolve, reject) => {
      let settled = false;
      child.once("error", (err: NodeJS.ErrnoException) => {
        if (settled) return;
        settled = true;
        this.cleanupQuietly();
        const why =
          err.code === "ENOENT"
            ? `uno-vmm not found at ${this.vmmPath}: run \`make\` first`
            : `cannot start ${this.vmmPath}: ${err.message}`;
        reject(new VmmError(why));
      });
      child.once("exit", (code, signal) => {
        if (settled) return;
        settled = true;
        this.cleanupQuietly();
        if (signal) {
          const n = os.constants.signals[signal] ?? 0;
          resolve({ exitCode: 128 + n, signal });
        } else {
          resolve({ exitCode: code ?? 0 });
        }
      });
    });
    return { child, done };
  }

  /** Removes the instance directory now (unless `keep`); idempotent. */
  cleanup(): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.options.keep) removeTree(this.dir);
  }

  private cleanupQuietly(): void {
    try {
      this.cleanup();
    } catch (e) {
      process.stderr.write(`uno: warning: could not remove ${this.dir}: ${(e as Error).message}\n`);
    }
  }
}
