/**
 * Packers: a host directory or a single ELF program (with, for a dynamic one, its
 * interpreter and shared libraries from the host) -> EROFS root image, cached by key
 * under `<cacheDir>/images/<sha256 hex>.erofs`.
 *
 * Images are published atomically (written to a temporary file in the same directory,
 * fsynced, then renamed), so a reader never sees a partial image and two concurrent
 * packers of the same input simply both produce the same file.
 */
import { createHash, randomBytes, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstatSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { lstat, mkdir, open, readdir, readlink, rename, rm, stat } from "node:fs/promises";
import type { BigIntStats } from "node:fs";
import { basename, dirname, join } from "node:path";
import { inspectElfObjectFile } from "../lib/elf.js";
import { BadElfError, TargetNotFoundError } from "../lib/errors.js";
import {
  hostPathSteps,
  resolveDynamicProgram,
  type ResolveOptions,
  type Resolution,
} from "../lib/ldso.js";
import {
  ImageBuildError,
  dirNode,
  fsErrorReason,
  hostFileNode,
  symlinkNode,
  validateEntryName,
  writeErofs,
  type DirNode,
  type FileNode,
  type SymlinkNode,
  type TreeNode,
} from "./erofs.js";

export { ImageBuildError } from "./erofs.js";

/**
 * Version of the packing rules; part of every cache key. Bump it whenever the bytes of
 * an image built from the same input could change (writer layout, defaults, ...).
 */
export const PACKER_FORMAT_VERSION = "uno-rootfs-erofs-v1";

export interface PackedImage {
  /** Absolute path of the cached image. */
  erofsPath: string;
  /** "sha256:<hex>" cache key; the image file is named "<hex>.erofs". */
  digest: string;
  /** True when the image was already in the cache and was not rebuilt. */
  cached: boolean;
}

export interface PackOptions {
  /** Receives a message for each entry that cannot be represented and was skipped. Default: print to stderr. */
  onWarning?: (message: string) => void;
}

const defaultWarn = (message: string): void => {
  process.stderr.write(`uno: warning: ${message}\n`);
};

function imagePathFor(cacheDir: string, hex: string): string {
  return join(cacheDir, "images", `${hex}.erofs`);
}

async function isCached(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Builds `root` into the cache slot for `hex` unless it is there already. */
async function buildCached(
  cacheDir: string,
  hex: string,
  root: DirNode,
  buildTime: number | undefined,
): Promise<PackedImage> {
  const erofsPath = imagePathFor(cacheDir, hex);
  const digest = `sha256:${hex}`;
  if (await isCached(erofsPath)) return { erofsPath, digest, cached: true };
  const dir = join(cacheDir, "images");
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new ImageBuildError(`cannot create image cache directory ${dir}: ${fsErrorReason(err)}`);
  }
  const tmp = join(
    dir,
    `.tmp-${hex.slice(0, 16)}-${process.pid}-${randomBytes(6).toString("hex")}`,
  );
  try {
    // The volume UUID is derived from the key so identical inputs give identical bytes.
    await writeErofs(root, tmp, {
      buildTime,
      uuid: Buffer.from(hex.slice(0, 32), "hex"),
      fsync: true,
    });
    await rename(tmp, erofsPath);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    if (err instanceof ImageBuildError) throw err;
    throw new ImageBuildError(`cannot store image ${erofsPath}: ${fsErrorReason(err)}`);
  }
  return { erofsPath, digest, cached: false };
}

/** Appends NUL-terminated fields to the key hash (no field contains NUL). */
function hashFields(h: Hash, ...fields: (string | Buffer | bigint | number)[]): void {
  for (const f of fields) {
    h.update(typeof f === "string" || Buffer.isBuffer(f) ? f : String(f));
    h.update("\0");
  }
}

function notFoundOr(err: unknown, path: string, what: string): Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT") return new TargetNotFoundError(path);
  return new ImageBuildError(`cannot read ${what} ${path}: ${fsErrorReason(err)}`);
}

function splitMtime(st: BigIntStats): { mtime: number; mtimeNsec: number } {
  const ns = st.mtimeNs;
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    nsec += 1_000_000_000n;
    sec -= 1n;
  }
  return { mtime: Number(sec), mtimeNsec: Number(nsec) };
}

