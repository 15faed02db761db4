/**
 * Layers `uno build` makes: a list of entries (from the build context, another stage's tree,
 * a local tar, or the writable layer a RUN left) written as a tar with tar-stream, hashed
 * (the diff_id), gzipped and stored with the store's blob API.
 *
 * The writable layer of an instance holds what the guest changed, OCI-style: whiteouts are
 * `.wh.NAME` files and opaque directories hold `.wh..wh..opq`, so they are copied as they
 * are. What the host file cannot carry — the owner the guest gave it and its set-ID bits — is
 * in the `user.uno.attr` xattr ("uid:gid:special", special in octal); Node has no xattr API,
 * so one `getfattr -R` over the layer reads them all.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { PassThrough, Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import * as tar from "tar-stream";
import type { Store } from "../lib/store.js";
import type { DirNode, FileNode, TreeNode } from "../image/erofs.js";
import { MT, type Descriptor } from "../image/oci.js";
import { LayerReadError } from "./errors.js";

/** One tar entry of a layer; `name` relative to the image root, no leading "/". */
export interface LayerEntry {
  name: string;
  type: "file" | "directory" | "symlink" | "link" | "fifo";
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Symlink target, or the name a hard link ("link") points to. */
  linkname?: string;
  /** A file's bytes: a host file, bytes in memory, or a stream of `size` bytes. */
  source?: { path: string } | { data: Uint8Array } | { stream: Readable };
  size?: number;
}

/** A stored layer: its blob descriptor and the digest of its uncompressed tar. */
export interface StoredLayer {
  descriptor: Descriptor;
  diffId: string;
}

/**
 * Writes `entries` as a gzipped tar layer into the store.
 * @param what names the layer in messages ("layer of step 3").
 */
export async function storeLayer(
  store: Store,
  entries: AsyncIterable<LayerEntry> | Iterable<LayerEntry>,
  what: string,
): Promise<StoredLayer> {
  const pack = tar.pack();
  const h = createHash("sha256");
  const hash = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      cb(null, chunk);
    },
  });
  const gz = new PassThrough();
  const piped = pipeline(pack, hash, createGzip({ level: 6 }), gz);
  const stored = store.putBlob(gz, { what });
  const produce = async (): Promise<void> => {
    for await (const e of entries) await addEntry(pack, e);
    pack.finalize();
  };
  const [, , r] = await Promise.all([
    produce().catch((err: unknown) => {
      pack.destroy(err as Error);
      throw err;
    }),
    piped,
    stored,
  ]);
  return {
    descriptor: { mediaType: MT.ociLayerGzip, digest: r.digest, size: r.size },
    diffId: `sha256:${h.digest("hex")}`,
  };
}

/** Adds one entry to `pack`, resolving once its data is written. */
function addEntry(pack: tar.Pack, e: LayerEntry): Promise<void> {
  const header: Parameters<tar.Pack["entry"]>[0] = {
    name: e.type === "directory" ? `${e.name}/` : e.name,
    type: e.type,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    mtime: new Date(e.mtime * 1000),
  };
  if (e.linkname !== undefined) header.linkname = e.linkname;
  return new Promise<void>((resolve, reject) => {
    if (e.type !== "file" || e.source === undefined) {
      pack.entry({ ...header, size: 0 }, (err) => (err ? reject(err) : resolve()));
      return;
    }
    if ("data" in e.source) {
      pack.entry({ ...header, size: e.source.data.length }, Buffer.from(e.source.data), (err) =>
        err ? reject(err) : resolve(),
      );
      return;
    }
    const input = "path" in e.source ? fs.createReadStream(e.source.path) : e.source.stream;
    const size = e.size ?? ("path" in e.source ? fs.statSync(e.source.path).size : 0);
    const w = pack.entry({ ...header, size }, (err) => (err ? reject(err) : resolve()));
    input.on("error", reject).pipe(w);
  });
}

// ---------------------------------------------------------------------------------------
// The writable layer of a RUN

