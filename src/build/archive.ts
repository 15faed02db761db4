/**
 * ADD of a local tar archive: docker extracts plain, gzip, bzip2 and xz tars (recognized by
 * their bytes, not their names) into the destination directory. Gzip is Node's zlib; bzip2
 * and xz are the host's `bzip2 -dc` and `xz -dc` (Node has neither). Entry names are checked
 * as the flattener would: no "..", absolute names made relative.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { PassThrough, pipeline, type Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import * as tar from "tar-stream";
import { BuildContextError } from "./errors.js";
import { applyOwnership, type LayerEntry, type Ownership } from "./layer.js";

export type ArchiveKind = "tar" | "gzip" | "bzip2" | "xz";

/** The kind of tar archive `file` is, or undefined for any other file (copied as it is). */
export function archiveKind(file: string): ArchiveKind | undefined {
  const head = Buffer.alloc(512);
  const fd = fs.openSync(file, "r");
  let n: number;
  try {
    n = fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (n >= 3 && head.subarray(0, 3).toString("latin1") === "BZh") return "bzip2";
  if (n >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])))
    return "xz";
  if (n >= 262 && head.subarray(257, 262).toString("latin1") === "ustar") return "tar";
  return undefined;
}

function decompressed(file: string, kind: ArchiveKind): Readable {
  const input = fs.createReadStream(file);
  if (kind === "tar") return input;
  if (kind === "gzip") return pipeline(input, createGunzip(), () => undefined);
  const tool = kind === "bzip2" ? "bzip2" : "xz";
  const child = spawn(tool, ["-dc"], { stdio: ["pipe", "pipe", "ignore"] });
  const out = new PassThrough();
  const fail = (why: string): void =>
    void out.destroy(new BuildContextError(`ADD: ${path.basename(file)}: ${why}`));
  child.on("error", (err) => fail(`cannot run ${tool} (${err.message}); install it`));
  child.on("exit", (code) => {
    if (code !== 0) fail(`${tool} could not decompress it (exit status ${code})`);
  });
  pipeline(input, child.stdin, () => undefined);
  child.stdout.pipe(out);
  return out;
}

/** A tar member name below `dest`, or an error for names that would leave it. */
function member(name: string, dest: string, file: string): string {
  const parts = name.split("/").filter((c) => c !== "" && c !== ".");
  if (parts.includes(".."))
    throw new BuildContextError(`ADD: ${file}: the entry ${name} would leave the destination`);
  return [dest, ...parts].filter((c) => c !== "").join("/");
}

/** The entries of the archive `file` extracted below `dest` (no leading "/"). */
export async function* archiveEntries(
  file: string,
  kind: ArchiveKind,
  dest: string,
  over: Ownership,
  warn: (m: string) => void,
): AsyncGenerator<LayerEntry> {
  const extract = tar.extract();
  decompressed(file, kind)
    .on("error", (err) => extract.destroy(err))
    .pipe(extract);
  for await (const e of extract) {
    const h = e.header;
    const name = member(h.name, dest, path.basename(file));
    const base = applyOwnership(
      { mode: (h.mode ?? 0o644) & 0o7777, uid: h.uid ?? 0, gid: h.gid ?? 0 },
      over,
    );
    const mtime = Math.floor((h.mtime?.getTime() ?? 0) / 1000);
    const t = h.type;
    if (t === "file" || t === "contiguous-file") {
      yield {
        name,
        mtime,
        ...base,
        type: "file",
        source: { stream: e as unknown as Readable },
        size: h.size ?? 0,
      };
      continue;
    }
    if (t === "directory" || t === "symlink" || t === "fifo") {
      const entry: LayerEntry = { name, mtime, ...base, type: t };
      if (t === "symlink") entry.linkname = h.linkname ?? "";
      if (name !== "") yield entry;
    } else if (t === "link") {
      yield { name, mtime, ...base, type: "link", linkname: member(h.linkname ?? "", dest, file) };
    } else {
      warn(`ADD: ${path.basename(file)}: skipping ${h.name} (a ${String(t)} cannot be stored)`);
    }
    e.resume();
  }
}
