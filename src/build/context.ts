/**
 * The build context of `uno build`: the directory COPY and ADD read from, filtered by its
 * .dockerignore with docker's rules (patterns cleaned and relative to the context root; `*`
 * and `?` stay within one path component, `**` spans any number; a path is excluded when it
 * or one of its parent directories matches; the last matching pattern wins, so `!pattern`
 * re-includes), and source paths resolved inside it (globs, symlinks that must stay inside).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { sha256File } from "../image/rootfs.js";
import { BuildContextError } from "./errors.js";
import { applyOwnership, type LayerEntry, type Ownership } from "./layer.js";

interface IgnorePattern {
  re: RegExp;
  exclusion: boolean;
}

/** True when `s` has glob characters (`*`, `?`, `[`) not escaped by a backslash. */
export function hasGlob(s: string): boolean {
  return /(^|[^\\])[*?[]/.test(s);
}

/**
 * A pattern (docker's filepath.Match syntax plus `**`) as an anchored regular expression
 * over "/"-separated relative paths.
 */
export function globRegExp(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        // "**/" also matches no directory at all ("**/x" matches "x").
        if (pattern[i + 1] === "/") {
          i++;
          re += "(?:.*/)?";
        } else re += ".*";
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) throw new BuildContextError(`bad pattern "${pattern}": unterminated [`);
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith("^") || cls.startsWith("!")) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, "\\\\")}]`;
      i = end;
    } else if (c === "\\" && i + 1 < pattern.length) {
      re += escapeRe(pattern[++i]!);
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`, "s");
}

const escapeRe = (c: string): string => c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** Docker's filepath.Clean of a pattern or path, relative to the context root. */
function cleanRel(p: string): string {
  const n = path.posix.normalize(p.replace(/^\/+/, ""));
  return n === "./" ? "." : n.replace(/\/+$/, "");
}

/** One file, directory or symlink of the context that a COPY source names. */
export interface ContextSource {
  /** Path relative to the context root ("." for the root). */
  rel: string;
  host: string;
  stat: fs.Stats;
}

export class BuildContext {
  readonly dir: string;
  private readonly patterns: IgnorePattern[];

  constructor(dir: string) {
    let st: fs.Stats;
    try {
      // The real path: sources are checked against it after their symlinks are resolved.
      this.dir = fs.realpathSync(path.resolve(dir));
      st = fs.statSync(this.dir);
    } catch {
      throw new BuildContextError(`the build context ${dir} does not exist`);
    }
    if (!st.isDirectory())
      throw new BuildContextError(`the build context ${dir} is not a directory`);
    this.patterns = [];
    let text = "";
    try {
      text = fs.readFileSync(path.join(this.dir, ".dockerignore"), "utf8");
    } catch {
      /* no .dockerignore */
    }
    for (const raw of text.split(/\r?\n/)) {
      let line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      const exclusion = line.startsWith("!");
      if (exclusion) line = line.slice(1).trim();
      const p = cleanRel(line);
      if (p === "" || p === ".") continue;
      this.patterns.push({ re: globRegExp(p), exclusion });
    }
  }

  /** Whether .dockerignore excludes `rel` (a path relative to the context). */
  isIgnored(rel: string): boolean {
    if (rel === "." || rel === "") return false;
    const parents = rel.split("/");
    let matched = false;
    for (const p of this.patterns) {
      let m = p.re.test(rel);
      for (let i = 1; !m && i < parents.length; i++) m = p.re.test(parents.slice(0, i).join("/"));
      if (m) matched = !p.exclusion;
    }
    return matched;
  }

  private hasExceptions(): boolean {
    return this.patterns.some((p) => p.exclusion);
  }

  /** Every path of the context that is not ignored, parents first. */
  list(): string[] {
    const out: string[] = [];
    const walk = (rel: string): void => {
      for (const name of fs.readdirSync(path.join(this.dir, rel)).sort()) {
        const r = rel === "." ? name : `${rel}/${name}`;
        const ignored = this.isIgnored(r);
        if (!ignored) out.push(r);
        const st = fs.lstatSync(path.join(this.dir, r));
        // An ignored directory is still searched when a "!" pattern may re-include below it.
        if (st.isDirectory() && (!ignored || this.hasExceptions())) walk(r);
      }
    };
    walk(".");
    return out;
  }

