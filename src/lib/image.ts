/**
 * Images in the store: finding one by reference (name[:tag], name@sha256:…, an ID prefix),
 * its root file system as a cached EROFS image, how `uno run IMAGE` turns its config into a
 * program, environment, directory and user (docker's rules), and the store-wide operations
 * behind `uno images`, `rmi`, `tag`, `image prune`, `save` and `system df`.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import type { Writable } from "node:stream";
import * as tar from "tar-stream";
import { ImageBuildError, writeErofs } from "../image/erofs.js";
import { buildCacheBlobs, clearBuildCache } from "../build/cache.js";
import { flattenLayers, summarize, type RootSummary } from "../image/flatten.js";
import { manifestBlobs } from "../image/load.js";
import {
  configSchema,
  familiarRepository,
  formatReference,
  manifestSchema,
  MT,
  parseJson,
  parseReference,
  splitTagKey,
  type ImageConfig,
  type Manifest,
} from "../image/oci.js";
import { UnoError, UsageError } from "./errors.js";
import { AmbiguousImageError, ImageInUseError, ImageNotFoundError } from "./image-errors.js";
import type { EnvEntry } from "./options.js";
import { DOWNLOAD_PREFIX, Store, type StoreIndex } from "./store.js";

/** Version of the flattening rules; part of each EROFS cache key. */
export const FLATTEN_FORMAT_VERSION = "uno-oci-erofs-v1";

/** The program `uno run IMAGE` starts, from the image config and the overrides. */
export interface RunSpec {
  command: string;
  args: string[];
  imageEnv: EnvEntry[];
  cwd?: string;
  user?: { uid: number; gid: number; groups: number[] };
  exposedPorts: string[];
}

export interface RunOverrides {
  /** CMD given after the image: replaces the image's Cmd. */
  args: string[];
  /** --entrypoint: replaces Entrypoint and clears Cmd. */
  entrypoint?: string;
  workdir?: string;
  user?: string;
  /** -e/--env-file entries (their PATH is the one searched). */
  env: EnvEntry[];
}

export class Image {
  private constructor(
    readonly store: Store,
    /** The manifest digest (as stored in the index). */
    readonly digest: string,
    readonly manifest: Manifest,
    readonly config: ImageConfig,
    /** The config digest: docker's image ID. */
    readonly id: string,
  ) {}

  /** Opens the stored image with manifest digest `digest`. */
  static open(store: Store, digest: string): Image {
    const manifest = parseJson(manifestSchema, store.readBlob(digest), `manifest ${digest}`);
    const config = parseJson(
      configSchema,
      store.readBlob(manifest.config.digest),
      `config ${manifest.config.digest}`,
    );
    return new Image(store, digest, manifest, config, manifest.config.digest);
  }

  /** The image `ref` names, or undefined (see resolveReference). */
  static find(store: Store, ref: string): Image | undefined {
    const digest = resolveReference(store.readIndex(), ref);
    return digest === undefined ? undefined : Image.open(store, digest);
  }

  /** Like find, but ImageNotFoundError when there is none. */
  static get(store: Store, ref: string): Image {
    const im = Image.find(store, ref);
    if (!im) throw new ImageNotFoundError(ref);
    return im;
  }

  /** Normalized references tagged to this image. */
  tags(idx: StoreIndex = this.store.readIndex()): string[] {
    return Object.entries(idx.tags)
      .filter(([, d]) => d === this.digest)
      .map(([t]) => t)
      .sort();
  }

  /** Bytes of the image's blobs (manifest, config, layers as stored). */
  size(): number {
    return this.manifest.layers.reduce((n, l) => n + l.size, this.manifest.config.size);
  }

  /**
   * The EROFS cache key: the flattening rules and the config digest. The config lists the
   * diff_ids (digests of the uncompressed layers, checked when flattening), so it fixes the
   * tree: the same image loaded with gzip or plain layers shares one root.
   */
  rootfsKey(): string {
    return createHash("sha256").update(`${FLATTEN_FORMAT_VERSION}\0${this.id}`).digest("hex");
  }