function metaOf(st: BigIntStats) {
  return {
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    ...splitMtime(st),
  };
}

/**
 * Packs the host directory `dir` (not following symlinks beneath it; the top-level path
 * itself may be a symlink to a directory) into an EROFS image, keeping modes, owners,
 * mtimes (ns), symlink targets and hard links (by dev+inode). Devices, FIFOs and sockets
 * cannot be packed and are skipped with a warning.
 *
 * Cache key: sha256 over PACKER_FORMAT_VERSION and, for every packed entry in sorted
 * (depth-first, bytewise name) order: relative path, type, mode, uid, gid, size, mtime in
 * ns, symlink target and hard-link peer. It is a METADATA hash, not a content hash: a file
 * edited in place with its size and mtime preserved (e.g. `touch -r`) is not noticed and
 * the stale cached image is reused. That is deliberate: hashing the contents of a whole
 * root file system on every run would cost seconds to minutes, while the metadata walk
 * costs milliseconds; ordinary edits always change mtime.
 */
export async function packDirectory(
  dir: string,
  cacheDir: string,
  opts: PackOptions = {},
): Promise<PackedImage> {
  const warn = opts.onWarning ?? defaultWarn;
  let top: BigIntStats;
  try {
    top = await stat(dir, { bigint: true });
  } catch (err) {
    throw notFoundOr(err, dir, "directory");
  }
  if (!top.isDirectory())
    throw new ImageBuildError(`${dir} is not a directory; give a directory or an ELF file`);

  const h = createHash("sha256");
  hashFields(h, PACKER_FORMAT_VERSION, "dir");
  const root = dirNode(metaOf(top));
  hashFields(h, "", "d", root.mode!, root.uid!, root.gid!, 0, top.mtimeNs, "", "");

  // If the cache lives inside the tree being packed, leave it out: it changes with every
  // build, so the key would never match again.
  const cacheStat = await stat(cacheDir, { bigint: true }).catch(() => undefined);
  const isCacheDir = (st: BigIntStats): boolean =>
    cacheStat !== undefined && st.dev === cacheStat.dev && st.ino === cacheStat.ino;

  const links = new Map<string, { node: FileNode | SymlinkNode; rel: string }>();
  // Depth-first in bytewise name order; `rel` is the path relative to `dir`.
  const stack: { host: string; rel: string; node: DirNode }[] = [
    { host: dir, rel: "", node: root },
  ];
  while (stack.length) {
    const d = stack.pop()!;
    let names: Buffer[];
    try {
      names = await readdir(d.host, { encoding: "buffer" });
    } catch (err) {
      throw new ImageBuildError(`cannot read directory ${d.host}: ${fsErrorReason(err)}`);
    }
    names.sort(Buffer.compare);
    const stats = await Promise.all(
      names.map(async (nb) => {
        const name = nb.toString("utf8");
        const host = join(d.host, name);
        if (!Buffer.from(name, "utf8").equals(nb))
          throw new ImageBuildError(
            `cannot pack ${join(d.host, nb.toString("latin1"))}: its name is not valid UTF-8; rename it`,
          );
        try {
          return { name, host, st: await lstat(host, { bigint: true }) };
        } catch (err) {
          throw new ImageBuildError(`cannot read ${host}: ${fsErrorReason(err)}`);
        }
      }),
    );
    const subdirs: { host: string; rel: string; node: DirNode }[] = [];
    for (const { name, host, st } of stats) {
      const rel = d.rel ? `${d.rel}/${name}` : name;
      const meta = metaOf(st);
      let node: TreeNode;
      let type: string;
      let size = 0n;
      let target: Buffer | string = "";
      let peer = "";
      if (st.isDirectory()) {
        if (isCacheDir(st)) {
          warn(`skipping ${host}: it is the image cache directory`);
          continue;
        }
        const sub = dirNode(meta);
        subdirs.push({ host, rel, node: sub });
        node = sub;
        type = "d";
      } else if (st.isFile() || st.isSymbolicLink()) {
        const key = `${st.dev}:${st.ino}`;
        const prev = st.nlink > 1n ? links.get(key) : undefined;
        if (st.isFile()) {
          type = "f";
          size = st.size;
        } else {
          type = "l";
          try {
            target = await readlink(host, { encoding: "buffer" });
          } catch (err) {
            throw new ImageBuildError(`cannot read symlink ${host}: ${fsErrorReason(err)}`);
          }
        }
        if (prev) {
          node = prev.node;
          peer = prev.rel;
        } else {
          node = st.isFile()
            ? hostFileNode(host, { ...meta, size: Number(st.size) })
            : { kind: "symlink", target, ...meta };
          if (st.nlink > 1n) links.set(key, { node, rel });
        }
      } else {
        const what = st.isCharacterDevice()
          ? "character device"
          : st.isBlockDevice()
            ? "block device"
            : st.isFIFO()
              ? "FIFO"
              : st.isSocket()
                ? "socket"
                : "special file";
        // A root's /dev holds device nodes (debootstrap makes them); the guest's /dev is the
        // libOS's own, so leaving those out is expected and not worth a warning.
        if (rel.split("/")[0] !== "dev" || !(st.isCharacterDevice() || st.isBlockDevice()))
          warn(`skipping ${what} ${host}: it cannot be stored in the image`);
        continue;
      }
      d.node.entries.set(name, node);
      hashFields(h, rel, type, meta.mode, meta.uid, meta.gid, size, st.mtimeNs, target, peer);
    }
    // Push in reverse so the first name is visited first.
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
  }

  return buildCached(cacheDir, h.digest("hex"), root, undefined);
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  await new Promise<void>((resolve, reject) => {
    createReadStream(path)
      .on("data", (chunk) => h.update(chunk))
      .on("error", reject)
      .on("end", resolve);
  });
  return h.digest("hex");
}

