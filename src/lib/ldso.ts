/**
 * Which host files a dynamic program needs, found the way its dynamic loader would find
 * them — without running the program or the loader (no ldd).
 *
 * From the program's PT_INTERP (the loader: glibc's ld-linux-x86-64.so.2 or musl's
 * ld-musl-x86_64.so.1) and, breadth-first from the program, each object's DT_NEEDED names,
 * searched as that loader does:
 *
 *  glibc (elf/dl-load.c, _dl_map_object): a name with "/" is a path. Otherwise a name
 *    already loaded (by a name it was needed as, or its DT_SONAME) is not searched again;
 *    else, when the needing object has no DT_RUNPATH: the DT_RPATH of the needing object,
 *    of the object that needed it, and so on up to the program (objects with a DT_RUNPATH
 *    contribute no DT_RPATH); LD_LIBRARY_PATH is NOT used (the guest's environment is not
 *    the host's); then the needing object's DT_RUNPATH; then, unless DF_1_NODEFLIB, the
 *    directories of the host's /etc/ld.so.conf (with its `include` globs; the loader uses
 *    the ld.so.cache that ldconfig builds from them) and the default directories
 *    /lib/x86_64-linux-gnu, /usr/lib/x86_64-linux-gnu, /lib64, /usr/lib64, /lib, /usr/lib.
 *    A candidate of another class or machine (a 32-bit library in /usr/lib32) is skipped,
 *    as ld.so skips it; a candidate that is not ELF at all is an error, as in ld.so.
 *  musl (ldso/dynlink.c, load_library): libc.so, libm.so, libpthread.so… are the loader
 *    itself; a name already loaded (same file name) is not searched again; else the
 *    DT_RUNPATH (or DT_RPATH) of the needing object and of each object up the chain to the
 *    program, then the lines of /etc/ld-musl-x86_64.path, or /lib:/usr/local/lib:/usr/lib.
 *
 * In rpath entries $ORIGIN (the directory of the object as the loader opened it; for the
 * program, its real path), and for glibc $LIB and $PLATFORM, are expanded. Entries that
 * are relative or empty (which both loaders take relative to the working directory) are
 * left out: the working directory in the guest is not the host's.
 *
 * Every object has two paths: where it is on the host, and where the guest's loader will
 * open it. They are the same string except under $ORIGIN of a program that the image holds
 * at another place than the host does (`uno run ./prog` puts it at /prog).
 *
 * Not modelled: glibc-hwcaps and legacy hwcap subdirectories (the baseline library is
 * packed, which the guest loader also falls back to), /etc/ld.so.preload, libraries that
 * programs dlopen() at run time (NSS modules, gconv, plugins), DT_AUXILIARY/DT_FILTER.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { BadElfError } from "./errors.js";
import { DF_1_NODEFLIB, inspectElfObjectFile, type DynamicInfo, type ElfInfo } from "./elf.js";

export type LoaderKind = "glibc" | "musl";

/** The default directories glibc's loader searches after its cache (Debian's and Fedora's). */
export const GLIBC_DEFAULT_DIRS = [
  "/lib/x86_64-linux-gnu",
  "/usr/lib/x86_64-linux-gnu",
  "/lib64",
  "/usr/lib64",
  "/lib",
  "/usr/lib",
];
/** musl's search path when /etc/ld-musl-x86_64.path does not exist. */
export const MUSL_DEFAULT_DIRS = ["/lib", "/usr/local/lib", "/usr/lib"];
/** musl's names for itself (ldso/dynlink.c: "c.pthread.rt.m.dl.util.xnet."). */
const MUSL_SELF = ["c", "pthread", "rt", "m", "dl", "util", "xnet"];
/** The most objects one program may load (real programs: tens to a few hundred). */
export const MAX_OBJECTS = 4096;
const MAX_SYMLINKS = 40;

/** A directory searched for libraries: its host path and the path the guest loader uses. */
export interface SearchDir {
  host: string;
  guest: string;
  /** Where it comes from, e.g. "DT_RUNPATH of ./prog", "/etc/ld.so.conf", "default". */
  from: string;
}