  /**
   * The image's root as an EROFS file, built on first use and kept in the store (a second
   * run reuses it), with the summary run needs (users, paths).
   */
  async rootfs(
    opts: { onWarning?: (m: string) => void } = {},
  ): Promise<{ erofsPath: string; summary: RootSummary; cached: boolean }> {
    const key = this.rootfsKey();
    const erofsPath = path.join(this.store.erofsDir, `${key}.erofs`);
    const summaryPath = path.join(this.store.erofsDir, `${key}.json`);
    if (fs.existsSync(erofsPath) && fs.existsSync(summaryPath))
      return {
        erofsPath,
        summary: JSON.parse(fs.readFileSync(summaryPath, "utf8")) as RootSummary,
        cached: true,
      };
    const staging = this.store.tempPath("flatten");
    const tmp = this.store.tempPath("erofs");
    try {
      await fsp.mkdir(staging, { mode: 0o700 });
      const root = await flattenLayers(
        this.store,
        this.manifest.layers,
        this.config.rootfs.diff_ids,
        staging,
        opts,
      );
      const summary = summarize(root);
      await this.store.writeFileAtomic(summaryPath, JSON.stringify(summary));
      await writeErofs(root, tmp, { uuid: Buffer.from(key.slice(0, 32), "hex"), fsync: true });
      await fsp.rename(tmp, erofsPath);
      return { erofsPath, summary, cached: false };
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      if (err instanceof UnoError) throw err;
      throw new ImageBuildError(
        `cannot build the root of image ${this.id}: ${(err as Error).message}`,
      );
    } finally {
      await fsp.rm(staging, { recursive: true, force: true });
    }
  }

  /** The config's Env as entries. */
  env(): EnvEntry[] {
    return (this.config.config?.Env ?? []).map((e): EnvEntry => {
      const eq = e.indexOf("=");
      return eq < 0 ? [e, ""] : [e.slice(0, eq), e.slice(eq + 1)];
    });
  }

  /** "80/tcp" for each ExposedPorts key (a bare "80" is tcp). */
  exposedPorts(): string[] {
    return Object.keys(this.config.config?.ExposedPorts ?? {}).map((p) =>
      p.includes("/") ? p : `${p}/tcp`,
    );
  }

  /**
   * What to run, docker's way: --entrypoint replaces Entrypoint and clears Cmd; CMD args
   * replace Cmd; -w replaces WorkingDir; -u replaces User; a program name without "/" is
   * looked up in PATH (the image's, or -e PATH) inside the image.
   */
  runSpec(o: RunOverrides, summary: RootSummary): RunSpec {
    const c = this.config.config ?? {};
    const entrypoint = o.entrypoint !== undefined ? [o.entrypoint] : (c.Entrypoint ?? []);
    const cmd = o.args.length > 0 ? o.args : o.entrypoint !== undefined ? [] : (c.Cmd ?? []);
    const argv = [...entrypoint, ...cmd];
    if (argv.length === 0)
      throw new UsageError(
        `image ${shortId(this.id)} has no Entrypoint or Cmd: give the program to run after the image name`,
      );
    const imageEnv = this.env();
    const pathVar =
      [...imageEnv, ...o.env].filter(([k]) => k === "PATH").pop()?.[1] ?? DEFAULT_PATH;
    const command = findProgram(summary, argv[0]!, pathVar);
    const spec: RunSpec = {
      command,
      args: argv.slice(1),
      imageEnv,
      exposedPorts: this.exposedPorts(),
    };
    const wd = o.workdir ?? (c.WorkingDir ? path.posix.resolve("/", c.WorkingDir) : undefined);
    if (wd !== undefined) spec.cwd = wd;
    const user = o.user ?? c.User ?? "";
    if (user !== "") {
      const u = resolveUser(user, summary);
      spec.user = { uid: u.uid, gid: u.gid, groups: u.groups };
      // docker sets HOME from the user's passwd entry unless the image or -e sets it.
      if (u.home !== undefined && !imageEnv.some(([k]) => k === "HOME"))
        imageEnv.unshift(["HOME", u.home]);
    }
    return spec;
  }
}

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** A short image ID (12 hex digits), as docker shows it. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 12);
}