/** Directories of the minimal root around a packed ELF file. */
const ELF_ROOT_DIRS: Record<string, number> = { tmp: 0o1777, dev: 0o755, proc: 0o755, etc: 0o755 };

/** One entry of a planned ELF image (besides the root). */
export interface ElfImageEntry {
  /** Absolute path in the image. */
  path: string;
  kind: "dir" | "file" | "symlink";
  mode: number;
  /** For a file: the host file its bytes come from. */
  host?: string;
  /** For a symlink: its target. */
  target?: string;
}

/** What packElf will put in the image for one program, before anything is written. */
export interface ElfImagePlan {
  /** The program as given. */
  file: string;
  /** Where the image holds the program ("/<basename>"). */
  execPath: string;
  linkage: "static" | "dynamic";
  /** For a dynamic program: the loader's view of what it needs. */
  resolution?: Resolution;
  /** Every entry of the image, sorted by path. */
  entries: ElfImageEntry[];
  root: DirNode;
  /** Host files read into the image, with what they were when planned. */
  sources: Map<string, { ino: bigint; mtimeNs: bigint; size: bigint }>;
}

export interface PlanElfOptions extends ResolveOptions {}

const NODE_META = { uid: 0, gid: 0, mtime: 0 };

/**
 * The image being planned: a tree with a path index. Host paths are mirrored (the image
 * holds them at the same path, symlinks as symlinks), so what the host loader opens, the
 * guest loader finds at the same path; relocated files (under the program's $ORIGIN) follow
 * the image's symlinks as the guest's kernel will.
 */
class PlannedTree {
  readonly root = dirNode({ mode: 0o755, ...NODE_META });
  readonly sources = new Map<string, { ino: bigint; mtimeNs: bigint; size: bigint }>();

  constructor(private readonly file: string) {}

  private conflict(p: string, why: string): ImageBuildError {
    return new ImageBuildError(`cannot pack ${this.file}: ${p} in the image ${why}`);
  }

  /** The directory at real (symlink-free) path components `comps`, created as needed. */
  dirAt(comps: string[]): DirNode {
    let d = this.root;
    let at = "";
    for (const c of comps) {
      at += `/${c}`;
      const e = d.entries.get(c);
      if (e === undefined) {
        const n = dirNode({ mode: 0o755, ...NODE_META });
        d.entries.set(c, n);
        d = n;
      } else if (e.kind === "dir") {
        d = e;
      } else {
        throw this.conflict(at, `is a ${e.kind} but is needed as a directory`);
      }
    }
    return d;
  }

