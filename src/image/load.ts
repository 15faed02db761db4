/**
 * `uno load`: images from a `docker save` archive (the legacy manifest.json layout, or the OCI
 * layout docker 25+ and skopeo's oci-archive write), an OCI image-layout directory, or any of
 * those tars gzip-compressed; from a file or a stream (stdin).
 *
 * A tar is read once, front to back (stdin cannot be re-read): every blobs/sha256/<hex> entry
 * is streamed into the store and verified against <hex>; other entries are JSON kept in
 * memory or (docker's layer.tar files) streamed into the store under their own digest and
 * checked against the config's diff_ids. Only then are the manifests interpreted and checked
 * (media types, sizes, every referenced blob present), and the index updated at the end, in
 * one atomic write. On any error the blobs this load added are removed again: the store is
 * as it was.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import * as tar from "tar-stream";
import {
  BadImageArchiveError,
  DigestMismatchError,
  TruncatedBlobError,
  UnsupportedMediaTypeError,
} from "../lib/image-errors.js";
import type { Store } from "../lib/store.js";
import {
  configSchema,
  formatReference,
  indexSchema,
  isConfigType,
  isIndexType,
  isManifestType,
  layerCompression,
  manifestSchema,
  MT,
  parseJson,
  parseReference,
  type Descriptor,
  type Manifest,
} from "./oci.js";
import { isZstdMagic } from "./zstd.js";

/** One image a load added to the store. */
export interface LoadedImage {
  manifest: string;
  config: string;
  /** Normalized references tagged to it. */
  tags: string[];
}

/** JSON and other small files of an archive are kept in memory up to this size. */
const MAX_JSON = 16 << 20;

/** What an archive or layout gave: small files by path, stored blobs by path. */
interface Contents {
  /** Display name of the input for messages. */
  name: string;
  small: Map<string, Buffer>;
  /** Archive path → digest of the blob stored from it. */
  stored: Map<string, string>;
  /** Archive path → symlink target (docker save links repeated layers). */
  links: Map<string, string>;
  /** Fetches a blob the layout references but that is not stored yet (directories). */
  fetch?: (d: Descriptor, what: string) => Promise<void>;
}

const normalizeEntry = (name: string): string =>
  path.posix.normalize(name.replace(/^(\.\/)+/, "")).replace(/\/+$/, "");

async function* prepend(first: Buffer, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield first;
  for (;;) {
    const r = await rest.next();
    if (r.done) return;
    yield r.value;
  }
}

/** A readable of the tar inside `input`, gunzipping when the bytes start with gzip's magic. */
async function tarStream(input: Readable): Promise<Readable> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let first = Buffer.alloc(0);
  while (first.length < 2) {
    const r = await it.next();
    if (r.done) break;
    first = Buffer.concat([first, r.value]);
  }
  const whole = Readable.from(prepend(first, it), { objectMode: false });
  if (first[0] === 0x1f && first[1] === 0x8b) return whole.pipe(createGunzip());
  return whole;
}