/**
 * The manifest digest `ref` names: an image ID (config digest, "sha256:" optional) or a
 * unique prefix of at least 4 hex digits; a manifest digest; name@digest; name[:tag].
 */
export function resolveReference(idx: StoreIndex, ref: string): string | undefined {
  const hits = idMatches(idx, ref);
  if (hits.length > 0) return hits[0];
  const r = parseReference(ref);
  if (!r) return undefined;
  if (r.digest !== undefined) return idx.images[r.digest] ? r.digest : undefined;
  const d = idx.tags[formatReference(r)];
  return d !== undefined && idx.images[d] ? d : undefined;
}

/**
 * The manifests whose image ID (config digest) `ref` is or starts with (at least 4 hex
 * digits, "sha256:" optional), or whose manifest digest it is; oldest first. One image ID
 * may have several manifests (the same image loaded from a docker archive and an OCI one).
 * @throws AmbiguousImageError when the prefix matches several image IDs.
 */
export function idMatches(idx: StoreIndex, ref: string): string[] {
  const hex = /^(?:sha256:)?([0-9a-f]{4,64})$/.exec(ref)?.[1];
  if (hex === undefined) return [];
  const hits = Object.entries(idx.images)
    .filter(([m, e]) => e.config.slice(7).startsWith(hex) || m === `sha256:${hex}`)
    .sort(([, a], [, b]) => a.added.localeCompare(b.added));
  const configs = new Set(hits.map(([, e]) => e.config));
  if (configs.size > 1) throw new AmbiguousImageError(ref, configs.size);
  if (hits.some(([m]) => m === `sha256:${hex}`)) return [`sha256:${hex}`];
  return hits.map(([m]) => m);
}

/**
 * Follows symlinks in a RootSummary: the path `p` resolves to and its final entry's code
 * ("f755", "d"), or code undefined when it does not exist (then `path` is the resolved
 * existing prefix with the rest of `p` appended: where a new file of that name would go).
 */
export function statInRoot(
  summary: RootSummary,
  p: string,
): { path: string; code: string | undefined } {
  const pending = p.split("/");
  const resolved: string[] = [];
  const missing = (): { path: string; code: undefined } => ({
    path: path.posix.resolve(`/${resolved.join("/")}`, ...pending.filter(Boolean)),
    code: undefined,
  });
  for (let hops = 0; pending.length > 0;) {
    const c = pending.shift()!;
    if (c === "" || c === ".") continue;
    if (c === "..") {
      resolved.pop();
      continue;
    }
    const at = `/${[...resolved, c].join("/")}`;
    const code = summary.paths[at];
    if (code === undefined) {
      pending.unshift(c);
      return missing();
    }
    if (code.startsWith("l")) {
      if (++hops > 40) return { path: at, code: undefined };
      const target = code.slice(1);
      if (target.startsWith("/")) resolved.length = 0;
      pending.unshift(...target.split("/"));
      continue;
    }
    resolved.push(c);
    if (pending.every((x) => x === "" || x === ".")) return { path: at, code };
    if (code !== "d") return missing();
  }
  return { path: `/${resolved.join("/")}`, code: "d" };
}

/** The absolute path of program `name` in the image (PATH search for bare names). */
function findProgram(summary: RootSummary, name: string, pathVar: string): string {
  if (name.includes("/")) return path.posix.resolve("/", name);
  for (const dir of pathVar.split(":")) {
    if (!dir.startsWith("/")) continue;
    const p = path.posix.join(dir, name);
    const code = statInRoot(summary, p).code;
    if (code?.startsWith("f") && (parseInt(code.slice(1), 8) & 0o111) !== 0) return p;
  }
  throw new UnoError(
    "EXEC_NOT_FOUND",
    `exec: "${name}": executable file not found in $PATH (${pathVar}) inside the image`,
    127,
  );
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of (text ?? "").split("\n")) {
    const f = line.split(":");
    if (f.length < 7 || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! });
  }
  return out;
}

