/**
 * The `uno` command line: a thin layer over src/lib (options, elf, instance) and src/image.
 *
 *   uno run [--memory SIZE] [-e KEY=VALUE]... [--env-file F] [-w DIR] [--entrypoint PATH]
 *           [-p [HOSTIP:][HOSTPORT:]GUESTPORT[/PROTO]]... [-P] [--network MODE]
 *           [--trace] [--verbose] [--keep] TARGET [ARGS...]
 *   uno run [OPTIONS] IMAGE [CMD...]       (a stored image; see images.ts for load/pull/images/...)
 *   uno version
 *
 * Exit status: the program's own status for `uno run`; 125 when uno itself fails (docker's
 * convention), with a message on stderr starting with "uno: ".
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { BadElfError, TargetNotFoundError, UnoError, UsageError } from "../lib/errors.js";
import {
  checkInterpreterInRoot,
  explainElf,
  inspectElfFile,
  requireElfProgram,
} from "../lib/elf.js";
import { Instance } from "../lib/instance.js";
import { hostInfo } from "../lib/host.js";
import { checkKvm } from "../lib/kvm.js";
import { formatMemory, parseRunOptions, type EnvEntry, type RunOptions } from "../lib/options.js";
import type { Image, RunOverrides } from "../lib/image.js";
import * as paths from "../lib/paths.js";
import { Store } from "../lib/store.js";
import { TargetOrImageNotFoundError } from "../lib/image-errors.js";
import { parseReference } from "../image/oci.js";
import { registerImageCommands } from "./images.js";
import { registerBuildCommand } from "./build.js";
import { formatNetwork, formatPublishedPort } from "../lib/ports.js";

/** The exit status for uno's own failures (bad usage, missing build, no KVM...). */
export const EXIT_UNO_ERROR = 125;

