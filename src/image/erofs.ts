/**
 * EROFS image writer (uncompressed, 4 KiB blocks), pure TypeScript, no root, no external tool.
 *
 * The caller describes a file tree in memory (`TreeNode`); `writeErofs` lays it out and
 * streams it to an image file. File contents come from a host path or a Buffer and are
 * copied in chunks, so a multi-GB root file system never sits in memory; only metadata
 * (inodes, directory blocks) is built in memory.
 *
 * Image layout produced (what the libOS may rely on):
 *
 *   block 0 ..        metadata area (meta_blkaddr = 0): bytes 0..1023 zero, superblock at
 *                     1024 (128 bytes), then inodes from byte 1152 (root nid = 36), each in a
 *                     32-byte aligned slot (nid = byte offset / 32), BFS order, children of a
 *                     directory in name order. An inode never crosses a block boundary, nor
 *                     does its inline tail.
 *   next blocks       full blocks of directories and long symlinks
 *   next blocks       regular file data: every regular file is FLAT_PLAIN, one contiguous
 *                     run of blocks starting on a 4096-byte boundary (offset 0 of the file is
 *                     block aligned, the last block is zero-padded); empty files have none.
 *
 * Directories and symlinks are FLAT_INLINE (full blocks at raw_blkaddr, the last partial
 * block packed right after the inode and its xattrs) when the tail fits in that block,
 * FLAT_PLAIN otherwise. Inodes are compact (32 bytes) when uid/gid/nlink fit 16 bits, size
 * fits 32 bits and mtime equals the superblock build time; extended (64 bytes) otherwise.
 * xattrs are inline (an ibody header and entries right after the inode, i_xattr_icount
 * saying how long), never shared. No compression, superblock crc32c checksum set
 * (EROFS_FEATURE_COMPAT_SB_CHKSUM).
 */
import { open, rm, stat, type FileHandle } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { dirname } from "node:path";
import { UnoError } from "../lib/errors.js";
import { diskFullError, freeSpace, StoreFullError } from "../lib/store.js";

/** Failure while building an image; the message names the path and the cause. */
export class ImageBuildError extends UnoError {
  constructor(message: string) {
    super("IMAGE_BUILD", message);
  }
}

// ---------------------------------------------------------------------------------------
// Tree API

/** Metadata shared by every node. Missing fields get defaults (see each node kind). */
export interface NodeMeta {
  /** Permission bits including setuid/setgid/sticky (0o7777); the file type is implied by `kind`. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Modification time, whole seconds since the epoch (may be negative). Default: build time. */
  mtime?: number;
  /** Nanoseconds part of the modification time, 0..999999999. Default 0. */
  mtimeNsec?: number;
  /**
   * Extended attributes by full name ("user.mime", "security.capability"), stored inline
   * after the inode; the namespaces EROFS encodes are those xattrPrefix accepts.
   */
  xattrs?: Record<string, Uint8Array>;
}

/** A directory; default mode 0755. Entry names are UTF-8 strings, 1..255 bytes, no "/" or NUL. */
export interface DirNode extends NodeMeta {
  kind: "dir";
  entries: Map<string, TreeNode>;
}

/** Where a regular file's bytes come from. */
export type FileSource = { path: string } | { data: Uint8Array };

/**
 * A regular file; default mode 0644. The same FileNode object placed under several names
 * is one inode with several hard links (nlink = number of names).
 * `size` may be given for path sources to avoid a stat; the copy fails if the file no
 * longer has that size when it is read.
 */
export interface FileNode extends NodeMeta {
  kind: "file";
  source: FileSource;
  size?: number;
}

/** A symbolic link; default mode 0777. Target: 1..4095 bytes, no NUL. */
export interface SymlinkNode extends NodeMeta {
  kind: "symlink";
  target: string | Uint8Array;
}

/** Character or block device; default mode 0600. */
export interface DeviceNode extends NodeMeta {
  kind: "chardev" | "blockdev";
  major: number;
  minor: number;
}

/** FIFO or socket; default mode 0644. */
export interface SpecialNode extends NodeMeta {
  kind: "fifo" | "socket";
}

export type TreeNode = DirNode | FileNode | SymlinkNode | DeviceNode | SpecialNode;

/** A new empty directory node. */
export function dirNode(meta: NodeMeta = {}): DirNode {
  return { kind: "dir", entries: new Map(), ...meta };
}

/** A regular file node whose contents are read from `path` when the image is written. */
export function hostFileNode(path: string, meta: NodeMeta & { size?: number } = {}): FileNode {
  return { kind: "file", source: { path }, ...meta };
}