  private parentOf(p: string): { dir: DirNode; name: string } {
    const comps = p.split("/").filter((c) => c !== "");
    const name = comps.pop();
    if (name === undefined) throw this.conflict(p, "is the root");
    return { dir: this.dirAt(comps), name };
  }

  private stat(host: string): BigIntStats {
    try {
      return statSync(host, { bigint: true });
    } catch (err) {
      throw new ImageBuildError(`cannot read ${host}: ${fsErrorReason(err)}`);
    }
  }

  /** Adds a regular file at image path `p` from host file `host`. */
  addFile(p: string, host: string, mode?: number): void {
    const { dir, name } = this.parentOf(p);
    const st = this.stat(host);
    if (!st.isFile()) throw new ImageBuildError(`cannot pack ${host}: not a regular file`);
    const e = dir.entries.get(name);
    if (e !== undefined) {
      if (e.kind === "file" && "path" in e.source && e.source.path === host) return;
      throw this.conflict(p, `is already taken (by a ${e.kind}); it cannot also hold ${host}`);
    }
    const m = mode ?? Number(st.mode & 0o777n);
    validateEntryName(name, p);
    dir.entries.set(name, hostFileNode(host, { mode: m, ...NODE_META, size: Number(st.size) }));
    this.sources.set(host, { ino: st.ino, mtimeNs: st.mtimeNs, size: st.size });
  }

  addSymlink(p: string, target: string): void {
    const { dir, name } = this.parentOf(p);
    const e = dir.entries.get(name);
    if (e !== undefined) {
      if (e.kind === "symlink" && String(e.target) === target) return;
      throw this.conflict(
        p,
        `is already taken (by a ${e.kind}); it cannot also be a link to ${target}`,
      );
    }
    validateEntryName(name, p);
    dir.entries.set(name, symlinkNode(target, { mode: 0o777, ...NODE_META }));
  }

  /**
   * Mirrors host path `p`: every directory and symlink met resolving it on the host, and
   * the regular file it ends at, at the same paths in the image.
   */
  mirror(p: string): void {
    let steps: ReturnType<typeof hostPathSteps>;
    try {
      steps = hostPathSteps(p);
    } catch (err) {
      throw new ImageBuildError(`cannot pack ${p}: ${fsErrorReason(err)}`);
    }
    for (const d of steps.dirs) this.dirAt(d.split("/").filter((c) => c !== ""));
    for (const l of steps.links) this.addSymlink(l.at, l.target);
    this.addFile(steps.real, steps.real);
  }

