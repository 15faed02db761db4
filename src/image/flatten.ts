/**
 * Flattening: an image's layers (tar, tar+gzip, tar+zstd) applied in order into one TreeNode tree, then
 * written once as EROFS with src/image/erofs.ts.
 *
 * Each layer is first read into a tree of its own (LayerDir): its entries, its whiteouts
 * (`.wh.NAME`) and opaque markers (`.wh..wh..opq`), so whiteouts hide only lower layers,
 * whatever the order of entries inside the tar. The layer is then merged onto the tree of
 * the layers below. Hard links are resolved after the merge (their target may be in a lower
 * layer). File contents are streamed to a staging directory and the tree points at those
 * files, so memory holds metadata only: a header claiming 10 GiB costs nothing until 10 GiB
 * of data really arrive (and sparse files, which could claim more than they carry, are
 * refused).
 *
 * Refused, naming the layer digest and the entry: absolute paths and `..`, entries whose
 * parent is a symlink (in this layer or below) or a file, hard links to missing files,
 * directories or through symlinks, sparse files.
 * Devices, FIFOs and sockets are skipped with a warning (the guest's /dev is the libOS's).
 * xattrs (PAX SCHILY.xattr records) are kept where EROFS can hold them (LayerReader.meta).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { PassThrough, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import * as tar from "tar-stream";
import { UnoError } from "../lib/errors.js";
import { BadLayerError, DigestMismatchError, TruncatedBlobError } from "../lib/image-errors.js";
import { diskFullError, formatSize, type Store } from "../lib/store.js";
import {
  dirNode,
  hostFileNode,
  symlinkNode,
  validateEntryName,
  xattrPrefix,
  type DirNode,
  type NodeMeta,
  type TreeNode,
} from "./erofs.js";
import { layerCompression, type Compression, type Descriptor } from "./oci.js";
import { PaxTap } from "./pax.js";
import { zstdDecompressor, ZstdError } from "./zstd.js";

/** The fields of tar-stream's header uno reads (pax: the entry's PAX records). */
export interface TarHeader {
  name: string;
  size?: number;
  mode?: number;
  mtime?: Date;
  type?: string | null;
  linkname?: string | null;
  uid?: number;
  gid?: number;
  pax?: Record<string, string> | null;
}

/** A directory as one layer describes it. */
interface LayerDir {
  kind: "ldir";
  /** Set when the layer has an entry for the directory itself. */
  meta?: NodeMeta;
  opaque: boolean;
  whiteouts: Set<string>;
  entries: Map<string, LayerDir | TreeNode>;
}

interface PendingLink {
  path: string[];
  target: string[];
  entry: string;
}

const newLayerDir = (): LayerDir => ({
  kind: "ldir",
  opaque: false,
  whiteouts: new Set(),
  entries: new Map(),
});

export interface FlattenOptions {
  onWarning?: (message: string) => void;
}

/** Splits a tar entry name into components; throws for absolute paths and "..". */
function components(name: string, layer: string): string[] {
  const parts = name.split("/").filter((c) => c !== "" && c !== ".");
  // "/" alone is the root directory (umoci writes it so); any other absolute name is refused.
  if (name.startsWith("/") && parts.length > 0)
    throw new BadLayerError(
      layer,
      name,
      "absolute path: entries must be relative to the image root",
    );
  if (parts.includes("..")) throw new BadLayerError(layer, name, '".." would leave the image root');
  for (const c of parts) {
    try {
      validateEntryName(c, name);
    } catch (err) {
      throw new BadLayerError(layer, name, (err as Error).message);
    }
  }
  return parts;
}

/** The PAX record prefix of an xattr (its full name follows). */
const PAX_XATTR = "SCHILY.xattr.";

/** mtime (seconds, nanoseconds) of a header; PAX's fractional mtime when present. */
function mtimeOf(h: TarHeader): {
  mtime: number;
  mtimeNsec: number;
} {
  const pax = h.pax?.mtime;
  if (pax !== undefined && /^-?\d+(\.\d+)?$/.test(pax)) {
    const [s, frac = ""] = pax.split(".");
    return { mtime: Number(s), mtimeNsec: Number((frac + "000000000").slice(0, 9)) };
  }
  return { mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000), mtimeNsec: 0 };
}

function metaOf(h: TarHeader): NodeMeta {
  const num = (pax: string | undefined, v: number | undefined): number =>
    pax !== undefined && /^\d+$/.test(pax) ? Number(pax) : (v ?? 0);
  return {
    mode: (h.mode ?? 0) & 0o7777,
    uid: num(h.pax?.uid, h.uid),
    gid: num(h.pax?.gid, h.gid),
    ...mtimeOf(h),
  };
}