function parseGroup(text: string | undefined): { name: string; gid: number; members: string[] }[] {
  const out = [];
  for (const line of (text ?? "").split("\n")) {
    const f = line.split(":");
    if (f.length < 4 || !/^\d+$/.test(f[2]!)) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(",").filter(Boolean) });
  }
  return out;
}

const MAX_ID = 0xfffffffe;

function numericId(s: string, what: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  if (n > MAX_ID) throw new UsageError(`${what} ${s} is out of range`);
  return n;
}

/**
 * Resolves docker's USER forms: uid, name, uid:gid, name:group (names from the image's
 * /etc/passwd and /etc/group). A user in the passwd file gets its primary group, its
 * supplementary groups from /etc/group and its home directory; a numeric uid that is not
 * there gets gid 0, as docker does.
 */
export function resolveUser(
  spec: string,
  summary: Pick<RootSummary, "passwd" | "group">,
): { uid: number; gid: number; groups: number[]; home?: string } {
  const [userPart = "", groupPart, ...extra] = spec.split(":");
  if (userPart === "" || extra.length > 0 || groupPart === "")
    throw new UsageError(`invalid user "${spec}": use USER, UID, USER:GROUP or UID:GID`);
  const passwd = parsePasswd(summary.passwd);
  const groups = parseGroup(summary.group);
  const uidNum = numericId(userPart, "uid");
  const entry = passwd.find((p) => (uidNum !== undefined ? p.uid === uidNum : p.name === userPart));
  if (!entry && uidNum === undefined)
    throw new UsageError(
      `unable to find user ${userPart}: no matching entries in the image's /etc/passwd`,
    );
  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined) {
    const g = numericId(groupPart, "gid");
    if (g !== undefined) gid = g;
    else {
      const ge = groups.find((x) => x.name === groupPart);
      if (!ge)
        throw new UsageError(
          `unable to find group ${groupPart}: no matching entries in the image's /etc/group`,
        );
      gid = ge.gid;
    }
  }
  const supplementary =
    entry && groupPart === undefined
      ? groups
          .filter((g) => g.members.includes(entry.name) && g.gid !== gid)
          .map((g) => g.gid)
          .slice(0, 31)
      : [];
  const out: { uid: number; gid: number; groups: number[]; home?: string } = {
    uid: entry?.uid ?? uidNum!,
    gid,
    groups: supplementary,
  };
  if (entry) out.home = entry.home;
  return out;
}

// ---------------------------------------------------------------------------------------
// Store-wide operations

/** One row of `uno images`. */
export interface ImageSummary {
  repository: string;
  tag: string;
  id: string;
  digest: string;
  created: string | undefined;
  size: number;
}

/** Every image, one row per tag (untagged images once, as <none>), newest first. */
export function listImages(store: Store): ImageSummary[] {
  const idx = store.readIndex();
  const rows: ImageSummary[] = [];
  for (const digest of Object.keys(idx.images)) {
    const im = Image.open(store, digest);
    const base = { id: im.id, digest, created: im.config.created, size: im.size() };
    const tags = im.tags(idx);
    if (tags.length === 0) rows.push({ repository: "<none>", tag: "<none>", ...base });
    for (const t of tags) {
      const { repository, tag } = splitTagKey(t);
      rows.push({ repository: familiarRepository(repository), tag, ...base });
    }
  }
  return rows.sort(
    (a, b) =>
      (b.created ?? "").localeCompare(a.created ?? "") || a.repository.localeCompare(b.repository),
  );
}

/** The normalized reference for a tag argument ("busybox" → docker.io/library/busybox:latest). */
export function tagKey(ref: string): string {
  const r = parseReference(ref);
  if (!r || r.digest !== undefined)
    throw new UsageError(`invalid reference format "${ref}": use NAME[:TAG]`);
  return formatReference(r);
}

/** uno tag SOURCE TARGET */
export async function tagImage(store: Store, source: string, target: string): Promise<void> {
  const key = tagKey(target);
  await store.updateIndex((idx) => {
    const d = resolveReference(idx, source);
    if (d === undefined) throw new ImageNotFoundError(source);
    idx.tags[key] = d;
  });
}

