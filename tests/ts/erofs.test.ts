/**
 * EROFS writer and rootfs packer tests. Images are checked three ways:
 *  - Debian's erofs-utils: fsck.erofs (integrity, superblock checksum, extraction) and
 *    dump.erofs (per-inode size/mode/type/nid/layout, superblock, statistics);
 *  - an independent reader below that walks the raw image and checks the rules the Linux
 *    kernel and the libOS rely on (inline tails within one block, block-aligned file data,
 *    sorted self-contained directory blocks, "." and "..", nlink);
 *  - byte-for-byte comparison of the extracted tree with the source.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ImageBuildError,
  crc32c,
  dataFileNode,
  dirNode,
  hostFileNode,
  symlinkNode,
  writeErofs,
  type DirNode,
  type FileNode,
  type TreeNode,
} from "../../src/image/erofs.js";
import { packDirectory, packElf } from "../../src/image/rootfs.js";
import { UnoError } from "../../src/lib/errors.js";

const IS_ROOT = process.getuid?.() === 0;
const BT = 1_700_000_000; // build time used by the tree tests

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), "uno-erofs-test-"));
});
after(() => {
  rmSync(work, { recursive: true, force: true });
});

let counter = 0;
function scratch(prefix: string): string {
  return join(work, `${prefix}-${counter++}`);
}

// ---------------------------------------------------------------------------------------
// erofs-utils helpers

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function fsckOk(img: string): void {
  const r = run("fsck.erofs", [img]);
  assert.equal(r.status, 0, `fsck.erofs failed:\n${r.out}`);
  // fsck.erofs 1.5 reports some errors (e.g. a bad superblock checksum) but exits 0.
  assert.doesNotMatch(r.out, /<E>/, `fsck.erofs reported errors:\n${r.out}`);
}

function extract(img: string): string {
  const dir = scratch("extract");
  const r = run("fsck.erofs", [`--extract=${dir}`, img]);
  assert.equal(r.status, 0, `fsck.erofs --extract failed:\n${r.out}`);
  assert.doesNotMatch(r.out, /<E>/, `fsck.erofs --extract reported errors:\n${r.out}`);
  return dir;
}

interface Dump {
  size: number;
  type: string;
  nid: number;
  links: number;
  layout: number;
  inodeSize: number;
  uid: number;
  gid: number;
  perm: number;
  timestamp: string;
}

function dumpPath(img: string, path: string): Dump {
  const r = run("dump.erofs", [`--path=${path}`, img]);
  assert.equal(r.status, 0, `dump.erofs --path=${path} failed:\n${r.out}`);
  const m = (re: RegExp): RegExpMatchArray => {
    const x = r.out.match(re);
    assert.ok(x, `no ${re} in dump.erofs output:\n${r.out}`);
    return x;
  };
  const size = m(/Size: (\d+)\s+On-disk size: \d+\s+(.+?)\s*$/m);
  const nid = m(/NID: (\d+)\s+Links: (\d+)\s+Layout: (\d+)/);
  const owner = m(/Uid: (\d+)\s+Gid: (\d+)\s+Access: ([0-7]+)\//);
  return {
    size: Number(size[1]),
    type: size[2]!,
    nid: Number(nid[1]),
    links: Number(nid[2]),
    layout: Number(nid[3]),
    inodeSize: Number(m(/Inode size: (\d+)/)[1]),
    uid: Number(owner[1]),
    gid: Number(owner[2]),
    perm: parseInt(owner[3]!, 8),
    timestamp: m(/Timestamp: (.+?)\s*$/m)[1]!,
  };
}

/** Physical extents of a file from `dump.erofs -e`. */
function extents(img: string, path: string): { logical: number; physical: number; len: number }[] {
  const r = run("dump.erofs", ["-e", `--path=${path}`, img]);
  assert.equal(r.status, 0, r.out);
  const res = [];
  for (const x of r.out.matchAll(
    /^\s*\d+:\s+(\d+)\.\.\s*\d+\s*\|\s*(\d+)\s*:\s*(\d+)\.\.\s*\d+\s*\|/gm,
  ))
    res.push({ logical: Number(x[1]), len: Number(x[2]), physical: Number(x[3]) });
  return res;
}

function superblockDump(img: string): Record<string, string> {
  const r = run("dump.erofs", ["-s", img]);
  assert.equal(r.status, 0, r.out);
  const out: Record<string, string> = {};
  for (const line of r.out.split("\n")) {
    const x = line.match(/^Filesystem ([^:]+):\s*(.*?)\s*$/);
    if (x) out[x[1]!] = x[2]!;
  }
  return out;
}

function statsDump(img: string): Record<string, number> {
  const r = run("dump.erofs", ["-S", img]);
  assert.equal(r.status, 0, r.out);
  const out: Record<string, number> = {};
  for (const x of r.out.matchAll(/^Filesystem ([a-zA-Z ]+ count):\s*(\d+)/gm))
    out[x[1]!] = Number(x[2]);
  return out;
}

// ---------------------------------------------------------------------------------------
// Independent raw-image checker

interface RawInode {
  nid: number;
  mode: number;
  layout: number;
  extended: boolean;
  size: number;
  iu: number;
  nlink: number;
  isize: number;
}

/**
 * Walks the image from the root and asserts the on-disk rules; returns nid per path and
 * the number of distinct inodes reached.
 */
