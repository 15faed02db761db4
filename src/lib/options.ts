/**
 * Parsing and validation of run options, shared by the CLI and (later) the REST API.
 * Formats follow docker's where docker has one: memory sizes, -e KEY[=VALUE], --env-file,
 * -p/-P/--network (parsed in ports.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { UsageError } from "./errors.js";
import { parseNetwork, parsePublish, type NetworkMode, type PortRequest } from "./ports.js";

/** The smallest guest memory uno accepts. */
export const MIN_MEMORY_BYTES = 16 * 1024 * 1024;

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/**
 * Parses a memory size the way docker's --memory does: a number with an optional binary unit
 * suffix b/k/m/g/t (any case, optionally followed by "b" or "ib": "64m", "512M", "1g",
 * "1.5G", "64MiB"); a bare number is bytes. The result is rounded down to whole bytes.
 *
 * @param flag the option name used in error messages.
 * @throws UsageError for malformed or too-small sizes.
 */
export function parseMemory(value: string | number, flag = "--memory"): number {
  let bytes: number;
  const shown = String(value);
  if (typeof value === "number") {
    bytes = value;
  } else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$/i.exec(value);
    if (!m) {
      throw new UsageError(
        `invalid ${flag} value "${value}": use a size like 64m, 512M or 1g (a bare number is bytes)`,
      );
    }
    bytes = Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
  }
  if (!Number.isFinite(bytes) || !Number.isSafeInteger(Math.floor(bytes)) || bytes < 0) {
    throw new UsageError(`invalid ${flag} value "${shown}": the size is out of range`);
  }
  bytes = Math.floor(bytes);
  if (bytes < MIN_MEMORY_BYTES) {
    throw new UsageError(`${flag} ${shown} is too small: uno needs at least 16m`);
  }
  return bytes;
}

/** Formats a byte count the way parseMemory reads it back ("64m", "1g", "1536k", "100"). */
export function formatMemory(bytes: number): string {
  for (const [suffix, unit] of [
    ["t", UNITS.t!],
    ["g", UNITS.g!],
    ["m", UNITS.m!],
    ["k", UNITS.k!],
  ] as const) {
    if (bytes >= unit && bytes % unit === 0) return `${bytes / unit}${suffix}`;
  }
  return String(bytes);
}

/** An environment variable as [name, value]. Order matters: later entries override earlier. */
export type EnvEntry = [name: string, value: string];

function checkName(name: string, where: string): void {
  if (name === "") throw new UsageError(`invalid environment variable ${where}: empty name`);
  if (name.includes("\0")) {
    throw new UsageError(`invalid environment variable ${where}: the name contains a NUL byte`);
  }
}

/**
 * Parses one `-e` argument: "KEY=VALUE" sets KEY; "KEY" alone takes KEY's value from the
 * host environment and is dropped when the host does not have it (like docker).
 */
export function parseEnvArg(
  arg: string,
  hostEnv: NodeJS.ProcessEnv = process.env,
): EnvEntry | undefined {
  const eq = arg.indexOf("=");
  const name = eq < 0 ? arg : arg.slice(0, eq);
  checkName(name, `"${arg}"`);
  if (eq >= 0) {
    const value = arg.slice(eq + 1);
    if (value.includes("\0")) {
      throw new UsageError(`invalid environment variable "${name}": the value contains a NUL byte`);
    }
    return [name, value];
  }
  const host = hostEnv[name];
  return host === undefined ? undefined : [name, host];
}

/**
 * Parses the contents of an env file in docker's format:
 *  - one KEY=VALUE per line; the value is taken verbatim (no quotes, no escapes, no expansion),
 *  - leading whitespace is ignored; blank lines and lines starting with '#' are skipped,
 *  - a line with just KEY takes the value from the host environment (dropped if unset),
 *  - a variable name containing whitespace is an error.
 * A UTF-8 BOM at the start and a CR before each LF are ignored.
 */
