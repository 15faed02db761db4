/**
 * The store on a full disk: UNO_HOME on a tmpfs of 8 MiB this test mounts (as root), loads
 * and pulls of images that do not fit — their blobs, their flattened files, their EROFS root
 * each the thing that overflows — must fail with the store-is-full error, leave the store as
 * it was (nothing but what prune would remove), and `uno images` must still work.
 */
import { after, before as setup, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Store } from "../../src/lib/store.js";
import type { ChildProcess } from "node:child_process";
import {
  handLayout,
  makeTar,
  runTool,
  startRegistry,
  storeStateOf,
  unoWithHome,
  type StoreState,
} from "./image-util.js";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "uno-store-"));
const small = path.join(work, "tmpfs");
const home = path.join(small, "home");
const store = new Store(path.join(home, "store"));
const uno = unoWithHome(home);
let mounted = false;
const children: ChildProcess[] = [];

const MiB = 1 << 20;

describe("a full disk", () => {
  setup(() => {
    assert.equal(process.getuid?.(), 0, "mounting the small tmpfs needs root");
    fs.mkdirSync(small);
    const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", small]);
    assert.equal(m.status, 0, `mount -t tmpfs: ${m.stderr}`);
    mounted = true;
  });
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    if (mounted) spawnSync("umount", [small]);
    fs.rmSync(work, { recursive: true, force: true });
  });

  const state = (): StoreState => storeStateOf(store);
  let before: StoreState;

  /** A layout of one layer holding `data` as /big, tagged `ref`. */
  const layoutOf = async (name: string, data: Buffer): Promise<string> =>
    handLayout(path.join(work, name), [await makeTar([{ name: "big", data }])], {
      ref: `${name}:1`,
    }).dir;

  /** `uno args` must fail with `error` and leave the store as `before`, `uno images` working. */
  function refusedForSpace(args: string[], error: RegExp): void {
    const r = uno(args);
    assert.equal(r.status, 125, `expected a failure: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, error);
    assert.deepEqual(state(), before, "the store changed");
    const images = uno(["images"]);
    assert.equal(images.status, 0, images.stderr);
    assert.match(images.stdout, /^small +1 /m);
  }

  it("loads an image that fits", async () => {
    const r = uno(["load", "-i", await layoutOf("small", Buffer.from("small\n"))]);
    assert.equal(r.status, 0, r.stderr);
    before = state();
    assert.equal(before.blobs.length, 3);
  });

  it("a layer blob larger than the free space: the store-is-full error with the size", async () => {
    const dir = await layoutOf("blob", randomBytes(12 * MiB));
    refusedForSpace(
      ["load", "-i", dir],
      /cannot store layer .*: the file system holding .*\/store is full \([\d.]+[kM]?B free, 12\.\dMB needed\); free some space \(uno image prune.*\) or set UNO_HOME/,
    );
  });

  it("a small blob whose files do not fit when flattened", async () => {
    const dir = await layoutOf("staging", Buffer.alloc(12 * MiB));
    refusedForSpace(
      ["load", "-i", dir],
      /layer sha256:[0-9a-f]{64}: cannot unpack "big" \(12\.\dMB\): the file system holding .* is full \([\d.]+[kM]?B free\)/,
    );
  });

  it("files that fit but not their EROFS root: refused before it is written", async () => {
    const dir = await layoutOf("erofs", Buffer.alloc(4.5 * MiB));
    refusedForSpace(
      ["load", "-i", dir],
      /cannot write image file .*: the file system holding .* is full \([\d.]+[kM]?B free, 4\.\d+MB needed\)/,
    );
  });

  it("a pull that does not fit discards its download", async () => {
    const reg = await startRegistry(path.join(work, "registry"), children);
    const dir = await layoutOf("pulled", randomBytes(12 * MiB));
    runTool(
      "skopeo",
      [
        "copy",
        "-q",
        "--dest-tls-verify=false",
        `oci:${dir}:pulled:1`,
        `docker://${reg.host}/big:1`,
      ],
      work,
    );
    refusedForSpace(
      ["pull", `${reg.host}/big:1`],
      /cannot store layer sha256:[0-9a-f]{64} from .*: the file system holding .* is full \(.*12\.\dMB needed\)/,
    );
  });
});