  /**
   * Places host file `host` at image path `p`, which need not be `host` (a library under the
   * program's $ORIGIN). The image's own symlinks are followed as the guest's kernel would. A
   * host symlink to a name in the same directory (libfoo.so.1 -> libfoo.so.1.2) is kept.
   */
  relocate(p: string, host: string): void {
    const pending = p.split("/");
    const name = pending.pop()!;
    const resolved: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const c = pending.shift()!;
      if (c === "" || c === ".") continue;
      if (c === "..") {
        resolved.pop();
        continue;
      }
      const e = this.dirAt(resolved).entries.get(c);
      if (e?.kind === "symlink") {
        if (++links > 40) throw this.conflict(p, "has too many symbolic links");
        const t = String(e.target);
        if (t.startsWith("/")) resolved.length = 0;
        pending.unshift(...t.split("/"));
        continue;
      }
      resolved.push(c);
    }
    const dir = this.dirAt(resolved);
    const dirPath = "/" + resolved.join("/");
    const hostDir = dirname(host);
    let n = name;
    let hostName = basename(host);
    for (let hops = 0; ; hops++) {
      const at = join(dirPath, n);
      const e = dir.entries.get(n);
      if (e?.kind === "symlink") {
        // Already placed (or taken): follow what the image has.
        const t = String(e.target);
        if (t.includes("/") || hops > 40) {
          throw this.conflict(at, `is a link to ${t}; it cannot also hold ${host}`);
        }
        n = t;
        hostName = t;
        continue;
      }
      let target: string | undefined;
      try {
        if (lstatSync(`${hostDir}/${hostName}`).isSymbolicLink())
          target = readlinkSync(`${hostDir}/${hostName}`);
      } catch (err) {
        throw new ImageBuildError(`cannot read ${hostDir}/${hostName}: ${fsErrorReason(err)}`);
      }
      if (target !== undefined && !target.includes("/") && hops < 40) {
        this.addSymlink(at, target);
        n = target;
        hostName = target;
        continue;
      }
      let real: string;
      try {
        real = realpathSync(`${hostDir}/${hostName}`);
      } catch (err) {
        throw new ImageBuildError(`cannot read ${hostDir}/${hostName}: ${fsErrorReason(err)}`);
      }
      this.addFile(at, real);
      return;
    }
  }

  entries(): ElfImageEntry[] {
    const out: ElfImageEntry[] = [];
    const walk = (d: DirNode, at: string): void => {
      for (const [name, e] of [...d.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        const p = at === "/" ? `/${name}` : `${at}/${name}`;
        if (e.kind === "dir") {
          out.push({ path: p, kind: "dir", mode: e.mode ?? 0o755 });
          walk(e, p);
        } else if (e.kind === "file") {
          const entry: ElfImageEntry = { path: p, kind: "file", mode: e.mode ?? 0o644 };
          if ("path" in e.source) entry.host = e.source.path;
          out.push(entry);
        } else if (e.kind === "symlink") {
          out.push({ path: p, kind: "symlink", mode: 0o777, target: String(e.target) });
        }
      }
    };
    walk(this.root, "/");
    return out;
  }
}

async function checkElfMagic(file: string): Promise<BigIntStats> {
  let st: BigIntStats;
  try {
    st = await stat(file, { bigint: true });
  } catch (err) {
    throw notFoundOr(err, file, "file");
  }
  if (!st.isFile())
    throw new BadElfError(file, `${file} is not a regular file, so it cannot be run`, "not-file");
  const magic = Buffer.alloc(4);
  try {
    const fh = await open(file, "r");
    try {
      await fh.read(magic, 0, 4, 0);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new ImageBuildError(`cannot read file ${file}: ${fsErrorReason(err)}`);
  }
  if (!magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])))
    throw new BadElfError(file, `${file} is not an ELF executable`, "not-elf");
  return st;
}

/**
 * Plans the image for one ELF program: the program as `/<basename>` (mode 0755) in a minimal
 * root with empty /tmp (1777), /dev, /proc and /etc; for a dynamic program also its
 * interpreter at its PT_INTERP path and the shared libraries it needs, recursively, each at
 * the path the guest's loader will open (src/lib/ldso.ts), host symlinks on those paths kept
 * as symlinks, plus the loader's configuration file when the guest needs it. Owners are 0:0
 * and timestamps 0. Reads only headers and dynamic sections; runs nothing.
 * @param display how messages name the program (default: the path given).
 * @throws BadElfError for a missing interpreter or library (every one listed, with what needs
 *   it) or a malformed dynamic section; ImageBuildError when the files cannot share one tree.
 */