function checkImage(img: string): {
  nids: Map<string, number>;
  byPath: Map<string, RawInode>;
  inodes: number;
} {
  const b = readFileSync(img);
  const B = 4096;
  assert.equal(b.length % B, 0, "image size is a multiple of the block size");
  assert.equal(b.readUInt32LE(1024), 0xe0f5e1e2, "magic");
  assert.equal(b.readUInt8(1024 + 12), 12, "blkszbits");
  assert.equal(b.readUInt32LE(1024 + 80), 0, "no incompat features");
  const blocks = b.readUInt32LE(1024 + 36);
  assert.equal(blocks * B, b.length, "superblock block count matches image size");
  const meta = b.readUInt32LE(1024 + 40) * B;
  const rootNid = b.readUInt16LE(1024 + 14);
  const inos = Number(b.readBigUInt64LE(1024 + 16));

  const readInode = (nid: number): RawInode => {
    const off = meta + nid * 32;
    const fmt = b.readUInt16LE(off);
    const extended = (fmt & 1) === 1;
    const isize = extended ? 64 : 32;
    assert.ok(
      Math.floor(off / B) === Math.floor((off + isize - 1) / B),
      `inode ${nid} crosses a block`,
    );
    assert.equal(b.readUInt16LE(off + 2), 0, "no xattrs");
    return {
      nid,
      extended,
      isize,
      layout: (fmt >> 1) & 7,
      mode: b.readUInt16LE(off + 4),
      size: extended ? Number(b.readBigUInt64LE(off + 8)) : b.readUInt32LE(off + 8),
      iu: b.readUInt32LE(off + 16),
      nlink: extended ? b.readUInt32LE(off + 44) : b.readUInt16LE(off + 6),
    };
  };
  /** Data of a dir/symlink/file following the kernel's FLAT_PLAIN/FLAT_INLINE rules. */
  const readData = (ino: RawInode): Buffer => {
    if (ino.layout === 0) {
      if (ino.size === 0) return Buffer.alloc(0);
      const start = ino.iu * B;
      assert.ok(start >= B && start + ino.size <= b.length, `data of nid ${ino.nid} in image`);
      return b.subarray(start, start + ino.size);
    }
    assert.equal(ino.layout, 2, `nid ${ino.nid}: only FLAT_PLAIN / FLAT_INLINE expected`);
    const full = Math.floor(ino.size / B) * B;
    const tail = ino.size - full;
    assert.ok(tail > 0, `nid ${ino.nid}: inline layout with an empty tail`);
    const tailOff = meta + ino.nid * 32 + ino.isize;
    assert.ok((tailOff % B) + tail <= B, `nid ${ino.nid}: inline data crosses a block boundary`);
    return Buffer.concat([
      b.subarray(ino.iu * B, ino.iu * B + full),
      b.subarray(tailOff, tailOff + tail),
    ]);
  };
  const FT: Record<number, number> = {
    0o100000: 1,
    0o040000: 2,
    0o020000: 3,
    0o060000: 4,
    0o010000: 5,
    0o140000: 6,
    0o120000: 7,
  };

  const nids = new Map<string, number>();
  const byPath = new Map<string, RawInode>([["/", readInode(rootNid)]]);
  const seen = new Set<number>();
  const queue: { nid: number; parent: number; path: string }[] = [
    { nid: rootNid, parent: rootNid, path: "/" },
  ];
  seen.add(rootNid);
  nids.set("/", rootNid);
  while (queue.length) {
    const { nid, parent, path } = queue.shift()!;
    const dir = readInode(nid);
    assert.equal(dir.mode & 0o170000, 0o040000, `${path} is a directory`);
    const data = readData(dir);
    let prev: Buffer | undefined;
    let subdirs = 0;
    let dots = 0;
    for (let blk = 0; blk * B < data.length; blk++) {
      const block = data.subarray(blk * B, Math.min(data.length, (blk + 1) * B));
      const n = block.readUInt16LE(8) / 12;
      assert.ok(Number.isInteger(n) && n > 0, `${path}: bad first nameoff in block ${blk}`);
      for (let i = 0; i < n; i++) {
        const d = i * 12;
        const childNid = Number(block.readBigUInt64LE(d));
        const nameoff = block.readUInt16LE(d + 8);
        const ft = block.readUInt8(d + 10);
        let end = i + 1 < n ? block.readUInt16LE(d + 12 + 8) : block.length;
        if (i + 1 === n) {
          const z = block.indexOf(0, nameoff);
          if (z !== -1 && z < end) end = z;
        }
        const name = block.subarray(nameoff, end);
        assert.ok(name.length > 0 && name.length <= 255, `${path}: name length ${name.length}`);
        if (prev) assert.ok(Buffer.compare(prev, name) < 0, `${path}: names not sorted at ${name}`);
        prev = Buffer.from(name);
        const child = readInode(childNid);
        assert.equal(ft, FT[child.mode & 0o170000], `${path}/${name}: file_type matches mode`);
        const s = name.toString();
        if (s === ".") {
          assert.equal(childNid, nid, `${path}: "." is itself`);
          dots++;
          continue;
        }
        if (s === "..") {
          assert.equal(childNid, parent, `${path}: ".." is the parent`);
          dots++;
          continue;
        }
        const childPath = path === "/" ? `/${s}` : `${path}/${s}`;
        nids.set(childPath, childNid);
        byPath.set(childPath, child);
        if ((child.mode & 0o170000) === 0o040000) {
          subdirs++;
          assert.ok(!seen.has(childNid), `directory ${childPath} reached twice`);
          seen.add(childNid);
          queue.push({ nid: childNid, parent: nid, path: childPath });
        } else if (!seen.has(childNid)) {
          seen.add(childNid);
          if ((child.mode & 0o170000) === 0o100000) {
            assert.equal(child.layout, 0, `${childPath}: regular files are FLAT_PLAIN`);
            if (child.size > 0) assert.ok(child.iu > 0, `${childPath}: data block address`);
          } else if ((child.mode & 0o170000) === 0o120000) {
            assert.equal(readData(child).length, child.size);
          }
        }
      }
    }
    assert.equal(dots, 2, `${path}: has "." and ".."`);
    assert.equal(dir.nlink, 2 + subdirs, `${path}: nlink = 2 + subdirectories`);
  }
  assert.equal(seen.size, inos, "superblock inode count");
  return { nids, byPath, inodes: seen.size };
}

