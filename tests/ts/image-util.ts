/**
 * Helpers shared by the image suites (images.test.ts, pull.test.ts, store.test.ts): bin/uno
 * with its own UNO_HOME, tools that must succeed, a snapshot of the store's files, tars and
 * OCI layouts written by hand.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import * as tar from "tar-stream";
import type { Store } from "../../src/lib/store.js";
import { ROOT } from "./guest-util.js";
import { freePort } from "./proc-util.js";

export const UNO = path.join(ROOT, "bin", "uno");

export interface Out {
  status: number | null;
  stdout: string;
  stderr: string;
}

export type UnoRunner = (
  args: string[],
  o?: { input?: Buffer | string; env?: NodeJS.ProcessEnv },
) => Out;

/** Runs bin/uno with UNO_HOME=home (o.env may override it), bounded by a timeout. */
export function unoWithHome(home: string): UnoRunner {
  return (args, o = {}) => {
    const r = spawnSync(UNO, args, {
      input: o.input ?? "",
      env: { ...process.env, UNO_HOME: home, ...o.env },
      timeout: 120_000,
      maxBuffer: 64 << 20,
    });
    return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };
}

/** Runs a tool that must succeed (in `cwd`); returns its stdout. */
export function runTool(cmd: string, args: string[], cwd: string, input = ""): string {
  const r = spawnSync(cmd, args, { cwd, maxBuffer: 64 << 20, input });
  assert.equal(
    r.status,
    0,
    `${cmd} ${args.join(" ")} failed (${r.error?.message ?? r.status}): ${r.stderr?.toString()}` +
      (r.error ? `; install it (scripts/setup.sh installs ${cmd})` : ""),
  );
  return r.stdout.toString();
}

export interface StoreState {
  blobs: string[];
  erofs: string[];
  tmp: string[];
  index: string;
}

/** What a store holds on disk: blob names, roots, temporary files, the index. */
export function storeStateOf(store: Store): StoreState {
  const ls = (d: string): string[] => (fs.existsSync(d) ? fs.readdirSync(d).sort() : []);
  return {
    blobs: ls(store.blobsDir),
    erofs: ls(store.erofsDir),
    tmp: ls(store.tmpDir),
    index: fs.existsSync(store.indexPath) ? fs.readFileSync(store.indexPath, "utf8") : "",
  };
}

export const REGISTRY = "/usr/bin/docker-registry";

/** A docker-registry the caller started: its host:port and storage directory. */
export interface Registry {
  host: string;
  storage: string;
}

/**
 * Starts Debian's docker-registry on 127.0.0.1 (a free port, storage under `dir`, `auth` as
 * YAML lines of its config) and waits at most 15 s for it to answer. The process goes onto
 * `children`, for the caller to kill however things end.
 */