/** Reads a tar archive into the store (blobs) and memory (JSON). */
async function readArchive(
  store: Store,
  input: Readable,
  name: string,
  created: Set<string>,
): Promise<Contents> {
  const contents: Contents = { name, small: new Map(), stored: new Map(), links: new Map() };
  const source = await tarStream(input);
  const extract = tar.extract();
  const failed = new Promise<never>((_, reject) => {
    source.on("error", (err) => reject(truncatedOr(err, name)));
  });
  // An error after the entries were all read (trailing garbage) must not go unhandled.
  failed.catch(() => undefined);
  source.pipe(extract);
  const entries = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      const p = normalizeEntry(h.name);
      if (h.type === "symlink" && h.linkname) {
        contents.links.set(p, path.posix.join(path.posix.dirname(p), h.linkname));
      } else if (h.type === "file" || h.type === "contiguous-file") {
        const blob = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(p);
        const size = h.size ?? 0;
        // Layers (and anything else that is not small metadata) go straight to the store.
        const metadata = /(^|\/)([^/]*\.json|oci-layout|repositories|VERSION)$/.test(p);
        if (blob || !metadata || size > MAX_JSON) {
          const expected = {
            what: `${p} in ${name}`,
            size,
            ...(blob ? { digest: `sha256:${blob[1]}` } : {}),
          };
          const r = await store.putBlob(entry as AsyncIterable<unknown>, expected);
          if (r.created) created.add(r.digest);
          contents.stored.set(p, r.digest);
        } else {
          const chunks: Buffer[] = [];
          for await (const c of entry) chunks.push(c as Buffer);
          contents.small.set(p, Buffer.concat(chunks));
        }
      }
      entry.resume();
    }
  })();
  try {
    await Promise.race([entries, failed]);
  } catch (err) {
    throw truncatedOr(err, name);
  }
  if (contents.small.size === 0 && contents.stored.size === 0)
    throw new BadImageArchiveError(`${name} is empty or not a tar archive`);
  return contents;
}

function truncatedOr(err: unknown, name: string): Error {
  const msg = (err as Error).message ?? String(err);
  if (/unexpected end|premature close|end of data/i.test(msg))
    return new TruncatedBlobError(name, "the archive ends in the middle of an entry");
  if (/invalid tar header|header/i.test(msg) && !(err instanceof BadImageArchiveError))
    return new BadImageArchiveError(`${name} is not a valid tar archive: ${msg}`);
  if (
    /incorrect header check|unexpected end of file|invalid/i.test(msg) &&
    (err as NodeJS.ErrnoException).code?.startsWith("Z_")
  )
    return new TruncatedBlobError(name, `gzip: ${msg}`);
  return err as Error;
}

/** Contents of an OCI image-layout directory; blobs are fetched (verified) when referenced. */
function readLayoutDir(store: Store, dir: string, created: Set<string>): Contents {
  const contents: Contents = { name: dir, small: new Map(), stored: new Map(), links: new Map() };
  for (const f of ["oci-layout", "index.json"]) {
    const p = path.join(dir, f);
    if (fs.existsSync(p)) contents.small.set(f, fs.readFileSync(p));
  }
  if (!contents.small.has("index.json"))
    throw new BadImageArchiveError(
      `${dir} is a directory without index.json: uno load takes an OCI image layout directory or a tar archive`,
    );
  contents.fetch = async (d, what) => {
    const file = path.join(dir, "blobs", "sha256", d.digest.slice("sha256:".length));
    if (!fs.existsSync(file))
      throw new BadImageArchiveError(`${what} ${d.digest} is missing from ${dir}`);
    const r = await store.putBlob(fs.createReadStream(file), {
      what: `${what} ${file}`,
      digest: d.digest,
      size: d.size,
    });
    if (r.created) created.add(r.digest);
  };
  return contents;
}

/** Makes sure the blob of `d` is in the store with the descriptor's size. */
async function requireBlob(store: Store, c: Contents, d: Descriptor, what: string): Promise<void> {
  if (!store.hasBlob(d.digest)) {
    if (c.fetch) await c.fetch(d, what);
    else
      throw new BadImageArchiveError(`${c.name}: ${what} ${d.digest} is missing from the archive`);
  }
  const size = store.blobSize(d.digest);
  if (size !== d.size)
    throw size < d.size
      ? new TruncatedBlobError(`${what} ${d.digest} in ${c.name}`, `${size} of ${d.size} bytes`)
      : new DigestMismatchError(
          `${what} ${d.digest} in ${c.name}`,
          `${d.size} bytes`,
          `${size} bytes`,
        );
}

