/**
 * `uno pull`: fetches an image from a registry into the store, then hands it to the step
 * `uno load` uses (commitImages: check, build the root, index and tag, or undo everything).
 *
 * The manifest is fetched by tag or digest; an index (OCI index, Docker manifest list) is
 * resolved by platform to one manifest. Every document and blob is hashed as it arrives and
 * must equal the digest that names it (Store.putBlob), so a registry cannot hand us content
 * other than what the manifest pins. Layers already in the store are not downloaded again;
 * the others are fetched a few at a time.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import {
  commitImages,
  checkStoredManifest,
  type LoadedImage,
  type LoadOptions,
} from "../image/load.js";
import {
  indexSchema,
  isIndexType,
  isManifestType,
  layerCompression,
  manifestSchema,
  MT,
  parseJson,
  type Descriptor,
  type Manifest,
} from "../image/oci.js";
import type { Credentials } from "./auth.js";
import { UnoError } from "./errors.js";
import {
  DigestMismatchError,
  TruncatedBlobError,
  UnsupportedMediaTypeError,
} from "./image-errors.js";
import { formatImageRef, manifestReference, parseImageRef, type ImageRef } from "./reference.js";
import {
  InterruptedError,
  ManifestUnknownError,
  RegistryClient,
  RegistryError,
  TransientRegistryError,
} from "./registry.js";
import type { Store } from "./store.js";

/** The image has no manifest for the platform asked for. */
export class NoMatchingPlatformError extends UnoError {
  constructor(reference: string, platform: string, available: string[]) {
    super(
      "NO_MATCHING_PLATFORM",
      `${reference} has no image for ${platform} (it has: ${available.join(", ") || "none"}); ` +
        `choose one with --platform`,
    );
  }
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** Parses "linux/amd64" or "linux/arm64/v8". */
export function parsePlatform(s: string): Platform {
  const parts = s.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_]+$/.test(p)))
    throw new RegistryError(`--platform ${s}: expected OS/ARCH[/VARIANT], e.g. linux/amd64`);
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2] !== undefined) p.variant = parts[2];
  return p;
}

const formatPlatform = (p: Platform): string =>
  [p.os, p.architecture, p.variant].filter((x) => x !== undefined).join("/");

/** Callbacks a CLI uses to show progress; bytes are counted as they arrive. */
export interface PullProgress {
  layers(layers: { digest: string; size: number; cached: boolean }[]): void;
  bytes(digest: string, received: number): void;
  done(digest: string): void;
}

export interface PullOptions extends LoadOptions {
  platform?: string;
  insecure?: boolean;
  credentials?: Credentials;
  progress?: PullProgress;
  /** Layers downloaded at once. */
  concurrency?: number;
  /** Ctrl-C: the pull stops with InterruptedError, the store as before, downloads kept. */
  signal?: AbortSignal;
}

export interface PullResult extends LoadedImage {
  ref: ImageRef;
}

const ACCEPT = [MT.ociIndex, MT.dockerList, MT.ociManifest, MT.dockerManifest].join(", ");
/** Manifests and indexes larger than this are refused (the spec suggests 4 MiB). */
const MAX_MANIFEST = 4 << 20;

interface Fetched {
  bytes: Buffer;
  digest: string;
  mediaType: string | undefined;
}

