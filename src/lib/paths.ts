/**
 * Where uno finds its build outputs and keeps its state.
 *
 *   repo root    the directory holding package.json (this file compiles to <root>/dist/src/lib)
 *   uno-vmm      $UNO_VMM    or <root>/build/uno-vmm
 *   libOS        $UNO_LIBOS  or <root>/build/libos.elf
 *   state/cache  $UNO_HOME   or $XDG_CACHE_HOME/uno  or ~/.cache/uno
 *                (images/ holds packed images, instances/<id>/ one directory per run)
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { NotBuiltError } from "./errors.js";

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * The repository root. Compiled, this module lives in <root>/dist/src/lib; run from source
 * (e.g. by a TS loader) it lives in <root>/src/lib. Either way the root is the nearest
 * ancestor holding package.json.
 */
export function repoRoot(): string {
  let dir = here;
  for (;;) {
    if (fs.existsSync(path.join(dir, "package.json")) && path.basename(dir) !== "dist") {
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  // Fallback: the layout we are compiled into.
  return path.resolve(here, "..", "..", "..");
}

type Env = NodeJS.ProcessEnv;

function nonEmpty(v: string | undefined): string | undefined {
  return v !== undefined && v !== "" ? v : undefined;
}

/** Path of the uno-vmm binary ($UNO_VMM overrides). */
export function vmmPath(env: Env = process.env): string {
  return path.resolve(nonEmpty(env.UNO_VMM) ?? path.join(repoRoot(), "build", "uno-vmm"));
}

/** Path of the libOS image ($UNO_LIBOS overrides). */
export function libosPath(env: Env = process.env): string {
  return path.resolve(nonEmpty(env.UNO_LIBOS) ?? path.join(repoRoot(), "build", "libos.elf"));
}

/** uno's state and cache directory: $UNO_HOME, else $XDG_CACHE_HOME/uno, else ~/.cache/uno. */
export function unoHome(env: Env = process.env): string {
  const home = nonEmpty(env.UNO_HOME);
  if (home) return path.resolve(home);
  const xdg = nonEmpty(env.XDG_CACHE_HOME);
  // The XDG spec says relative values are invalid and must be ignored.
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, "uno");
  return path.join(nonEmpty(env.HOME) ?? os.homedir(), ".cache", "uno");
}

/**
 * The cache directory handed to packElf/packDirectory (they keep images in its images/
 * subdirectory). It is uno's state directory.
 */
export function imageCacheDir(env: Env = process.env): string {
  return unoHome(env);
}

/** Parent directory of per-instance directories. */
export function instancesDir(env: Env = process.env): string {
  return path.join(unoHome(env), "instances");
}

/** The directory of one instance: <state>/instances/<id>. */
export function instanceDir(id: string, env: Env = process.env): string {
  return path.join(instancesDir(env), id);
}

function isExecutableFile(p: string): boolean {
  try {
    const st = fs.statSync(p);
    if (!st.isFile()) return false;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** uno-vmm's path, or NotBuiltError ("uno-vmm not found at PATH: run `make` first"). */
export function requireVmm(env: Env = process.env): string {
  const p = vmmPath(env);
  if (!isExecutableFile(p)) throw new NotBuiltError("uno-vmm", p);
  return p;
}

/** The libOS image's path, or NotBuiltError. */
export function requireLibos(env: Env = process.env): string {
  const p = libosPath(env);
  if (!fs.existsSync(p) || !fs.statSync(p).isFile()) throw new NotBuiltError("libos.elf", p);
  return p;
}

/** uno's version, from package.json. */
export function unoVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot(), "package.json"), "utf8")) as {
      version?: unknown;
    };
    return typeof pkg.version === "string" ? pkg.version : "unknown";
  } catch {
    return "unknown";
  }
}

/** Symlinks followed at most while resolving a path (the kernel's MAXSYMLINKS). */
const MAX_SYMLINKS = 40;

/**
 * Resolves `p`, an absolute path as a guest would see it inside root directory `root`, to
 * the host path of the file it names, following symlinks the way the guest would (absolute
 * link targets are relative to `root`). Never touches anything outside `root`.
 *
 * Returns undefined when the path cannot be resolved safely: a component is missing or not a
 * directory, ".." or a symlink would leave `root`, or there are too many symlinks.
 */
export function resolveInRoot(root: string, p: string): string | undefined {
  let realRoot: string;
  try {
    realRoot = fs.realpathSync(root);
  } catch {
    return undefined;
  }
  const pending = p.split("/");
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === "" || c === ".") continue;
    if (c === "..") {
      if (resolved.length === 0) return undefined; // would leave root
      resolved.pop();
      continue;
    }
    // Every component in `resolved` is a real directory (no symlinks), so this lstat
    // cannot be redirected outside realRoot.
    const host = path.join(realRoot, ...resolved, c);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(host);
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) return undefined;
      let target: string;
      try {
        target = fs.readlinkSync(host);
      } catch {
        return undefined;
      }
      // An absolute target is absolute in the guest's view: it restarts at root.
      if (target.startsWith("/")) resolved.length = 0;
      pending.unshift(...target.split("/"));
      continue;
    }
    if (pending.some((x) => x !== "" && x !== ".") && !st.isDirectory()) return undefined;
    resolved.push(c);
  }
  return path.join(realRoot, ...resolved);
}
