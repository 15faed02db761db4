/**
 * OCI / Docker images: uno load, the store, flattening, uno run IMAGE, and the image commands.
 *
 * Inputs are made by tools no one here wrote: Debian's umoci builds an OCI layout from a
 * busybox-static root (umoci new/unpack/repack/config, and `umoci raw add-layer` for layers
 * written here with tar-stream: whiteouts, opaque dirs, hard links across layers, a file
 * replaced by a directory and back), skopeo turns it into docker-archive and oci-archive tars.
 * Expected results come from those tools too: the tree uno flattens (extracted back from its
 * EROFS with fsck.erofs) must equal `umoci unpack` of the same image; what a program prints
 * in uno must equal what busybox prints natively; `uno save` must be readable by skopeo.
 * Hostile inputs (path traversal, symlink escapes, a 10 GiB sparse header, digest mismatch,
 * truncated blobs, unknown media types) must each fail with a clear error and leave the
 * store as it was.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import { Image } from "../../src/lib/image.js";
import { Store } from "../../src/lib/store.js";
import { DigestMismatchError } from "../../src/lib/image-errors.js";
import { requireKvm, ROOT } from "./guest-util.js";
import {
  debianRoot,
  handLayout as writeHandLayout,
  makeTar,
  runTool,
  sha,
  storeStateOf,
  snapshot,
  umociLayout,
  unoWithHome,
  type FileInfo,
  type HandLayout,
  type HandLayoutOptions,
  type StoreState,
} from "./image-util.js";

const UNO = path.join(ROOT, "bin", "uno");
const BUSYBOX = "/bin/busybox";
const APPLETS = ["sh", "echo", "id", "pwd", "env", "cat", "ls", "true"];

const work = fs.mkdtempSync(path.join(os.tmpdir(), "uno-images-"));
const home = path.join(work, "home");
const store = new Store(path.join(home, "store"));
const layout = path.join(work, "layout");
const isRoot = process.getuid?.() === 0;

after(() => fs.rmSync(work, { recursive: true, force: true }));

const uno = unoWithHome(home);
const tool = (cmd: string, args: string[], cwd = work): string => runTool(cmd, args, cwd);

/**
 * An OCI layout written by hand under `work`/`name` (image-util's handLayout), tagged
 * `name`:test unless `o.ref` says otherwise.
 */
const handLayout = (name: string, layers: Buffer[], o: HandLayoutOptions = {}): HandLayout =>
  writeHandLayout(path.join(work, name), layers, { ref: `${name}:test`, ...o });

/** The manifest descriptor umoci's index.json gives tag `ref`. */
function layoutManifest(dir: string, ref: string): { digest: string; config: string } {
  const index = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8")) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  const d = index.manifests.find(
    (m) => m.annotations?.["org.opencontainers.image.ref.name"] === ref,
  );
  assert.ok(d, `umoci's layout has no ${ref}`);
  const blob = (x: string): string => path.join(dir, "blobs", "sha256", x.slice(7));
  const manifest = JSON.parse(fs.readFileSync(blob(d.digest), "utf8")) as {
    config: { digest: string };
  };
  return { digest: d.digest, config: manifest.config.digest };
}

function assertSameTree(
  expected: Map<string, FileInfo>,
  actual: Map<string, FileInfo>,
  what: string,
): void {
  const problems: string[] = [];
  for (const [p, e] of expected) {
    const a = actual.get(p);
    if (!a) problems.push(`${p}: missing in uno's root`);
    else if (JSON.stringify(a) !== JSON.stringify(e))
      problems.push(`${p}: umoci ${JSON.stringify(e)}\n     uno   ${JSON.stringify(a)}`);
  }
  for (const p of actual.keys()) if (!expected.has(p)) problems.push(`${p}: only in uno's root`);
  assert.deepEqual(problems, [], `${what}: the trees differ:\n${problems.slice(0, 20).join("\n")}`);
}

/**
 * uno's EROFS root of an image, read back with erofs-utils: fsck.erofs extracts the contents,
 * and, because its extraction drops setuid bits and hard links, dump.erofs gives each regular
 * file's inode number (NID) and link count; its mode is read from that inode's i_mode field
 * (dump.erofs 1.5 prints only the rwx bits): EROFS puts inode NID at byte NID*32 of the
 * metadata area, i_mode at +4 (compact and extended inodes alike). `dumpOnly` limits the
 * dump.erofs calls to those paths (the others keep what the extraction shows).
 */
async function unoTree(
  ref: string,
  dumpOnly?: Set<string>,
  from = store,
): Promise<Map<string, FileInfo>> {
  const root = await Image.get(from, ref).rootfs({ onWarning: () => undefined });
  const dir = fs.mkdtempSync(path.join(work, "extract-"));
  tool("fsck.erofs", [`--extract=${dir}`, "--preserve", root.erofsPath]);
  const tree = snapshot(dir);
  const image = fs.readFileSync(root.erofsPath);
  const metaBlock = image.readUInt32LE(1024 + 40);
  const byNid = new Map<string, string[]>();
  for (const [p, info] of tree) {
    if (info.type !== "file") continue;
    // For a big tree, only the files whose set-ID bits or links the extraction loses.
    if (dumpOnly && !dumpOnly.has(p)) continue;
    const out = tool("dump.erofs", [`--path=${p}`, root.erofsPath]);
    const nid = /NID: (\d+)\s+Links: (\d+)/.exec(out);
    assert.ok(nid, `dump.erofs --path=${p}: ${out}`);
    info.mode = image.readUInt16LE(metaBlock * 4096 + Number(nid[1]) * 32 + 4) & 0o7777;
    delete info.links;
    if (Number(nid[2]) > 1) byNid.set(nid[1]!, [...(byNid.get(nid[1]!) ?? []), p]);
  }
  for (const group of byNid.values())
    for (const p of group) tree.get(p)!.links = group.filter((q) => q !== p).join(",");
  return tree;
}

