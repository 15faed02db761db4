/**
 * The image store: a content-addressed blob store plus an index of images and tags, under
 * <uno home>/store (paths.ts; $UNO_HOME is respected):
 *
 *   blobs/sha256/<hex>     manifests, configs and layers, named by the sha256 of their bytes
 *   erofs/<hex>.erofs      flattened root file systems, one per image (see image.ts)
 *   erofs/<hex>.json       what run needs from that root without reading it (users, paths)
 *   index.json             { images: { manifest digest → entry }, tags: { ref → manifest digest } }
 *   lock                   held (O_EXCL file with the holder's pid) while the index changes
 *   tmp/                   files being written; renamed into place once complete and fsynced
 *
 *   tmp/download-<hex>     a registry download of blob <hex>, kept when a pull is interrupted
 *                          (killed, Ctrl-C, broken connection) so the next pull continues it
 *
 * Every file appears by rename(2) of a complete, fsynced temporary file, so a full disk or a
 * killed process leaves at most a stray tmp/ file (removed by prune), never a partial blob,
 * image or index. Blobs are verified before they are renamed into place: a stored blob always
 * matches its name. Loads hold the lock from their first blob to their index update, so
 * prune never removes a blob a load has written but not yet referenced.
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { DigestMismatchError, StoreError, TruncatedBlobError } from "./image-errors.js";
import * as paths from "./paths.js";

/** One image in the index, keyed by its manifest digest. */
export interface IndexImage {
  /** The config blob's digest: docker's image ID. */
  config: string;
  /** When the image entered the store (ISO 8601). */
  added: string;
}

export interface StoreIndex {
  version: 1;
  images: Record<string, IndexImage>;
  /** Normalized reference ("docker.io/library/busybox:latest") → manifest digest. */
  tags: Record<string, string>;
}

export interface PutBlobResult {
  digest: string;
  size: number;
  /** False when the store already had the blob. */
  created: boolean;
}

export interface Expected {
  digest?: string;
  size?: number;
  /** How messages name the blob ("layer.tar in busybox.tar"). */
  what: string;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

/** Bytes for people: "1.2MB" (docker's decimal units). */
export function formatSize(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)}${units[i]}`;
}

/**
 * The file system holding the store (or another of uno's files) is full: says how much was
 * free, and how much the write needed when that is known, and what to do.
 */
export class StoreFullError extends StoreError {
  constructor(
    what: string,
    readonly dir: string,
    readonly needed: number | undefined,
    readonly free: number | undefined,
  ) {
    const sizes = [
      free !== undefined ? `${formatSize(free)} free` : "",
      needed !== undefined ? `${formatSize(needed)} needed` : "",
    ].filter((x) => x !== "");
    super(
      `${what}: the file system holding ${dir} is full` +
        (sizes.length > 0 ? ` (${sizes.join(", ")})` : "") +
        `; free some space ` +
        `(uno image prune removes unused images' files) or set UNO_HOME to a directory on a larger file system`,
    );
  }
}

/** Free bytes for an unprivileged writer on the file system of `dir`; undefined if unknown. */
export function freeSpace(dir: string): number | undefined {
  try {
    const st = fs.statfsSync(dir);
    return st.bavail * st.bsize;
  } catch {
    return undefined;
  }
}

/**
 * A StoreFullError for a write into `dir` that failed with ENOSPC or EDQUOT (undefined for
 * other errors); `needed` is the size of what was being written, when known.
 */
export function diskFullError(
  err: unknown,
  dir: string,
  what: string,
  needed?: number,
): StoreFullError | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== "ENOSPC" && code !== "EDQUOT") return undefined;
  return new StoreFullError(what, dir, needed, freeSpace(dir));
}

/**
 * Maps a failed write to an error that says what to do (ENOSPC, EACCES...); `dir` is where
 * the write went, `needed` its size when known.
 */
function storeFailure(err: unknown, what: string, dir: string, needed?: number): Error {
  if (err instanceof StoreError || err instanceof DigestMismatchError) return err;
  if (err instanceof TruncatedBlobError) return err;
  const full = diskFullError(err, dir, what, needed);
  if (full) return full;
  const e = err as NodeJS.ErrnoException;
  if (e.code === "EACCES" || e.code === "EPERM" || e.code === "EROFS")
    return new StoreError(`${what}: permission denied (${e.message}); check $UNO_HOME`);
  return err instanceof Error ? err : new StoreError(`${what}: ${String(err)}`);
}

function emptyIndex(): StoreIndex {
  return { version: 1, images: {}, tags: {} };
}

/** Names of registry downloads in tmp/ (see Store.download): no pid, they outlive their writer. */
export const DOWNLOAD_PREFIX = "download-";