/** Checks a manifest's config and layers (media types, presence, sizes). */
async function checkManifest(store: Store, c: Contents, manifestDigest: string): Promise<Manifest> {
  const m = parseJson(
    manifestSchema,
    store.readBlob(manifestDigest),
    `manifest ${manifestDigest} in ${c.name}`,
  );
  if (m.mediaType !== undefined && !isManifestType(m.mediaType))
    throw new UnsupportedMediaTypeError(m.mediaType, `manifest ${manifestDigest} in ${c.name}`);
  if (!isConfigType(m.config.mediaType))
    throw new UnsupportedMediaTypeError(m.config.mediaType, `config of manifest ${manifestDigest}`);
  await requireBlob(store, c, m.config, "config");
  const config = parseJson(
    configSchema,
    store.readBlob(m.config.digest),
    `config ${m.config.digest}`,
  );
  if (config.rootfs.diff_ids.length !== m.layers.length)
    throw new BadImageArchiveError(
      `manifest ${manifestDigest} in ${c.name} has ${m.layers.length} layers but its config lists ${config.rootfs.diff_ids.length} diff_ids`,
    );
  for (const l of m.layers) {
    layerCompression(l.mediaType, `layer ${l.digest} of manifest ${manifestDigest}`);
    await requireBlob(store, c, l, "layer");
  }
  return m;
}

/** A name for an OCI layout entry: containerd's full name, else ref.name if it is a full ref. */
function layoutTag(d: Descriptor): string | undefined {
  const full = d.annotations?.["io.containerd.image.name"];
  const refName = d.annotations?.["org.opencontainers.image.ref.name"];
  for (const n of [full, refName]) {
    // A bare "latest" is only a tag within the layout: the image has no name (docker loads
    // such an image untagged too).
    if (n === undefined || (n === refName && !n.includes(":") && !n.includes("/"))) continue;
    const r = parseReference(n);
    if (r && r.tag !== undefined && r.digest === undefined) return formatReference(r);
  }
  return undefined;
}

/** Interprets an OCI layout (index.json, possibly nested indexes) into images. */
async function loadOciLayout(store: Store, c: Contents): Promise<LoadedImage[]> {
  const index = parseJson(indexSchema, c.small.get("index.json")!, `index.json in ${c.name}`);
  const out: LoadedImage[] = [];
  const visit = async (d: Descriptor, tag: string | undefined, depth: number): Promise<void> => {
    if (isIndexType(d.mediaType)) {
      if (depth > 4) throw new BadImageArchiveError(`${c.name}: image indexes nested too deeply`);
      await requireBlob(store, c, d, "index");
      const sub = parseJson(indexSchema, store.readBlob(d.digest), `index ${d.digest}`);
      const wanted = sub.manifests.filter(
        (m) =>
          m.platform === undefined ||
          (m.platform.os === "linux" && m.platform.architecture === "amd64"),
      );
      if (wanted.length === 0)
        throw new BadImageArchiveError(`${c.name}: index ${d.digest} has no linux/amd64 image`);
      for (const m of wanted.slice(0, 1)) await visit(m, tag, depth + 1);
      return;
    }
    if (!isManifestType(d.mediaType))
      throw new UnsupportedMediaTypeError(d.mediaType, `index.json of ${c.name}`);
    await requireBlob(store, c, d, "manifest");
    const m = await checkManifest(store, c, d.digest);
    out.push({ manifest: d.digest, config: m.config.digest, tags: tag ? [tag] : [] });
  };
  for (const d of index.manifests) await visit(d, layoutTag(d), 0);
  if (out.length === 0) throw new BadImageArchiveError(`${c.name}: index.json lists no images`);
  return out;
}