interface RunFlags {
  memory?: string;
  env?: string[];
  envFile?: string[];
  workdir?: string;
  entrypoint?: string;
  user?: string;
  trace?: boolean;
  verbose?: boolean;
  keep?: boolean;
  tty?: boolean;
  interactive?: boolean;
  pidsLimit?: string;
  /** commander's negatable --no-syscall-rewrite: false when given. */
  syscallRewrite?: boolean;
  cpus?: string;
  publish?: string[];
  publishAll?: boolean;
  network?: string;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Quotes a word for display in a shell-like command line. */
function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** What to run: a packed image and the program inside it. */
interface Prepared {
  image: string;
  digest: string;
  command: string;
  args: string[];
  /** The ports the image EXPOSEs ("80/tcp"); none for a directory or a program. */
  exposedPorts: string[];
  /** From a stored image's config: its Env, working directory and user. */
  imageEnv?: EnvEntry[];
  cwd?: string;
  user?: { uid: number; gid: number; groups: number[] };
}

/** Splits TARGET [ARGS...] for a directory target into program + arguments. */
function programInDirectory(
  dir: string,
  args: string[],
  opts: RunOptions,
): { command: string; args: string[] } {
  let command: string | undefined;
  let rest: string[];
  if (opts.entrypoint !== undefined) {
    command = opts.entrypoint;
    rest = args;
  } else {
    command = args[0];
    rest = args.slice(1);
  }
  if (command === undefined) {
    throw new UsageError("no command given: uno run DIR -- /path/in/rootfs [ARGS]");
  }
  if (!command.startsWith("/")) {
    const flag = opts.entrypoint !== undefined ? "--entrypoint " : "";
    let hint = "";
    if (!command.includes("/")) {
      for (const d of [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
      ]) {
        const found = paths.resolveInRoot(dir, `${d}/${command}`);
        if (found !== undefined && fs.statSync(found).isFile()) {
          hint = ` (did you mean ${d}/${command}?)`;
          break;
        }
      }
    }
    throw new UsageError(
      `${flag}${command}: the program must be an absolute path inside ${dir}${hint}`,
    );
  }
  // When the program exists on the host side of the root directory, check it now so the
  // person gets a clear message instead of a failure inside the VM. Anything we cannot
  // resolve safely (missing, symlink leaving the directory, loops) is left to the VM.
  const host = paths.resolveInRoot(dir, command);
  if (host !== undefined) {
    let isFile = false;
    try {
      isFile = fs.statSync(host).isFile();
    } catch {
      /* left to the VM */
    }
    if (isFile) {
      const d = inspectElfFile(host);
      // Scripts (#!) are the guest's business: their interpreter lives in the image.
      const name = `${command} (in ${dir})`;
      if (!d.ok && d.problem !== "script") {
        throw new BadElfError(host, explainElf(name, d) ?? `${name} is not runnable`, d.problem);
      }
      // A dynamic program needs its interpreter (PT_INTERP) inside the root; the libraries
      // it needs are the interpreter's business inside the guest.
      if (d.ok) checkInterpreterInRoot(dir, d, name);
    }
  }
  return { command, args: rest };
}

async function prepare(target: string, rawArgs: string[], opts: RunOptions): Promise<Prepared> {
  // One "--" right after TARGET separates uno's arguments from the program's.
  const args = rawArgs[0] === "--" ? rawArgs.slice(1) : rawArgs;
  let st: fs.Stats;
  try {
    st = fs.statSync(target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      // Not a path: a stored image (name[:tag], name@sha256:…, an ID prefix)?
      const { Image } = await import("../lib/image.js");
      const image = Image.find(Store.open(), target);
      if (image) return prepareImage(image, args, opts);
      // Something that reads as an image name gets a message that mentions images too.
      if (/^[a-z0-9]/.test(target) && parseReference(target) !== undefined)
        throw new TargetOrImageNotFoundError(target);
      throw new TargetNotFoundError(target);
    }
    throw new UsageError(`cannot access ${target}: ${(e as Error).message}`);
  }

  if (opts.user !== undefined && !st.isDirectory()) {
    throw new UsageError(
      `--user needs an image or a root directory as TARGET (${target} is a file)`,
    );
  }
  if (st.isDirectory()) {
    const program = programInDirectory(target, args, opts);
    const user = opts.user !== undefined ? await userInDirectory(target, opts.user) : undefined;
    checkRuntime();
    const { packDirectory } = await import("../image/rootfs.js");
    const packed = await packDirectory(path.resolve(target), paths.imageCacheDir());
    const prepared: Prepared = {
      image: packed.erofsPath,
      digest: packed.digest,
      ...program,
      exposedPorts: [],
    };
    if (user) prepared.user = user;
    return prepared;
  }
  if (!st.isFile()) {
    throw new UsageError(`${target} is not a regular file or a directory`);
  }
  if (opts.entrypoint !== undefined) {
    throw new UsageError(
      `--entrypoint needs a root directory as TARGET; ${target} is a file (its program is the file itself)`,
    );
  }
  requireElfProgram(target);
  // For a dynamic program this finds its interpreter and libraries on the host (reporting
  // any that are missing) before anything else is needed.
  const { planElfImage, packPlannedElf } = await import("../image/rootfs.js");
  const plan = await planElfImage(path.resolve(target), { display: target });
  if (opts.verbose && plan.resolution) {
    const r = plan.resolution;
    process.stderr.write(
      `uno: ${target} is dynamically linked (${r.kind}); packing ${r.interpreter.guestPath}` +
        r.libraries.map((l) => `, ${l.guestPath}`).join("") +
        r.configFiles.map((f) => `, ${f}`).join("") +
        "\n",
    );
  }
  checkRuntime();
  const packed = await packPlannedElf(plan, paths.imageCacheDir());
  return {
    image: packed.erofsPath,
    digest: packed.digest,
    command: packed.execPath,
    args,
    exposedPorts: [],
  };
}

/** -u for a root directory: names from the directory's own /etc/passwd and /etc/group. */
async function userInDirectory(dir: string, spec: string): Promise<Prepared["user"]> {
  const { resolveUser } = await import("../lib/image.js");
  const read = (p: string): string | undefined => {
    const host = paths.resolveInRoot(dir, p);
    return host !== undefined && fs.statSync(host).isFile()
      ? fs.readFileSync(host, "utf8")
      : undefined;
  };
  const u = resolveUser(spec, { passwd: read("/etc/passwd"), group: read("/etc/group") });
  return { uid: u.uid, gid: u.gid, groups: u.groups };
}

/** A stored image: its cached EROFS root and the program its config (and the flags) give. */
async function prepareImage(image: Image, args: string[], opts: RunOptions): Promise<Prepared> {
  checkRuntime();
  const root = await image.rootfs();
  if (opts.verbose && !root.cached) process.stderr.write(`uno: built ${root.erofsPath}\n`);
  const overrides: RunOverrides = { args, env: opts.env };
  if (opts.entrypoint !== undefined) overrides.entrypoint = opts.entrypoint;
  if (opts.workdir !== undefined) overrides.workdir = opts.workdir;
  if (opts.user !== undefined) overrides.user = opts.user;
  const spec = image.runSpec(overrides, root.summary);
  const prepared: Prepared = {
    image: root.erofsPath,
    digest: image.id,
    command: spec.command,
    args: spec.args,
    exposedPorts: spec.exposedPorts,
    imageEnv: spec.imageEnv,
  };
  if (spec.cwd !== undefined) prepared.cwd = spec.cwd;
  if (spec.user !== undefined) prepared.user = spec.user;
  return prepared;
}

/** Fails early, before packing, when uno-vmm/libOS are not built or KVM is unusable. */
function checkRuntime(): void {
  paths.requireVmm();
  paths.requireLibos();
  checkKvm();
}

async function runCommand(target: string, args: string[], flags: RunFlags): Promise<number> {
  const raw: Parameters<typeof parseRunOptions>[0] = {
    env: flags.env ?? [],
    envFiles: flags.envFile ?? [],
    trace: flags.trace ?? false,
    verbose: flags.verbose ?? false,
    keep: flags.keep ?? false,
    tty: flags.tty ?? false,
    noSyscallRewrite: flags.syscallRewrite === false,
    publish: flags.publish ?? [],
    publishAll: flags.publishAll ?? false,
  };
  if (flags.network !== undefined) raw.network = flags.network;
  if (flags.pidsLimit !== undefined) raw.pidsLimit = flags.pidsLimit;
  if (flags.cpus !== undefined) raw.cpus = flags.cpus;
  if (flags.memory !== undefined) raw.memory = flags.memory;
  if (flags.workdir !== undefined) raw.workdir = flags.workdir;
  if (flags.entrypoint !== undefined) raw.entrypoint = flags.entrypoint;
  if (flags.user !== undefined) raw.user = flags.user;
  const opts = parseRunOptions(raw);

  const prepared = await prepare(target, args, opts);
  const instance = await Instance.create({
    image: prepared.image,
    command: prepared.command,
    args: prepared.args,
    env: opts.env,
    ...(prepared.imageEnv ? { imageEnv: prepared.imageEnv } : {}),
    ...(prepared.user ? { user: prepared.user } : {}),
    ...((prepared.cwd ?? opts.workdir) !== undefined
      ? { cwd: (prepared.cwd ?? opts.workdir)! }
      : {}),
    ...(opts.memoryBytes !== undefined ? { memoryBytes: opts.memoryBytes } : {}),
    trace: opts.trace,
    verbose: opts.verbose,
    keep: opts.keep,
    tty: opts.tty,
    noSyscallRewrite: opts.noSyscallRewrite,
    ...(opts.pidsLimit !== undefined ? { pidsLimit: opts.pidsLimit } : {}),
    ...(opts.cpus !== undefined ? { cpus: opts.cpus } : {}),
    publish: opts.publish,
    publishAll: opts.publishAll,
    exposedPorts: prepared.exposedPorts,
    network: opts.network,
    vmmPath: paths.vmmPath(),
    libosPath: paths.libosPath(),
    kvmDevice: false, // checked by checkRuntime()
  });
  if (opts.verbose) {
    const log = (s: string): boolean => process.stderr.write(`uno: ${s}\n`);
    log(`image ${prepared.digest} (${prepared.image})`);
    log(`instance ${instance.id} (${instance.dir})`);
    if (opts.memoryBytes !== undefined) log(`memory ${formatMemory(opts.memoryBytes)}`);
    log(`network ${formatNetwork(instance.network)}`);
    for (const p of instance.ports) log(`publish ${formatPublishedPort(p)}`);
    if (opts.publishAll && prepared.exposedPorts.length === 0) {
      log("-P: the image exposes no ports; nothing more published");
    }
    log(`exec ${[instance.vmmPath, ...instance.vmmArgs()].map(shellQuote).join(" ")}`);
  }
  const result = await instance.run();
  if (opts.keep) process.stderr.write(`uno: kept instance ${instance.id} at ${instance.dir}\n`);
  return result.exitCode;
}

/** Builds the commander program; `setExit` receives the exit status of a run. */
export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command("uno");
  program
    .description("Run unmodified Linux programs as KVM micro-VMs")
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      outputError: (str, write) => write(`uno: ${str.replace(/^error: /, "")}`),
    })
    .showSuggestionAfterError(true)
    .showHelpAfterError("(see 'uno --help')")
    .version(`uno ${paths.unoVersion()}`, "--version", "print uno's version");

  program
    .command("run")
    .description(
      "run an x86-64 program (static, or dynamic with its libraries from this host), a program inside a root directory, or a stored image, in a micro-VM",
    )
    .usage("[OPTIONS] TARGET [ARGS...]")
    .argument(
      "<target>",
      "an x86-64 ELF file (a dynamic one is packed with its interpreter and libraries), a directory to use as the root filesystem, or a stored image (NAME[:TAG], NAME@DIGEST, ID)",
    )
    .argument("[args...]", "arguments for the program (for a directory: /path/in/rootfs [ARGS])")
    .option("-m, --memory <size>", "guest memory, e.g. 64m, 512M, 1g (a bare number is bytes)")
    .option(
      "-e, --env <KEY=VALUE>",
      "set an environment variable (KEY alone: take the host's)",
      collect,
    )
    .option(
      "--env-file <file>",
      "read environment variables from a file (KEY=VALUE lines)",
      collect,
    )
    .option("-w, --workdir <dir>", "working directory inside the guest (absolute)")
    .option(
      "-u, --user <user>",
      "run as USER, UID, USER:GROUP or UID:GID (names from the image's /etc/passwd and /etc/group)",
    )
    .option(
      "--entrypoint <path>",
      "program to run inside a root directory or image; ARGS become its arguments (for an image: replaces its Entrypoint and Cmd)",
    )
    .option("--trace", "print each system call the guest makes (strace-like) and an ENOSYS summary")
    .option("--verbose", "print what uno and uno-vmm do")
    .option("--keep", "keep the instance directory and its writable layer after the run")
    .option(
      "-t, --tty",
      "give the guest the terminal: the console is a tty (isatty true, termios, ^C/^Z to its foreground job)",
    )
    .option("-i, --interactive", "keep stdin attached (always the case; accepted as docker's -i)")
    .option(
      "--pids-limit <n>",
      "most processes the instance may have at once (fork gets EAGAIN beyond; default 1024)",
    )
    .option(
      "--no-syscall-rewrite",
      "leave the program's syscall instructions alone (each then traps through the host; for comparison)",
    )
    .option(
      "--cpus <n>",
      "CPUs the guest sees; its threads run on at most that many host CPUs at once (default: all)",
    )
    .option(
      "-p, --publish <spec>",
      "publish a guest port on the host: [HOSTIP:][HOSTPORT:]GUESTPORT[/tcp|/udp], ranges 8000-8010:80-90, [::1]:8080:80 (repeatable; no HOSTPORT: a random one)",
      collect,
    )
    .option("-P, --publish-all", "publish every port the image exposes on a random host port")
    .option(
      "--network <mode>",
      "default (alias bridge): outbound connections and -p ports; none: no network; allow=CIDR[,CIDR...]: outbound only to those networks",
    )
    .passThroughOptions()
    .showHelpAfterError("(see 'uno run --help')")
    .addHelpText(
      "after",
      `
Examples:
  uno run ./hello                          run a program (static, or dynamic: its
                                           interpreter and libraries are packed too)
  uno run ./hello -x                       ARGS after TARGET go to the program
  uno run rootfs/ -- /bin/busybox ls -la /  run a program inside a root directory
  uno run -e NAME=world --memory 64m ./hello
  uno run -it rootfs/ -- /bin/sh           an interactive shell
  uno run -p 8080:80 rootfs/ -- /usr/sbin/nginx   host port 8080 to the guest's port 80
  uno run busybox:latest echo hi           a stored image (uno load); ARGS replace its Cmd
  uno pull localhost:5000/app:1            an image from a registry (docker.io by default)
`,
    )
    .action(async (target: string, args: string[], flags: RunFlags) => {
      setExit(await runCommand(target, args, flags));
    });

  registerImageCommands(program, setExit);
  registerBuildCommand(program, setExit);

  program
    .command("version")
    .description("print version information")
    .action(() => {
      const built = (p: string): string => (fs.existsSync(p) ? p : `${p} (not built)`);
      process.stdout.write(
        `uno ${paths.unoVersion()}\n` +
          `uno-vmm: ${built(paths.vmmPath())}\n` +
          `libOS:   ${built(paths.libosPath())}\n` +
          `state:   ${paths.unoHome()}\n` +
          `node:    ${process.version}\n`,
      );
    });

  program
    .command("info")
    .description("show this host's KVM, the backend uno uses on it, and uno's paths")
    .option("--format <format>", "text or json", "text")
    .action((flags: { format: string }) => {
      const i = hostInfo();
      if (flags.format === "json") {
        process.stdout.write(JSON.stringify(i, null, 2) + "\n");
      } else if (flags.format === "text") {
        const built = (p: { path: string; built: boolean }): string =>
          p.built ? p.path : `${p.path} (not built: run make)`;
        process.stdout.write(
          `uno:      ${i.version}\n` +
            `kvm:      ${i.kvm.usable ? "usable" : `NOT usable: ${i.kvm.problem}`}\n` +
            (i.backend ? `backend:  ${i.backend.name} (${i.backend.why})\n` : "") +
            `uno-vmm:  ${built(i.vmm)}\n` +
            `libOS:    ${built(i.libos)}\n` +
            `state:    ${i.state}\n`,
        );
      } else {
        throw new UsageError(`--format ${flags.format}: expected text or json`);
      }
      setExit(i.kvm.usable && i.vmm.built && i.libos.built ? 0 : EXIT_UNO_ERROR);
    });

  return program;
}

/** Runs the CLI with `argv` (without node and script); resolves with the exit status. */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  if (argv.length === 0) {
    process.stdout.write(program.helpInformation());
    return 0;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and --version exit 0; every usage error is uno's own: 125.
      return e.exitCode === 0 ? 0 : EXIT_UNO_ERROR;
    }
    if (e instanceof UnoError) {
      process.stderr.write(`uno: ${e.message}\n`);
      return e.exitCode;
    }
    const err = e as Error;
    process.stderr.write(
      `uno: internal error: ${process.env.UNO_DEBUG ? (err.stack ?? err.message) : err.message}\n`,
    );
    return EXIT_UNO_ERROR;
  }
}

function isEntryPoint(): boolean {
  const argv1 = process.argv[1];
  if (!argv1) return false;
  try {
    return fs.realpathSync(argv1) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = await main(process.argv.slice(2));
}