/** Reads a response body, refusing more than `max` bytes. */
async function readLimited(res: Response, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of Readable.fromWeb(res.body! as never)) {
    n += (c as Buffer).length;
    if (n > max) throw new RegistryError(`${what} is larger than ${max} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** GETs manifests/<reference>, checking it against the digest when one names it. */
async function fetchManifest(
  client: RegistryClient,
  reference: string,
  display: string,
): Promise<Fetched> {
  const res = await client.get(`manifests/${reference}`, ACCEPT);
  if (res.status === 404)
    throw new ManifestUnknownError(display, await RegistryClient.describe(res));
  if (!res.ok) throw new RegistryError(`${display}: ${await RegistryClient.describe(res)}`);
  const bytes = await readLimited(res, MAX_MANIFEST, `manifest of ${display}`);
  const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  if (reference.startsWith("sha256:") && digest !== reference)
    throw new DigestMismatchError(`manifest ${reference} of ${display}`, reference, digest);
  let declared: unknown;
  try {
    declared = (JSON.parse(bytes.toString("utf8")) as { mediaType?: unknown }).mediaType;
  } catch (err) {
    throw new RegistryError(`manifest of ${display} is not JSON: ${(err as Error).message}`);
  }
  const header = res.headers.get("content-type")?.split(";")[0]?.trim();
  const mediaType = typeof declared === "string" ? declared : header;
  return { bytes, digest, mediaType };
}

/** Picks the index entry for `platform`. */
function choosePlatform(index: Fetched, platform: Platform, display: string): Descriptor {
  const idx = parseJson(indexSchema, index.bytes, `index ${index.digest} of ${display}`);
  const match = idx.manifests.find(
    (m) =>
      m.platform?.os === platform.os &&
      m.platform.architecture === platform.architecture &&
      (platform.variant === undefined || m.platform.variant === platform.variant),
  );
  if (match) return match;
  const available = idx.manifests
    .filter((m) => m.platform !== undefined && m.platform.architecture !== "unknown")
    .map((m) => formatPlatform(m.platform as Platform));
  throw new NoMatchingPlatformError(display, formatPlatform(platform), available);
}

/** The image manifest `ref` names for `platform` (following an index). */
async function resolveManifest(
  client: RegistryClient,
  ref: ImageRef,
  platform: Platform,
): Promise<Fetched> {
  const display = formatImageRef(ref);
  let fetched = await fetchManifest(client, manifestReference(ref), display);
  if (isIndexType(fetched.mediaType)) {
    const d = choosePlatform(fetched, platform, display);
    if (!isManifestType(d.mediaType))
      throw new UnsupportedMediaTypeError(d.mediaType, `index ${fetched.digest} of ${display}`);
    fetched = await fetchManifest(client, d.digest, display);
  }
  if (!isManifestType(fetched.mediaType))
    throw new UnsupportedMediaTypeError(fetched.mediaType ?? "(none)", `manifest of ${display}`);
  return fetched;
}

/** Where a 206 answer's `Content-Range: bytes START-END/TOTAL` starts; undefined if unparsable. */
function rangeStart(res: Response): number | undefined {
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(res.headers.get("content-range") ?? "");
  return m ? Number(m[1]) : undefined;
}

/**
 * Downloads blob `d` into the store's download area (Store.download), verified against its
 * digest and size. A download an interrupted pull left is continued with a Range request;
 * a registry that answers 200 instead of 206 sends the whole blob, and the file restarts.
 */
async function fetchBlob(
  store: Store,
  client: RegistryClient,
  d: Descriptor,
  what: string,
  progress?: PullProgress,
): Promise<void> {
  const label = `${what} ${d.digest}`;
  await store.download(
    { what: `${label} from ${client.host}`, digest: d.digest, size: d.size },
    async (offset) => {
      const res = await client.get(
        `blobs/${d.digest}`,
        undefined,
        offset > 0 ? `bytes=${offset}-` : undefined,
      );
      if (!res.ok) throw new RegistryError(`${label}: ${await RegistryClient.describe(res)}`);
      const from = res.status === 206 ? rangeStart(res) : 0;
      if (from === undefined || (from !== 0 && from !== offset)) {
        await res.body?.cancel();
        throw new RegistryError(
          `${label}: the registry answered a request for bytes ${offset}- with ` +
            `"Content-Range: ${res.headers.get("content-range")}"`,
        );
      }
      let received = from;
      progress?.bytes(d.digest, received);
      const counted = async function* (): AsyncGenerator<Uint8Array> {
        try {
          for await (const c of Readable.fromWeb(res.body! as never)) {
            received += (c as Buffer).length;
            progress?.bytes(d.digest, received);
            yield c as Buffer;
          }
        } catch (err) {
          client.checkInterrupted(`downloading ${label}`);
          throw new TransientRegistryError(
            `${label}: the download broke off after ${received} bytes (${(err as Error).message}); pull again to resume it`,
          );
        }
      };
      return { offset: from, body: counted() };
    },
  );
  progress?.done(d.digest);
}

/** Runs `jobs` with at most `n` at once; the first failure is thrown once all have settled. */
async function bounded(n: number, jobs: (() => Promise<void>)[]): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (next < jobs.length && failure === undefined) {
      const job = jobs[next++]!;
      try {
        await job();
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, jobs.length) }, worker));
  if (failure !== undefined) throw failure;
}

/**
 * Downloads the manifest's config and missing layers, then moves them with the manifest into
 * the store's blobs (adding what it stored to `created`). Until every download is complete
 * nothing enters blobs/: a pull killed midway leaves only its downloads in tmp/. Returns the
 * digests of the downloads it moved.
 */
async function fetchImage(
  store: Store,
  client: RegistryClient,
  fetched: Fetched,
  m: Manifest,
  created: Set<string>,
  opts: PullOptions,
): Promise<string[]> {
  for (const l of m.layers) layerCompression(l.mediaType, `layer ${l.digest} of ${fetched.digest}`);
  const missing = [m.config, ...m.layers].filter(
    (l, i, all) => !store.hasBlob(l.digest) && all.findIndex((x) => x.digest === l.digest) === i,
  );
  try {
    if (!store.hasBlob(m.config.digest)) await fetchBlob(store, client, m.config, "config");
    opts.progress?.layers(
      m.layers.map((l) => ({ digest: l.digest, size: l.size, cached: store.hasBlob(l.digest) })),
    );
    await bounded(
      opts.concurrency ?? 3,
      missing
        .filter((l) => l !== m.config)
        .map((l) => () => fetchBlob(store, client, l, "layer", opts.progress)),
    );
  } catch (err) {
    // Downloads survive what trying again may cure (network, a body cut short, Ctrl-C);
    // content that proved wrong, a full disk or a refused image does not get a second chance.
    const transient =
      err instanceof TransientRegistryError ||
      err instanceof InterruptedError ||
      err instanceof TruncatedBlobError;
    if (!transient) for (const l of missing) store.discardDownload(l.digest);
    throw err;
  }
  client.checkInterrupted("pull");
  const adopted: string[] = [];
  for (const l of missing)
    if (await store.adoptDownload(l.digest)) {
      created.add(l.digest);
      adopted.push(l.digest);
    }
  const put = await store.putBlobBytes(fetched.bytes, {
    what: `manifest ${fetched.digest}`,
    digest: fetched.digest,
  });
  if (put.created) created.add(put.digest);
  return adopted;
}

/**
 * Pulls `reference` into `store` and tags it (a pull by digest stays untagged).
 * @throws BadReferenceError, ManifestUnknownError, UnauthorizedError, RegistryError,
 *   NoMatchingPlatformError, DigestMismatchError, UnsupportedMediaTypeError — store unchanged.
 */
export async function pullImage(
  store: Store,
  reference: string,
  opts: PullOptions = {},
): Promise<PullResult> {
  const ref = parseImageRef(reference);
  const platform = parsePlatform(opts.platform ?? "linux/amd64");
  const client = new RegistryClient(ref.domain, ref.path, {
    ...(opts.insecure !== undefined ? { insecure: opts.insecure } : {}),
    ...(opts.credentials !== undefined ? { credentials: opts.credentials } : {}),
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
  });
  const fetched = await resolveManifest(client, ref, platform);
  const m = parseJson(
    manifestSchema,
    fetched.bytes,
    `manifest ${fetched.digest} of ${formatImageRef(ref)}`,
  );
  // A digest pins the image; a tag beside it is ignored, as docker does.
  const tags =
    ref.tag !== undefined && ref.digest === undefined
      ? [formatImageRef({ domain: ref.domain, path: ref.path, tag: ref.tag })]
      : [];
  let adopted: string[] = [];
  let stored = new Set<string>();
  const commit = commitImages(
    store,
    async (created) => {
      stored = created;
      adopted = await fetchImage(store, client, fetched, m, created, opts);
      await checkStoredManifest(store, fetched.digest, `${client.host}/${ref.path}`);
      return [{ manifest: fetched.digest, config: m.config.digest, tags }];
    },
    {
      // The root is built after the download: an interrupt then must still stop the index
      // update. The downloaded blobs go back to the download area first (and out of what
      // commitImages removes), so pulling again does not fetch them again.
      prepare: async (im) => {
        await opts.prepare?.(im);
        if (!opts.signal?.aborted) return;
        for (const d of adopted) {
          await store.returnDownload(d);
          stored.delete(d);
        }
        client.checkInterrupted("pull");
      },
    },
  );
  const [image] = await commit.catch((err: unknown) => {
    if (err instanceof InterruptedError)
      throw new InterruptedError(
        `pull of ${reference} interrupted: no image was stored; what was downloaded is ` +
          `kept, so pulling again resumes (uno image prune discards it)`,
      );
    throw err;
  });
  return { ...image!, ref };
}