interface DockerManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** The first bytes of a stored blob, to tell gzip from plain tar in docker archives. */
function blobMagic(store: Store, digest: string): Buffer {
  const fd = fs.openSync(store.blobPath(digest), "r");
  try {
    const b = Buffer.alloc(4);
    fs.readSync(fd, b, 0, 4, 0);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

/** Interprets docker's manifest.json: builds an OCI manifest per image and stores it. */
async function loadDockerArchive(
  store: Store,
  c: Contents,
  created: Set<string>,
): Promise<LoadedImage[]> {
  const raw = c.small.get("manifest.json")!;
  let entries: DockerManifestEntry[];
  try {
    entries = JSON.parse(raw.toString("utf8")) as DockerManifestEntry[];
    if (
      !Array.isArray(entries) ||
      !entries.every((e) => typeof e.Config === "string" && Array.isArray(e.Layers))
    )
      throw new Error("expected a list of {Config, RepoTags, Layers}");
  } catch (err) {
    throw new BadImageArchiveError(
      `manifest.json in ${c.name} is malformed: ${(err as Error).message}`,
    );
  }
  const resolve = (p: string): string => {
    let q = normalizeEntry(p);
    for (let i = 0; i < 8 && c.links.has(q); i++) q = normalizeEntry(c.links.get(q)!);
    return q;
  };
  const put = async (data: Buffer, what: string, digest?: string): Promise<string> => {
    const r = await store.putBlobBytes(data, { what, ...(digest ? { digest } : {}) });
    if (r.created) created.add(r.digest);
    return r.digest;
  };
  const out: LoadedImage[] = [];
  for (const e of entries) {
    const cfgPath = resolve(e.Config);
    const named = /(?:^|\/)([0-9a-f]{64})(?:\.json)?$/.exec(cfgPath);
    const expected = named ? `sha256:${named[1]}` : undefined;
    let configDigest: string;
    const small = c.small.get(cfgPath);
    if (small) configDigest = await put(small, `config ${cfgPath} in ${c.name}`, expected);
    else if (c.stored.has(cfgPath)) configDigest = c.stored.get(cfgPath)!;
    else
      throw new BadImageArchiveError(
        `${c.name}: config ${e.Config} named by manifest.json is missing`,
      );
    if (expected && configDigest !== expected)
      throw new DigestMismatchError(`config ${cfgPath} in ${c.name}`, expected, configDigest);
    const configBytes = store.readBlob(configDigest);
    const config = parseJson(configSchema, configBytes, `config ${cfgPath} in ${c.name}`);
    if (config.rootfs.diff_ids.length !== e.Layers.length)
      throw new BadImageArchiveError(
        `${c.name}: ${e.Config} lists ${config.rootfs.diff_ids.length} diff_ids for ${e.Layers.length} layers`,
      );
    const layers: Descriptor[] = [];
    for (const [i, l] of e.Layers.entries()) {
      const lp = resolve(l);
      const digest =
        c.stored.get(lp) ??
        (c.small.has(lp) ? await put(c.small.get(lp)!, `${lp} in ${c.name}`) : undefined);
      if (digest === undefined)
        throw new BadImageArchiveError(`${c.name}: layer ${l} named by manifest.json is missing`);
      const magic = blobMagic(store, digest);
      const mediaType =
        magic[0] === 0x1f && magic[1] === 0x8b
          ? MT.ociLayerGzip
          : isZstdMagic(magic)
            ? MT.ociLayerZstd
            : MT.ociLayer;
      // An uncompressed layer's digest is its diff_id: check it now (others when flattened).
      if (mediaType === MT.ociLayer && digest !== config.rootfs.diff_ids[i])
        throw new DigestMismatchError(
          `layer ${lp} in ${c.name}`,
          config.rootfs.diff_ids[i]!,
          digest,
        );
      layers.push({
        mediaType,
        digest,
        size: store.blobSize(digest),
      });
    }
    const manifest = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: configDigest, size: configBytes.length },
      layers,
    };
    const manifestDigest = await put(
      Buffer.from(JSON.stringify(manifest)),
      `manifest for ${e.Config}`,
    );
    const tags: string[] = [];
    for (const t of e.RepoTags ?? []) {
      const r = parseReference(t);
      if (!r || r.digest)
        throw new BadImageArchiveError(`${c.name}: invalid RepoTags entry "${t}"`);
      tags.push(formatReference(r));
    }
    out.push({ manifest: manifestDigest, config: configDigest, tags });
  }
  return out;
}