/** How long a lock held by a live process is waited for before giving up. */
const LOCK_TIMEOUT_MS = 10 * 60_000;

export class Store {
  readonly dir: string;
  readonly blobsDir: string;
  readonly erofsDir: string;
  readonly tmpDir: string;
  readonly indexPath: string;
  readonly lockPath: string;
  private lockDepth = 0;

  constructor(dir: string) {
    this.dir = path.resolve(dir);
    this.blobsDir = path.join(this.dir, "blobs", "sha256");
    this.erofsDir = path.join(this.dir, "erofs");
    this.tmpDir = path.join(this.dir, "tmp");
    this.indexPath = path.join(this.dir, "index.json");
    this.lockPath = path.join(this.dir, "lock");
  }

  /** The store under uno's home ($UNO_HOME/store). */
  static open(env: NodeJS.ProcessEnv = process.env): Store {
    return new Store(path.join(paths.unoHome(env), "store"));
  }

  private ensureDirs(): void {
    try {
      for (const d of [this.blobsDir, this.erofsDir, this.tmpDir])
        fs.mkdirSync(d, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw storeFailure(err, `cannot create the image store in ${this.dir}`, this.dir);
    }
  }

  /** A fresh temporary path inside the store (same file system as its final place). */
  tempPath(hint = "tmp"): string {
    this.ensureDirs();
    return path.join(this.tmpDir, `${hint}-${process.pid}-${randomBytes(8).toString("hex")}`);
  }

  blobPath(digest: string): string {
    if (!isDigest(digest)) throw new StoreError(`invalid digest "${digest}"`);
    return path.join(this.blobsDir, digest.slice("sha256:".length));
  }

  hasBlob(digest: string): boolean {
    try {
      return fs.statSync(this.blobPath(digest)).isFile();
    } catch {
      return false;
    }
  }

  blobSize(digest: string): number {
    return fs.statSync(this.blobPath(digest)).size;
  }

  /**
   * Streams `source` into the store under the sha256 of its bytes. With `expected.digest`
   * (and `size`), a blob that hashes differently (or is shorter/longer) is discarded and
   * DigestMismatchError/TruncatedBlobError thrown; nothing partial is ever left in blobs/.
   */
  async putBlob(
    source: AsyncIterable<unknown> | Iterable<unknown>,
    expected: Expected,
  ): Promise<PutBlobResult> {
    const tmp = this.tempPath("blob");
    const h = createHash("sha256");
    let size = 0;
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(tmp, "wx", 0o644);
      for await (const chunk of source) {
        const buf = chunk as Uint8Array;
        h.update(buf);
        size += buf.length;
        if (expected.size !== undefined && size > expected.size) break;
        await fh.write(buf);
      }
      const digest = `sha256:${h.digest("hex")}`;
      if (expected.size !== undefined && size !== expected.size) {
        throw size < expected.size
          ? new TruncatedBlobError(expected.what, `${size} of ${expected.size} bytes`)
          : new DigestMismatchError(
              expected.what,
              `${expected.size} bytes`,
              `more than ${expected.size}`,
            );
      }
      if (expected.digest !== undefined && digest !== expected.digest)
        throw new DigestMismatchError(expected.what, expected.digest, digest);
      await fh.sync();
      await fh.close();
      fh = undefined;
      const final = this.blobPath(digest);
      const created = !this.hasBlob(digest);
      if (created) {
        await fsp.chmod(tmp, 0o444);
        await fsp.rename(tmp, final);
      } else {
        await fsp.rm(tmp, { force: true });
      }
      return { digest, size, created };
    } catch (err) {
      await fh?.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw storeFailure(err, `cannot store ${expected.what}`, this.dir, expected.size);
    }
  }

  /** Where a registry download of `digest` is kept until it is complete and adopted. */
  downloadPath(digest: string): string {
    this.ensureDirs();
    return path.join(this.tmpDir, `${DOWNLOAD_PREFIX}${this.blobPath(digest).slice(-64)}`);
  }