/** A regular file node with in-memory contents. */
export function dataFileNode(data: Uint8Array | string, meta: NodeMeta = {}): FileNode {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  return { kind: "file", source: { data: bytes }, ...meta };
}

/** A symlink node. */
export function symlinkNode(target: string | Uint8Array, meta: NodeMeta = {}): SymlinkNode {
  return { kind: "symlink", target, ...meta };
}

/**
 * Checks that `name` can be a directory entry name and returns its bytes.
 * Throws ImageBuildError otherwise; `where` is used in the message.
 */
export function validateEntryName(name: string, where = "/"): Buffer {
  const bytes = Buffer.from(name, "utf8");
  if (name.length === 0) throw new ImageBuildError(`empty file name in directory ${where}`);
  if (name === "." || name === "..")
    throw new ImageBuildError(`invalid file name "${name}" in directory ${where}`);
  if (name.includes("/") || name.includes("\0"))
    throw new ImageBuildError(
      `invalid file name ${JSON.stringify(name)} in directory ${where}: names cannot contain "/" or NUL`,
    );
  if (bytes.toString("utf8") !== name)
    throw new ImageBuildError(
      `invalid file name ${JSON.stringify(name)} in directory ${where}: not valid Unicode`,
    );
  if (bytes.length > MAX_NAME_LEN)
    throw new ImageBuildError(
      `file name too long in directory ${where}: ${bytes.length} bytes (the limit is ${MAX_NAME_LEN}): ${name.slice(0, 40)}...`,
    );
  return bytes;
}

/**
 * Adds `node` to `dir` under `name` (validated). Throws if the name is taken, unless
 * `replace` is set.
 */
export function addEntry(dir: DirNode, name: string, node: TreeNode, replace = false): void {
  validateEntryName(name);
  if (!replace && dir.entries.has(name))
    throw new ImageBuildError(`duplicate directory entry "${name}"`);
  dir.entries.set(name, node);
}

/** Human-readable reason for a Node fs error ("permission denied", ...). */
export function fsErrorReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  switch (e?.code) {
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "ENOENT":
      return "no such file or directory";
    case "ENOTDIR":
      return "a component of the path is not a directory";
    case "EISDIR":
      return "is a directory";
    case "ELOOP":
      return "too many levels of symbolic links";
    case "EMFILE":
    case "ENFILE":
      return "too many open files";
    case "ENOSPC":
      return "no space left on device";
    case "EDQUOT":
      return "disk quota exceeded";
    case "EROFS":
      return "read-only file system";
    case "EIO":
      return "input/output error";
    case "ENAMETOOLONG":
      return "file name too long";
    default:
      return e instanceof Error ? e.message : String(err);
  }
}

/**
 * How EROFS names an xattr: a namespace index and the rest of the name (the suffix); the
 * POSIX ACLs are whole names with an empty suffix. Undefined for names EROFS cannot hold
 * (other namespaces, an empty suffix).
 */
export function xattrPrefix(name: string): { index: number; suffix: string } | undefined {
  const whole = XATTR_WHOLE_NAMES[name];
  if (whole !== undefined) return { index: whole, suffix: "" };
  for (const [prefix, index] of XATTR_PREFIXES)
    if (name.startsWith(prefix) && name.length > prefix.length)
      return { index, suffix: name.slice(prefix.length) };
  return undefined;
}

// ---------------------------------------------------------------------------------------
// On-disk constants

/** The namespace indexes of erofs_xattr_entry.e_name_index. */
const XATTR_PREFIXES: [string, number][] = [
  ["user.", 1],
  ["trusted.", 4],
  ["lustre.", 5],
  ["security.", 6],
];
const XATTR_WHOLE_NAMES: Record<string, number> = {
  "system.posix_acl_access": 2,
  "system.posix_acl_default": 3,
};
/** erofs_xattr_ibody_header: name filter (u32), shared count (u8), 7 reserved bytes. */
const XATTR_IBODY_HEADER = 12;
/** erofs_xattr_entry before its name: name length (u8), index (u8), value size (u16). */
const XATTR_ENTRY_HEADER = 4;

export const EROFS_BLOCK_SIZE = 4096;
const BLKSZBITS = 12;
const BLOCK = EROFS_BLOCK_SIZE;
export const EROFS_SUPER_MAGIC = 0xe0f5e1e2;
const SB_OFFSET = 1024;
const SB_SIZE = 128;
const FEATURE_COMPAT_SB_CHKSUM = 0x1;
const INODE_SLOT = 32;
const COMPACT_SIZE = 32;
const EXTENDED_SIZE = 64;
const DIRENT_SIZE = 12;
const MAX_NAME_LEN = 255;
const MAX_SYMLINK_LEN = 4095;