export async function startRegistry(
  dir: string,
  children: ChildProcess[],
  auth: string[] = [],
): Promise<Registry> {
  if (!fs.existsSync(REGISTRY)) throw new Error(`${REGISTRY} is missing: install docker-registry`);
  const port = await freePort();
  const storage = path.join(dir, "storage");
  fs.mkdirSync(storage, { recursive: true });
  const config = [
    "version: 0.1",
    "log: {level: error}",
    "storage:",
    `  filesystem: {rootdirectory: ${storage}}`,
    "http:",
    `  addr: 127.0.0.1:${port}`,
    ...auth,
  ];
  fs.writeFileSync(path.join(dir, "config.yml"), config.join("\n") + "\n");
  const child = spawn(REGISTRY, ["serve", path.join(dir, "config.yml")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  children.push(child);
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then(
      (r) => r.status === 200 || r.status === 401,
      () => false,
    );
    if (ok) return { host: `127.0.0.1:${port}`, storage };
    if (Date.now() > deadline) throw new Error(`docker-registry did not answer in 15 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The Debian 12 root of scripts/debian-root.sh (built when missing: slow the first time). */
export function debianRoot(): string {
  return path.resolve(
    ROOT,
    execFileSync(path.join(ROOT, "scripts", "debian-root.sh"), {
      cwd: ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      timeout: 900_000,
    }).trim(),
  );
}

/**
 * Makes `layout:ref`, an OCI layout holding the directory `root` as one layer, with umoci
 * (init, new, unpack, a copy of the root into the bundle, repack), then `umoci config`
 * with `config` options (e.g. ["--config.cmd", "sh"]) when given.
 */
export function umociLayout(
  root: string,
  layout: string,
  ref: string,
  work: string,
  config: string[] = [],
): void {
  const u = (...args: string[]): string => runTool("umoci", args, work);
  u("init", "--layout", layout);
  u("new", "--image", `${layout}:${ref}`);
  const bundle = path.join(work, `${ref}-bundle`);
  u("unpack", "--image", `${layout}:${ref}`, bundle);
  runTool("cp", ["-a", `${root}/.`, path.join(bundle, "rootfs")], work);
  u("repack", "--image", `${layout}:${ref}`, bundle);
  fs.rmSync(bundle, { recursive: true, force: true });
  if (config.length > 0) u("config", "--image", `${layout}:${ref}`, ...config);
}

export interface FileInfo {
  type: string;
  mode: number;
  uid?: number;
  gid?: number;
  size?: number;
  target?: string;
  sha256?: string;
  mtime?: number;
  /** Other paths of the same inode (hard links). */
  links?: string;
}

/**
 * Every entry under `dir` (not the root itself), as comparable records; owners only when
 * running as root (a rootless unpack's owners are the caller's).
 */
export function snapshot(dir: string): Map<string, FileInfo> {
  const out = new Map<string, FileInfo>();
  const inodes = new Map<number, string[]>();
  const walk = (d: string, rel: string): void => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const r = `${rel}/${name}`;
      const st = fs.lstatSync(p);
      const info: FileInfo = {
        type: st.isDirectory()
          ? "dir"
          : st.isFile()
            ? "file"
            : st.isSymbolicLink()
              ? "symlink"
              : "other",
        mode: st.mode & 0o7777,
      };
      if (process.getuid?.() === 0) Object.assign(info, { uid: st.uid, gid: st.gid });
      if (st.isFile()) {
        Object.assign(info, {
          size: st.size,
          sha256: createHash("sha256").update(fs.readFileSync(p)).digest("hex"),
          mtime: Math.floor(st.mtimeMs / 1000),
        });
        if (st.nlink > 1) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), r]);
      }
      if (st.isSymbolicLink()) {
        info.target = fs.readlinkSync(p);
        delete (info as { mode?: number }).mode;
      }
      out.set(r, info);
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(dir, "");
  for (const group of inodes.values())
    for (const p of group) out.get(p)!.links = group.filter((q) => q !== p).join(",");
  return out;
}

// ---------------------------------------------------------------------------------------
// Layers and layouts written by hand

export interface TarEntry {
  name: string;
  type?: "file" | "directory" | "symlink" | "link" | "fifo";
  data?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
}

/** A tar archive written with tar-stream. */
export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on("data", (c: unknown) => chunks.push(c as Buffer));
    pack.on("end", resolve);
    pack.on("error", reject);
  });
  for (const e of entries) {
    const type = e.type ?? "file";
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === "directory" ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: new Date((e.mtime ?? 1_700_000_000) * 1000),
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
    };
    if (type === "file") pack.entry(header, e.data ?? "");
    else pack.entry(header);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export const sha = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");

/** Writes a blob into an OCI layout directory; returns its descriptor. */
export function putLayoutBlob(
  dir: string,
  data: Buffer,
  mediaType: string,
): { mediaType: string; digest: string; size: number } {
  fs.mkdirSync(path.join(dir, "blobs", "sha256"), { recursive: true });
  const hex = sha(data);
  fs.writeFileSync(path.join(dir, "blobs", "sha256", hex), data);
  return { mediaType, digest: `sha256:${hex}`, size: data.length };
}

export interface HandLayout {
  dir: string;
  manifest: { mediaType: string; digest: string; size: number };
  config: string;
}

export interface HandLayoutOptions {
  mediaType?: string;
  plain?: boolean;
  cmd?: string[];
  ref?: string;
}

/**
 * An OCI layout written by hand in `dir` (for inputs no tool would make): the given layer
 * tars (gzipped unless `plain`), a config with their diff_ids, a manifest, index.json with
 * `o.ref` as the ref.name (default "test:1").
 */
export function handLayout(dir: string, layers: Buffer[], o: HandLayoutOptions = {}): HandLayout {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const descs = layers.map((l) =>
    o.plain
      ? putLayoutBlob(dir, l, o.mediaType ?? "application/vnd.oci.image.layer.v1.tar")
      : putLayoutBlob(
          dir,
          gzipSync(l),
          o.mediaType ?? "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
  );
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Cmd: o.cmd ?? ["/bin/sh"] },
      rootfs: { type: "layers", diff_ids: layers.map((l) => `sha256:${sha(l)}`) },
    }),
  );
  const cfg = putLayoutBlob(dir, config, "application/vnd.oci.image.config.v1+json");
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: cfg,
      layers: descs,
    }),
  );
  const m = putLayoutBlob(dir, manifest, "application/vnd.oci.image.manifest.v1+json");
  const index = {
    schemaVersion: 2,
    manifests: [{ ...m, annotations: { "org.opencontainers.image.ref.name": o.ref ?? "test:1" } }],
  };
  fs.writeFileSync(path.join(dir, "index.json"), JSON.stringify(index));
  fs.writeFileSync(path.join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  return { dir, manifest: m, config: cfg.digest };
}