// ---------------------------------------------------------------------------------------
// Comparing an extracted tree with its source

/** Compares an in-memory tree with an extracted directory. */
const IFMT: Record<string, number> = {
  dir: 0o040000,
  file: 0o100000,
  symlink: 0o120000,
  chardev: 0o020000,
  blockdev: 0o060000,
  fifo: 0o010000,
  socket: 0o140000,
};
const DEFAULT_MODE: Record<string, number> = { dir: 0o755, file: 0o644, symlink: 0o777 };

/**
 * Compares an in-memory tree with an extracted directory and with the raw inodes of the
 * image (fsck.erofs --extract drops setuid bits, so full modes are checked on the image).
 */
function compareTree(
  node: TreeNode,
  host: string,
  path: string,
  buildTime: number,
  raw: Map<string, RawInode>,
): void {
  const st = lstatSync(host, { bigint: true });
  const mtimeNs = BigInt(node.mtime ?? buildTime) * 1_000_000_000n + BigInt(node.mtimeNsec ?? 0);
  const mode = node.mode ?? DEFAULT_MODE[node.kind]!;
  assert.equal(raw.get(path || "/")?.mode, IFMT[node.kind]! | mode, `raw mode of ${path}`);
  if (node.kind !== "symlink") {
    assert.equal(Number(st.mode & 0o777n), mode & 0o777, `mode of ${path}`);
    assert.equal(st.mtimeNs, mtimeNs, `mtime of ${path}`);
  }
  if (IS_ROOT) {
    assert.equal(Number(st.uid), node.uid ?? 0, `uid of ${path}`);
    assert.equal(Number(st.gid), node.gid ?? 0, `gid of ${path}`);
  }
  switch (node.kind) {
    case "dir": {
      assert.ok(st.isDirectory(), `${path} is a directory`);
      const names = readdirSync(host).sort();
      assert.deepEqual(names, [...node.entries.keys()].sort(), `entries of ${path}`);
      for (const [name, child] of node.entries)
        compareTree(child, join(host, name), `${path}/${name}`, buildTime, raw);
      break;
    }
    case "file": {
      assert.ok(st.isFile(), `${path} is a file`);
      const want =
        "data" in node.source ? Buffer.from(node.source.data) : readFileSync(node.source.path);
      assert.ok(readFileSync(host).equals(want), `contents of ${path}`);
      break;
    }
    case "symlink":
      assert.ok(st.isSymbolicLink(), `${path} is a symlink`);
      assert.equal(readlinkSync(host), String(node.target), `target of ${path}`);
      break;
    default:
      assert.fail(`unexpected ${node.kind} at ${path}`);
  }
}

/** Compares two host trees (source directory vs extracted image). */
function compareHostTrees(
  src: string,
  out: string,
  raw: Map<string, RawInode>,
  skip: Set<string> = new Set(),
): number {
  let count = 0;
  const walk = (a: string, b: string, rel: string): void => {
    count++;
    const sa = lstatSync(a, { bigint: true });
    const sb = lstatSync(b, { bigint: true });
    assert.equal(sb.mode & 0o170000n, sa.mode & 0o170000n, `type of ${rel}`);
    assert.equal(raw.get(`/${rel}`)?.mode, Number(sa.mode), `raw mode of ${rel}`);
    if (!sa.isSymbolicLink()) {
      assert.equal(sb.mode & ~0o7000n, sa.mode & ~0o7000n, `mode of ${rel}`);
      assert.equal(sb.mtimeNs, sa.mtimeNs, `mtime of ${rel}`);
    }
    if (IS_ROOT) {
      assert.equal(sb.uid, sa.uid, `uid of ${rel}`);
      assert.equal(sb.gid, sa.gid, `gid of ${rel}`);
    }
    if (sa.isDirectory()) {
      const na = readdirSync(a)
        .filter((n) => !skip.has(rel ? `${rel}/${n}` : n))
        .sort();
      assert.deepEqual(readdirSync(b).sort(), na, `entries of ${rel || "/"}`);
      for (const n of na) walk(join(a, n), join(b, n), rel ? `${rel}/${n}` : n);
    } else if (sa.isSymbolicLink()) {
      assert.ok(readlinkSync(b, "buffer").equals(readlinkSync(a, "buffer")), `target of ${rel}`);
    } else {
      assert.ok(readFileSync(b).equals(readFileSync(a)), `contents of ${rel}`);
    }
  };
  walk(src, out, "");
  return count;
}

// ---------------------------------------------------------------------------------------
// Fixtures

const LONG = "L".repeat(250) + "-name"; // 255 bytes
const DEPTH = 60;