const LAYOUT_FLAT_PLAIN = 0;
const LAYOUT_FLAT_INLINE = 2;

const S_IFSOCK = 0o140000;
const S_IFLNK = 0o120000;
const S_IFREG = 0o100000;
const S_IFBLK = 0o060000;
const S_IFDIR = 0o040000;
const S_IFCHR = 0o020000;
const S_IFIFO = 0o010000;

const FT_REG = 1;
const FT_DIR = 2;
const FT_CHR = 3;
const FT_BLK = 4;
const FT_FIFO = 5;
const FT_SOCK = 6;
const FT_SYMLINK = 7;

const KIND_INFO: Record<TreeNode["kind"], { ifmt: number; ft: number; mode: number }> = {
  file: { ifmt: S_IFREG, ft: FT_REG, mode: 0o644 },
  dir: { ifmt: S_IFDIR, ft: FT_DIR, mode: 0o755 },
  chardev: { ifmt: S_IFCHR, ft: FT_CHR, mode: 0o600 },
  blockdev: { ifmt: S_IFBLK, ft: FT_BLK, mode: 0o600 },
  fifo: { ifmt: S_IFIFO, ft: FT_FIFO, mode: 0o644 },
  socket: { ifmt: S_IFSOCK, ft: FT_SOCK, mode: 0o644 },
  symlink: { ifmt: S_IFLNK, ft: FT_SYMLINK, mode: 0o777 },
};

// ---------------------------------------------------------------------------------------
// crc32c (Castagnoli, reflected polynomial 0x82F63B78), no final inversion, as EROFS uses.

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** Raw crc32c register update (caller chooses seed and final xor). */
export function crc32c(seed: number, data: Uint8Array): number {
  let crc = seed >>> 0;
  for (let i = 0; i < data.length; i++) crc = CRC32C_TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return crc >>> 0;
}

// ---------------------------------------------------------------------------------------
// Layout planning

interface DirEnt {
  name: Buffer;
  ino: Ino;
}

/** One inode being laid out. */
interface Ino {
  node: TreeNode;
  /** First path at which the node was found (for messages). */
  path: string;
  /** 1-based inode number (i_ino). */
  ino: number;
  nlink: number;
  size: number;
  mtimeSec: number;
  mtimeNsec: number;
  uid: number;
  gid: number;
  extended: boolean;
  /** Bytes of data stored inline right after the inode (FLAT_INLINE), 0 for FLAT_PLAIN. */
  tailLen: number;
  nid: number;
  blkaddr: number;
  /** Data blocks outside the metadata area. */
  nblocks: number;
  parent?: Ino;
  ents?: DirEnt[];
  /** For directories: index into ents of the first entry of each block. */
  dirStarts?: number[];
  /** For symlinks: target bytes. */
  link?: Buffer;
  /** The inline xattr area after the inode (encodeXattrs), empty when there are none. */
  xattrs: Buffer;
}

export interface WriteErofsOptions {
  /** Superblock build time (seconds). Default: the most common mtime in the tree (maximizes compact inodes). */
  buildTime?: number;
  /** Nanoseconds part of the build time. Default 0 when buildTime is given. */
  buildTimeNsec?: number;
  /** 16-byte volume UUID. Default: random. */
  uuid?: Uint8Array;
  /** Volume label, at most 16 bytes of UTF-8. */
  volumeName?: string;
  /** fsync the image before returning. Default false. */
  fsync?: boolean;
  /** How many files are copied concurrently. Default 8. */
  concurrency?: number;
}