/**
 * Reads one layer's tar into a LayerDir, checking each path against the tree below (`lower`).
 */
class LayerReader {
  readonly root = newLayerDir();
  readonly links: PendingLink[] = [];
  private fileCount = 0;

  constructor(
    private readonly layer: string,
    /** The layer's position: staged file names are unique across layers. */
    private readonly index: number,
    private readonly lower: DirNode,
    private readonly staging: string,
    private readonly warn: (m: string) => void,
    /** The raw PAX headers of the layer's tar, entry by entry. */
    private readonly pax: PaxTap,
  ) {}

  /** The layer directory that will hold `parts`' last component, made as needed. */
  private parentDir(parts: string[], entry: string): LayerDir {
    let ldir = this.root;
    let low: TreeNode | undefined = this.lower;
    for (const [i, c] of parts.slice(0, -1).entries()) {
      const at = parts.slice(0, i + 1).join("/");
      const mine = ldir.entries.get(c);
      // What the layers below have here, unless this layer hid it.
      const hidden = ldir.opaque || ldir.whiteouts.has(c);
      const below: TreeNode | undefined =
        low?.kind === "dir" && !hidden ? low.entries.get(c) : undefined;
      if (mine !== undefined && mine.kind !== "ldir")
        throw new BadLayerError(
          this.layer,
          entry,
          `its parent ${at} is a ${mine.kind} in this layer`,
        );
      if (mine === undefined && below !== undefined && below.kind !== "dir")
        throw new BadLayerError(
          this.layer,
          entry,
          below.kind === "symlink"
            ? `its parent ${at} is a symlink in a lower layer: writing through it could leave the image root`
            : `its parent ${at} is a ${below.kind} in a lower layer`,
        );
      let next = mine;
      if (next === undefined) {
        next = newLayerDir();
        ldir.entries.set(c, next);
      }
      ldir = next;
      low = below;
    }
    return ldir;
  }

  /**
   * The entry's metadata with its xattrs: PAX `SCHILY.xattr.NAME` records (GNU tar, Go's
   * archive/tar, so docker and buildkit), with binary values taken from `raw` (PaxTap:
   * tar-stream decodes PAX values as UTF-8). Names EROFS cannot hold and values that could
   * not be read exactly are skipped with a warning, never stored wrong.
   */
  private meta(h: TarHeader, entry: string, raw: Map<string, Buffer> | undefined): NodeMeta {
    const meta = metaOf(h);
    const xattrs: Record<string, Uint8Array> = {};
    for (const [key, value] of Object.entries(h.pax ?? {})) {
      if (!key.startsWith(PAX_XATTR)) continue;
      const name = key.slice(PAX_XATTR.length);
      // The raw bytes (PaxTap) when they are this very record: they decode to tar-stream's
      // value. Otherwise the decoded value, unless decoding lost bytes (U+FFFD).
      const bytes = raw?.get(key);
      const exact =
        bytes !== undefined && bytes.toString("utf8") === value
          ? bytes
          : value.includes("\ufffd")
            ? undefined
            : Buffer.from(value, "utf8");
      const why = !xattrPrefix(name)
        ? "EROFS holds only user.*, trusted.*, security.*, lustre.* and POSIX ACLs"
        : exact === undefined
          ? "its binary value could not be read exactly"
          : undefined;
      if (why) this.warn(`layer ${this.layer}: ${entry}: skipping xattr ${name}: ${why}`);
      else xattrs[name] = exact!;
    }
    if (Object.keys(xattrs).length > 0) meta.xattrs = xattrs;
    return meta;
  }

