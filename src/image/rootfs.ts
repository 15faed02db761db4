/**
 * Packers: a host directory or a single static ELF file -> EROFS root image, cached by key
 * under `<cacheDir>/images/<sha256 hex>.erofs`.
 *
 * Images are published atomically (written to a temporary file in the same directory,
 * fsynced, then renamed), so a reader never sees a partial image and two concurrent
 * packers of the same input simply both produce the same file.
 */
import { createHash, randomBytes, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, mkdir, open, readdir, readlink, rename, rm, stat } from "node:fs/promises";
import type { BigIntStats } from "node:fs";
import { basename, join } from "node:path";
import { BadElfError, TargetNotFoundError } from "../lib/errors.js";
import {
  ImageBuildError,
  dirNode,
  fsErrorReason,
  hostFileNode,
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

async function sha256File(path: string): Promise<string> {
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

/**
 * Packs one static ELF executable as `/<basename>` (mode 0755, owner 0:0) in a minimal root
 * with empty /tmp (1777), /dev, /proc and /etc. All timestamps are 0 (the epoch), so the
 * image depends only on the file name and contents, which form the cache key.
 * Only the ELF magic is checked here; whether the program can run is checked elsewhere.
 */
export async function packElf(
  file: string,
  cacheDir: string,
): Promise<PackedImage & { execPath: string }> {
  let st: BigIntStats;
  try {
    st = await stat(file, { bigint: true });
  } catch (err) {
    throw notFoundOr(err, file, "file");
  }
  if (!st.isFile())
    throw new BadElfError(file, `${file} is not a regular file, so it cannot be run`, "not-file");
  const name = basename(file);
  if (name in ELF_ROOT_DIRS)
    throw new ImageBuildError(
      `cannot pack ${file}: its name "${name}" clashes with the /${name} directory of the image; rename or copy it`,
    );

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

  let contentHex: string;
  try {
    contentHex = await sha256File(file);
  } catch (err) {
    throw new ImageBuildError(`cannot read file ${file}: ${fsErrorReason(err)}`);
  }
  const h = createHash("sha256");
  hashFields(h, PACKER_FORMAT_VERSION, "elf", name, contentHex);
  const hex = h.digest("hex");
  const execPath = `/${name}`;

  const root = dirNode({ mode: 0o755, uid: 0, gid: 0, mtime: 0 });
  for (const [d, mode] of Object.entries(ELF_ROOT_DIRS))
    root.entries.set(d, dirNode({ mode, uid: 0, gid: 0, mtime: 0 }));
  root.entries.set(
    name,
    hostFileNode(file, { mode: 0o755, uid: 0, gid: 0, mtime: 0, size: Number(st.size) }),
  );
  const packed = await buildCached(cacheDir, hex, root, 0);

  // The image was written from the file after hashing it: make sure it did not change
  // in between, or the cache would hold the wrong contents under this key.
  if (!packed.cached) {
    const after = await stat(file, { bigint: true }).catch(() => undefined);
    if (!after || after.ino !== st.ino || after.mtimeNs !== st.mtimeNs || after.size !== st.size) {
      await rm(packed.erofsPath, { force: true });
      throw new ImageBuildError(`${file} changed while it was being packed; try again`);
    }
  }
  return { ...packed, execPath };
}