/**
 * uno rmi: a name:tag reference is untagged, and its image removed when no tag is left; an
 * ID removes the image with all its tags (only with `force` when it has several, as docker).
 * Blobs no image uses any more are deleted. Returns docker's "Untagged:/Deleted:" lines.
 */
export async function removeImage(store: Store, ref: string, force = false): Promise<string[]> {
  const lines: string[] = [];
  await store.updateIndex((idx) => {
    const r = parseReference(ref);
    const tagged =
      r !== undefined && r.digest === undefined ? idx.tags[formatReference(r)] : undefined;
    if (tagged !== undefined) {
      delete idx.tags[formatReference(r!)];
      lines.push(`Untagged: ${displayTag(formatReference(r!))}`);
      if (!Object.values(idx.tags).includes(tagged)) {
        lines.push(`Deleted: ${idx.images[tagged]!.config}`);
        delete idx.images[tagged];
      }
      return;
    }
    // By ID or digest: the image with every manifest and tag it has.
    const d = resolveReference(idx, ref);
    if (d === undefined) throw new ImageNotFoundError(ref);
    const config = idx.images[d]!.config;
    const manifests = new Set(
      Object.keys(idx.images).filter((m) => idx.images[m]!.config === config),
    );
    const tags = Object.keys(idx.tags).filter((t) => manifests.has(idx.tags[t]!));
    if (tags.length > 1 && !force)
      throw new ImageInUseError(
        `image ${shortId(config)} is tagged ${tags.length} times (${tags.map(displayTag).join(", ")}): remove the tags one by one or use --force`,
      );
    for (const t of tags) {
      delete idx.tags[t];
      lines.push(`Untagged: ${displayTag(t)}`);
    }
    for (const m of manifests) delete idx.images[m];
    lines.push(`Deleted: ${config}`);
  });
  await collectGarbage(store);
  return lines;
}

export function displayTag(key: string): string {
  const { repository, tag } = splitTagKey(key);
  return `${familiarRepository(repository)}:${tag}`;
}

export interface PruneResult {
  images: string[];
  blobs: number;
  erofs: number;
  bytes: number;
}

/**
 * uno image prune: untagged images and uno build's cache, then every blob, EROFS and
 * temporary file nothing uses.
 */
export async function pruneImages(store: Store): Promise<PruneResult> {
  const images: string[] = [];
  await store.withLock(async () => clearBuildCache(store));
  await store.updateIndex((idx) => {
    const tagged = new Set(Object.values(idx.tags));
    for (const [d, e] of Object.entries(idx.images))
      if (!tagged.has(d)) {
        images.push(e.config);
        delete idx.images[d];
      }
  });
  return { images, ...(await collectGarbage(store, { downloads: true })) };
}

/**
 * Deletes what no indexed image references; under the store lock (loads hold it too). The
 * downloads an interrupted pull kept for the next one go only when `downloads` (prune) asks.
 */