  async add(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    // Taken first, whatever becomes of the entry: one PAX item per entry, in order.
    const raw = this.pax.next();
    const entry = h.name;
    if (h.pax && Object.keys(h.pax).some((k) => k.startsWith("GNU.sparse.")))
      throw new BadLayerError(
        this.layer,
        entry,
        "sparse files are not supported (re-create the layer without --sparse)",
      );
    if (h.type === null || h.type === undefined)
      throw new BadLayerError(
        this.layer,
        entry,
        "unsupported tar entry type (GNU sparse or unknown)",
      );
    const parts = components(entry, this.layer);
    if (parts.length === 0) {
      if (h.type === "directory") this.root.meta = this.meta(h, entry, raw);
      return;
    }
    const name = parts[parts.length - 1]!;
    const dir = this.parentDir(parts, entry);
    if (name === ".wh..wh..opq") {
      dir.opaque = true;
      return;
    }
    if (name.startsWith(".wh.")) {
      const hidden = name.slice(4);
      components(hidden, this.layer);
      dir.whiteouts.add(hidden);
      return;
    }
    switch (h.type) {
      case "directory": {
        const existing = dir.entries.get(name);
        const d = existing?.kind === "ldir" ? existing : newLayerDir();
        d.meta = this.meta(h, entry, raw);
        dir.entries.set(name, d);
        return;
      }
      case "file":
      case "contiguous-file": {
        const file = path.join(this.staging, `${this.index}-${this.fileCount++}`);
        const size = await writeStaged(file, body).catch((err: unknown) => {
          const what = `layer ${this.layer}: cannot unpack ${JSON.stringify(entry)} (${formatSize(h.size ?? 0)})`;
          throw diskFullError(err, path.dirname(this.staging), what) ?? err;
        });
        dir.entries.set(name, hostFileNode(file, { ...this.meta(h, entry, raw), size }));
        return;
      }
      case "symlink": {
        const target = h.linkname ?? "";
        if (target === "" || target.includes("\0"))
          throw new BadLayerError(this.layer, entry, "empty symlink target");
        dir.entries.set(name, symlinkNode(target, this.meta(h, entry, raw)));
        return;
      }
      case "link": {
        const target = components(h.linkname ?? "", this.layer);
        if (target.length === 0)
          throw new BadLayerError(this.layer, entry, "hard link to the root directory");
        this.links.push({ path: parts, target, entry });
        dir.entries.delete(name);
        return;
      }
      case "character-device":
      case "block-device":
      case "fifo":
        // A root's /dev holds device nodes (debootstrap makes them); the guest's /dev is the
        // libOS's own, so leaving those out is expected and not worth a warning.
        if (parts[0] === "dev" && h.type !== "fifo") return;
        this.warn(
          `layer ${this.layer}: skipping ${h.type} /${parts.join("/")}: it cannot be stored in the image`,
        );
        return;
      default:
        throw new BadLayerError(this.layer, entry, `unsupported tar entry type ${h.type}`);
    }
  }
}

/** Streams an entry's data to `file`; returns the bytes written (what arrived, not the header's claim). */
async function writeStaged(file: string, body: AsyncIterable<Buffer>): Promise<number> {
  const fh = await fsp.open(file, "wx", 0o600);
  let size = 0;
  try {
    for await (const chunk of body) {
      await fh.write(chunk);
      size += chunk.length;
    }
  } finally {
    await fh.close();
  }
  return size;
}

/** Applies a layer (read by LayerReader) onto `lower`. */
function merge(lower: DirNode, up: LayerDir): void {
  if (up.opaque) lower.entries.clear();
  for (const n of up.whiteouts) lower.entries.delete(n);
  if (up.meta) Object.assign(lower, up.meta);
  for (const [name, child] of up.entries) {
    if (child.kind === "ldir") {
      let d = lower.entries.get(name);
      if (d?.kind !== "dir") {
        d = dirNode({ mode: 0o755, uid: 0, gid: 0 });
        lower.entries.set(name, d);
      }
      merge(d, child);
    } else {
      lower.entries.set(name, child);
    }
  }
}

/** The node at `parts` in `root` without following symlinks; the error names the problem. */
function lookup(root: DirNode, parts: string[]): TreeNode | string {
  let d: TreeNode = root;
  for (const [i, c] of parts.entries()) {
    if (d.kind !== "dir")
      return d.kind === "symlink"
        ? `${parts.slice(0, i).join("/")} is a symlink: a link through it could leave the image root`
        : `${parts.slice(0, i).join("/")} is not a directory`;
    const next: TreeNode | undefined = d.entries.get(c);
    if (next === undefined) return `${parts.join("/")} does not exist`;
    d = next;
  }
  return d;
}

function resolveLinks(root: DirNode, links: PendingLink[], layer: string): void {
  for (const l of links) {
    const target = lookup(root, l.target);
    if (typeof target === "string")
      throw new BadLayerError(layer, l.entry, `hard link target ${target}`);
    if (target.kind !== "file")
      throw new BadLayerError(layer, l.entry, `hard link to a ${target.kind}`);
    const parent = lookup(root, l.path.slice(0, -1));
    if (typeof parent === "string" || parent.kind !== "dir")
      throw new BadLayerError(layer, l.entry, "the link's directory is gone");
    parent.entries.set(l.path[l.path.length - 1]!, target);
  }
}