  /**
   * Downloads a blob into downloadPath(digest), going on from what an interrupted download
   * left there: `fetch(offset)` asks the source for the bytes from `offset` on and says where
   * its answer really starts (0 when the source cannot resume: the file is then restarted).
   * The bytes are hashed as they are written (the kept prefix is hashed again first, so no
   * hash state has to survive a crash). The file is discarded when its content proves wrong
   * (longer than `size`, digest mismatch) or cannot be written (full disk); it is kept when
   * `fetch` or its body fails (connection lost, interrupt) for the next attempt. Call
   * adoptDownload once every blob of an image is complete. Only under the store lock, so no
   * two writers share a file.
   * @throws DigestMismatchError, TruncatedBlobError (the body ended early: file kept),
   *   StoreError, and whatever `fetch` or its body throws.
   */
  async download(
    expected: Required<Expected>,
    fetch: (offset: number) => Promise<{ offset: number; body: AsyncIterable<Uint8Array> }>,
  ): Promise<void> {
    const file = this.downloadPath(expected.digest);
    const what = `cannot store ${expected.what}`;
    let have = 0;
    let h = createHash("sha256");
    try {
      have = fs.statSync(file).size;
      if (have > expected.size) have = 0;
      else for await (const c of fs.createReadStream(file)) h.update(c as Buffer);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw storeFailure(err, what, this.dir);
    }
    let fh: fsp.FileHandle | undefined;
    // Set while waiting on the source: its failures (connection lost, interrupt, a body that
    // ends early) keep what arrived; wrong content or a local write error discards the file.
    let remote = false;
    try {
      fh = await fsp.open(file, have === 0 ? "w" : "r+", 0o644);
      if (have < expected.size) {
        remote = true;
        const src = await fetch(have);
        remote = false;
        if (src.offset !== have) {
          have = 0;
          h = createHash("sha256");
        }
        await fh.truncate(have);
        const body = src.body[Symbol.asyncIterator]();
        for (;;) {
          remote = true;
          const r = await body.next();
          if (r.done) break;
          remote = false;
          const chunk = r.value;
          if (have + chunk.length > expected.size)
            throw new DigestMismatchError(
              expected.what,
              `${expected.size} bytes`,
              `more than ${expected.size}`,
            );
          await fh.write(chunk, 0, chunk.length, have);
          h.update(chunk);
          have += chunk.length;
        }
        if (have < expected.size)
          throw new TruncatedBlobError(expected.what, `${have} of ${expected.size} bytes`);
        remote = false;
      }
      const digest = `sha256:${h.digest("hex")}`;
      if (digest !== expected.digest)
        throw new DigestMismatchError(expected.what, expected.digest, digest);
      await fh.sync();
    } catch (err) {
      if (!remote) await fsp.rm(file, { force: true }).catch(() => undefined);
      throw storeFailure(err, what, this.dir, expected.size);
    } finally {
      await fh?.close().catch(() => undefined);
    }
  }

  /** Moves a complete download (see download) into blobs/; false when the store had it. */
  async adoptDownload(digest: string): Promise<boolean> {
    const file = this.downloadPath(digest);
    try {
      if (this.hasBlob(digest)) {
        await fsp.rm(file, { force: true });
        return false;
      }
      await fsp.chmod(file, 0o444);
      await fsp.rename(file, this.blobPath(digest));
      return true;
    } catch (err) {
      throw storeFailure(err, `cannot store blob ${digest}`, this.dir);
    }
  }

  /** Moves a blob adopted by adoptDownload back to the download area (an interrupted pull). */
  async returnDownload(digest: string): Promise<void> {
    const file = this.downloadPath(digest);
    try {
      await fsp.rename(this.blobPath(digest), file);
      // Writable again: a resumed download opens it for writing.
      await fsp.chmod(file, 0o644);
    } catch (err) {
      throw storeFailure(err, `cannot keep the download of ${digest}`, this.dir);
    }
  }

  /** Removes the download of `digest`, complete or not. */
  discardDownload(digest: string): void {
    fs.rmSync(this.downloadPath(digest), { force: true });
  }

  /** putBlob for bytes in memory (manifests, configs). */
  putBlobBytes(data: Uint8Array, expected: Expected): Promise<PutBlobResult> {
    return this.putBlob([data], expected);
  }

  /**
   * Reads a small blob (manifest, config, index) and checks it against its digest again: a
   * blob changed on disk since it was stored is reported, not trusted.
   */
  readBlob(digest: string, maxBytes = 16 << 20): Buffer {
    const p = this.blobPath(digest);
    let data: Buffer;
    try {
      const size = fs.statSync(p).size;
      if (size > maxBytes)
        throw new StoreError(`blob ${digest} is ${size} bytes, more than the ${maxBytes} expected`);
      data = fs.readFileSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT")
        throw new StoreError(
          `blob ${digest} is missing from the store: load the image again (uno load)`,
        );
      throw storeFailure(err, `cannot read blob ${digest}`, this.dir);
    }
    const actual = `sha256:${createHash("sha256").update(data).digest("hex")}`;
    if (actual !== digest) throw new DigestMismatchError(`stored blob ${p}`, digest, actual);
    return data;
  }

  /** Removes a blob (by prune or a failed load that created it). */
  removeBlob(digest: string): void {
    fs.rmSync(this.blobPath(digest), { force: true });
  }