/** The edge-case tree; uses Buffers for contents. */
function edgeTree(): { root: DirNode; shared: FileNode; big: Buffer; many: DirNode } {
  const root = dirNode({ mtime: BT });
  const add = (d: DirNode, name: string, n: TreeNode): TreeNode => (d.entries.set(name, n), n);
  const big = randomBytes(3 * 4096 + 5);
  add(root, "empty", dataFileNode(""));
  add(root, "one", dataFileNode("x"));
  add(root, "page", dataFileNode(randomBytes(4096)));
  add(root, "page1", dataFileNode(randomBytes(4097)));
  add(root, "big", dataFileNode(big));
  add(root, LONG, dataFileNode("long name\n"));
  // Names that sort before "." and "..": directory order is bytewise over all entries.
  add(root, "-dash", dataFileNode("dash\n"));
  add(root, "#hash", dirNode());
  add(root, "\u00e9t\u00e9", dataFileNode("utf-8 name\n"));
  const shared = dataFileNode("shared contents\n", { mode: 0o640 });
  add(root, "hl1", shared);
  const sub = add(root, "sub", dirNode({ mode: 0o750, mtime: BT })) as DirNode;
  add(sub, "hl2", shared);
  add(sub, "hl3", shared);
  add(root, "owner", dataFileNode("owned\n", { uid: 70000, gid: 80000 }));
  add(root, "oddtime", dataFileNode("time\n", { mtime: 1234567890, mtimeNsec: 123456789 }));
  add(root, "setuid", dataFileNode("#!/bin/true\n", { mode: 0o4755 }));
  add(root, "tmp", dirNode({ mode: 0o1777 }));
  const links = add(root, "links", dirNode()) as DirNode;
  add(links, "s1", symlinkNode("a"));
  add(links, "s2500", symlinkNode("b".repeat(2500)));
  add(links, "s3000", symlinkNode("c".repeat(3000)));
  add(links, "s4095", symlinkNode("d/".repeat(2047) + "d"));
  add(links, "abs", symlinkNode("/etc/passwd"));
  let d = root;
  for (let i = 0; i < DEPTH; i++) d = add(d, `d${i}`, dirNode()) as DirNode;
  add(d, "leaf", dataFileNode("bottom\n"));
  const many = add(root, "many", dirNode()) as DirNode;
  for (let i = 0; i < 10_000; i++) {
    const name = `entry-${String(i).padStart(5, "0")}-${"z".repeat(i % 40)}`;
    if (i % 3 === 0) add(many, name, dataFileNode(""));
    else if (i % 3 === 1) add(many, name, symlinkNode(`target-${i}`));
    else if (i % 300 === 2) add(many, name, dirNode());
    else add(many, name, dataFileNode(`file ${i}\n`));
  }
  return { root, shared, big, many };
}

// ---------------------------------------------------------------------------------------

describe("crc32c", () => {
  test("matches the standard Castagnoli check value", () => {
    assert.equal((crc32c(0xffffffff, Buffer.from("123456789")) ^ 0xffffffff) >>> 0, 0xe3069283);
  });
});