/** Decodes getfattr's octal escapes ("\012", "\134") of odd bytes in file names. */
function unescapeGetfattr(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length;) {
    const m = /^\\([0-7]{3})/.exec(s.slice(i, i + 4));
    if (m) {
      bytes.push(parseInt(m[1]!, 8));
      i += 4;
    } else {
      const cp = s.codePointAt(i)!;
      bytes.push(...Buffer.from(String.fromCodePoint(cp), "utf8"));
      i += cp > 0xffff ? 2 : 1;
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** user.uno.attr of every file under `dir` that has one: absolute path → [uid, gid, special]. */
export function readUnoAttrs(dir: string): Map<string, [number, number, number]> {
  const r = spawnSync(
    "getfattr",
    ["-R", "-P", "-h", "--absolute-names", "-d", "-m", "^user\\.uno\\.attr$", "-e", "text", dir],
    { encoding: "utf8", maxBuffer: 1 << 30 },
  );
  if (r.error)
    throw new LayerReadError(
      `cannot read the owners the guest set (getfattr: ${r.error.message}); install Debian's "attr" package`,
    );
  if (r.status !== 0 && r.stderr.trim() !== "")
    throw new LayerReadError(`getfattr failed on ${dir}: ${r.stderr.trim()}`);
  const out = new Map<string, [number, number, number]>();
  let file: string | undefined;
  for (const line of r.stdout.split("\n")) {
    if (line.startsWith("# file: ")) file = unescapeGetfattr(line.slice(8));
    const m = /^user\.uno\.attr="(\d+):(\d+):([0-7]+)"$/.exec(line);
    if (m && file !== undefined)
      out.set(file, [Number(m[1]), Number(m[2]), parseInt(m[3]!, 8) & 0o6000]);
  }
  return out;
}

/**
 * The entries of a writable layer, parents before children, names sorted (so the same
 * changes give the same tar). Files sharing an inode become one file and hard links to it.
 * Sockets cannot be in a layer and are skipped with a warning.
 */
export function* upperEntries(upper: string, warn: (m: string) => void): Generator<LayerEntry> {
  const attrs = readUnoAttrs(upper);
  const inodes = new Map<string, string>();
  function* walk(dir: string, rel: string): Generator<LayerEntry> {
    for (const name of fs.readdirSync(dir).sort()) {
      const host = path.join(dir, name);
      const entryName = rel === "" ? name : `${rel}/${name}`;
      const st = fs.lstatSync(host);
      const [uid, gid, special] = attrs.get(host) ?? [0, 0, 0];
      const base = {
        name: entryName,
        mode: (st.mode & 0o1777) | special,
        uid,
        gid,
        mtime: Math.floor(st.mtimeMs / 1000),
      };
      if (st.isDirectory()) {
        yield { ...base, type: "directory" };
        yield* walk(host, entryName);
      } else if (st.isSymbolicLink()) {
        // Symlinks cannot carry user xattrs: root-owned, as the guest saw them.
        yield {
          ...base,
          type: "symlink",
          mode: 0o777,
          uid: 0,
          gid: 0,
          linkname: fs.readlinkSync(host),
        };
      } else if (st.isFile()) {
        const ino = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? inodes.get(ino) : undefined;
        if (first !== undefined) yield { ...base, type: "link", linkname: first };
        else {
          if (st.nlink > 1) inodes.set(ino, entryName);
          yield { ...base, type: "file", source: { path: host }, size: st.size };
        }
      } else if (st.isFIFO()) {
        yield { ...base, type: "fifo" };
      } else {
        warn(`skipping /${entryName}: a socket or device cannot be stored in a layer`);
      }
    }
  }
  yield* walk(upper, "");
}

// ---------------------------------------------------------------------------------------
// Trees of other stages (COPY --from), flattened by flatten.ts

/**
 * The entries for copying `node` (a flattened tree's file, symlink or directory) to `dest`:
 * a directory's contents go below `dest`, which itself is left to the builder (an existing
 * one keeps its mode and owner). One FileNode under several names was one inode: the first
 * name is a file, the others hard links to it. `over` changes owner and mode (--chown,
 * --chmod).
 */
export function* treeEntries(node: TreeNode, dest: string, over: Ownership): Generator<LayerEntry> {
  const links = new Map<FileNode, string>();
  if (node.kind !== "dir") return yield* nodeEntries(node, dest, over, links);
  for (const [name, child] of sortedEntries(node))
    yield* nodeEntries(child, dest === "" ? name : `${dest}/${name}`, over, links);
}

const sortedEntries = (d: DirNode): [string, TreeNode][] =>
  [...d.entries].sort(([a], [b]) => (a < b ? -1 : 1));

/** `node` itself at `dest`, and for a directory everything below it. */
function* nodeEntries(
  node: TreeNode,
  dest: string,
  over: Ownership,
  links: Map<FileNode, string>,
): Generator<LayerEntry> {
  const meta = (n: TreeNode, dflt: number): Omit<LayerEntry, "name" | "type"> =>
    applyOwnership(
      { mode: n.mode ?? dflt, uid: n.uid ?? 0, gid: n.gid ?? 0, mtime: n.mtime ?? 0 },
      over,
    );
  if (node.kind === "dir") {
    yield { name: dest, type: "directory", ...meta(node, 0o755) };
    for (const [name, child] of sortedEntries(node))
      yield* nodeEntries(child, `${dest}/${name}`, over, links);
  } else if (node.kind === "file") {
    const first = links.get(node);
    if (first !== undefined) {
      yield { name: dest, type: "link", linkname: first, ...meta(node, 0o644) };
      return;
    }
    links.set(node, dest);
    const e: LayerEntry = { name: dest, type: "file", ...meta(node, 0o644), source: node.source };
    if (node.size !== undefined) e.size = node.size;
    yield e;
  } else if (node.kind === "symlink") {
    const target =
      typeof node.target === "string" ? node.target : Buffer.from(node.target).toString();
    yield { name: dest, type: "symlink", ...meta(node, 0o777), mode: 0o777, linkname: target };
  } else if (node.kind === "fifo") {
    yield { name: dest, type: "fifo", ...meta(node, 0o644) };
  }
}

/** --chown (uid, gid) and --chmod (mode) of COPY/ADD. */
export interface Ownership {
  uid?: number;
  gid?: number;
  mode?: number;
}

export function applyOwnership<T extends { mode: number; uid: number; gid: number }>(
  e: T,
  over: Ownership,
): T {
  return {
    ...e,
    ...(over.uid !== undefined ? { uid: over.uid } : {}),
    ...(over.gid !== undefined ? { gid: over.gid } : {}),
    ...(over.mode !== undefined ? { mode: over.mode } : {}),
  };
}