export interface LoadOptions {
  /**
   * Called for each image once its blobs are stored and checked, before it is indexed: the
   * CLI builds the image's root there, so an image whose layers cannot be applied (escaping
   * paths, sparse files...) is refused by load instead of being stored.
   */
  prepare?: (image: LoadedImage) => Promise<void>;
}

export interface LoadInput {
  /** A file or OCI layout directory; undefined: read `stream`. */
  file?: string;
  stream?: Readable;
}

/**
 * Loads every image of an archive or layout into `store` and tags them.
 * @throws BadImageArchiveError, DigestMismatchError, TruncatedBlobError,
 *   UnsupportedMediaTypeError, StoreError — with the store unchanged.
 */
export async function loadImages(
  store: Store,
  input: LoadInput,
  opts: LoadOptions = {},
): Promise<LoadedImage[]> {
  return commitImages(
    store,
    async (created) => {
      let contents: Contents;
      if (input.file !== undefined && fs.statSync(input.file).isDirectory()) {
        contents = readLayoutDir(store, input.file, created);
      } else {
        const stream = input.file !== undefined ? fs.createReadStream(input.file) : input.stream;
        if (!stream) throw new BadImageArchiveError("nothing to load");
        contents = await readArchive(store, stream, input.file ?? "standard input", created);
      }
      if (
        contents.small.has("index.json") &&
        (contents.small.has("oci-layout") || !contents.small.has("manifest.json"))
      )
        return loadOciLayout(store, contents);
      if (contents.small.has("manifest.json")) return loadDockerArchive(store, contents, created);
      throw new BadImageArchiveError(
        `${contents.name} is neither a docker save archive (manifest.json) nor an OCI image layout (index.json)`,
      );
    },
    opts,
  ).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && input.file !== undefined)
      throw new BadImageArchiveError(`cannot read ${input.file}: no such file or directory`);
    throw err;
  });
}

/**
 * The step load and pull share: under the store's lock, `fill` stores blobs (adding the
 * digests it created to `created`) and returns the images; each is prepared (its root built)
 * and then indexed and tagged in one atomic index write. Blobs no image uses are dropped. On
 * any error every blob `fill` created is removed again: the store is as it was.
 */
export async function commitImages(
  store: Store,
  fill: (created: Set<string>) => Promise<LoadedImage[]>,
  opts: LoadOptions = {},
): Promise<LoadedImage[]> {
  return store.withLock(async () => {
    const created = new Set<string>();
    try {
      const images = await fill(created);
      for (const im of images) await opts.prepare?.(im);
      await store.updateIndex((idx) => {
        const added = new Date().toISOString();
        for (const im of images) {
          idx.images[im.manifest] ??= { config: im.config, added };
          for (const t of im.tags) idx.tags[t] = im.manifest;
        }
      });
      // Blobs of the archive no image uses (other platforms, stray files) are not kept.
      const used = new Set<string>();
      for (const im of images) for (const d of manifestBlobs(store, im.manifest)) used.add(d);
      for (const d of created) if (!used.has(d)) store.removeBlob(d);
      return images;
    } catch (err) {
      for (const d of created) store.removeBlob(d);
      throw err;
    }
  });
}

/**
 * Checks a stored manifest against the same rules as a loaded one (media types, config,
 * diff_ids count, every blob present with its descriptor's size); `name` says where it came
 * from in messages.
 */
export function checkStoredManifest(
  store: Store,
  manifestDigest: string,
  name: string,
): Promise<Manifest> {
  const c: Contents = { name, small: new Map(), stored: new Map(), links: new Map() };
  return checkManifest(store, c, manifestDigest);
}

/** The manifest digest itself, its config and its layers. */
export function manifestBlobs(store: Store, manifestDigest: string): string[] {
  const m = parseJson(manifestSchema, store.readBlob(manifestDigest), `manifest ${manifestDigest}`);
  return [manifestDigest, m.config.digest, ...m.layers.map((l) => l.digest)];
}