/** One object of the program's link map. */
export interface LoadedObject {
  role: "program" | "interpreter" | "library";
  /** How messages name it: the program's name, or the path it was found at. */
  display: string;
  /** The DT_NEEDED name it was first needed as (the PT_INTERP path for the interpreter). */
  name: string;
  /** The object that first needed it (its loader, in glibc's words). */
  neededBy?: LoadedObject;
  /** The path the host loader would open (may go through symlinks). */
  hostPath: string;
  /** The path the guest loader will open. */
  guestPath: string;
  /** The search directory it was found in (undefined for the program and interpreter). */
  foundIn?: SearchDir;
  dynamic: DynamicInfo;
  /** $ORIGIN on each side. */
  origin: { host: string; guest: string };
  /** Names by which later DT_NEEDED entries find this object without a search. */
  names: Set<string>;
  /** dev:ino of the file, to recognize one file reached under two names. */
  fileId: string;
}

export interface ResolveOptions {
  /** glibc's configuration file (default /etc/ld.so.conf). */
  ldSoConf?: string;
  /** glibc's default directories (default GLIBC_DEFAULT_DIRS). */
  glibcDirs?: string[];
  /** musl's path file (default /etc/ld-musl-x86_64.path). */
  muslPathFile?: string;
  /** Receives a note for each candidate skipped or rpath entry left out. */
  onNote?: (note: string) => void;
}

export interface Resolution {
  kind: LoaderKind;
  program: LoadedObject;
  interpreter: LoadedObject;
  /** The libraries, in the loader's (breadth-first) order. */
  libraries: LoadedObject[];
  /**
   * Loader configuration files the guest needs at the same path as on the host: musl's
   * path file when the host has one, glibc's /etc/ld.so.cache when a library was found
   * through an /etc/ld.so.conf directory that is not one of the loader's defaults.
   */
  configFiles: string[];
}

interface Missing {
  name: string;
  neededBy: LoadedObject;
  searched: SearchDir[];
}