  /**
   * The context paths a COPY/ADD source names: a glob matched against every non-ignored
   * path, or one path (a symlink is followed, but must stay inside the context).
   * @throws BuildContextError for paths leaving the context, missing or ignored sources.
   */
  resolve(src: string, instruction: string): ContextSource[] {
    const rel = cleanRel(src);
    if (rel === ".." || rel.startsWith("../"))
      throw new BuildContextError(
        `${instruction}: ${src} is outside the build context (${this.dir}): only files inside it can be copied`,
      );
    if (hasGlob(rel)) {
      const re = globRegExp(rel);
      const hits = this.list().filter((p) => re.test(p));
      if (hits.length === 0)
        throw new BuildContextError(
          `${instruction}: no source files were specified: ${src} matches nothing in the build context`,
        );
      return hits.map((r) => this.source(r, src, instruction));
    }
    return [this.source(rel, src, instruction)];
  }

  private source(rel: string, src: string, instruction: string): ContextSource {
    const missing = (): BuildContextError =>
      new BuildContextError(
        `${instruction}: ${src}: file not found in the build context ${this.dir}` +
          (this.patterns.length ? " (or excluded by .dockerignore)" : ""),
      );
    if (this.isIgnored(rel)) throw missing();
    const host = path.join(this.dir, rel);
    let real: string;
    try {
      real = fs.realpathSync(host);
    } catch {
      throw missing();
    }
    const inside = path.relative(this.dir, real);
    if (inside === ".." || inside.startsWith(`..${path.sep}`) || path.isAbsolute(inside))
      throw new BuildContextError(
        `${instruction}: ${src} is a symlink to ${real}, outside the build context`,
      );
    return { rel, host: real, stat: fs.statSync(real) };
  }

  /**
   * The layer entries for copying `s` to `dest` (a path in the image without leading "/"):
   * a file becomes `dest`; a directory's contents go below `dest` (ignored paths left out;
   * symlinks inside copied as symlinks). Owners are root unless --chown; modes the host's.
   */
  entries(s: ContextSource, dest: string, over: Ownership): LayerEntry[] {
    const out: LayerEntry[] = [];
    const entry = (host: string, name: string, st: fs.Stats): LayerEntry => {
      const base = applyOwnership({ mode: st.mode & 0o7777, uid: 0, gid: 0 }, over);
      const e = { name, mtime: Math.floor(st.mtimeMs / 1000), ...base };
      if (st.isDirectory()) return { ...e, type: "directory" };
      if (st.isSymbolicLink())
        return { ...e, type: "symlink", mode: 0o777, linkname: fs.readlinkSync(host) };
      if (st.isFile()) return { ...e, type: "file", source: { path: host }, size: st.size };
      throw new BuildContextError(`${host}: only files, directories and symlinks can be copied`);
    };
    if (!s.stat.isDirectory()) return [entry(s.host, dest, s.stat)];
    // A directory's contents only: `dest` keeps its mode and owner when it exists (COPY . /tmp/
    // must not make /tmp 0755); the builder adds it when missing.
    const walk = (rel: string, name: string): void => {
      for (const n of fs.readdirSync(path.join(this.dir, rel)).sort()) {
        const r = rel === "." ? n : `${rel}/${n}`;
        const host = path.join(this.dir, r);
        const st = fs.lstatSync(host);
        const ignored = this.isIgnored(r);
        const at = name === "" ? n : `${name}/${n}`;
        if (!ignored) out.push(entry(host, at, st));
        if (st.isDirectory() && (!ignored || this.hasExceptions())) walk(r, at);
      }
    };
    walk(path.relative(this.dir, s.host) || ".", dest);
    return out;
  }
}

/**
 * A digest of what a list of entries puts in a layer — names, types, modes, owners, link
 * targets and file contents (not mtimes) — for the build cache.
 */
export async function entriesDigest(entries: readonly LayerEntry[]): Promise<string> {
  const h = createHash("sha256");
  for (const e of entries) {
    h.update(JSON.stringify([e.name, e.type, e.mode, e.uid, e.gid, e.linkname ?? null]));
    if (e.source && "path" in e.source) h.update(await sha256File(e.source.path));
    else if (e.source && "data" in e.source) h.update(e.source.data);
    h.update("\0");
  }
  return h.digest("hex");
}