function umociTree(ref: string, from = layout): Map<string, FileInfo> {
  const bundle = fs.mkdtempSync(path.join(work, "umoci-"));
  fs.rmdirSync(bundle);
  tool("umoci", ["unpack", ...(isRoot ? [] : ["--rootless"]), "--image", `${from}:${ref}`, bundle]);
  return snapshot(path.join(bundle, "rootfs"));
}

const storeState = (): StoreState => storeStateOf(store);

/** A raw tar header (GNU magic) with any type flag; sizes past 8 GiB in base-256. */
function rawHeader(name: string, type: string, size: bigint): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write("0000644\0", 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  if (size < 0o77777777777n) h.write(size.toString(8).padStart(11, "0") + "\0", 124);
  else {
    h[124] = 0x80;
    h.writeBigUInt64BE(size, 124 + 4);
  }
  h.write("00000000000\0", 136);
  h.write(type, 156);
  h.write("ustar  \0", 257);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return h;
}

// ---------------------------------------------------------------------------------------
// Inputs

const PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n";
const GROUP = "root:x:0:\napp:x:1000:\nstaff:x:50:app\n";
const GREETING_CMD = "echo hello $GREETING from $(pwd)";

/** The busybox root umoci packs as the base layer. */
function makeRoot(rootfs: string): void {
  fs.mkdirSync(path.join(rootfs, "bin"), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(rootfs, "bin", "busybox"));
  fs.chmodSync(path.join(rootfs, "bin", "busybox"), 0o755);
  for (const a of APPLETS) fs.symlinkSync("busybox", path.join(rootfs, "bin", a));
  const write = (p: string, data: string, mode = 0o644): void => {
    fs.mkdirSync(path.dirname(path.join(rootfs, p)), { recursive: true });
    fs.writeFileSync(path.join(rootfs, p), data, { mode });
    fs.chmodSync(path.join(rootfs, p), mode);
  };
  write("etc/passwd", PASSWD);
  write("etc/group", GROUP);
  write("data/a.txt", "a from the base layer\n");
  write("data/gone.txt", "whited out by layer 2\n");
  write("data/keep/x", "kept\n");
  write("data/owned", "owned by app:staff\n", 0o640);
  if (isRoot) fs.chownSync(path.join(rootfs, "data", "owned"), 1000, 50);
  write("opq/old1", "hidden by the opaque marker\n");
  write("opq/sub/old2", "hidden too\n");
  write("swap", "a file, then a directory, then a file\n");
  write("hl/orig", "hard-linked across layers\n");
  write("bin/setuid-marker", "mode bits\n", 0o4755);
  fs.symlinkSync("data/a.txt", path.join(rootfs, "lnk"));
  fs.symlinkSync("/etc/passwd", path.join(rootfs, "abslnk"));
  fs.mkdirSync(path.join(rootfs, "tmp"), { mode: 0o1777 });
  fs.chmodSync(path.join(rootfs, "tmp"), 0o1777);
}

async function buildLayout(): Promise<void> {
  const u = (...args: string[]): string => tool("umoci", args);
  const rootless = isRoot ? [] : ["--rootless"];
  u("init", "--layout", layout);
  u("new", "--image", `${layout}:base`);
  const bundle = path.join(work, "bundle");
  u("unpack", ...rootless, "--image", `${layout}:base`, bundle);
  makeRoot(path.join(bundle, "rootfs"));
  u("repack", "--image", `${layout}:base`, bundle);
  u(
    "config",
    "--image",
    `${layout}:base`,
    "--tag",
    "bb",
    "--config.entrypoint",
    "/bin/sh",
    "--config.cmd",
    "-c",
    "--config.cmd",
    GREETING_CMD,
    "--config.env",
    "GREETING=hi",
    "--config.workingdir",
    "/etc",
    "--config.exposedports",
    "8080/tcp",
  );
  // Layer 2: a whiteout, an opaque directory, a file replaced by a directory, a hard link
  // to a file of the base layer, a file rewritten with other owner/mode/mtime.
  const l2 = await makeTar([
    { name: "data/.wh.gone.txt" },
    { name: "opq/", type: "directory" },
    { name: "opq/.wh..wh..opq" },
    { name: "opq/new", data: "the only entry of the opaque dir\n" },
    { name: "swap/", type: "directory", mode: 0o750 },
    { name: "swap/inside", data: "inside the directory that replaced a file\n" },
    { name: "hl/link2", type: "link", linkname: "hl/orig" },
    {
      name: "data/a.txt",
      data: "a rewritten by layer 2\n",
      mode: 0o600,
      uid: 1000,
      gid: 50,
      mtime: 1_600_000_000,
    },
  ]);
  // Layer 3: the directory replaced by a file again, a hard link to the layer-2 link.
  const l3 = await makeTar([
    { name: "swap", data: "a file again\n", mode: 0o644 },
    { name: "hl/link3", type: "link", linkname: "hl/link2" },
  ]);
  fs.writeFileSync(path.join(work, "l2.tar"), l2);
  fs.writeFileSync(path.join(work, "l3.tar"), l3);
  u("raw", "add-layer", "--image", `${layout}:bb`, "--tag", "layered", path.join(work, "l2.tar"));
  u("raw", "add-layer", "--image", `${layout}:layered`, path.join(work, "l3.tar"));
  tool("skopeo", ["copy", `oci:${layout}:bb`, `docker-archive:${work}/bb-docker.tar:bb:1.0`]);
  tool("skopeo", ["copy", `oci:${layout}:bb`, `oci-archive:${work}/bb-oci.tar:bb:2.0`]);
  tool("skopeo", [
    "copy",
    `oci:${layout}:layered`,
    `docker-archive:${work}/layered-docker.tar:layered:1.0`,
  ]);
  fs.writeFileSync(`${work}/bb-docker.tar.gz`, gzipSync(fs.readFileSync(`${work}/bb-docker.tar`)));
}