export function parseEnvFile(
  content: string,
  fileName = "env file",
  hostEnv: NodeJS.ProcessEnv = process.env,
): EnvEntry[] {
  const out: EnvEntry[] = [];
  if (content.startsWith("\uFEFF")) content = content.slice(1);
  const lines = content.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith("\r")) line = line.slice(0, -1);
    line = line.replace(/^\s+/, "");
    if (line === "" || line.startsWith("#")) continue;
    const where = `${fileName}:${i + 1}`;
    const eq = line.indexOf("=");
    const name = eq < 0 ? line.replace(/\s+$/, "") : line.slice(0, eq);
    if (/\s/.test(name)) {
      throw new UsageError(`${where}: variable '${name}' contains whitespace`);
    }
    if (name === "") throw new UsageError(`${where}: no variable name on line '${line}'`);
    if (name.includes("\0") || line.includes("\0")) {
      throw new UsageError(`${where}: the line contains a NUL byte`);
    }
    if (eq >= 0) {
      out.push([name, line.slice(eq + 1)]);
    } else {
      const host = hostEnv[name];
      if (host !== undefined) out.push([name, host]);
    }
  }
  return out;
}

/** Reads and parses an env file; errors name the file. */
export function readEnvFile(file: string, hostEnv: NodeJS.ProcessEnv = process.env): EnvEntry[] {
  let content: string;
  try {
    content = fs.readFileSync(file, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === "ENOENT"
        ? "no such file or directory"
        : err.code === "EISDIR"
          ? "is a directory"
          : err.code === "EACCES"
            ? "permission denied"
            : err.message;
    throw new UsageError(`cannot read --env-file ${file}: ${why}`);
  }
  return parseEnvFile(content, file, hostEnv);
}

/** Validates a working directory for the guest: absolute, normalized. */
export function parseWorkdir(dir: string, flag = "--workdir"): string {
  if (!path.posix.isAbsolute(dir)) {
    throw new UsageError(`${flag} "${dir}" must be an absolute path (like /app)`);
  }
  if (dir.includes("\0")) throw new UsageError(`${flag} contains a NUL byte`);
  return path.posix.normalize(dir);
}

/**
 * Run options as given by a person or an API client, before validation.
 * The CLI fills this from its flags; the REST API can validate JSON against runOptionsSchema.
 */
export const runOptionsSchema = z
  .object({
    memory: z.union([z.string(), z.number()]).optional(),
    env: z.array(z.string()).default([]),
    envFiles: z.array(z.string()).default([]),
    workdir: z.string().optional(),
    entrypoint: z.string().optional(),
    /** -u, --user: USER, UID, USER:GROUP or UID:GID (names resolved from the image). */
    user: z.string().optional(),
    trace: z.boolean().default(false),
    verbose: z.boolean().default(false),
    keep: z.boolean().default(false),
    tty: z.boolean().default(false),
    pidsLimit: z.union([z.string(), z.number()]).optional(),
    noSyscallRewrite: z.boolean().default(false),
    cpus: z.union([z.string(), z.number()]).optional(),
    /** -p, --publish values: [HOSTIP:][HOSTPORT:]GUESTPORT[/tcp|/udp] (see ports.ts). */
    publish: z.array(z.string()).default([]),
    /** -P, --publish-all: the image's EXPOSEd ports on random host ports. */
    publishAll: z.boolean().default(false),
    /** --network default|bridge|none|allow=CIDR[,CIDR...] */
    network: z.string().optional(),
  })
  .strict();

export type RawRunOptions = z.input<typeof runOptionsSchema>;

/** Validated run options. */
export interface RunOptions {
  /** Guest memory in bytes; undefined leaves the choice to uno-vmm. */
  memoryBytes?: number;
  /** Environment given by the user, env files first then -e entries (later wins). */
  env: EnvEntry[];
  workdir?: string;
  entrypoint?: string;
  /** -u, --user as given (resolved against the image's /etc/passwd and /etc/group). */
  user?: string;
  trace: boolean;
  verbose: boolean;
  keep: boolean;
  /** The console is the guest's terminal (uno run -t). */
  tty: boolean;
  /** Most processes the instance may have at once. */
  pidsLimit?: number;
  /** Leave the program's syscall sites alone (for comparison): every syscall traps. */
  noSyscallRewrite: boolean;
  /** CPUs the guest sees and its threads run on at once (uno-vmm --cpus). */
  cpus?: number;
  /** Ports to publish (-p), ranges expanded; host ports not yet chosen. */
  publish: PortRequest[];
  /** -P: publish the image's EXPOSEd ports too. */
  publishAll: boolean;
  /** --network (default: { mode: "default" }). */
  network: NetworkMode;
}

/** The most CPUs a VM can have (UNO_MAX_VCPUS: one vCPU per thread). */
export const MAX_CPUS = 64;

/** Parses --cpus: a whole number from 1 to MAX_CPUS. */
export function parseCpus(value: string | number): number {
  const s = String(value).trim();
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_CPUS)
    throw new UsageError(`invalid --cpus value "${s}": use a whole number from 1 to ${MAX_CPUS}`);
  return n;
}

