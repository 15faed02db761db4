/**
 * Image benchmarks (issue 7 §8): an image of about 100 MiB (busybox-static plus 4 × 25 MiB of
 * random bytes) built with Debian's umoci and pushed with Debian's skopeo to Debian's
 * docker-registry on 127.0.0.1, then, alternating, N times:
 *   - `uno pull` into a fresh UNO_HOME (download, digest checks, flatten, EROFS) vs
 *     `skopeo copy docker://… oci:…` + `umoci unpack --rootless` into fresh directories;
 *   - `uno run IMAGE /bin/busybox true` with the image's EROFS deleted from the store (so run
 *     rebuilds it) vs the second run in the same home (EROFS cached).
 * Wall-clock seconds of the whole command each. Nothing here fails on a slow number.
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startRegistry } from "../tests/ts/image-util.js";

const BUSYBOX = "/bin/busybox";
const DATA_FILES = 4;
const DATA_MIB = 25;
const TIMEOUT_MS = 300_000;

export interface ImagesBenchEnv {
  root: string; // the repository
}

export interface Series {
  median: number;
  min: number;
  max: number;
  n: number;
  runs: number[];
}

export interface ImagesResult {
  image_mib: number;
  pull_s: { uno: Series; peer: Series; ratio: number; peer_copy: Series; peer_unpack: Series };
  run_s: { uncached: Series; cached: Series; ratio: number };
}

function series(xs: number[]): Series {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  const median = s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  const r3 = (x: number): number => Math.round(x * 1000) / 1000;
  return {
    median: r3(median),
    min: r3(s[0] ?? NaN),
    max: r3(s[s.length - 1] ?? NaN),
    n: s.length,
    runs: xs.map(r3),
  };
}

/** Runs a command that must succeed, bounded; returns its wall-clock seconds. */
function timed(cmd: string, args: string[], env?: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, {
    env: env ?? process.env,
    timeout: TIMEOUT_MS,
    maxBuffer: 64 << 20,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${r.error?.message ?? `status ${r.status}`}): ` +
        `${r.stderr?.toString() ?? ""}${r.stdout?.toString() ?? ""}`,
    );
  return s;
}

/** The OCI layout (tag 1): busybox-static as /bin/busybox and 4 × 25 MiB of random data. */
function buildLayout(work: string, layout: string): number {
  const u = (...args: string[]): number => timed("umoci", args);
  u("init", "--layout", layout);
  u("new", "--image", `${layout}:1`);
  const bundle = path.join(work, "build-bundle");
  u("unpack", "--rootless", "--image", `${layout}:1`, bundle);
  const rootfs = path.join(bundle, "rootfs");
  fs.mkdirSync(path.join(rootfs, "bin"), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(rootfs, "bin", "busybox"));
  fs.chmodSync(path.join(rootfs, "bin", "busybox"), 0o755);
  fs.symlinkSync("busybox", path.join(rootfs, "bin", "sh"));
  fs.mkdirSync(path.join(rootfs, "data"));
  let bytes = fs.statSync(BUSYBOX).size;
  for (let i = 0; i < DATA_FILES; i++) {
    const b = randomBytes(DATA_MIB << 20);
    fs.writeFileSync(path.join(rootfs, "data", `random-${i}`), b);
    bytes += b.length;
  }
  u("repack", "--image", `${layout}:1`, bundle);
  u("config", "--image", `${layout}:1`, "--config.cmd", "/bin/busybox", "--config.cmd", "true");
  fs.rmSync(bundle, { recursive: true, force: true });
  return bytes / (1 << 20);
}

export async function benchImages(env: ImagesBenchEnv, runs: number): Promise<ImagesResult> {
  const uno = path.join(env.root, "bin", "uno");
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "uno-bench-images-"));
  const children: ChildProcess[] = [];
  const cleanup = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    fs.rmSync(work, { recursive: true, force: true });
  };
  process.on("exit", cleanup);
  try {
    const layout = path.join(work, "layout");
    const mib = buildLayout(work, layout);
    const { host } = await startRegistry(path.join(work, "registry"), children);
    const ref = `${host}/bench:1`;
    timed("skopeo", [
      "copy",
      "-q",
      "--dest-tls-verify=false",
      `oci:${layout}:1`,
      `docker://${ref}`,
    ]);

    const pullUno: number[] = [];
    const pullPeer: number[] = [];
    const peerCopy: number[] = [];
    const peerUnpack: number[] = [];
    const runUncached: number[] = [];
    const runCached: number[] = [];
    for (let i = 0; i < runs; i++) {
      // uno: pull into a fresh home (pull, verify, flatten, EROFS).
      const home = path.join(work, `home-${i}`);
      const unoEnv = { ...process.env, UNO_HOME: home };
      pullUno.push(timed(uno, ["pull", ref], unoEnv));

      // peer: skopeo copy to a fresh OCI layout, umoci unpack to a fresh bundle.
      const dir = path.join(work, `peer-${i}`);
      const bundle = path.join(work, `peer-bundle-${i}`);
      const t1 = timed("skopeo", [
        "copy",
        "-q",
        "--src-tls-verify=false",
        `docker://${ref}`,
        `oci:${dir}:1`,
      ]);
      const t2 = timed("umoci", ["unpack", "--rootless", "--image", `${dir}:1`, bundle]);
      pullPeer.push(t1 + t2);
      peerCopy.push(t1);
      peerUnpack.push(t2);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(bundle, { recursive: true, force: true });

      // uno run: the root deleted from the store (run rebuilds it), then the second run.
      const erofsDir = path.join(home, "store", "erofs");
      const roots = fs.readdirSync(erofsDir).filter((f) => f.endsWith(".erofs"));
      if (roots.length !== 1) throw new Error(`expected one root in ${erofsDir}: ${roots}`);
      fs.rmSync(path.join(erofsDir, roots[0]!));
      runUncached.push(timed(uno, ["run", ref, "/bin/busybox", "true"], unoEnv));
      if (!fs.existsSync(path.join(erofsDir, roots[0]!)))
        throw new Error("uno run did not rebuild the deleted root");
      runCached.push(timed(uno, ["run", ref, "/bin/busybox", "true"], unoEnv));
      fs.rmSync(home, { recursive: true, force: true });
    }
    const pu = series(pullUno);
    const pp = series(pullPeer);
    const ru = series(runUncached);
    const rc = series(runCached);
    const r2 = (x: number): number => Math.round(x * 100) / 100;
    return {
      image_mib: r2(mib),
      pull_s: {
        uno: pu,
        peer: pp,
        ratio: r2(pu.median / pp.median),
        peer_copy: series(peerCopy),
        peer_unpack: series(peerUnpack),
      },
      run_s: { uncached: ru, cached: rc, ratio: r2(ru.median / rc.median) },
    };
  } finally {
    cleanup();
    process.removeListener("exit", cleanup);
  }
}