// ---------------------------------------------------------------------------------------

describe("images", () => {
  before(async () => {
    assert.ok(fs.existsSync(BUSYBOX), `${BUSYBOX} is missing: install Debian's busybox-static`);
    await buildLayout();
  });

  describe("uno load", () => {
    it("loads skopeo's docker-archive (legacy manifest.json) and tags it", () => {
      const r = uno(["load", "-i", `${work}/bb-docker.tar`]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "Loaded image: bb:1.0\n");
    });

    it("loads skopeo's oci-archive from standard input", () => {
      const r = uno(["load"], { input: fs.readFileSync(`${work}/bb-oci.tar`) });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "Loaded image: bb:2.0\n");
    });

    it("loads a gzipped docker archive and umoci's OCI layout directory", () => {
      const g = uno(["load", "-i", `${work}/bb-docker.tar.gz`]);
      assert.equal(g.status, 0, g.stderr);
      const r = uno(["load", "-i", layout]);
      assert.equal(r.status, 0, r.stderr);
      // umoci's tags are bare ("bb"): the images are loaded untagged, by ID, as docker does.
      const ids = [...r.stdout.matchAll(/^Loaded image ID: (sha256:[0-9a-f]{64})$/gm)].map(
        (m) => m[1],
      );
      for (const ref of ["base", "bb", "layered"])
        assert.ok(
          ids.includes(layoutManifest(layout, ref).config),
          `${ref} not loaded: ${r.stdout}`,
        );
      for (const ref of ["bb", "layered"]) {
        const t = uno(["tag", layoutManifest(layout, ref).digest, `umoci-${ref}:latest`]);
        assert.equal(t.status, 0, t.stderr);
      }
    });

    it("lists what was loaded with the IDs umoci gave the configs", () => {
      const r = uno(["images", "--format", "json"]);
      assert.equal(r.status, 0, r.stderr);
      const rows = JSON.parse(r.stdout) as {
        Repository: string;
        Tag: string;
        ID: string;
        Digest: string;
      }[];
      const bb = layoutManifest(layout, "bb");
      for (const [repo, tag] of [
        ["bb", "1.0"],
        ["bb", "2.0"],
        ["umoci-bb", "latest"],
      ]) {
        const row = rows.find((x) => x.Repository === repo && x.Tag === tag);
        assert.ok(row, `${repo}:${tag} missing from uno images: ${r.stdout}`);
        assert.equal(row.ID, bb.config, `${repo}:${tag}`);
      }
      // The OCI archive keeps umoci's manifest as it is.
      assert.equal(rows.find((x) => x.Tag === "2.0")!.Digest, bb.digest);
      const table = uno(["images"]);
      assert.match(table.stdout, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\n/);
      assert.match(table.stdout, new RegExp(`^bb\\s+1\\.0\\s+${bb.config.slice(7, 19)}\\s`, "m"));
    });

    it("loads docker 25's archive (OCI layout plus manifest.json) by its containerd name", () => {
      const dir = path.join(work, "docker25");
      fs.mkdirSync(dir);
      tool("tar", ["-C", dir, "-xf", `${work}/bb-oci.tar`]);
      const index = JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8")) as {
        manifests: { digest: string; annotations?: Record<string, string> }[];
      };
      const m = index.manifests[0]!;
      m.annotations = {
        "io.containerd.image.name": "docker.io/library/bb:25",
        "org.opencontainers.image.ref.name": "25",
      };
      fs.writeFileSync(path.join(dir, "index.json"), JSON.stringify(index));
      const manifest = JSON.parse(
        fs.readFileSync(path.join(dir, "blobs", "sha256", m.digest.slice(7)), "utf8"),
      ) as {
        config: { digest: string };
        layers: { digest: string }[];
      };
      const blob = (d: string): string => `blobs/sha256/${d.slice(7)}`;
      fs.writeFileSync(
        path.join(dir, "manifest.json"),
        JSON.stringify([
          {
            Config: blob(manifest.config.digest),
            RepoTags: ["bb:25"],
            Layers: manifest.layers.map((l) => blob(l.digest)),
          },
        ]),
      );
      tool("tar", ["-C", dir, "-cf", `${work}/docker25.tar`, "."]);
      const r = uno(["load", "-i", `${work}/docker25.tar`]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "Loaded image: bb:25\n");
      // Without the OCI files, manifest.json alone (blobs/ paths, a gzip layer) is read.
      fs.rmSync(path.join(dir, "index.json"));
      fs.rmSync(path.join(dir, "oci-layout"));
      fs.writeFileSync(
        path.join(dir, "manifest.json"),
        JSON.stringify([
          {
            Config: blob(manifest.config.digest),
            RepoTags: ["bb:legacy"],
            Layers: manifest.layers.map((l) => blob(l.digest)),
          },
        ]),
      );
      tool("tar", ["-C", dir, "-cf", `${work}/docker-blobs.tar`, "."]);
      const legacy = uno(["load", "-i", `${work}/docker-blobs.tar`]);
      assert.equal(legacy.status, 0, legacy.stderr);
      assert.equal(legacy.stdout, "Loaded image: bb:legacy\n");
      const ids = JSON.parse(uno(["inspect", "bb:25", "bb:legacy"]).stdout) as { Id: string }[];
      assert.deepEqual(
        ids.map((i) => i.Id),
        [manifest.config.digest, manifest.config.digest],
      );
    });
  });

  describe("flattening", () => {
    it("gives umoci unpack's tree for the busybox image", async () => {
      assertSameTree(umociTree("bb"), await unoTree("umoci-bb:latest"), "bb");
    });

    it("applies whiteouts, opaque dirs, hard links across layers, file→dir→file like umoci", async () => {
      const expected = umociTree("layered");
      const actual = await unoTree("umoci-layered:latest");
      assertSameTree(expected, actual, "layered");
      // The cases the layers were written for are really in the tree (umoci agrees above).
      assert.ok(!actual.has("/data/gone.txt"));
      assert.deepEqual(
        [...actual.keys()].filter((p) => p.startsWith("/opq/")),
        ["/opq/new"],
      );
      assert.equal(actual.get("/swap")!.type, "file");
      assert.equal(actual.get("/hl/orig")!.links, "/hl/link2,/hl/link3");
    });

    it("gives the same tree from skopeo's docker archive (uncompressed layers)", async () => {
      assert.equal(uno(["load", "-i", `${work}/layered-docker.tar`]).status, 0);
      assertSameTree(
        umociTree("layered"),
        await unoTree("layered:1.0"),
        "layered from docker-archive",
      );
    });

    /** A store of its own: the main one has these image IDs' roots built from gzip layers. */
    const freshStore = (name: string): { run: ReturnType<typeof unoWithHome>; store: Store } => {
      const h = path.join(work, name);
      return { run: unoWithHome(h), store: new Store(path.join(h, "store")) };
    };

    it("flattens zstd layers (skopeo --dest-compress-format zstd) to umoci's tree", async () => {
      const zl = path.join(work, "zstd-layout");
      tool("skopeo", [
        "copy",
        "-q",
        "--dest-compress-format",
        "zstd",
        `oci:${layout}:layered`,
        `oci:${zl}:layered`,
      ]);
      const m = layoutManifest(zl, "layered");
      const layers = (
        JSON.parse(
          fs.readFileSync(path.join(zl, "blobs", "sha256", m.digest.slice(7)), "utf8"),
        ) as {
          layers: { mediaType: string }[];
        }
      ).layers.map((l) => l.mediaType);
      assert.deepEqual(
        layers,
        layers.map(() => "application/vnd.oci.image.layer.v1.tar+zstd"),
      );
      // The same config (diff_ids) as the gzip image: the same image ID.
      assert.equal(m.config, layoutManifest(layout, "layered").config);
      const z = freshStore("home-zstd");
      const r = z.run(["load", "-i", zl]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `Loaded image ID: ${m.config}\n`);
      // umoci cannot unpack zstd layers: its tree of the gzip image is the reference.
      assertSameTree(umociTree("layered"), await unoTree(m.config, undefined, z.store), "zstd");
    });

    it("detects zstd layers by their magic in a docker archive", async () => {
      const dir = path.join(work, "docker-zstd");
      fs.mkdirSync(dir);
      tool("tar", ["-C", dir, "-xf", `${work}/layered-docker.tar`]);
      const entries = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")) as {
        Layers: string[];
      }[];
      for (const l of entries[0]!.Layers) {
        tool("zstd", ["-q", "-f", path.join(dir, l), "-o", path.join(dir, `${l}.zst`)]);
        fs.renameSync(path.join(dir, `${l}.zst`), path.join(dir, l));
      }
      tool("tar", ["-C", dir, "-cf", `${work}/layered-zstd-docker.tar`, "."]);
      const z = freshStore("home-zstd-docker");
      const r = z.run(["load", "-i", `${work}/layered-zstd-docker.tar`]);
      assert.equal(r.status, 0, r.stderr);
      const im = Image.get(z.store, "layered:1.0");
      assert.deepEqual(
        im.manifest.layers.map((l) => l.mediaType),
        entries[0]!.Layers.map(() => "application/vnd.oci.image.layer.v1.tar+zstd"),
      );
      assertSameTree(
        umociTree("layered"),
        await unoTree("layered:1.0", undefined, z.store),
        "zstd docker archive",
      );
    });

    it("keeps GNU tar's xattrs as EROFS inline xattrs (read back by the kernel, getfattr)", async () => {
      // Files with xattrs of several namespaces and sizes, archived by GNU tar (PAX records).
      const src = path.join(work, "xattr-src");
      fs.mkdirSync(path.join(src, "d"), { recursive: true });
      fs.writeFileSync(path.join(src, "a"), "a file with xattrs\n");
      // A directory whose entries make an inline tail that has to follow the xattrs.
      for (let i = 0; i < 40; i++) fs.writeFileSync(path.join(src, "d", `entry-${i}`), `${i}\n`);
      fs.symlinkSync("a", path.join(src, "link"));
      const set = (file: string, name: string, value: string): void =>
        void tool("setfattr", ["-h", "-n", name, "-v", value, path.join(src, file)]);
      set("a", "user.mime", "text/plain");
      set("a", "user.long", "v".repeat(300));
      set("a", "user.bin", "0xff00fe");
      set("a", "security.capability", "0x0100000200040000000000000000000000000000");
      set("d", "user.dir", "yes");
      set("d", "trusted.t", "only root reads this");
      set("link", "trusted.on-a-symlink", "x");
      // A name longer than the tar header's 100 bytes (a PAX path record beside the xattrs),
      // and a hard link to it: each entry must get its own PAX header's values.
      const long = `${"n".repeat(150)}`;
      fs.writeFileSync(path.join(src, "d", long), "long\n");
      set(`d/${long}`, "user.raw", "0x00ff80");
      fs.linkSync(path.join(src, "d", long), path.join(src, "hard"));
      const layer = path.join(work, "xattr.tar");
      tool("tar", ["--xattrs", "--xattrs-include=*", "-C", src, "-cf", layer, "."]);
      const h = handLayout("xattr-layout", [fs.readFileSync(layer)], { ref: "xattrs:1" });
      const z = freshStore("home-xattr");
      const r = z.run(["load", "-i", h.dir]);
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /skipping xattr/);
      const root = await Image.get(z.store, "xattrs:1").rootfs();
      tool("fsck.erofs", [root.erofsPath]);
      const mnt = fs.mkdtempSync(path.join(work, "xattr-mnt-"));
      tool("mount", ["-t", "erofs", "-o", "loop,ro", root.erofsPath, mnt]);
      try {
        // One block per file, in readdir order, which differs between the two trees.
        const dump = (dir: string): string =>
          tool("getfattr", ["-R", "-h", "-d", "-m", "-", "-e", "hex", "."], dir)
            .trim()
            .split("\n\n")
            .sort()
            .join("\n\n");
        const expected = dump(src);
        assert.match(expected, /user\.long=0x(76){300}/);
        // Not UTF-8: read from the raw PAX record, not tar-stream's decoded string.
        assert.match(expected, /user\.bin=0xff00fe/);
        assert.equal(dump(mnt), expected);
        // The directory's entries, after its xattrs, read back whole.
        assert.deepEqual(
          fs.readdirSync(path.join(mnt, "d")).sort(),
          fs.readdirSync(path.join(src, "d")).sort(),
        );
        assert.equal(fs.readFileSync(path.join(mnt, "d", "entry-39"), "utf8"), "39\n");
      } finally {
        tool("umount", [mnt]);
      }
    });

    it("builds the EROFS once per image and reuses it", async () => {
      const a = await Image.get(store, "bb:1.0").rootfs();
      const before = fs.statSync(a.erofsPath);
      const b = await Image.get(store, "bb:1.0").rootfs();
      assert.equal(b.cached, true);
      assert.equal(b.erofsPath, a.erofsPath);
      assert.equal(fs.statSync(b.erofsPath).ino, before.ino);
    });
  });

  describe("uno run IMAGE", () => {
    const native = (args: string[], env: Record<string, string> = {}, cwd = "/"): string => {
      const r = spawnSync(BUSYBOX, args, { cwd, env: { PATH: "/bin", ...env } });
      return r.stdout.toString();
    };

    it("runs the config's Entrypoint + Cmd with its Env and WorkingDir", () => {
      requireKvm();
      const r = uno(["run", "bb:1.0"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, native(["sh", "-c", GREETING_CMD], { GREETING: "hi" }, "/etc"));
    });

    it("CMD arguments replace Cmd; -e, -w override; the exit status is the program's", () => {
      requireKvm();
      const r = uno(["run", "-e", "GREETING=yo", "-w", "/tmp", "bb:2.0", "-c", GREETING_CMD]);
      assert.equal(r.stdout, native(["sh", "-c", GREETING_CMD], { GREETING: "yo" }, "/tmp"));
      assert.equal(uno(["run", "bb:1.0", "-c", "exit 7"]).status, 7);
    });

    it("--entrypoint replaces Entrypoint and clears Cmd; bare names are found in PATH", () => {
      requireKvm();
      const a = uno(["run", "--entrypoint", "echo", "bb:1.0", "a", "b"]);
      assert.equal(a.stdout, native(["echo", "a", "b"]));
      const b = uno(["run", "--entrypoint", "/bin/echo", "bb:1.0"]);
      assert.equal(b.status, 0, b.stderr);
      assert.equal(b.stdout, native(["echo"]));
      const c = uno(["run", "--entrypoint", "no-such-program", "bb:1.0"]);
      assert.equal(c.status, 127);
      assert.match(c.stderr, /"no-such-program": executable file not found in \$PATH/);
    });

    it("-u resolves names from the image's /etc/passwd and /etc/group", () => {
      requireKvm();
      const ids = (user: string): string => {
        const r = uno([
          "run",
          "-u",
          user,
          "--entrypoint",
          "sh",
          "bb:1.0",
          "-c",
          'id -u; id -g; id -G; echo "$HOME"',
        ]);
        assert.equal(r.status, 0, r.stderr);
        return r.stdout;
      };
      // Expected values read off the PASSWD and GROUP files the image was built with.
      assert.equal(ids("app"), "1000\n1000\n1000 50\n/home/app\n");
      assert.equal(ids("app:staff"), "1000\n50\n50\n/home/app\n");
      assert.equal(ids("4242:7"), "4242\n7\n7\n/root\n");
      const bad = uno(["run", "-u", "nobody", "bb:1.0"]);
      assert.equal(bad.status, 125);
      assert.match(bad.stderr, /unable to find user nobody/);
    });

    it("-u also works for a root directory, from its /etc/passwd", () => {
      requireKvm();
      const dir = path.join(work, "rootdir");
      makeRoot(dir);
      const r = uno(["run", "-u", "app", dir, "--", "/bin/sh", "-c", "id -u; id -G"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "1000\n1000 50\n");
    });

    it("a TARGET that is neither a path nor a stored image says so", () => {
      const r = uno(["run", "no-such-image:1"]);
      assert.equal(r.status, 125);
      assert.match(
        r.stderr,
        /^uno: no such file, directory or image: no-such-image:1 \(see 'uno images'/,
      );
    });

    it("-P publishes the image's ExposedPorts", () => {
      requireKvm();
      const r = uno(["run", "--verbose", "-P", "bb:1.0", "-c", "true"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /publish 0\.0\.0\.0:\d+->8080\/tcp/);
    });
  });

  describe("image commands", () => {
    it("tag, inspect and rmi", () => {
      assert.equal(uno(["tag", "bb:1.0", "example.com/team/bb:v9"]).status, 0);
      const i = uno(["inspect", "example.com/team/bb:v9"]);
      assert.equal(i.status, 0, i.stderr);
      const [info] = JSON.parse(i.stdout) as {
        Id: string;
        RepoTags: string[];
        Config: { Entrypoint: string[] };
      }[];
      assert.equal(info!.Id, layoutManifest(layout, "bb").config);
      assert.ok(info!.RepoTags.includes("example.com/team/bb:v9"));
      assert.deepEqual(info!.Config.Entrypoint, ["/bin/sh"]);
      const r = uno(["rmi", "example.com/team/bb:v9"]);
      assert.equal(r.stdout, "Untagged: example.com/team/bb:v9\n");
      assert.equal(uno(["inspect", "example.com/team/bb:v9"]).status, 125);
      assert.equal(uno(["inspect", "bb:1.0"]).status, 0);
      // An ID with several tags needs -f.
      const id = info!.Id.slice(7, 19);
      const busy = uno(["rmi", id]);
      assert.equal(busy.status, 125);
      assert.match(busy.stderr, /tagged \d+ times/);
    });

    it("uno save writes an OCI archive skopeo reads and uno loads back", () => {
      const out = path.join(work, "saved.tar");
      const s = uno(["save", "-o", out, "bb:2.0"]);
      assert.equal(s.status, 0, s.stderr);
      const info = JSON.parse(tool("skopeo", ["inspect", `oci-archive:${out}`])) as {
        Digest: string;
        Layers: string[];
      };
      assert.equal(info.Digest, layoutManifest(layout, "bb").digest);
      const copied = path.join(work, "saved-dir");
      tool("skopeo", ["copy", `oci-archive:${out}`, `dir:${copied}`]);
      for (const l of info.Layers) assert.ok(fs.existsSync(path.join(copied, l.slice(7))), l);
      assert.equal(uno(["rmi", "-f", "bb:2.0"]).status, 0);
      const back = uno(["load", "-i", out]);
      assert.equal(back.status, 0, back.stderr);
      assert.equal(back.stdout, "Loaded image: bb:2.0\n");
    });

    it("system df, then image prune removes untagged images and unused blobs and roots", () => {
      const df = uno(["system", "df"]);
      assert.equal(df.status, 0, df.stderr);
      assert.match(df.stdout, /^Images\s+\d+\s/m);
      const p = uno(["image", "prune"]);
      assert.equal(p.status, 0, p.stderr);
      // Only the "base" image umoci left untagged goes (the other two got tags above).
      assert.match(p.stdout, new RegExp(layoutManifest(layout, "base").config));
      // Every stored blob is one a remaining image's manifest names, every root one of theirs.
      const referenced = new Set<string>();
      const idx = store.readIndex();
      const roots = new Set<string>();
      for (const d of Object.keys(idx.images)) {
        const im = Image.open(store, d);
        for (const b of [d, im.manifest.config.digest, ...im.manifest.layers.map((l) => l.digest)])
          referenced.add(b.slice(7));
        roots.add(im.rootfsKey());
      }
      assert.deepEqual(storeState().blobs, [...referenced].sort());
      for (const f of storeState().erofs) assert.ok(roots.has(f.replace(/\.(erofs|json)$/, "")), f);
      assert.deepEqual(storeState().tmp, []);
    });

    it("two loads and a tag at once leave a consistent index", async () => {
      const run = (args: string[]): Promise<number | null> =>
        new Promise((resolve) => {
          const c = spawn(UNO, args, { env: { ...process.env, UNO_HOME: home }, stdio: "ignore" });
          c.on("exit", resolve);
        });
      const codes = await Promise.all([
        run(["load", "-i", `${work}/bb-docker.tar`]),
        run(["load", "-i", `${work}/layered-docker.tar`]),
        run(["tag", "bb:2.0", "concurrent:1"]),
      ]);
      assert.deepEqual(codes, [0, 0, 0]);
      const rows = JSON.parse(uno(["images", "--format", "json"]).stdout) as {
        Repository: string;
        Tag: string;
      }[];
      for (const t of ["bb:1.0", "layered:1.0", "concurrent:1"])
        assert.ok(
          rows.some((r) => `${r.Repository}:${r.Tag}` === t),
          t,
        );
      assert.ok(!fs.existsSync(store.lockPath), "the lock file is left behind");
    });
  });

  describe("store robustness", () => {
    const deadPid = (): number => {
      const r = spawnSync("sh", ["-c", "echo $$"]);
      return Number(r.stdout.toString().trim());
    };

    it("breaks the lock of a process that died, and keeps it while its holder lives", () => {
      fs.writeFileSync(store.lockPath, `${deadPid()}\n`);
      const t = uno(["tag", "bb:1.0", "after-stale-lock:1"]);
      assert.equal(t.status, 0, t.stderr);
      assert.ok(!fs.existsSync(store.lockPath));
      assert.equal(uno(["inspect", "after-stale-lock:1"]).status, 0);
    });

    it("a load killed midway leaves only complete blobs and a consistent index", async () => {
      const before = storeState();
      const child = spawn(UNO, ["load"], {
        env: { ...process.env, UNO_HOME: home },
        stdio: ["pipe", "ignore", "ignore"],
      });
      const exited = new Promise((r) => child.on("exit", r));
      child.stdin.on("error", () => undefined); // EPIPE once it is killed
      try {
        const data = fs.readFileSync(`${work}/layered-docker.tar`);
        child.stdin.write(data.subarray(0, Math.floor(data.length * 0.6)));
        // Wait until it is writing a blob, then kill it without a chance to clean up.
        for (let i = 0; i < 2400 && storeState().tmp.length === 0; i++)
          await new Promise((r) => setTimeout(r, 25));
        assert.ok(storeState().tmp.length > 0, "uno load never started writing a blob");
      } finally {
        child.kill("SIGKILL");
        await exited;
      }
      const after = storeState();
      assert.equal(after.index, before.index, "the index changed");
      for (const b of after.blobs)
        assert.equal(
          sha(fs.readFileSync(path.join(store.blobsDir, b))),
          b,
          `blob ${b} is not complete`,
        );
      // The next command breaks its lock; prune removes its temporary files.
      assert.equal(uno(["images"]).status, 0);
      assert.equal(uno(["image", "prune"]).status, 0);
      assert.deepEqual(storeState().tmp, []);
      assert.ok(!fs.existsSync(store.lockPath));
    });

    it("prune keeps the temporary files of a live writer", () => {
      const mine = path.join(store.tmpDir, `blob-${process.pid}-0123abcd`);
      const dead = path.join(store.tmpDir, `blob-${deadPid()}-0123abcd`);
      fs.writeFileSync(mine, "x");
      fs.writeFileSync(dead, "x");
      assert.equal(uno(["image", "prune"]).status, 0);
      assert.ok(fs.existsSync(mine) && !fs.existsSync(dead));
      fs.rmSync(mine);
    });
  });

  describe("hostile and broken inputs", () => {
    /** Loads `input`, expects failure matching `error`, and the store exactly as before. */
    function refused(args: string[], error: RegExp, input?: Buffer): void {
      const before = storeState();
      const r = uno(["load", ...args], input ? { input } : {});
      assert.equal(r.status, 125, `expected a failure, got ${r.status}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, error);
      assert.doesNotMatch(r.stderr, /internal error/);
      assert.deepEqual(storeState(), before, "the store changed");
      const images = uno(["images"]);
      assert.equal(images.status, 0, images.stderr);
    }
    const busyboxLayer = async (): Promise<Buffer> =>
      makeTar([
        { name: "bin/", type: "directory" },
        { name: "bin/sh", data: "not needed\n", mode: 0o755 },
      ]);

    it("refuses path traversal and absolute paths, naming the layer and the path", async () => {
      const bad = await makeTar([{ name: "../../evil", data: "x" }]);
      const h = handLayout("traversal", [bad]);
      refused(
        ["-i", h.dir],
        new RegExp(`layer sha256:[0-9a-f]{64}: "../../evil": ".." would leave the image root`),
      );
      const abs = handLayout("absolute", [await makeTar([{ name: "/etc/evil", data: "x" }])]);
      refused(["-i", abs.dir], /"\/etc\/evil": absolute path/);
    });

    it("refuses writing through a symlink, in the same layer or from a lower one", async () => {
      const same = await makeTar([
        { name: "esc", type: "symlink", linkname: "/" },
        { name: "esc/etc/evil", data: "x" },
      ]);
      refused(
        ["-i", handLayout("symlink-same", [same]).dir],
        /"esc\/etc\/evil": its parent esc is a symlink in this layer/,
      );
      const lower = await makeTar([{ name: "esc", type: "symlink", linkname: "../../.." }]);
      const upper = await makeTar([{ name: "esc/evil", data: "x" }]);
      const two = handLayout("symlink-lower", [lower, upper]);
      refused(
        ["-i", two.dir],
        /layer sha256:[0-9a-f]{64}: "esc\/evil": its parent esc is a symlink in a lower layer/,
      );
      const link = await makeTar([
        { name: "esc", type: "symlink", linkname: "/" },
        { name: "pw", type: "link", linkname: "esc/etc/passwd" },
      ]);
      refused(
        ["-i", handLayout("hardlink-symlink", [link]).dir],
        /"pw": hard link target esc is a symlink/,
      );
    });

    /** Runs uno load under GNU time; returns its status, stderr and peak RSS in KiB. */
    function loadMeasured(dir: string): { status: number | null; stderr: string; rss: number } {
      const r = spawnSync("/usr/bin/time", ["-f", "maxrss=%M", UNO, "load", "-i", dir], {
        env: { ...process.env, UNO_HOME: home },
        timeout: 60_000,
      });
      const stderr = r.stderr.toString();
      return { status: r.status, stderr, rss: Number(/maxrss=(\d+)/.exec(stderr)?.[1]) };
    }

    it("refuses a 10 GiB sparse header without allocating for it", () => {
      // A GNU sparse ('S') entry claiming 10 GiB in a base-256 size field, with no data.
      const layer = Buffer.concat([rawHeader("huge-sparse", "S", 10n << 30n), Buffer.alloc(1024)]);
      const dir = handLayout("sparse", [layer], { plain: true }).dir;
      const before = storeState();
      const r = loadMeasured(dir);
      assert.equal(r.status, 125, r.stderr);
      assert.match(r.stderr, /"huge-sparse": unsupported tar entry type \(GNU sparse or unknown\)/);
      assert.ok(r.rss > 0 && r.rss < 400 * 1024, `uno load used ${r.rss} KiB`);
      assert.deepEqual(storeState(), before);
    });

    it("refuses a PAX header claiming 10 GiB that are not there, without allocating", () => {
      const record = " size=10737418240\n";
      const paxData = Buffer.from(`${record.length + 2}${record}`);
      const pax = Buffer.concat([
        rawHeader("PaxHeaders/big", "x", BigInt(paxData.length)),
        paxData,
      ]);
      const layer = Buffer.concat([
        pax,
        Buffer.alloc(512 - paxData.length),
        rawHeader("big", "0", 0n),
        Buffer.alloc(1024),
      ]);
      const dir = handLayout("pax-size", [layer], { plain: true }).dir;
      const before = storeState();
      const r = loadMeasured(dir);
      assert.equal(r.status, 125, r.stderr);
      assert.match(r.stderr, /layer sha256:[0-9a-f]{64} is truncated/);
      assert.ok(r.rss > 0 && r.rss < 400 * 1024, `uno load used ${r.rss} KiB`);
      assert.deepEqual(storeState(), before);
    });

    it("refuses a manifest whose content does not match its digest", () => {
      const h = handLayout("mismatch", [Buffer.alloc(1024)]);
      const file = path.join(h.dir, "blobs", "sha256", h.manifest.digest.slice(7));
      fs.writeFileSync(
        file,
        fs.readFileSync(file, "utf8").replace('"schemaVersion":2', '"schemaVersion":3'),
      );
      // A directory: the manifest is checked against the digest index.json names.
      refused(
        ["-i", h.dir],
        new RegExp(`content does not match its digest \\(expected ${h.manifest.digest}`),
      );
      // The same layout as a tar: the blob is checked against its name.
      const tarFile = path.join(work, "mismatch.tar");
      tool("tar", ["-C", h.dir, "-cf", tarFile, "."]);
      refused(
        ["-i", tarFile],
        /blobs\/sha256\/[0-9a-f]{64} in .*mismatch\.tar: content does not match its digest/,
      );
    });

    it("refuses truncated blobs and truncated archives", async () => {
      const h = handLayout("truncated", [await busyboxLayer()]);
      const manifest = JSON.parse(
        fs.readFileSync(path.join(h.dir, "blobs", "sha256", h.manifest.digest.slice(7)), "utf8"),
      ) as { layers: { digest: string; size: number }[] };
      const layerFile = path.join(h.dir, "blobs", "sha256", manifest.layers[0]!.digest.slice(7));
      fs.truncateSync(layerFile, Math.floor(manifest.layers[0]!.size / 2));
      refused(["-i", h.dir], /is truncated \(\d+ of \d+ bytes\)/);
      const whole = fs.readFileSync(`${work}/bb-docker.tar`);
      const cut = path.join(work, "cut.tar");
      fs.writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
      refused(["-i", cut], /cut\.tar is truncated/);
      refused([], /standard input is truncated/, whole.subarray(0, Math.floor(whole.length / 3)));
    });

    it("refuses unknown media types and broken zstd layers with a clear message", async () => {
      const layer = await busyboxLayer();
      const weird = handLayout("weird", [layer], {
        mediaType: "application/vnd.example.layer.v1.tar+lz4",
      });
      refused(
        ["-i", weird.dir],
        /unsupported media type "application\/vnd\.example\.layer\.v1\.tar\+lz4"/,
      );
      const zstdType = "application/vnd.oci.image.layer.v1.tar+zstd";
      // A plain tar under the zstd media type.
      const plain = handLayout("zstd-plain", [layer], { mediaType: zstdType, plain: true });
      refused(
        ["-i", plain.dir],
        /layer sha256:[0-9a-f]{64}: zstd data is corrupt or cut short \(zstd: .*unsupported format\)/,
      );
      // A zstd stream cut in half: the tar inside it must not pass for complete.
      const big = await makeTar([{ name: "f", data: sha("x").repeat(40_000) }]);
      const whole = execFileSync("zstd", ["-q", "-c", "-1"], { input: big });
      const cut = handLayout("zstd-cut", [whole.subarray(0, whole.length >> 1)], {
        mediaType: zstdType,
        plain: true,
      });
      refused(["-i", cut.dir], /zstd data is corrupt or cut short/);
      const ok = handLayout("zstd-nozstd", [whole], { mediaType: zstdType, plain: true });
      const before = storeState();
      const r = uno(["load", "-i", ok.dir], { env: { UNO_ZSTD: path.join(work, "no-zstd") } });
      assert.equal(r.status, 125);
      assert.match(r.stderr, /is zstd-compressed and the zstd program .* is not installed/);
      assert.deepEqual(storeState(), before);
    });

    it("skips FIFOs with a warning and still loads", async () => {
      const layer = await makeTar([
        { name: "bin/", type: "directory" },
        { name: "bin/fifo", type: "fifo" },
        { name: "bin/ok", data: "ok\n" },
      ]);
      const h = handLayout("fifo", [layer], { ref: "fifo:1" });
      const r = uno(["load", "-i", h.dir]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /skipping fifo \/bin\/fifo/);
      const tree = await unoTree("fifo:1");
      assert.ok(tree.has("/bin/ok") && !tree.has("/bin/fifo"));
    });

    it("the store's putBlob leaves nothing behind when the digest does not match", async () => {
      const before = storeState();
      await assert.rejects(
        store.putBlobBytes(Buffer.from("payload"), {
          what: "test blob",
          digest: `sha256:${sha("other")}`,
        }),
        DigestMismatchError,
      );
      assert.deepEqual(storeState(), before);
    });
  });

  describe("a Debian 12 image", () => {
    // scripts/debian-root.sh's root (python3, perl, coreutils...), packed by umoci.
    const debLayout = path.join(work, "deb-layout");
    let root = "";

    before(() => {
      root = debianRoot();
      umociLayout(root, debLayout, "deb", work, [
        "--config.cmd",
        "python3",
        "--config.cmd",
        "-c",
        "--config.cmd",
        PY,
      ]);
      const r = uno(["load", "-i", debLayout]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(uno(["tag", layoutManifest(debLayout, "deb").digest, "deb:12"]).status, 0);
    });
    const PY =
      "import os, sys; print(sys.version_info[:3], os.getcwd(), sorted(os.listdir('/usr/lib/python3.11'))[:5])";

    it("flattens to umoci unpack's tree (set-ID programs, modes, owners, contents)", async () => {
      assert.equal(process.getuid?.(), 0, "this test compares owners and needs root");
      const expected = umociTree("deb", debLayout);
      // umoci, as root, makes the device nodes of the root's /dev; uno leaves them out.
      for (const [p, e] of expected)
        if (e.type === "other" && p.startsWith("/dev/")) expected.delete(p);
      const special = new Set(
        [...expected]
          .filter(([, e]) => e.type === "file" && (e.mode & 0o7000 || e.links))
          .map(([p]) => p),
      );
      assert.ok(
        [...special].some((p) => p.endsWith("/su")),
        "the Debian root has no set-ID su?",
      );
      assertSameTree(expected, await unoTree("deb:12", special), "Debian");
    });

    it("runs python3 from the image's Cmd, found in PATH, as chroot does natively", () => {
      requireKvm();
      const r = uno(["run", "deb:12"]);
      assert.equal(r.status, 0, r.stderr);
      const native = spawnSync("/usr/sbin/chroot", [root, "/usr/bin/python3", "-c", PY], {
        cwd: "/",
        env: { PATH: "/usr/bin:/bin" },
      });
      assert.equal(r.stdout, native.stdout.toString());
      assert.ok(r.stdout.length > 0);
    });
  });
});