export interface WriteErofsResult {
  /** Image size in bytes (a multiple of 4096). */
  bytes: number;
  /** Number of inodes. */
  inodes: number;
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function joinPath(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

function checkU32(v: number, what: string, path: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new ImageBuildError(`${what} of ${path} must be an integer in 0..4294967295, got ${v}`);
}

/** Splits sorted dirents into self-contained blocks; returns block starts and the dir size. */
function planDirBlocks(ents: DirEnt[]): { starts: number[]; size: number } {
  const starts: number[] = [];
  let used = BLOCK;
  for (let i = 0; i < ents.length; i++) {
    const need = DIRENT_SIZE + ents[i]!.name.length;
    if (used + need > BLOCK) {
      starts.push(i);
      used = 0;
    }
    used += need;
  }
  return { starts, size: (starts.length - 1) * BLOCK + used };
}

function buildDirContent(ino: Ino): Buffer {
  const ents = ino.ents!;
  const starts = ino.dirStarts!;
  const buf = Buffer.alloc(starts.length * BLOCK);
  for (let b = 0; b < starts.length; b++) {
    const first = starts[b]!;
    const end = b + 1 < starts.length ? starts[b + 1]! : ents.length;
    const base = b * BLOCK;
    let nameoff = (end - first) * DIRENT_SIZE;
    for (let i = first; i < end; i++) {
      const e = ents[i]!;
      const d = base + (i - first) * DIRENT_SIZE;
      buf.writeBigUInt64LE(BigInt(e.ino.nid), d);
      buf.writeUInt16LE(nameoff, d + 8);
      buf.writeUInt8(KIND_INFO[e.ino.node.kind].ft, d + 10);
      buf.writeUInt8(0, d + 11);
      e.name.copy(buf, base + nameoff);
      nameoff += e.name.length;
    }
  }
  return buf.subarray(0, ino.size);
}

const DOT = Buffer.from(".");
const DOTDOT = Buffer.from("..");

/** Walks the tree breadth-first, creating one Ino per distinct node object. */
function collect(root: TreeNode): Ino[] {
  if (root.kind !== "dir") throw new ImageBuildError("the root of an image must be a directory");
  const seen = new Map<TreeNode, Ino>();
  const order: Ino[] = [];
  const make = (node: TreeNode, path: string): Ino => {
    const ino: Ino = {
      node,
      path,
      ino: order.length + 1,
      nlink: 1,
      size: 0,
      mtimeSec: 0,
      mtimeNsec: 0,
      uid: node.uid ?? 0,
      gid: node.gid ?? 0,
      extended: false,
      tailLen: 0,
      nid: 0,
      blkaddr: 0,
      nblocks: 0,
      xattrs: encodeXattrs(node.xattrs, path),
    };
    checkU32(ino.uid, "uid", path);
    checkU32(ino.gid, "gid", path);
    if (node.mode !== undefined && (!Number.isInteger(node.mode) || node.mode & ~0o7777))
      throw new ImageBuildError(
        `mode of ${path} must contain permission bits only (0..0o7777), got 0o${node.mode.toString(8)}`,
      );
    seen.set(node, ino);
    order.push(ino);
    return ino;
  };
  const rootIno = make(root, "/");
  rootIno.parent = rootIno;
  for (let q = 0; q < order.length; q++) {
    const d = order[q]!;
    if (d.node.kind !== "dir") continue;
    const children: { name: Buffer; str: string; node: TreeNode }[] = [];
    for (const [str, node] of d.node.entries)
      children.push({ name: validateEntryName(str, d.path), str, node });
    children.sort((a, b) => Buffer.compare(a.name, b.name));
    const ents: DirEnt[] = [
      { name: DOT, ino: d },
      { name: DOTDOT, ino: d.parent! },
    ];
    let subdirs = 0;
    for (const c of children) {
      const path = joinPath(d.path, c.str);
      let ci = seen.get(c.node);
      if (ci) {
        if (c.node.kind === "dir")
          throw new ImageBuildError(
            `directory ${ci.path} also appears at ${path}: directories cannot be hard-linked`,
          );
        ci.nlink++;
      } else {
        ci = make(c.node, path);
        if (c.node.kind === "dir") {
          ci.parent = d;
          subdirs++;
        }
      }
      ents.push({ name: c.name, ino: ci });
    }
    ents.sort((a, b) => Buffer.compare(a.name, b.name));
    d.nlink = 2 + subdirs;
    d.ents = ents;
    const plan = planDirBlocks(ents);
    d.dirStarts = plan.starts;
    d.size = plan.size;
  }
  return order;
}

async function computeSizes(order: Ino[]): Promise<void> {
  for (const ino of order) {
    const node = ino.node;
    if (node.kind === "file") {
      if ("data" in node.source) {
        ino.size = node.source.data.length;
        if (node.size !== undefined && node.size !== ino.size)
          throw new ImageBuildError(
            `file ${ino.path}: size ${node.size} given but its data has ${ino.size} bytes`,
          );
      } else if (node.size !== undefined) {
        ino.size = node.size;
      } else {
        try {
          ino.size = (await stat(node.source.path)).size;
        } catch (err) {
          throw new ImageBuildError(
            `cannot read file ${node.source.path} (for ${ino.path} in the image): ${fsErrorReason(err)}`,
          );
        }
      }
      if (!Number.isSafeInteger(ino.size) || ino.size < 0)
        throw new ImageBuildError(`file ${ino.path}: invalid size ${ino.size}`);
    } else if (node.kind === "symlink") {
      const t =
        typeof node.target === "string"
          ? Buffer.from(node.target, "utf8")
          : Buffer.from(node.target);
      if (t.length === 0 || t.length > MAX_SYMLINK_LEN || t.includes(0))
        throw new ImageBuildError(
          `symlink ${ino.path}: target must be 1..${MAX_SYMLINK_LEN} bytes without NUL (got ${t.length} bytes)`,
        );
      ino.link = t;
      ino.size = t.length;
    } else if (node.kind === "chardev" || node.kind === "blockdev") {
      if (!Number.isInteger(node.major) || node.major < 0 || node.major > 0xfff)
        throw new ImageBuildError(`device ${ino.path}: major ${node.major} out of range 0..4095`);
      if (!Number.isInteger(node.minor) || node.minor < 0 || node.minor > 0xfffff)
        throw new ImageBuildError(
          `device ${ino.path}: minor ${node.minor} out of range 0..1048575`,
        );
    }
  }
}

/** Picks the build time: explicit, else the most frequent mtime, else now. */
function chooseBuildTime(order: Ino[], opts: WriteErofsOptions): { sec: number; nsec: number } {
  if (opts.buildTime !== undefined) return { sec: opts.buildTime, nsec: opts.buildTimeNsec ?? 0 };
  const counts = new Map<string, { sec: number; nsec: number; n: number }>();
  let best: { sec: number; nsec: number; n: number } | undefined;
  for (const { node } of order) {
    if (node.mtime === undefined) continue;
    const nsec = node.mtimeNsec ?? 0;
    const key = `${node.mtime}:${nsec}`;
    let c = counts.get(key);
    if (!c) counts.set(key, (c = { sec: node.mtime, nsec, n: 0 }));
    c.n++;
    if (!best || c.n > best.n) best = c;
  }
  return best ?? { sec: Math.floor(Date.now() / 1000), nsec: 0 };
}

/**
 * The inline xattr area of an inode: the ibody header (no shared xattrs; the name filter is
 * left 0, "may be present", and the superblock does not claim the filter feature), then one
 * erofs_xattr_entry per xattr (name suffix, value), each padded to 4 bytes. Sorted by index
 * and suffix so the same tree gives the same bytes.
 */
function encodeXattrs(xattrs: Record<string, Uint8Array> | undefined, where: string): Buffer {
  const names = Object.keys(xattrs ?? {});
  if (names.length === 0) return Buffer.alloc(0);
  const entries = names
    .map((name) => {
      const p = xattrPrefix(name);
      if (!p)
        throw new ImageBuildError(
          `xattr "${name}" of ${where}: EROFS holds only user.*, trusted.*, security.*, lustre.* and POSIX ACLs`,
        );
      const suffix = Buffer.from(p.suffix, "utf8");
      const value = xattrs![name]!;
      if (suffix.length > 255 || value.length > 0xffff)
        throw new ImageBuildError(
          `xattr "${name}" of ${where}: names are at most 255 bytes after the namespace, values 65535 bytes`,
        );
      return { index: p.index, suffix, value };
    })
    .sort((a, b) => a.index - b.index || Buffer.compare(a.suffix, b.suffix));
  const size = entries.reduce(
    (n, e) => n + alignUp(XATTR_ENTRY_HEADER + e.suffix.length + e.value.length, 4),
    XATTR_IBODY_HEADER,
  );
  if (xattrIcount(size) > 0xffff)
    throw new ImageBuildError(`the xattrs of ${where} are too large for an inode (${size} bytes)`);
  const buf = Buffer.alloc(size);
  let o = XATTR_IBODY_HEADER;
  for (const e of entries) {
    buf.writeUInt8(e.suffix.length, o);
    buf.writeUInt8(e.index, o + 1);
    buf.writeUInt16LE(e.value.length, o + 2);
    e.suffix.copy(buf, o + XATTR_ENTRY_HEADER);
    buf.set(e.value, o + XATTR_ENTRY_HEADER + e.suffix.length);
    o += alignUp(XATTR_ENTRY_HEADER + e.suffix.length + e.value.length, 4);
  }
  return buf;
}

/** i_xattr_icount for an xattr area of `size` bytes: the header counts as one 4-byte unit. */
function xattrIcount(size: number): number {
  return size === 0 ? 0 : (size - XATTR_IBODY_HEADER) / 4 + 1;
}

function isInlineCandidate(ino: Ino): boolean {
  return ino.node.kind === "dir" || ino.node.kind === "symlink";
}

/** Assigns nids (metadata area layout) and data blocks; returns the total block count. */
function layout(order: Ino[]): { metaBlocks: number; totalBlocks: number } {
  let pos = SB_OFFSET + SB_SIZE;
  for (const ino of order) {
    // The inode and its xattrs; an inline tail must follow them within the same block.
    const isize = (ino.extended ? EXTENDED_SIZE : COMPACT_SIZE) + ino.xattrs.length;
    let tail = 0;
    if (isInlineCandidate(ino)) {
      const r = ino.size % BLOCK;
      if (r !== 0 && isize + r <= BLOCK) {
        const off = pos % BLOCK;
        if (off + isize + r <= BLOCK) {
          tail = r;
        } else if (r <= off) {
          // Skipping to the next block wastes (BLOCK - off) bytes; storing the tail in a
          // data block instead wastes (BLOCK - r). Take the cheaper.
          pos = alignUp(pos, BLOCK);
          tail = r;
        }
      }
    }
    if ((pos % BLOCK) + isize > BLOCK) pos = alignUp(pos, BLOCK);
    ino.tailLen = tail;
    ino.nid = pos / INODE_SLOT;
    pos = alignUp(pos + isize + tail, INODE_SLOT);
  }
  const metaBlocks = Math.ceil(pos / BLOCK);
  let blk = metaBlocks;
  for (const ino of order) {
    if (!isInlineCandidate(ino)) continue;
    ino.nblocks = ino.tailLen ? Math.floor(ino.size / BLOCK) : Math.ceil(ino.size / BLOCK);
    ino.blkaddr = ino.nblocks ? blk : 0;
    blk += ino.nblocks;
  }
  for (const ino of order) {
    if (ino.node.kind !== "file") continue;
    ino.nblocks = Math.ceil(ino.size / BLOCK);
    ino.blkaddr = ino.nblocks ? blk : 0;
    blk += ino.nblocks;
  }
  if (blk > 0xffffffff)
    throw new ImageBuildError(`image too large: ${blk} blocks (the limit is 2^32 - 1 blocks)`);
  return { metaBlocks, totalBlocks: blk };
}

function writeInode(meta: Buffer, ino: Ino): void {
  const node = ino.node;
  const info = KIND_INFO[node.kind];
  const mode = info.ifmt | ((node.mode ?? info.mode) & 0o7777);
  const layoutKind = ino.tailLen ? LAYOUT_FLAT_INLINE : LAYOUT_FLAT_PLAIN;
  let iu = ino.blkaddr;
  if (node.kind === "chardev" || node.kind === "blockdev")
    iu = ((node.minor & 0xff) | (node.major << 8) | ((node.minor & ~0xff) << 12)) >>> 0;
  const off = ino.nid * INODE_SLOT;
  const icount = xattrIcount(ino.xattrs.length);
  ino.xattrs.copy(meta, off + (ino.extended ? EXTENDED_SIZE : COMPACT_SIZE));
  if (!ino.extended) {
    meta.writeUInt16LE((layoutKind << 1) | 0, off);
    meta.writeUInt16LE(icount, off + 2); // i_xattr_icount
    meta.writeUInt16LE(mode, off + 4);
    meta.writeUInt16LE(ino.nlink, off + 6);
    meta.writeUInt32LE(ino.size, off + 8);
    meta.writeUInt32LE(0, off + 12);
    meta.writeUInt32LE(iu, off + 16);
    meta.writeUInt32LE(ino.ino >>> 0, off + 20);
    meta.writeUInt16LE(ino.uid, off + 24);
    meta.writeUInt16LE(ino.gid, off + 26);
    meta.writeUInt32LE(0, off + 28);
  } else {
    meta.writeUInt16LE((layoutKind << 1) | 1, off);
    meta.writeUInt16LE(icount, off + 2);
    meta.writeUInt16LE(mode, off + 4);
    meta.writeUInt16LE(0, off + 6);
    meta.writeBigUInt64LE(BigInt(ino.size), off + 8);
    meta.writeUInt32LE(iu, off + 16);
    meta.writeUInt32LE(ino.ino >>> 0, off + 20);
    meta.writeUInt32LE(ino.uid, off + 24);
    meta.writeUInt32LE(ino.gid, off + 28);
    meta.writeBigUInt64LE(BigInt.asUintN(64, BigInt(ino.mtimeSec)), off + 32);
    meta.writeUInt32LE(ino.mtimeNsec, off + 40);
    meta.writeUInt32LE(ino.nlink, off + 44);
    // 48..63 reserved, already zero
  }
}

function writeSuperblock(
  meta: Buffer,
  f: {
    rootNid: number;
    inos: number;
    buildTime: { sec: number; nsec: number };
    blocks: number;
    uuid: Uint8Array;
    volumeName: Buffer;
  },
): void {
  const o = SB_OFFSET;
  meta.writeUInt32LE(EROFS_SUPER_MAGIC, o);
  meta.writeUInt32LE(0, o + 4); // checksum, filled below
  meta.writeUInt32LE(FEATURE_COMPAT_SB_CHKSUM, o + 8);
  meta.writeUInt8(BLKSZBITS, o + 12);
  meta.writeUInt8(0, o + 13); // sb_extslots
  meta.writeUInt16LE(f.rootNid, o + 14);
  meta.writeBigUInt64LE(BigInt(f.inos), o + 16);
  meta.writeBigUInt64LE(BigInt.asUintN(64, BigInt(f.buildTime.sec)), o + 24);
  meta.writeUInt32LE(f.buildTime.nsec, o + 32);
  meta.writeUInt32LE(f.blocks, o + 36);
  meta.writeUInt32LE(0, o + 40); // meta_blkaddr
  meta.writeUInt32LE(0, o + 44); // xattr_blkaddr
  Buffer.from(f.uuid).copy(meta, o + 48, 0, 16);
  f.volumeName.copy(meta, o + 64, 0, 16);
  meta.writeUInt32LE(0, o + 80); // feature_incompat
  // Checksum: crc32c seeded with ~0 over the rest of block 0 from the superblock on,
  // with the checksum field zero.
  const crc = crc32c(0xffffffff, meta.subarray(SB_OFFSET, BLOCK));
  meta.writeUInt32LE(crc, o + 4);
}

// ---------------------------------------------------------------------------------------
// Writing

async function writeAll(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten === 0) throw new Error("short write");
    done += bytesWritten;
  }
}