export async function collectGarbage(
  store: Store,
  opts: { downloads?: boolean } = {},
): Promise<Omit<PruneResult, "images">> {
  return store.withLock(async () => {
    const idx = store.readIndex();
    const used = new Set<string>();
    const keys = new Set<string>();
    for (const d of Object.keys(idx.images)) {
      for (const b of manifestBlobs(store, d)) used.add(b);
      keys.add(Image.open(store, d).rootfsKey());
    }
    // Layers of uno build's cache stay (uno image prune empties the cache first).
    for (const b of buildCacheBlobs(store)) used.add(b);
    let blobs = 0;
    let erofs = 0;
    let bytes = 0;
    const remove = (p: string): void => {
      try {
        bytes += fs.lstatSync(p).size;
        fs.rmSync(p, { recursive: true, force: true });
      } catch {
        /* already gone */
      }
    };
    for (const b of store.listBlobs())
      if (!used.has(b)) {
        remove(store.blobPath(b));
        blobs++;
      }
    for (const f of safeReaddir(store.erofsDir)) {
      const key = /^([0-9a-f]{64})\.(erofs|json)$/.exec(f);
      if (key && keys.has(key[1]!)) continue;
      if (f.endsWith(".erofs")) erofs++;
      remove(path.join(store.erofsDir, f));
    }
    // Temporary files of processes that are gone (their names carry the writer's pid).
    for (const f of safeReaddir(store.tmpDir)) {
      if (f.startsWith(DOWNLOAD_PREFIX) && !opts.downloads) continue;
      const pid = Number(/-(\d+)-[0-9a-f]+$/.exec(f)?.[1]);
      if (!Number.isInteger(pid) || pid === process.pid || !alive(pid))
        remove(path.join(store.tmpDir, f));
    }
    return { blobs, erofs, bytes };
  });
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** uno inspect: docker-like JSON for one image. */
export function inspectImage(im: Image): Record<string, unknown> {
  const c = im.config;
  return {
    Id: im.id,
    RepoTags: im.tags().map(displayTag),
    ManifestDigest: im.digest,
    Created: c.created,
    Architecture: c.architecture,
    Os: c.os,
    Size: im.size(),
    Config: c.config ?? {},
    RootFS: c.rootfs,
    Layers: im.manifest.layers,
  };
}

/** uno system df: what the store holds, and what prune would reclaim. */
export function diskUsage(store: Store): {
  images: number;
  blobBytes: number;
  erofsBytes: number;
  tmpBytes: number;
  reclaimableBytes: number;
} {
  const idx = store.readIndex();
  const used = new Set<string>();
  for (const d of Object.keys(idx.images)) for (const b of manifestBlobs(store, d)) used.add(b);
  let blobBytes = 0;
  let reclaimable = 0;
  for (const b of store.listBlobs()) {
    const n = store.blobSize(b);
    blobBytes += n;
    if (!used.has(b)) reclaimable += n;
  }
  return {
    images: Object.keys(idx.images).length,
    blobBytes,
    erofsBytes: Store.dirBytes(store.erofsDir),
    tmpBytes: Store.dirBytes(store.tmpDir),
    reclaimableBytes: reclaimable,
  };
}

/**
 * uno save: the images as an OCI image layout tar (oci-layout, index.json, blobs/sha256/…),
 * each index entry annotated with its tag (org.opencontainers.image.ref.name) and full name
 * (io.containerd.image.name), as docker writes them.
 */
export async function saveImages(store: Store, refs: string[], out: Writable): Promise<void> {
  const idx = store.readIndex();
  const manifests: Record<string, unknown>[] = [];
  const blobs = new Set<string>();
  for (const ref of refs) {
    const im = Image.get(store, ref);
    const r = parseReference(ref);
    const key =
      r && r.digest === undefined && idx.tags[formatReference(r)] === im.digest
        ? formatReference(r)
        : im.tags(idx)[0];
    const desc: Record<string, unknown> = {
      mediaType: im.manifest.mediaType ?? MT.ociManifest,
      digest: im.digest,
      size: store.blobSize(im.digest),
    };
    if (key !== undefined)
      desc.annotations = {
        "io.containerd.image.name": key,
        "org.opencontainers.image.ref.name": splitTagKey(key).tag,
      };
    manifests.push(desc);
    for (const b of manifestBlobs(store, im.digest)) blobs.add(b);
  }
  const pack = tar.pack();
  const done = new Promise<void>((resolve, reject) => {
    pack.on("error", reject);
    out.on("error", reject);
    out.on("finish", resolve);
  });
  pack.pipe(out);
  const add = (name: string, data: string): void => {
    pack.entry({ name, mode: 0o644, mtime: new Date(0) }, data);
  };
  add("oci-layout", JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  add("index.json", JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests }));
  for (const b of blobs) {
    const size = store.blobSize(b);
    await new Promise<void>((resolve, reject) => {
      const w = pack.entry(
        { name: `blobs/sha256/${b.slice(7)}`, size, mode: 0o644, mtime: new Date(0) },
        (err) => (err ? reject(err) : resolve()),
      );
      fs.createReadStream(store.blobPath(b)).on("error", reject).pipe(w);
    });
  }
  pack.finalize();
  await done;
}