export async function planElfImage(
  file: string,
  opts: PlanElfOptions & { display?: string } = {},
): Promise<ElfImagePlan> {
  const st = await checkElfMagic(file);
  const name = basename(file);
  if (name in ELF_ROOT_DIRS)
    throw new ImageBuildError(
      `cannot pack ${file}: its name "${name}" clashes with the /${name} directory of the image; rename or copy it`,
    );
  const execPath = `/${name}`;
  const tree = new PlannedTree(file);
  for (const [d, mode] of Object.entries(ELF_ROOT_DIRS))
    tree.root.entries.set(d, dirNode({ mode, ...NODE_META }));

  const obj = inspectElfObjectFile(file);
  let resolution: Resolution | undefined;
  if (obj.elf.ok && obj.elf.linkage === "dynamic") {
    const display = opts.display ?? file;
    if (!obj.dynamic?.ok) {
      const why = obj.dynamic && !obj.dynamic.ok ? obj.dynamic.detail : "is unusable";
      throw new BadElfError(
        file,
        `${display} ${why}`,
        obj.dynamic?.ok === false ? obj.dynamic.problem : "corrupt",
      );
    }
    resolution = resolveDynamicProgram(file, execPath, display, obj.elf, obj.dynamic, opts);
    // Host paths first (they form a consistent subset of the host's tree), the program,
    // then what lives under the program's $ORIGIN in the image.
    tree.mirror(resolution.interpreter.hostPath);
    for (const f of resolution.configFiles) tree.mirror(f);
    const relocated = [];
    for (const lib of resolution.libraries) {
      if (lib.hostPath === lib.guestPath) tree.mirror(lib.hostPath);
      else relocated.push(lib);
    }
    if (tree.root.entries.has(name))
      throw new ImageBuildError(
        `cannot pack ${file}: its name "${name}" clashes with /${name} of the image, which ` +
          `holds the libraries it needs; rename or copy it`,
      );
    tree.addFile(execPath, file, 0o755);
    for (const lib of relocated) tree.relocate(lib.guestPath, lib.hostPath);
  } else {
    tree.addFile(execPath, file, 0o755);
  }
  // The program's own stat is the one checked before packing.
  tree.sources.set(file, { ino: st.ino, mtimeNs: st.mtimeNs, size: st.size });

  const plan: ElfImagePlan = {
    file,
    execPath,
    linkage: resolution ? "dynamic" : "static",
    entries: tree.entries(),
    root: tree.root,
    sources: tree.sources,
  };
  if (resolution) plan.resolution = resolution;
  return plan;
}

/**
 * Builds (or finds in the cache) the image of a plan from planElfImage.
 *
 * Cache key: for a static program, the program's name and contents (as before); for a
 * dynamic one, every entry of the image in path order: path, type, mode, symlink target and
 * the sha256 of each file's contents. All timestamps are 0, so the image depends only on
 * that. If a host file changes between hashing and writing, the image is discarded.
 */
export async function packPlannedElf(
  plan: ElfImagePlan,
  cacheDir: string,
): Promise<PackedImage & { execPath: string }> {
  const h = createHash("sha256");
  const contentOf = async (host: string): Promise<string> => {
    try {
      return await sha256File(host);
    } catch (err) {
      throw new ImageBuildError(`cannot read file ${host}: ${fsErrorReason(err)}`);
    }
  };
  if (plan.linkage === "static") {
    hashFields(h, PACKER_FORMAT_VERSION, "elf", basename(plan.file), await contentOf(plan.file));
  } else {
    hashFields(h, PACKER_FORMAT_VERSION, "elf-dynamic");
    for (const e of plan.entries) {
      const content = e.kind === "file" && e.host !== undefined ? await contentOf(e.host) : "";
      hashFields(h, e.path, e.kind, e.mode, e.target ?? "", content);
    }
  }
  const packed = await buildCached(cacheDir, h.digest("hex"), plan.root, 0);

  // The image was written from the files after hashing them: make sure none changed in
  // between, or the cache would hold the wrong contents under this key.
  if (!packed.cached) {
    for (const [host, before] of plan.sources) {
      const after = await stat(host, { bigint: true }).catch(() => undefined);
      if (
        !after ||
        after.ino !== before.ino ||
        after.mtimeNs !== before.mtimeNs ||
        after.size !== before.size
      ) {
        await rm(packed.erofsPath, { force: true });
        throw new ImageBuildError(`${host} changed while it was being packed; try again`);
      }
    }
  }
  return { ...packed, execPath: plan.execPath };
}

/**
 * Packs one ELF program into an image (see planElfImage for what the image holds and
 * packPlannedElf for the cache key). A static program gives `/<basename>` in a minimal root;
 * a dynamic one also gets its interpreter and libraries from the host. Only the ELF magic is
 * required of a static program; whether it can run is checked elsewhere.
 */
export async function packElf(
  file: string,
  cacheDir: string,
  opts: PlanElfOptions & { display?: string } = {},
): Promise<PackedImage & { execPath: string }> {
  return packPlannedElf(await planElfImage(file, opts), cacheDir);
}