/** Hashes what passes through (a layer's uncompressed tar: its diff_id). */
function hasher(h: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      cb(null, chunk);
    },
  });
}

/** The stream that turns a layer blob into its tar. */
function decompressor(c: Compression, what: string): NodeJS.ReadWriteStream {
  if (c === "gzip") return createGunzip();
  if (c === "zstd") return zstdDecompressor(what);
  return new PassThrough();
}

/** Applies one layer blob onto `root`. */
async function applyLayer(
  store: Store,
  root: DirNode,
  d: Descriptor,
  diffId: string,
  index: number,
  staging: string,
  warn: (m: string) => void,
): Promise<void> {
  const compression = layerCompression(d.mediaType, `layer ${d.digest}`);
  const pax = new PaxTap();
  const reader = new LayerReader(d.digest, index, root, staging, warn, pax);
  const h = createHash("sha256");
  const extract = tar.extract();
  const stages = [
    fs.createReadStream(store.blobPath(d.digest)),
    decompressor(compression, `layer ${d.digest}`),
    hasher(h),
    pax,
  ];
  const flowing = pipeline([...stages, extract as unknown as NodeJS.WritableStream]);
  flowing.catch(() => undefined);
  try {
    for await (const entry of extract) {
      await reader.add(
        entry.header as unknown as TarHeader,
        entry as unknown as AsyncIterable<Buffer>,
      );
      entry.resume();
    }
    await flowing;
  } catch (err) {
    extract.destroy();
    // When zstd fails, the extractor only sees its input stop: the pipeline has the cause.
    const cause: unknown = await flowing.then(
      () => undefined,
      (e: unknown) => e,
    );
    const e = cause instanceof ZstdError ? cause : err;
    if (e instanceof UnoError) throw e;
    const msg = (e as Error).message;
    // The tar or gzip stream ended early (the extractor reports it as destroyed or ended).
    if (/unexpected end|premature|destroyed|incorrect header|invalid/i.test(msg))
      throw new TruncatedBlobError(`layer ${d.digest}`, msg);
    throw e;
  }
  const actual = `sha256:${h.digest("hex")}`;
  if (actual !== diffId)
    throw new DigestMismatchError(`uncompressed layer ${d.digest}`, diffId, actual);
  merge(root, reader.root);
  resolveLinks(root, reader.links, d.digest);
}

/**
 * Builds the root tree of an image from its layers (and their diff_ids). File nodes point at
 * files under `staging`, which must outlive the EROFS write.
 */
export async function flattenLayers(
  store: Store,
  layers: Descriptor[],
  diffIds: string[],
  staging: string,
  opts: FlattenOptions = {},
): Promise<DirNode> {
  const warn = opts.onWarning ?? ((m: string) => process.stderr.write(`uno: warning: ${m}\n`));
  const root = dirNode({ mode: 0o755, uid: 0, gid: 0 });
  for (const [i, l] of layers.entries())
    await applyLayer(store, root, l, diffIds[i]!, i, staging, warn);
  return root;
}

/** What `uno run` needs from an image's root without reading the EROFS image. */
export interface RootSummary {
  /** Contents of /etc/passwd and /etc/group when they are regular files. */
  passwd?: string;
  group?: string;
  /** Every non-directory path ("/usr/bin/env") → "f" + octal mode, or "l" + symlink target; directories "d". */
  paths: Record<string, string>;
}

/** Summarizes a flattened tree (see RootSummary). */
export function summarize(root: DirNode): RootSummary {
  const paths: Record<string, string> = {};
  const walk = (d: DirNode, at: string): void => {
    for (const [name, n] of d.entries) {
      const p = `${at}/${name}`;
      if (n.kind === "dir") {
        paths[p] = "d";
        walk(n, p);
      } else if (n.kind === "file") paths[p] = `f${(n.mode ?? 0o644).toString(8)}`;
      else if (n.kind === "symlink") paths[p] = `l${String(n.target)}`;
    }
  };
  walk(root, "");
  const out: RootSummary = { paths };
  const text = (p: string): string | undefined => {
    const n = lookup(root, p.split("/").filter(Boolean));
    return typeof n !== "string" && n.kind === "file" && "path" in n.source
      ? fs.readFileSync(n.source.path, "utf8")
      : undefined;
  };
  const passwd = text("/etc/passwd");
  const group = text("/etc/group");
  if (passwd !== undefined) out.passwd = passwd;
  if (group !== undefined) out.group = group;
  return out;
}