/** The largest --pids-limit uno-vmm accepts (its process table's size). */
export const MAX_PIDS_LIMIT = 4096;

/** Parses --pids-limit: a whole number from 1 to MAX_PIDS_LIMIT. */
export function parsePidsLimit(value: string | number): number {
  const s = String(value).trim();
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_PIDS_LIMIT)
    throw new UsageError(
      `invalid --pids-limit value "${s}": use a whole number from 1 to ${MAX_PIDS_LIMIT}`,
    );
  return n;
}

/** Validates raw run options; reads env files. Throws UsageError on bad input. */
export function parseRunOptions(
  raw: RawRunOptions,
  hostEnv: NodeJS.ProcessEnv = process.env,
): RunOptions {
  const parsed = runOptionsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(
      `invalid run options: ${issue.path.join(".") || "value"}: ${issue.message}`,
    );
  }
  const o = parsed.data;
  const env: EnvEntry[] = [];
  for (const f of o.envFiles) env.push(...readEnvFile(f, hostEnv));
  for (const e of o.env) {
    const entry = parseEnvArg(e, hostEnv);
    if (entry) env.push(entry);
  }
  const out: RunOptions = {
    env,
    trace: o.trace,
    verbose: o.verbose,
    keep: o.keep,
    tty: o.tty,
    noSyscallRewrite: o.noSyscallRewrite,
    publish: parsePublish(o.publish),
    publishAll: o.publishAll,
    network: o.network === undefined ? { mode: "default" } : parseNetwork(o.network),
  };
  if (out.network.mode === "none" && (out.publish.length > 0 || out.publishAll)) {
    throw new UsageError(
      `--network none gives the instance no network, so ${out.publish.length > 0 ? "-p" : "-P"} cannot publish ports: drop one of them`,
    );
  }
  if (o.pidsLimit !== undefined) out.pidsLimit = parsePidsLimit(o.pidsLimit);
  if (o.cpus !== undefined) out.cpus = parseCpus(o.cpus);
  if (o.memory !== undefined) out.memoryBytes = parseMemory(o.memory);
  if (o.workdir !== undefined) out.workdir = parseWorkdir(o.workdir);
  if (o.entrypoint !== undefined) {
    if (o.entrypoint === "") throw new UsageError("--entrypoint must not be empty");
    out.entrypoint = o.entrypoint;
  }
  if (o.user !== undefined) out.user = parseUserSpec(o.user);
  return out;
}

/** Checks the form of -u/--user: NAME|UID[:GROUP|GID]; names are resolved later, in the image. */
export function parseUserSpec(spec: string): string {
  if (!/^[^:\s\0]+(:[^:\s\0]+)?$/.test(spec))
    throw new UsageError(`invalid --user "${spec}": use USER, UID, USER:GROUP or UID:GID`);
  return spec;
}

/**
 * Merges environment layers into the final list (order of first appearance kept; later
 * layers override values). Used for defaults < image config < user entries.
 */
export function mergeEnv(...layers: EnvEntry[][]): EnvEntry[] {
  const map = new Map<string, string>();
  for (const layer of layers) for (const [k, v] of layer) map.set(k, v);
  return [...map.entries()];
}