  /** Writes `data` to `file` atomically: temp file in tmp/, fsync, rename, fsync directory. */
  async writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
    const tmp = this.tempPath("file");
    try {
      const fh = await fsp.open(tmp, "wx", 0o644);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, file);
      const dh = await fsp.open(path.dirname(file), "r");
      await dh.sync().finally(() => dh.close());
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw storeFailure(err, `cannot write ${file}`, this.dir, Buffer.byteLength(data));
    }
  }

  /** The index; an empty one when the store is new. */
  readIndex(): StoreIndex {
    let text: string;
    try {
      text = fs.readFileSync(this.indexPath, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return emptyIndex();
      throw storeFailure(err, `cannot read ${this.indexPath}`, this.dir);
    }
    try {
      const idx = JSON.parse(text) as StoreIndex;
      if (idx.version !== 1 || typeof idx.images !== "object" || typeof idx.tags !== "object")
        throw new Error("unknown layout");
      return idx;
    } catch (err) {
      throw new StoreError(
        `the store index ${this.indexPath} is unreadable (${(err as Error).message}); move it away to start an empty store`,
      );
    }
  }

  /** Whether this process holds the store's lock now. */
  get locked(): boolean {
    return this.lockDepth > 0;
  }

  /** Runs `fn` holding the store's lock (re-entrant within this process). */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    if (this.lockDepth > 0) {
      this.lockDepth++;
      try {
        return await fn();
      } finally {
        this.lockDepth--;
      }
    }
    await this.acquireLock();
    this.lockDepth = 1;
    try {
      return await fn();
    } finally {
      this.lockDepth = 0;
      fs.rmSync(this.lockPath, { force: true });
    }
  }

  /** Reads, changes and atomically rewrites the index under the lock. */
  async updateIndex<T>(change: (idx: StoreIndex) => T): Promise<T> {
    return this.withLock(async () => {
      const idx = this.readIndex();
      const result = change(idx);
      await this.writeFileAtomic(this.indexPath, JSON.stringify(idx, null, 2) + "\n");
      return result;
    });
  }

  private async acquireLock(): Promise<void> {
    this.ensureDirs();
    const start = Date.now();
    let told = false;
    for (;;) {
      try {
        const fd = fs.openSync(this.lockPath, "wx", 0o644);
        fs.writeSync(fd, `${process.pid}\n`);
        fs.closeSync(fd);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST")
          throw storeFailure(err, `cannot lock the image store (${this.lockPath})`, this.dir);
      }
      const holder = this.lockHolder();
      if (holder !== undefined && !processAlive(holder)) {
        this.breakStaleLock(holder);
        continue;
      }
      if (Date.now() - start > LOCK_TIMEOUT_MS)
        throw new StoreError(
          `the image store is locked by process ${holder ?? "?"} (${this.lockPath}); if no uno is running, remove that file`,
        );
      if (!told && Date.now() - start > 2000) {
        process.stderr.write(
          `uno: waiting for another uno (pid ${holder}) using the image store\n`,
        );
        told = true;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private lockHolder(): number | undefined {
    try {
      const pid = Number(fs.readFileSync(this.lockPath, "utf8").trim());
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Removes the lock of a dead process. It is renamed away first and checked again, so two
   * processes breaking the same stale lock cannot remove a fresh lock taken in between.
   */
  private breakStaleLock(pid: number): void {
    const aside = this.tempPath("stale-lock");
    try {
      fs.renameSync(this.lockPath, aside);
    } catch {
      return;
    }
    const now = Number(fs.readFileSync(aside, "utf8").trim());
    if (now !== pid && processAlive(now)) {
      // Someone else's fresh lock: put it back (link fails if yet another holder took it).
      try {
        fs.linkSync(aside, this.lockPath);
      } catch {
        /* the lock is held by another live process now */
      }
    }
    fs.rmSync(aside, { force: true });
  }

  /** Every blob digest present in the store. */
  listBlobs(): string[] {
    try {
      return fs
        .readdirSync(this.blobsDir)
        .filter((n) => /^[0-9a-f]{64}$/.test(n))
        .map((n) => `sha256:${n}`);
    } catch {
      return [];
    }
  }

  /** Total bytes of the files directly in `dir`. */
  static dirBytes(dir: string): number {
    let total = 0;
    try {
      for (const n of fs.readdirSync(dir)) {
        try {
          const st = fs.lstatSync(path.join(dir, n));
          if (st.isFile()) total += st.size;
        } catch {
          /* removed meanwhile */
        }
      }
    } catch {
      /* no such directory yet */
    }
    return total;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