const COPY_CHUNK = 1 << 20;

/** Copies one path-sourced file into the image at its data blocks, checking its size. */
async function copyFile(out: FileHandle, ino: Ino, srcPath: string, buf: Buffer): Promise<void> {
  let src: FileHandle;
  try {
    src = await open(srcPath, "r");
  } catch (err) {
    throw new ImageBuildError(
      `cannot read file ${srcPath} (for ${ino.path} in the image): ${fsErrorReason(err)}`,
    );
  }
  const changed = (): ImageBuildError =>
    new ImageBuildError(
      `file ${srcPath} changed size while the image was being built (expected ${ino.size} bytes); retry when it is no longer being written`,
    );
  try {
    const base = ino.blkaddr * BLOCK;
    let copied = 0;
    let eofSeen = false;
    while (!eofSeen) {
      // Ask for one byte more than what is left: a short read proves end of file.
      const want = Math.min(buf.length, ino.size - copied + 1);
      let n: number;
      try {
        n = (await src.read(buf, 0, want, copied)).bytesRead;
      } catch (err) {
        throw new ImageBuildError(`cannot read file ${srcPath}: ${fsErrorReason(err)}`);
      }
      if (copied + n > ino.size) throw changed();
      if (n < want) {
        eofSeen = true;
        if (copied + n !== ino.size) throw changed();
      }
      if (n > 0) await writeAll(out, buf.subarray(0, n), base + copied);
      copied += n;
    }
  } finally {
    await src.close();
  }
}