describe("writeErofs", () => {
  let img: string;
  let fixture: ReturnType<typeof edgeTree>;
  let result: { bytes: number; inodes: number };

  before(async () => {
    fixture = edgeTree();
    img = scratch("edge.erofs");
    result = await writeErofs(fixture.root, img, { buildTime: BT, volumeName: "edge" });
  });

  test("fsck.erofs accepts the image and the raw layout follows the kernel's rules", () => {
    fsckOk(img);
    const { inodes } = checkImage(img);
    assert.equal(inodes, result.inodes);
    assert.equal(statSync(img).size, result.bytes);
  });

  test("superblock as shown by dump.erofs -s and -S", () => {
    const sb = superblockDump(img);
    assert.equal(sb["magic number"], "0xE0F5E1E2");
    assert.equal(sb["root nid"], "36");
    assert.equal(sb["inode metadata start block"], "0");
    assert.equal(Number(sb["inode count"]), result.inodes);
    assert.equal(Number(sb["blocks"]) * 4096, result.bytes);
    assert.match(sb["features"] ?? "", /sb_csum/);
    const st = statsDump(img);
    // 8 + 3 in "many" dirs ... count them from the fixture instead of by hand:
    let dirs = 0;
    let files = 0;
    let symlinks = 0;
    // dump.erofs -S counts names (a file with 3 hard links counts 3 times).
    const walk = (n: TreeNode): void => {
      if (n.kind === "dir") {
        dirs++;
        n.entries.forEach(walk);
      } else if (n.kind === "file") files++;
      else if (n.kind === "symlink") symlinks++;
    };
    walk(fixture.root);
    assert.equal(st["directory count"], dirs);
    assert.equal(st["regular file count"], files);
    assert.equal(st["symlink file count"], symlinks);
    assert.equal(dirs + files + symlinks - 2, result.inodes, "2 extra names for the hard links");
  });

  test("regular files: sizes, FLAT_PLAIN layout, block-aligned contiguous data", () => {
    const raw = readFileSync(img);
    for (const [name, size] of [
      ["one", 1],
      ["page", 4096],
      ["page1", 4097],
      ["big", 3 * 4096 + 5],
    ] as const) {
      const d = dumpPath(img, `/${name}`);
      assert.equal(d.size, size, `${name} size`);
      assert.equal(d.type, "regular file");
      assert.equal(d.layout, 0, `${name} is FLAT_PLAIN`);
      const ext = extents(img, `/${name}`);
      assert.equal(ext.length, 1, `${name} is one extent`);
      assert.equal(ext[0]!.physical % 4096, 0, `${name} data is block aligned`);
      const node = fixture.root.entries.get(name) as FileNode;
      const data = (node.source as { data: Uint8Array }).data;
      assert.ok(raw.subarray(ext[0]!.physical, ext[0]!.physical + size).equals(data));
      // The tail of the last block is zero-filled.
      const end = ext[0]!.physical + Math.ceil(size / 4096) * 4096;
      assert.ok(raw.subarray(ext[0]!.physical + size, end).every((x) => x === 0));
    }
    const e = dumpPath(img, "/empty");
    assert.equal(e.size, 0);
    assert.equal(e.layout, 0);
    assert.equal(extents(img, "/empty").length, 0);
  });

  test("compact vs extended inodes, owners, modes and timestamps", () => {
    const plain = dumpPath(img, "/one");
    assert.equal(plain.inodeSize, 32);
    assert.equal(plain.perm, 0o644);
    const owner = dumpPath(img, "/owner");
    assert.equal(owner.inodeSize, 64);
    assert.equal(owner.uid, 70000);
    assert.equal(owner.gid, 80000);
    const odd = dumpPath(img, "/oddtime");
    assert.equal(odd.inodeSize, 64);
    assert.match(odd.timestamp, /\.123456789$/);
    // dump.erofs only shows the 0777 bits: check the special bits on the raw inodes.
    assert.equal(dumpPath(img, "/setuid").perm, 0o755);
    const raw = checkImage(img).byPath;
    assert.equal(raw.get("/setuid")!.mode, 0o104755);
    assert.equal(dumpPath(img, "/tmp").type, "directory");
    assert.equal(raw.get("/tmp")!.mode, 0o041777);
    assert.equal(dumpPath(img, "/sub").perm, 0o750);
  });

  test("hard links share one inode with the right link count", () => {
    const a = dumpPath(img, "/hl1");
    const b = dumpPath(img, "/sub/hl2");
    const c = dumpPath(img, "/sub/hl3");
    assert.equal(a.nid, b.nid);
    assert.equal(a.nid, c.nid);
    assert.equal(a.links, 3);
    assert.equal(a.perm, 0o640);
    const { nids } = checkImage(img);
    assert.equal(nids.get("/hl1"), nids.get("/sub/hl3"));
    assert.notEqual(nids.get("/hl1"), nids.get("/one"));
  });

  test("directory link counts", () => {
    // root: sub, tmp, links, d0, many, #hash
    assert.equal(dumpPath(img, "/").links, 2 + 6);
    assert.equal(dumpPath(img, "/many").links, 2 + 34); // i % 300 === 2 for i < 10000
    assert.equal(dumpPath(img, "/tmp").links, 2);
  });

  test("symlinks, inline and not", () => {
    const s1 = dumpPath(img, "/links/s1");
    assert.equal(s1.type, "symlink file");
    assert.equal(s1.size, 1);
    assert.equal(s1.layout, 2, "short symlink is inline");
    assert.equal(s1.perm, 0o777);
    assert.equal(dumpPath(img, "/links/s2500").size, 2500);
    assert.equal(dumpPath(img, "/links/s3000").size, 3000);
    const long = dumpPath(img, "/links/s4095");
    assert.equal(long.size, 4095);
    assert.equal(long.layout, 0, "a 4095-byte target cannot be inline next to an inode");
  });

  test("long names, deep paths and a 10,000-entry directory", () => {
    assert.equal(dumpPath(img, `/${LONG}`).size, 10);
    const deep = Array.from({ length: DEPTH }, (_, i) => `d${i}`).join("/");
    assert.equal(dumpPath(img, `/${deep}/leaf`).size, 7);
    const many = dumpPath(img, "/many");
    assert.ok(many.size > 20 * 4096, `/many spans many blocks (${many.size} bytes)`);
    for (const name of [...fixture.many.entries.keys()].filter(
      (_, i) => i % 997 === 0 || i === 9999,
    )) {
      const d = dumpPath(img, `/many/${name}`);
      assert.ok(["regular file", "symlink file", "directory"].includes(d.type), name);
    }
  });

  test("fsck.erofs --extract reproduces the tree byte for byte", () => {
    const out = extract(img);
    compareTree(fixture.root, out, "", BT, checkImage(img).byPath);
  });

  test("identical input gives an identical image", async () => {
    const uuid = Buffer.alloc(16, 7);
    const t = edgeTree().root;
    const a = scratch("det-a.erofs");
    const b = scratch("det-b.erofs");
    await writeErofs(t, a, { buildTime: BT, uuid });
    await writeErofs(t, b, { buildTime: BT, uuid });
    const ra = readFileSync(a);
    assert.ok(ra.equals(readFileSync(b)), "same tree, same bytes");
    assert.ok(ra.subarray(1024 + 48, 1024 + 64).equals(uuid), "uuid stored");
  });

  test("default build time is the most common mtime, so most inodes are compact", async () => {
    const root = dirNode({ mtime: 5000 });
    root.entries.set("a", dataFileNode("a", { mtime: 5000 }));
    root.entries.set("b", dataFileNode("b", { mtime: 5000 }));
    root.entries.set("c", dataFileNode("c", { mtime: 9, mtimeNsec: 1 }));
    const p = scratch("bt.erofs");
    await writeErofs(root, p);
    fsckOk(p);
    assert.equal(dumpPath(p, "/a").inodeSize, 32);
    assert.equal(dumpPath(p, "/c").inodeSize, 64);
    assert.equal(readFileSync(p).readBigUInt64LE(1024 + 24), 5000n);
    const out = extract(p);
    assert.equal(lstatSync(join(out, "c"), { bigint: true }).mtimeNs, 9_000_000_001n);
    assert.equal(lstatSync(join(out, "a"), { bigint: true }).mtimeNs, 5_000_000_000_000n);
  });

  test("files from host paths are streamed from disk", async () => {
    const dir = scratch("host-src");
    mkdirSync(dir);
    const data = randomBytes(3 * 1024 * 1024 + 123); // crosses the 1 MiB copy chunk
    writeFileSync(join(dir, "blob"), data);
    writeFileSync(join(dir, "empty"), "");
    const root = dirNode({ mtime: BT });
    root.entries.set("blob", hostFileNode(join(dir, "blob")));
    root.entries.set("empty", hostFileNode(join(dir, "empty")));
    const p = scratch("host.erofs");
    await writeErofs(root, p, { buildTime: BT, concurrency: 1 });
    fsckOk(p);
    const out = extract(p);
    assert.ok(readFileSync(join(out, "blob")).equals(data));
    assert.equal(statSync(join(out, "empty")).size, 0);
    const ext = extents(p, "/blob");
    assert.equal(ext.length, 1);
    assert.equal(ext[0]!.physical % 4096, 0);
  });

  test("devices, FIFOs and sockets", async () => {
    const root = dirNode({ mtime: BT });
    root.entries.set("null", { kind: "chardev", major: 1, minor: 3, mode: 0o666 });
    root.entries.set("nvme", { kind: "blockdev", major: 259, minor: 300000 });
    root.entries.set("fifo", { kind: "fifo" });
    root.entries.set("sock", { kind: "socket" });
    const p = scratch("dev.erofs");
    await writeErofs(root, p, { buildTime: BT });
    fsckOk(p);
    checkImage(p);
    assert.equal(dumpPath(p, "/null").type, "char dev");
    assert.equal(dumpPath(p, "/null").perm, 0o666);
    assert.equal(dumpPath(p, "/nvme").type, "block dev");
    assert.equal(dumpPath(p, "/fifo").type, "FIFO file");
    assert.equal(dumpPath(p, "/sock").type, "SOCK file");
    // rdev is stored in Linux's new_encode_dev format.
    const raw = readFileSync(p);
    const nidOf = (path: string): number => dumpPath(p, path).nid;
    assert.equal(raw.readUInt32LE(nidOf("/null") * 32 + 16), (1 << 8) | 3);
    assert.equal(
      raw.readUInt32LE(nidOf("/nvme") * 32 + 16),
      ((300000 & 0xff) | (259 << 8) | ((300000 & ~0xff) << 12)) >>> 0,
    );
  });

  test("a corrupted superblock block is caught by the checksum", async () => {
    const p = scratch("csum.erofs");
    await writeErofs(edgeTree().root, p, { buildTime: BT });
    fsckOk(p);
    const raw = readFileSync(p);
    raw[1024 + 100] = 0x5a; // reserved superblock byte, covered by the checksum
    writeFileSync(p, raw);
    // fsck.erofs 1.5 prints the error but still exits 0, so look at its output.
    const r = run("fsck.erofs", [p]);
    assert.match(r.out, /superblock chksum doesn't match/);
  });

  test("invalid trees are rejected with actionable errors", async () => {
    const p = scratch("bad.erofs");
    const expectBuildError = async (root: TreeNode, re: RegExp): Promise<void> => {
      await assert.rejects(writeErofs(root, p), (err: unknown) => {
        assert.ok(err instanceof ImageBuildError, String(err));
        assert.ok(err instanceof UnoError);
        assert.equal(err.code, "IMAGE_BUILD");
        assert.match(err.message, re);
        return true;
      });
      assert.throws(() => statSync(p), "no partial image left behind");
    };
    const loop = dirNode();
    const inner = dirNode();
    loop.entries.set("a", inner);
    loop.entries.set("b", inner);
    await expectBuildError(loop, /cannot be hard-linked/);
    const slash = dirNode();
    slash.entries.set("a/b", dataFileNode(""));
    await expectBuildError(slash, /cannot contain "\/"/);
    const long = dirNode();
    long.entries.set("x".repeat(256), dataFileNode(""));
    await expectBuildError(long, /too long.*256 bytes/);
    const link = dirNode();
    link.entries.set("l", symlinkNode("y".repeat(4096)));
    await expectBuildError(link, /symlink \/l: target must be 1\.\.4095 bytes/);
    const missing = dirNode();
    missing.entries.set("gone", hostFileNode(join(work, "does-not-exist")));
    await expectBuildError(missing, /cannot read file .*does-not-exist.*no such file or directory/);
    await expectBuildError(dataFileNode("x"), /root of an image must be a directory/);
    const owner = dirNode({ uid: 2 ** 32 });
    await expectBuildError(owner, /uid of \/ must be/);
  });

  test("a host file that changes size during the build is reported", async () => {
    const f = scratch("shrinking");
    writeFileSync(f, "12345");
    const root = dirNode();
    root.entries.set("f", hostFileNode(f, { size: 10 }));
    const p = scratch("changed.erofs");
    await assert.rejects(writeErofs(root, p), /changed size while the image was being built/);
    root.entries.set("f", hostFileNode(f, { size: 3 }));
    await assert.rejects(writeErofs(root, p), /changed size/);
    root.entries.set("f", hostFileNode(f, { size: 5 }));
    await writeErofs(root, p);
    fsckOk(p);
  });
});

// ---------------------------------------------------------------------------------------

/** Creates the edge-case tree on the host. */
function makeHostTree(dir: string): void {
  mkdirSync(dir);
  const w = (rel: string, data: string | Buffer): void => writeFileSync(join(dir, rel), data);
  w("empty", "");
  w("one", "x");
  w("page", randomBytes(4096));
  w("page1", randomBytes(4097));
  w(LONG, "long name\n");
  w("-dash", "dash\n");
  w("\u00e9t\u00e9", "utf-8 name\n");
  mkdirSync(join(dir, "sub"));
  w("sub/hl1", "linked\n");
  linkSync(join(dir, "sub/hl1"), join(dir, "hl0"));
  linkSync(join(dir, "sub/hl1"), join(dir, "sub/hl2"));
  w("exec", "#!/bin/sh\n");
  chmodSync(join(dir, "exec"), 0o4755);
  mkdirSync(join(dir, "tmp"));
  chmodSync(join(dir, "tmp"), 0o1777);
  symlinkSync("one", join(dir, "s1"));
  symlinkSync("q".repeat(3000), join(dir, "s3000"));
  symlinkSync("/nonexistent/abs", join(dir, "sabs"));
  w("odd", "odd mtime\n");
  utimesSync(join(dir, "odd"), 1000, 1234567890.5);
  lutimesSync(join(dir, "s1"), 1000, 999);
  w("owned", "owned\n");
  if (IS_ROOT) {
    chownSync(join(dir, "owned"), 70000, 80000);
    chownSync(join(dir, "sub"), 12, 34);
  }
  let d = dir;
  for (let i = 0; i < DEPTH; i++) {
    d = join(d, `level${i}`);
    mkdirSync(d);
  }
  writeFileSync(join(d, "leaf"), "bottom\n");
  mkdirSync(join(dir, "many"));
  for (let i = 0; i < 10_000; i++)
    writeFileSync(join(dir, "many", `f${i}-${"n".repeat(i % 50)}`), i % 2 ? `${i}` : "");
  const r = spawnSync("mkfifo", [join(dir, "fifo")]);
  assert.equal(r.status, 0, "mkfifo");
}

describe("packDirectory", () => {
  let src: string;
  let cache: string;
  let first: Awaited<ReturnType<typeof packDirectory>>;
  const warnings: string[] = [];

  before(async () => {
    src = scratch("rootfs");
    cache = scratch("cache");
    makeHostTree(src);
    first = await packDirectory(src, cache, { onWarning: (m) => warnings.push(m) });
  });

  test("writes <cache>/images/<sha256>.erofs", () => {
    assert.match(first.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(first.erofsPath, join(cache, "images", `${first.digest.slice(7)}.erofs`));
    assert.equal(first.cached, false);
    assert.deepEqual(readdirSync(join(cache, "images")), [`${first.digest.slice(7)}.erofs`]);
  });

  test("the image passes fsck.erofs and extracts to the same tree", () => {
    fsckOk(first.erofsPath);
    const { byPath } = checkImage(first.erofsPath);
    const out = extract(first.erofsPath);
    const n = compareHostTrees(src, out, byPath, new Set(["fifo"]));
    assert.ok(n > 10_000 + DEPTH);
  });

  test("special files are skipped with a warning", () => {
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /skipping FIFO .*fifo/);
    assert.throws(() => dumpPath(first.erofsPath, "/fifo"));
  });

  test("hard links, owners, odd mtimes", () => {
    const a = dumpPath(first.erofsPath, "/hl0");
    assert.equal(a.nid, dumpPath(first.erofsPath, "/sub/hl1").nid);
    assert.equal(a.nid, dumpPath(first.erofsPath, "/sub/hl2").nid);
    assert.equal(a.links, 3);
    const odd = dumpPath(first.erofsPath, "/odd");
    assert.equal(odd.inodeSize, 64);
    assert.match(odd.timestamp, /\.500000000$/);
    if (IS_ROOT) {
      const owned = dumpPath(first.erofsPath, "/owned");
      assert.equal(owned.uid, 70000);
      assert.equal(owned.gid, 80000);
      assert.equal(owned.inodeSize, 64);
    }
    const raw = checkImage(first.erofsPath).byPath;
    assert.equal(raw.get("/exec")!.mode, 0o104755);
    assert.equal(raw.get("/tmp")!.mode, 0o041777);
  });

  test("a second pack reuses the cached image without rewriting it", async () => {
    const before = statSync(first.erofsPath, { bigint: true });
    const again = await packDirectory(src, cache, { onWarning: () => undefined });
    assert.equal(again.erofsPath, first.erofsPath);
    assert.equal(again.digest, first.digest);
    assert.equal(again.cached, true);
    const after = statSync(first.erofsPath, { bigint: true });
    assert.equal(after.mtimeNs, before.mtimeNs);
    assert.equal(after.ino, before.ino);
  });

  test("changes to the tree change the digest", async () => {
    const small = scratch("small-rootfs");
    mkdirSync(small);
    writeFileSync(join(small, "f"), "one");
    const c = scratch("small-cache");
    const a = await packDirectory(small, c);
    writeFileSync(join(small, "f"), "two!");
    const b = await packDirectory(small, c);
    assert.notEqual(b.digest, a.digest);
    assert.equal(b.cached, false);
    assert.equal(readFileSync(join(extract(b.erofsPath), "f"), "utf8"), "two!");
    // Same size, different mtime: noticed.
    writeFileSync(join(small, "f"), "tw0!");
    utimesSync(join(small, "f"), 1, 2);
    const c2 = await packDirectory(small, c);
    assert.notEqual(c2.digest, b.digest);
    // Mode change: noticed.
    chmodSync(join(small, "f"), 0o600);
    const d = await packDirectory(small, c);
    assert.notEqual(d.digest, c2.digest);
    // The key is a metadata hash: an in-place edit keeping size and mtime is NOT noticed
    // (documented limitation).
    writeFileSync(join(small, "f"), "TW0!");
    utimesSync(join(small, "f"), 1, 2);
    const e = await packDirectory(small, c);
    assert.equal(e.digest, d.digest);
    assert.equal(e.cached, true);
    // Hard-link structure is part of the key.
    writeFileSync(join(small, "g"), "TW0!");
    utimesSync(join(small, "g"), 1, 2);
    chmodSync(join(small, "g"), 0o600);
    const sep = await packDirectory(small, c);
    rmSync(join(small, "g"));
    linkSync(join(small, "f"), join(small, "g"));
    utimesSync(join(small, "g"), 1, 2);
    const linked = await packDirectory(small, c);
    assert.notEqual(linked.digest, sep.digest);
    assert.equal(dumpPath(linked.erofsPath, "/g").nid, dumpPath(linked.erofsPath, "/f").nid);
  });

  test("a cache directory inside the packed tree is left out", async () => {
    const tree = scratch("self-cache");
    mkdirSync(tree);
    writeFileSync(join(tree, "f"), "x");
    const c = join(tree, "cache");
    mkdirSync(c);
    const seen: string[] = [];
    const a = await packDirectory(tree, c, { onWarning: (m) => seen.push(m) });
    const b = await packDirectory(tree, c, { onWarning: (m) => seen.push(m) });
    assert.equal(b.digest, a.digest);
    assert.equal(b.cached, true);
    assert.match(seen[0] ?? "", /skipping .*cache: it is the image cache directory/);
    assert.deepEqual(readdirSync(extract(a.erofsPath)), ["f"]);
  });

  test("errors name the path and the cause", async () => {
    await assert.rejects(packDirectory(join(work, "nope"), cache), (err: unknown) => {
      assert.ok(err instanceof UnoError);
      assert.equal(err.code, "TARGET_NOT_FOUND");
      assert.match(err.message, /nope/);
      return true;
    });
    const file = scratch("plain-file");
    writeFileSync(file, "x");
    await assert.rejects(packDirectory(file, cache), (err: unknown) => {
      assert.ok(err instanceof UnoError);
      assert.equal(err.code, "IMAGE_BUILD");
      assert.match(err.message, /is not a directory/);
      return true;
    });
    if (!IS_ROOT) {
      const locked = scratch("locked");
      mkdirSync(join(locked, "inner"), { recursive: true });
      chmodSync(join(locked, "inner"), 0);
      await assert.rejects(
        packDirectory(locked, cache),
        /cannot read directory .*inner: permission denied/,
      );
      chmodSync(join(locked, "inner"), 0o755);
    }
    // No temporary files are left in the cache.
    assert.ok(readdirSync(join(cache, "images")).every((n) => !n.startsWith(".tmp")));
  });
});

describe("packElf", () => {
  const fakeElf = (): Buffer =>
    Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), randomBytes(10_000)]);

  test("packs /<name> into a minimal root", async () => {
    const dir = scratch("elf");
    mkdirSync(dir);
    const file = join(dir, "hello");
    const content = fakeElf();
    writeFileSync(file, content);
    chmodSync(file, 0o700);
    const cache = scratch("elf-cache");
    const p = await packElf(file, cache);
    assert.equal(p.execPath, "/hello");
    assert.equal(p.cached, false);
    assert.match(p.erofsPath, /\/images\/[0-9a-f]{64}\.erofs$/);
    fsckOk(p.erofsPath);
    checkImage(p.erofsPath);
    const exe = dumpPath(p.erofsPath, "/hello");
    assert.equal(exe.perm, 0o755);
    assert.equal(exe.uid, 0);
    assert.equal(exe.gid, 0);
    assert.equal(exe.size, content.length);
    assert.equal(exe.inodeSize, 32);
    assert.equal(extents(p.erofsPath, "/hello")[0]!.physical % 4096, 0);
    assert.equal(checkImage(p.erofsPath).byPath.get("/tmp")!.mode, 0o041777);
    for (const d of ["dev", "proc", "etc"]) {
      const x = dumpPath(p.erofsPath, `/${d}`);
      assert.equal(x.type, "directory");
      assert.equal(x.perm, 0o755);
    }
    const out = extract(p.erofsPath);
    assert.deepEqual(readdirSync(out).sort(), ["dev", "etc", "hello", "proc", "tmp"]);
    assert.ok(readFileSync(join(out, "hello")).equals(content));
    for (const d of ["dev", "proc", "etc", "tmp"]) assert.deepEqual(readdirSync(join(out, d)), []);

    // Cached: same path, not rewritten, even if the file's mtime changes.
    const st = statSync(p.erofsPath, { bigint: true });
    utimesSync(file, 5, 5);
    const q = await packElf(file, cache);
    assert.equal(q.erofsPath, p.erofsPath);
    assert.equal(q.cached, true);
    assert.equal(statSync(q.erofsPath, { bigint: true }).mtimeNs, st.mtimeNs);
    // New contents: new image.
    writeFileSync(file, fakeElf());
    const r = await packElf(file, cache);
    assert.notEqual(r.digest, p.digest);
  });

  test("rejects missing files, non-ELF files and clashing names", async () => {
    const cache = scratch("elf-cache");
    await assert.rejects(packElf(join(work, "missing-elf"), cache), (err: unknown) => {
      assert.ok(err instanceof UnoError);
      assert.equal(err.code, "TARGET_NOT_FOUND");
      return true;
    });
    const text = scratch("script");
    writeFileSync(text, "#!/bin/sh\necho hi\n");
    await assert.rejects(packElf(text, cache), (err: unknown) => {
      assert.ok(err instanceof UnoError);
      assert.equal(err.code, "BAD_ELF");
      assert.match(err.message, /not an ELF/);
      return true;
    });
    const dir = scratch("clash");
    mkdirSync(dir);
    writeFileSync(join(dir, "proc"), fakeElf());
    await assert.rejects(packElf(join(dir, "proc"), cache), (err: unknown) => {
      assert.ok(err instanceof UnoError);
      assert.equal(err.code, "IMAGE_BUILD");
      assert.match(err.message, /clashes with the \/proc directory/);
      return true;
    });
  });
});