function fileIdOf(p: string): string | undefined {
  try {
    const st = fs.statSync(p, { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

function isRegularFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Joins a directory and a name as the loader does: plain concatenation, no normalizing. */
function joinDir(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

/** Removes trailing slashes (but keeps "/"), as glibc's fillin_rpath does. */
function trimSlashes(d: string): string {
  let s = d;
  while (s.length > 1 && s.endsWith("/")) s = s.slice(0, -1);
  return s;
}

/** A glob pattern component to a RegExp (*, ?, [...]), for ld.so.conf's include. */
function globComponent(pattern: string): RegExp {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) re += "\\[";
      else {
        let cls = pattern.slice(i + 1, end);
        if (cls.startsWith("!")) cls = "^" + cls.slice(1);
        re += `[${cls.replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(re + "$");
}

/** Expands an absolute glob (wildcards in any component), sorted as glob(3) sorts. */
export function expandGlob(pattern: string): string[] {
  let current = ["/"];
  for (const comp of pattern.split("/").filter((c) => c !== "")) {
    const next: string[] = [];
    const wild = /[*?[]/.test(comp);
    for (const dir of current) {
      if (!wild) {
        const p = joinDir(dir, comp);
        if (fs.existsSync(p)) next.push(p);
        continue;
      }
      let names: string[];
      try {
        names = fs.readdirSync(dir);
      } catch {
        continue;
      }
      const re = globComponent(comp);
      for (const n of names.sort()) {
        if (n.startsWith(".") && !comp.startsWith(".")) continue;
        if (re.test(n)) next.push(joinDir(dir, n));
      }
    }
    current = next;
  }
  return current;
}

/**
 * The directories named by an ld.so.conf file and the files it includes, in order, as
 * ldconfig reads them: one directory per line ("dir=type" accepted), "#" comments,
 * "include PATTERN..." (relative patterns are relative to the including file's directory),
 * "hwcap" lines ignored. Includes nest at most 16 deep; a file included twice is read once.
 */
export function readLdSoConf(file: string): string[] {
  const dirs: string[] = [];
  const seen = new Set<string>();
  const read = (f: string, depth: number): void => {
    if (depth > 16 || seen.has(f)) return;
    seen.add(f);
    let text: string;
    try {
      text = fs.readFileSync(f, "utf8");
    } catch {
      return;
    }
    for (const raw of text.split("\n")) {
      const line = raw.replace(/#.*/, "").trim();
      if (line === "") continue;
      const m = /^include\s+(.*)$/.exec(line);
      if (m) {
        for (let pat of m[1]!.split(/\s+/)) {
          if (pat === "") continue;
          if (!pat.startsWith("/")) pat = `${path.dirname(f)}/${pat}`;
          for (const inc of expandGlob(pat)) read(inc, depth + 1);
        }
        continue;
      }
      if (/^hwcap\s/.test(line)) continue;
      const dir = trimSlashes(line.replace(/=.*$/, "").trim());
      if (dir.startsWith("/") && !dirs.includes(dir)) dirs.push(dir);
    }
  };
  read(file, 0);
  return dirs;
}

/** musl's search path file: directories separated by ":" or newlines. */
function readMuslPath(file: string): string[] | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  return text
    .split(/[:\n]/)
    .map((d) => trimSlashes(d.trim()))
    .filter((d) => d.startsWith("/"));
}

/** The loader kind from the interpreter's path. */
export function loaderKind(interpreter: string): LoaderKind {
  return /ld-musl-[^/]*$/.test(interpreter) ? "musl" : "glibc";
}

/**
 * What glibc's $LIB expands to: Debian's multiarch loader says "lib/x86_64-linux-gnu", the
 * others "lib64" (the loader's own directory).
 */
function glibcLib(interpreterHost: string): string {
  let real = interpreterHost;
  try {
    real = fs.realpathSync(interpreterHost);
  } catch {
    /* keep the path */
  }
  return path.basename(path.dirname(real)) === "x86_64-linux-gnu"
    ? "lib/x86_64-linux-gnu"
    : "lib64";
}

/**
 * Expands the dynamic string tokens of `s` ($ORIGIN, ${ORIGIN}; for glibc also $LIB and
 * $PLATFORM) with `origin` as $ORIGIN. Unknown tokens stay as they are (the directory then
 * does not exist), as in both loaders.
 */
export function expandTokens(s: string, origin: string, kind: LoaderKind, lib: string): string {
  const values: Record<string, string> =
    kind === "musl" ? { ORIGIN: origin } : { ORIGIN: origin, LIB: lib, PLATFORM: "x86_64" };
  return s.replace(/\$(?:\{([A-Za-z_]+)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (whole, a, b) => {
    const key = (a ?? b) as string;
    return Object.prototype.hasOwnProperty.call(values, key) ? values[key]! : whole;
  });
}

/**
 * Resolves what the dynamic program at `programPath` needs.
 * @param guestProgramPath where the image will hold the program (e.g. "/prog").
 * @param display how messages name the program (e.g. "./prog").
 * @throws BadElfError for a missing interpreter or library (listing every missing library and
 *   who needs it), a malformed object, or an absurd dependency graph.
 */
export function resolveDynamicProgram(
  programPath: string,
  guestProgramPath: string,
  display: string,
  info: ElfInfo,
  dynamic: DynamicInfo,
  opts: ResolveOptions = {},
): Resolution {
  const noted = new Set<string>();
  const note = (n: string): void => {
    if (noted.has(n)) return;
    noted.add(n);
    opts.onNote?.(n);
  };
  const interpPath = info.interpreter;
  if (interpPath === undefined) {
    throw new BadElfError(programPath, `${display} is not dynamically linked`, "not-dynamic");
  }
  if (!interpPath.startsWith("/")) {
    throw new BadElfError(
      programPath,
      `${display} names a relative interpreter (${interpPath}); uno needs an absolute PT_INTERP path`,
      "interpreter-relative",
    );
  }
  const kind = loaderKind(interpPath);

  // The interpreter: at its PT_INTERP path on both sides.
  if (!isRegularFile(interpPath)) {
    throw new BadElfError(
      programPath,
      `${display} is dynamically linked and needs its interpreter ${interpPath}, which is not ` +
        `on this host: install the C library it was built for` +
        (kind === "musl" ? " (Debian: apt-get install musl)" : "") +
        `, link it with -static, or run it from a root directory that has it: uno run DIR -- PROG`,
      "interpreter-missing",
    );
  }
  const interpDesc = inspectElfObjectFile(interpPath);
  if (!interpDesc.elf.ok || !interpDesc.dynamic?.ok) {
    const why = !interpDesc.elf.ok
      ? interpDesc.elf.detail
      : interpDesc.dynamic && !interpDesc.dynamic.ok
        ? interpDesc.dynamic.detail
        : "is unusable";
    throw new BadElfError(
      interpPath,
      `${display} needs the interpreter ${interpPath}, which ${why}`,
      "interpreter-bad",
    );
  }
  const lib = glibcLib(interpPath);

  let programReal = programPath;
  try {
    programReal = fs.realpathSync(programPath);
  } catch {
    /* keep the path */
  }
  const program: LoadedObject = {
    role: "program",
    display,
    name: display,
    hostPath: programPath,
    guestPath: guestProgramPath,
    dynamic,
    origin: { host: path.dirname(programReal), guest: path.posix.dirname(guestProgramPath) },
    names: new Set(kind === "glibc" && dynamic.soname ? [dynamic.soname] : []),
    fileId: fileIdOf(programPath) ?? `program:${programPath}`,
  };
  const interpDyn = interpDesc.dynamic;
  const interpreter: LoadedObject = {
    role: "interpreter",
    display: interpPath,
    name: interpPath,
    neededBy: program,
    hostPath: interpPath,
    guestPath: interpPath,
    dynamic: interpDyn,
    origin: { host: path.posix.dirname(interpPath), guest: path.posix.dirname(interpPath) },
    names: new Set([interpPath, path.posix.basename(interpPath)]),
    fileId: fileIdOf(interpPath) ?? `interp:${interpPath}`,
  };
  if (interpDyn.soname) interpreter.names.add(interpDyn.soname);

  const libraries: LoadedObject[] = [];
  const all: LoadedObject[] = [program, interpreter];
  const missing: Missing[] = [];
  let usedLdSoConf = false;

  // System directories, computed once.
  const glibcDefaults = (opts.glibcDirs ?? GLIBC_DEFAULT_DIRS).map(trimSlashes);
  let confDirs: string[] | undefined;
  const ldSoConf = opts.ldSoConf ?? "/etc/ld.so.conf";
  const muslPathFile = opts.muslPathFile ?? "/etc/ld-musl-x86_64.path";
  const muslPath = kind === "musl" ? readMuslPath(muslPathFile) : undefined;

  const pathList = (o: LoadedObject, list: string, tag: string): SearchDir[] => {
    const out: SearchDir[] = [];
    for (const entry of list.split(":")) {
      // Repeated slashes ("$ORIGIN/lib" with $ORIGIN "/") mean one to the kernel.
      const host = trimSlashes(expandTokens(entry, o.origin.host, kind, lib).replace(/\/+/g, "/"));
      const guest = trimSlashes(
        expandTokens(entry, o.origin.guest, kind, lib).replace(/\/+/g, "/"),
      );
      if (!host.startsWith("/") || !guest.startsWith("/")) {
        note(
          `${tag} entry ${JSON.stringify(entry)} of ${o.display} is relative to the working ` +
            `directory; it is not searched`,
        );
        continue;
      }
      out.push({ host, guest, from: `${tag} of ${o.display}` });
    }
    return out;
  };

  const searchDirs = (loader: LoadedObject): SearchDir[] => {
    const dirs: SearchDir[] = [];
    if (kind === "musl") {
      for (let o: LoadedObject | undefined = loader; o; o = o.neededBy) {
        const list = o.dynamic.runpath ?? o.dynamic.rpath;
        if (list !== undefined) {
          dirs.push(
            ...pathList(o, list, o.dynamic.runpath !== undefined ? "DT_RUNPATH" : "DT_RPATH"),
          );
        }
        if (o.role === "program") break;
      }
      const sys = muslPath ?? MUSL_DEFAULT_DIRS;
      const from = muslPath ? muslPathFile : "musl's default path";
      for (const d of sys) dirs.push({ host: d, guest: d, from });
      return dirs;
    }
    if (loader.dynamic.runpath === undefined) {
      let didProgram = false;
      for (let o: LoadedObject | undefined = loader; o; o = o.neededBy) {
        if (o.dynamic.rpath !== undefined && o.dynamic.runpath === undefined) {
          dirs.push(...pathList(o, o.dynamic.rpath, "DT_RPATH"));
        }
        if (o.role === "program") {
          didProgram = true;
          break;
        }
      }
      if (
        !didProgram &&
        program.dynamic.rpath !== undefined &&
        program.dynamic.runpath === undefined
      ) {
        dirs.push(...pathList(program, program.dynamic.rpath, "DT_RPATH"));
      }
    } else {
      dirs.push(...pathList(loader, loader.dynamic.runpath, "DT_RUNPATH"));
    }
    if ((loader.dynamic.flags1 & DF_1_NODEFLIB) === 0n) {
      confDirs ??= readLdSoConf(ldSoConf);
      // ldconfig caches the configured directories in order, then the default ones not
      // listed; the loader then tries the default directories itself.
      for (const d of confDirs) {
        const from = glibcDefaults.includes(d) ? "default" : ldSoConf;
        dirs.push({ host: d, guest: d, from });
      }
      for (const d of glibcDefaults) {
        if (!confDirs.includes(d)) dirs.push({ host: d, guest: d, from: "default" });
      }
    }
    return dirs;
  };

  const findLoaded = (name: string, fileId?: string): LoadedObject | undefined =>
    all.find((o) => o.names.has(name) || (fileId !== undefined && o.fileId === fileId));

  /** Checks a candidate file: "use" it, "skip" it (other class/machine), or throw. */
  const check = (
    candidate: string,
    name: string,
    loader: LoadedObject,
  ): { use: true; dynamic: DynamicInfo } | { use: false } => {
    if (!isRegularFile(candidate)) return { use: false };
    const d = inspectElfObjectFile(candidate);
    if (!d.elf.ok) {
      if (kind === "glibc" && (d.elf.problem === "not-64-bit" || d.elf.problem === "not-x86-64")) {
        note(`skipped ${candidate}: it ${d.elf.detail}`);
        return { use: false };
      }
      throw new BadElfError(
        candidate,
        `${name} (needed by ${loader.display}) was found at ${candidate}, which ${d.elf.detail}`,
        d.elf.problem,
      );
    }
    if (!d.dynamic?.ok) {
      const why = d.dynamic && !d.dynamic.ok ? d.dynamic.detail : "is unusable";
      throw new BadElfError(
        candidate,
        `${name} (needed by ${loader.display}) was found at ${candidate}, which ${why}`,
        "corrupt",
      );
    }
    if (d.elf.type !== "dyn") {
      throw new BadElfError(
        candidate,
        `${name} (needed by ${loader.display}) was found at ${candidate}, which is an ` +
          `executable (ET_EXEC), not a shared library`,
        "not-shared-library",
      );
    }
    return { use: true, dynamic: d.dynamic };
  };

  const addLibrary = (
    name: string,
    loader: LoadedObject,
    hostPath: string,
    guestPath: string,
    dyn: DynamicInfo,
    foundIn: SearchDir | undefined,
  ): void => {
    const fileId = fileIdOf(hostPath) ?? `lib:${hostPath}`;
    const same = all.find((o) => o.fileId === fileId);
    if (same) {
      // The same file under another name: ld.so adds the name to the loaded object.
      same.names.add(name);
      return;
    }
    if (all.length >= MAX_OBJECTS) {
      throw new BadElfError(
        programPath,
        `${display} needs more than ${MAX_OBJECTS} shared objects; this is not a real program's dependency graph`,
        "too-many-objects",
      );
    }
    const o: LoadedObject = {
      role: "library",
      display: hostPath,
      name,
      neededBy: loader,
      hostPath,
      guestPath,
      dynamic: dyn,
      origin: { host: path.posix.dirname(hostPath), guest: path.posix.dirname(guestPath) },
      names: new Set([name]),
      fileId,
    };
    if (foundIn) o.foundIn = foundIn;
    if (kind === "glibc" && dyn.soname) o.names.add(dyn.soname);
    if (kind === "musl") o.names.add(path.posix.basename(hostPath));
    libraries.push(o);
    all.push(o);
  };

  // Breadth-first over the link map, as both loaders load dependencies.
  const queue: LoadedObject[] = [program];
  for (let qi = 0; qi < queue.length; qi++) {
    const loader = queue[qi]!;
    const before = libraries.length;
    for (const rawName of loader.dynamic.needed) {
      if (kind === "musl" && rawName.startsWith("lib")) {
        const rest = rawName.slice(3);
        if (MUSL_SELF.some((s) => rest.startsWith(`${s}.`))) {
          interpreter.names.add(rawName);
          continue;
        }
      }
      if (findLoaded(rawName)) continue;
      const hostName =
        kind === "glibc" ? expandTokens(rawName, loader.origin.host, kind, lib) : rawName;
      const guestName =
        kind === "glibc" ? expandTokens(rawName, loader.origin.guest, kind, lib) : rawName;
      if (hostName.includes("/")) {
        if (!hostName.startsWith("/") || !guestName.startsWith("/")) {
          throw new BadElfError(
            loader.hostPath,
            `${loader.display} needs ${rawName} by a relative path, which the loader resolves ` +
              `against the working directory; uno cannot pack it (relink with a library name)`,
            "needed-relative",
          );
        }
        const r = check(hostName, rawName, loader);
        if (!r.use) {
          missing.push({ name: rawName, neededBy: loader, searched: [] });
          continue;
        }
        addLibrary(rawName, loader, hostName, guestName, r.dynamic, undefined);
        continue;
      }
      const dirs = searchDirs(loader);
      let found = false;
      for (const dir of dirs) {
        const candidate = joinDir(dir.host, rawName);
        const r = check(candidate, rawName, loader);
        if (!r.use) continue;
        if (dir.from === ldSoConf) usedLdSoConf = true;
        addLibrary(rawName, loader, candidate, joinDir(dir.guest, rawName), r.dynamic, dir);
        found = true;
        break;
      }
      if (!found) missing.push({ name: rawName, neededBy: loader, searched: dirs });
    }
    queue.push(...libraries.slice(before));
  }

  if (missing.length > 0) {
    const lines = missing.map((m) => {
      const where = [...new Set(m.searched.map((d) => d.host))];
      return (
        `  ${m.name} (needed by ${m.neededBy.display}) not found` +
        (where.length ? ` in ${where.join(", ")}` : "")
      );
    });
    throw new BadElfError(
      programPath,
      `${display} needs shared libraries that are not on this host:\n${lines.join("\n")}\n` +
        `Install them, or run the program from a root directory that has them: uno run DIR -- PROG`,
      "library-missing",
    );
  }

  const configFiles: string[] = [];
  if (kind === "musl" && muslPath !== undefined) configFiles.push(muslPathFile);
  if (kind === "glibc" && usedLdSoConf && isRegularFile("/etc/ld.so.cache")) {
    configFiles.push("/etc/ld.so.cache");
  }
  return { kind, program, interpreter, libraries, configFiles };
}

/**
 * Resolves `p` on the host the way the kernel would, returning each step: every symlink met
 * (its path with no symlink before it, and its target) and the final real path.
 * @throws Error with a message when a component is missing or there are too many links.
 */
export function hostPathSteps(p: string): {
  links: { at: string; target: string }[];
  dirs: string[];
  real: string;
} {
  const pending = p.split("/");
  const resolved: string[] = [];
  const links: { at: string; target: string }[] = [];
  const dirs: string[] = [];
  let count = 0;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === "" || c === ".") continue;
    if (c === "..") {
      resolved.pop();
      continue;
    }
    const at = "/" + [...resolved, c].join("/");
    const st = fs.lstatSync(at);
    if (st.isSymbolicLink()) {
      if (++count > MAX_SYMLINKS) throw new Error(`too many symbolic links resolving ${p}`);
      const target = fs.readlinkSync(at);
      links.push({ at, target });
      if (target.startsWith("/")) resolved.length = 0;
      pending.unshift(...target.split("/"));
      continue;
    }
    resolved.push(c);
    if (pending.some((x) => x !== "" && x !== ".")) {
      if (!st.isDirectory()) throw new Error(`${at} is not a directory (resolving ${p})`);
      dirs.push(at);
    }
  }
  return { links, dirs, real: "/" + resolved.join("/") };
}