/**
 * Writes `root` as an EROFS image to `outPath` (created or truncated). On failure the
 * partial output is removed. Throws ImageBuildError with an actionable message.
 */
export async function writeErofs(
  root: TreeNode,
  outPath: string,
  opts: WriteErofsOptions = {},
): Promise<WriteErofsResult> {
  const order = collect(root);
  await computeSizes(order);

  const bt = chooseBuildTime(order, opts);
  if (
    !Number.isSafeInteger(bt.sec) ||
    !Number.isInteger(bt.nsec) ||
    bt.nsec < 0 ||
    bt.nsec > 999_999_999
  )
    throw new ImageBuildError(`invalid build time ${bt.sec}.${bt.nsec}`);
  for (const ino of order) {
    const n = ino.node;
    ino.mtimeSec = n.mtime ?? bt.sec;
    ino.mtimeNsec = n.mtime === undefined ? bt.nsec : (n.mtimeNsec ?? 0);
    if (!Number.isSafeInteger(ino.mtimeSec))
      throw new ImageBuildError(`mtime of ${ino.path} must be an integer number of seconds`);
    if (!Number.isInteger(ino.mtimeNsec) || ino.mtimeNsec < 0 || ino.mtimeNsec > 999_999_999)
      throw new ImageBuildError(`mtimeNsec of ${ino.path} must be in 0..999999999`);
    ino.extended =
      ino.uid > 0xffff ||
      ino.gid > 0xffff ||
      ino.nlink > 0xffff ||
      ino.size > 0xffffffff ||
      ino.mtimeSec !== bt.sec ||
      ino.mtimeNsec !== bt.nsec;
    if (ino.nlink > 0xffffffff) throw new ImageBuildError(`too many links to ${ino.path}`);
  }

  const { metaBlocks, totalBlocks } = layout(order);
  const rootNid = order[0]!.nid;
  if (rootNid > 0xffff) throw new ImageBuildError("internal error: root nid does not fit 16 bits");

  const volumeName = Buffer.from(opts.volumeName ?? "", "utf8");
  if (volumeName.length > 16)
    throw new ImageBuildError(`volume name "${opts.volumeName}" is longer than 16 bytes`);
  const uuid = opts.uuid ?? randomBytes(16);
  if (uuid.length !== 16) throw new ImageBuildError("volume uuid must be 16 bytes");

  // A full file system is reported before writing rather than after filling it.
  const bytes = totalBlocks * BLOCK;
  const free = freeSpace(dirname(outPath));
  if (free !== undefined && free < bytes)
    throw new StoreFullError(`cannot write image file ${outPath}`, dirname(outPath), bytes, free);
  let out: FileHandle;
  try {
    out = await open(outPath, "w");
  } catch (err) {
    throw new ImageBuildError(`cannot create image file ${outPath}: ${fsErrorReason(err)}`);
  }
  let ok = false;
  try {
    const meta = Buffer.alloc(metaBlocks * BLOCK);
    for (const ino of order) {
      writeInode(meta, ino);
      const node = ino.node;
      if (node.kind !== "dir" && node.kind !== "symlink") continue;
      const content = node.kind === "dir" ? buildDirContent(ino) : ino.link!;
      const full = ino.nblocks * BLOCK;
      if (ino.tailLen) {
        content.copy(
          meta,
          ino.nid * INODE_SLOT + (ino.extended ? EXTENDED_SIZE : COMPACT_SIZE) + ino.xattrs.length,
          full,
        );
        if (full) await writeAll(out, content.subarray(0, full), ino.blkaddr * BLOCK);
      } else {
        await writeAll(out, content, ino.blkaddr * BLOCK);
      }
    }
    writeSuperblock(meta, {
      rootNid,
      inos: order.length,
      buildTime: bt,
      blocks: totalBlocks,
      uuid,
      volumeName,
    });
    await writeAll(out, meta, 0);

    // File contents: a few copies in flight, each at its own block range. Empty files
    // from the host are opened too, so an unreadable or growing one is reported.
    const files = order.filter(
      (i) => i.node.kind === "file" && (i.size > 0 || "path" in i.node.source),
    );
    let next = 0;
    let failure: unknown;
    const worker = async (): Promise<void> => {
      const buf = Buffer.allocUnsafe(COPY_CHUNK);
      while (failure === undefined && next < files.length) {
        const ino = files[next++]!;
        const src = (ino.node as FileNode).source;
        try {
          if ("data" in src) await writeAll(out, src.data, ino.blkaddr * BLOCK);
          else await copyFile(out, ino, src.path, buf);
        } catch (err) {
          failure ??= err;
        }
      }
    };
    const workers = Math.max(1, Math.min(opts.concurrency ?? 8, files.length));
    await Promise.all(Array.from({ length: workers }, worker));
    if (failure !== undefined) throw failure;

    await out.truncate(totalBlocks * BLOCK);
    if (opts.fsync) await out.sync();
    ok = true;
  } catch (err) {
    if (err instanceof UnoError) throw err;
    const what = `cannot write image file ${outPath}`;
    throw (
      diskFullError(err, dirname(outPath), what, bytes) ??
      new ImageBuildError(`${what}: ${fsErrorReason(err)}`)
    );
  } finally {
    await out.close().catch(() => undefined);
    if (!ok) await rm(outPath, { force: true }).catch(() => undefined);
  }
  return { bytes, inodes: order.length };
}
