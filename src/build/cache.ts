/**
 * The build cache: the layer a COPY, ADD, RUN or WORKDIR step made, by a key that chains the
 * base image ID, every earlier instruction (after substitution) and the step's inputs (the
 * contents, names, modes and owners it copies; RUN's command, environment and build-args).
 *
 * Kept in <store>/build-cache.json; the layers are ordinary blobs. An entry counts only while
 * its blob is in the store, so a blob collected by `uno rmi` or `uno image prune` makes a
 * miss (the step runs again), never a broken image. Written under the store lock (a build
 * holds it throughout), with the store's atomic write.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Store } from "../lib/store.js";
import type { Descriptor } from "../image/oci.js";

export interface CacheEntry {
  layer: Descriptor;
  diffId: string;
  /** When the step first ran: the history entry's time, so a cached rebuild has the same ID. */
  created: string;
}

interface CacheFile {
  version: 1;
  entries: Record<string, CacheEntry>;
}

const cachePath = (store: Store): string => path.join(store.dir, "build-cache.json");

export class BuildCache {
  private file: CacheFile;
  private dirty = false;

  constructor(private readonly store: Store) {
    this.file = { version: 1, entries: {} };
    try {
      const f = JSON.parse(fs.readFileSync(cachePath(store), "utf8")) as CacheFile;
      if (f.version === 1 && typeof f.entries === "object") this.file = f;
    } catch {
      /* no cache yet, or unreadable: start empty */
    }
  }

  /** The entry for `key` when its layer is still stored. */
  get(key: string): CacheEntry | undefined {
    const e = this.file.entries[key];
    if (e === undefined) return undefined;
    if (this.store.hasBlob(e.layer.digest)) return e;
    delete this.file.entries[key];
    this.dirty = true;
    return undefined;
  }

  /** Every layer blob an entry refers to. */
  layerDigests(): string[] {
    return Object.values(this.file.entries).map((e) => e.layer.digest);
  }

  set(key: string, e: CacheEntry): void {
    this.file.entries[key] = e;
    this.dirty = true;
  }

  /** Writes the cache back, dropping entries whose layer is gone. */
  async save(): Promise<void> {
    if (!this.dirty) return;
    for (const [k, e] of Object.entries(this.file.entries))
      if (!this.store.hasBlob(e.layer.digest)) delete this.file.entries[k];
    await this.store.writeFileAtomic(cachePath(this.store), JSON.stringify(this.file));
    this.dirty = false;
  }
}

/** The layer blobs the build cache refers to (so garbage collection can keep them). */
export function buildCacheBlobs(store: Store): string[] {
  return new BuildCache(store).layerDigests();
}

/** Empties the build cache (uno image prune); its blobs are then garbage. */
export function clearBuildCache(store: Store): void {
  fs.rmSync(cachePath(store), { force: true });
}
