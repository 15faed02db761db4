/**
 * `uno pull`, `uno login`: references, registry URL choice and credentials as unit tests; then
 * real registries no one here wrote — Debian's docker-registry (the distribution registry),
 * started on loopback by this test without auth, with htpasswd basic auth, and with token auth
 * (a tiny token server here signs the JWTs the registry checks) — filled by Debian's skopeo
 * from an OCI layout Debian's umoci built from a busybox-static root. The pulled image must be
 * the image `uno load` makes of the same layout (same image ID, same root, same output).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, createSign, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { findCredentials, removeCredentials, saveCredentials } from "../../src/lib/auth.js";
import {
  BadReferenceError,
  formatImageRef,
  isLoopback,
  parseImageRef,
  registryBaseUrl,
} from "../../src/lib/reference.js";
import { InterruptedError, parseChallenge, RegistryClient } from "../../src/lib/registry.js";
import { parsePlatform, pullImage } from "../../src/lib/registry-pull.js";
import { Image } from "../../src/lib/image.js";
import { Store } from "../../src/lib/store.js";
import { requireKvm } from "./guest-util.js";
import {
  runTool,
  startRegistry as startSharedRegistry,
  storeStateOf,
  UNO,
  unoWithHome,
  type Out,
  type Registry,
  type StoreState,
} from "./image-util.js";
import { freePort } from "./proc-util.js";

const BUSYBOX = "/bin/busybox";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "uno-pull-"));
const home = path.join(work, "home");
const store = new Store(path.join(home, "store"));
const layout = path.join(work, "layout");
const isRoot = process.getuid?.() === 0;
const children: ChildProcess[] = [];

after(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  fs.rmSync(work, { recursive: true, force: true });
});

const uno = unoWithHome(home);

/** `uno` without waiting (for two pulls at once); bounded by a timeout. */
function unoAsync(args: string[], env: NodeJS.ProcessEnv, input = ""): Promise<Out> {
  return new Promise((resolve) => {
    const c = spawn(UNO, args, { env: { ...process.env, ...env }, timeout: 120_000 });
    children.push(c);
    c.stdin.end(input);
    let stdout = "";
    let stderr = "";
    c.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    c.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    c.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

const tool = (cmd: string, args: string[]): string => runTool(cmd, args, work);

/** The manifest and config digests of tag `ref` in an OCI layout. */
function layoutImage(ref: string): { manifest: string; config: string; size: number } {
  const index = JSON.parse(fs.readFileSync(path.join(layout, "index.json"), "utf8")) as {
    manifests: { digest: string; size: number; annotations?: Record<string, string> }[];
  };
  const d = index.manifests.find(
    (m) => m.annotations?.["org.opencontainers.image.ref.name"] === ref,
  );
  assert.ok(d, `the layout has no ${ref}`);
  const m = JSON.parse(
    fs.readFileSync(path.join(layout, "blobs", "sha256", d.digest.slice(7)), "utf8"),
  ) as { config: { digest: string } };
  return { manifest: d.digest, config: m.config.digest, size: d.size };
}

/** umoci: a busybox root (tag bb, Cmd prints a line), and a variant with one more layer. */
function buildLayout(): void {
  const u = (...args: string[]): string => tool("umoci", args);
  u("init", "--layout", layout);
  u("new", "--image", `${layout}:base`);
  const bundle = path.join(work, "bundle");
  u("unpack", ...(isRoot ? [] : ["--rootless"]), "--image", `${layout}:base`, bundle);
  const rootfs = path.join(bundle, "rootfs");
  fs.mkdirSync(path.join(rootfs, "bin"), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(rootfs, "bin", "busybox"));
  fs.chmodSync(path.join(rootfs, "bin", "busybox"), 0o755);
  for (const a of ["sh", "echo", "cat"]) fs.symlinkSync("busybox", path.join(rootfs, "bin", a));
  fs.mkdirSync(path.join(rootfs, "etc"));
  fs.writeFileSync(path.join(rootfs, "etc", "motd"), "pulled from a registry\n");
  u("repack", "--image", `${layout}:base`, bundle);
  const cmd = ["--config.cmd", "/bin/sh", "--config.cmd", "-c", "--config.cmd"];
  u("config", "--image", `${layout}:base`, "--tag", "bb", ...cmd, "cat /etc/motd; echo $V");
  u("config", "--image", `${layout}:bb`, "--tag", "bb", "--config.env", "V=amd64");
  u("config", "--image", `${layout}:bb`, "--tag", "other", "--config.env", "V=other");
  // A layer no other image has, to corrupt in the registry without touching shared blobs.
  const extra = path.join(work, "extra");
  fs.mkdirSync(extra);
  fs.writeFileSync(path.join(extra, "unique"), `only in this image ${Date.now()}\n`.repeat(100));
  tool("tar", ["-C", extra, "-cf", path.join(work, "extra.tar"), "unique"]);
  u("raw", "add-layer", "--image", `${layout}:bb`, "--tag", "extra", `${work}/extra.tar`);
}

/** docker-registry with `auth` (YAML lines), killed with the other children at the end. */
function startRegistry(name: string, auth: string[] = []): Promise<Registry> {
  return startSharedRegistry(path.join(work, `registry-${name}`), children, auth);
}

/** skopeo copies tag `tag` of the layout to the registry. */
function push(reg: Registry, tag: string, dest: string, creds?: string): void {
  const c = creds ? ["--dest-creds", creds] : [];
  tool("skopeo", [
    "copy",
    "-q",
    "--dest-tls-verify=false",
    ...c,
    `oci:${layout}:${tag}`,
    `docker://${reg.host}/${dest}`,
  ]);
}

const storeState = (s = store): StoreState => storeStateOf(s);

// ---------------------------------------------------------------------------------------

describe("references", () => {
  const cases: [string, string][] = [
    ["busybox", "docker.io/library/busybox:latest"],
    ["busybox:1.36", "docker.io/library/busybox:1.36"],
    ["library/busybox", "docker.io/library/busybox:latest"],
    ["docker.io/busybox", "docker.io/library/busybox:latest"],
    ["index.docker.io/busybox", "docker.io/library/busybox:latest"],
    ["user/app:v1.0-rc_2", "docker.io/user/app:v1.0-rc_2"],
    ["ghcr.io/org/team/app:1", "ghcr.io/org/team/app:1"],
    ["localhost/app", "localhost/app:latest"],
    ["localhost:5000/app:dev", "localhost:5000/app:dev"],
    ["127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b:latest"],
    ["[::1]:5000/app", "[::1]:5000/app:latest"],
    ["Registry/app", "Registry/app:latest"],
    ["a-b/c__d.e", "docker.io/a-b/c__d.e:latest"],
    [`busybox@sha256:${"a".repeat(64)}`, `docker.io/library/busybox@sha256:${"a".repeat(64)}`],
    [`h.io/x:t@sha256:${"b".repeat(64)}`, `h.io/x:t@sha256:${"b".repeat(64)}`],
  ];
  for (const [input, want] of cases)
    it(`parses ${input}`, () => assert.equal(formatImageRef(parseImageRef(input)), want));

  const bad: [string, RegExp][] = [
    ["", /empty/],
    ["Busybox", /must be lowercase/],
    ["busybox:", /tag ""/],
    ["busybox:-x", /tag "-x"/],
    [`busybox:${"t".repeat(129)}`, /tag/],
    ["busybox@sha256:abc", /not a sha256/],
    ["busybox@md5:" + "a".repeat(32), /not a sha256/],
    ["a//b", /component is empty/],
    ["a/b_/c", /not a valid name component/],
    ["has space", /white space/],
    ["-bad.host/x", /not a registry host/],
    [":tag", /name is empty/],
    ["x".repeat(256), /longer than 255/],
  ];
  for (const [input, msg] of bad)
    it(`refuses ${JSON.stringify(input.slice(0, 40))}`, () =>
      assert.throws(
        () => parseImageRef(input),
        (e: unknown) =>
          e instanceof BadReferenceError &&
          msg.test(e.message) &&
          /expected \[REGISTRY/.test(e.message),
      ));

  it("uses https unless the registry is loopback or --insecure is given", () => {
    assert.equal(registryBaseUrl("docker.io"), "https://registry-1.docker.io");
    assert.equal(registryBaseUrl("ghcr.io"), "https://ghcr.io");
    assert.equal(registryBaseUrl("10.0.0.1:5000"), "https://10.0.0.1:5000");
    assert.equal(
      registryBaseUrl("127.1.2.3:5000"),
      "https://127.1.2.3:5000".replace("https", "http"),
    );
    assert.equal(registryBaseUrl("localhost:5000"), "http://localhost:5000");
    assert.equal(registryBaseUrl("[::1]:5000"), "http://[::1]:5000");
    assert.equal(registryBaseUrl("10.0.0.1:5000", true), "http://10.0.0.1:5000");
    assert.equal(registryBaseUrl("docker.io", true), "http://registry-1.docker.io");
    // Names that only look like loopback are not.
    for (const h of ["127.0.0.1.evil.com", "localhost.example", "128.0.0.1", "127.0.0.256"])
      assert.equal(isLoopback(h), false, h);
  });

  it("parses WWW-Authenticate challenges and --platform", () => {
    assert.deepEqual(
      parseChallenge(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"',
      ),
      {
        scheme: "bearer",
        params: {
          realm: "https://auth.example/token",
          service: "registry.example",
          scope: "repository:a/b:pull",
        },
      },
    );
    assert.deepEqual(parseChallenge('Basic realm="x"'), {
      scheme: "basic",
      params: { realm: "x" },
    });
    assert.deepEqual(parsePlatform("linux/arm64/v8"), {
      os: "linux",
      architecture: "arm64",
      variant: "v8",
    });
    assert.throws(() => parsePlatform("amd64"), /OS\/ARCH/);
  });
});

describe("registry client timeouts", () => {
  let server: http.Server;
  let base: string;
  before(async () => {
    // /v2/r/blobs/slow: 8 chunks 150 ms apart; /v2/r/blobs/stall: one chunk, then nothing.
    server = http.createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      let n = 0;
      const tick = (): void => {
        res.write("x".repeat(100));
        if (req.url?.endsWith("/slow") && ++n < 8) setTimeout(tick, 150);
        else if (req.url?.endsWith("/slow")) res.end();
      };
      tick();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  after(() => server.closeAllConnections?.() ?? server.close());

  it("limits the wait for each chunk, not the whole transfer", async () => {
    const client = new RegistryClient(base, "r", { timeoutMs: 500 });
    const slow = await client.get("blobs/slow");
    assert.equal((await slow.text()).length, 800, "a steady transfer longer than the timeout");
    const stall = await client.get("blobs/stall");
    const started = Date.now();
    await assert.rejects(stall.text(), /abort/i);
    assert.ok(Date.now() - started < 5000, "the stalled body was not cut off");
  });
});

describe("pullImage against a scripted registry", () => {
  // Serves a Docker manifest list → a schema-2 manifest of 6 layers, each blob answered after
  // 200 ms, counting the blob requests in flight.
  const layers = Array.from({ length: 6 }, (_, i) => Buffer.from(`layer ${i}\n`.repeat(50)));
  const dg = (b: Buffer | string): string =>
    `sha256:${createHash("sha256").update(b).digest("hex")}`;
  const config = Buffer.from(
    JSON.stringify({
      os: "linux",
      architecture: "amd64",
      rootfs: { type: "layers", diff_ids: layers.map(dg) },
    }),
  );
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.docker.distribution.manifest.v2+json",
    config: {
      mediaType: "application/vnd.docker.container.image.v1+json",
      digest: dg(config),
      size: config.length,
    },
    layers: layers.map((l) => ({
      mediaType: "application/vnd.docker.image.rootfs.diff.tar",
      digest: dg(l),
      size: l.length,
    })),
  });
  const list = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.docker.distribution.manifest.list.v2+json",
    manifests: [
      {
        mediaType: "application/vnd.docker.distribution.manifest.v2+json",
        digest: dg("x"),
        size: 1,
        platform: { os: "linux", architecture: "arm", variant: "v7" },
      },
      {
        mediaType: "application/vnd.docker.distribution.manifest.v2+json",
        digest: dg(manifest),
        size: manifest.length,
        platform: { os: "linux", architecture: "amd64" },
      },
    ],
  });
  const blobs = new Map([config, ...layers].map((b) => [dg(b), b]));
  let inFlight = 0;
  let maxInFlight = 0;
  let server: http.Server;
  let host: string;

  before(async () => {
    server = http.createServer((req, res) => {
      const url = req.url ?? "";
      const m = /^\/v2\/s\/(manifests|blobs)\/(.+)$/.exec(url);
      if (m?.[1] === "manifests") {
        const body = m[2] === "list" ? list : m[2] === dg(manifest) ? manifest : undefined;
        if (!body) return void res.writeHead(404).end();
        res.writeHead(200, { "content-type": JSON.parse(body).mediaType }).end(body);
        return;
      }
      const blob = m ? blobs.get(m[2]!) : undefined;
      if (!blob) return void res.writeHead(404).end();
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => {
        inFlight--;
        res.writeHead(200).end(blob);
      }, 200);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  after(() => server.close());

  it("resolves a Docker manifest list, downloads layers 3 at a time, reports progress", async () => {
    const s = new Store(path.join(work, "scripted-store"));
    const done: string[] = [];
    const r = await pullImage(s, `${host}/s:list`, {
      progress: { layers: () => undefined, bytes: () => undefined, done: (d) => void done.push(d) },
    });
    assert.equal(r.manifest, dg(manifest));
    assert.equal(r.config, dg(config));
    assert.deepEqual(r.tags, [`${host}/s:list`]);
    assert.equal(maxInFlight, 3, "layers were not fetched 3 at a time");
    assert.deepEqual(done.sort(), layers.map(dg).sort());
    for (const l of layers) assert.equal(s.hasBlob(dg(l)), true);
    await assert.rejects(
      pullImage(s, `${host}/s:list`, { platform: "linux/arm/v6" }),
      /has no image for linux\/arm\/v6 \(it has: linux\/arm\/v7, linux\/amd64\)/,
    );
  });
});

describe("credentials", () => {
  const env = { UNO_HOME: path.join(work, "cred-home"), HOME: path.join(work, "cred-user") };

  it("stores them in a 0600 file, finds and forgets them", () => {
    saveCredentials("reg.example:5000", { username: "u", password: "p:w" }, env);
    const file = path.join(env.UNO_HOME, "auth.json");
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(findCredentials("reg.example:5000", env), { username: "u", password: "p:w" });
    assert.equal(findCredentials("other.example", env), undefined);
    assert.equal(fs.readdirSync(env.UNO_HOME).length, 1, "a temporary file was left");
    assert.equal(removeCredentials("reg.example:5000", env), true);
    assert.equal(findCredentials("reg.example:5000", env), undefined);
    assert.equal(removeCredentials("reg.example:5000", env), false);
  });

  it("reads docker's ~/.docker/config.json, docker.io under its v1 URL", () => {
    fs.mkdirSync(path.join(env.HOME, ".docker"), { recursive: true });
    const auth = (s: string): { auth: string } => ({ auth: Buffer.from(s).toString("base64") });
    fs.writeFileSync(
      path.join(env.HOME, ".docker", "config.json"),
      JSON.stringify({
        auths: { "https://index.docker.io/v1/": auth("hub:pw"), "q.io": auth("q:x") },
      }),
    );
    assert.deepEqual(findCredentials("docker.io", env), { username: "hub", password: "pw" });
    assert.deepEqual(findCredentials("q.io", env), { username: "q", password: "x" });
  });
});

/**
 * Writes docker-credential-NAME into `bin`: a helper speaking docker's protocol that knows
 * `known` (server → [user, secret]), says "credentials not found" otherwise, and appends each
 * server it is asked about to `bin`/NAME.log.
 */
function fakeHelper(bin: string, name: string, known: Record<string, [string, string]>): string {
  fs.mkdirSync(bin, { recursive: true });
  const log = path.join(bin, `${name}.log`);
  const cases = Object.entries(known).map(
    ([server, [user, secret]]) =>
      `  '${server}') printf '{"ServerURL":"%s","Username":"${user}","Secret":"${secret}"}' "$server" ;;`,
  );
  const script = [
    "#!/bin/sh",
    '[ "$1" = get ] || exit 2',
    "read -r server",
    `echo "$server" >> '${log}'`,
    'case "$server" in',
    ...cases,
    '  *) echo "credentials not found in native keychain"; exit 1 ;;',
    "esac",
  ];
  fs.writeFileSync(path.join(bin, `docker-credential-${name}`), script.join("\n") + "\n", {
    mode: 0o755,
  });
  return log;
}

const helperLog = (log: string): string[] =>
  fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [];

describe("docker credential helpers", () => {
  const dir = path.join(work, "helpers");
  const bin = path.join(dir, "bin");
  const env = {
    UNO_HOME: path.join(dir, "uno"),
    DOCKER_CONFIG: path.join(dir, "docker"),
    PATH: `${bin}:${process.env.PATH}`,
  };
  const config = (c: object): void => {
    fs.mkdirSync(env.DOCKER_CONFIG, { recursive: true });
    fs.writeFileSync(path.join(env.DOCKER_CONFIG, "config.json"), JSON.stringify(c));
  };
  const store = fakeHelper(bin, "store", {
    "reg.example:5000": ["u", "from-store"],
    "https://index.docker.io/v1/": ["hub", "hub-secret"],
  });
  const special = fakeHelper(bin, "special", { "q.io": ["q", "from-special"] });
  const auth = (s: string): { auth: string } => ({ auth: Buffer.from(s).toString("base64") });

  it("asks credsStore's helper with the server on stdin (Docker Hub by its v1 URL)", () => {
    config({ credsStore: "store" });
    assert.deepEqual(findCredentials("reg.example:5000", env), {
      username: "u",
      password: "from-store",
    });
    assert.deepEqual(findCredentials("docker.io", env), {
      username: "hub",
      password: "hub-secret",
    });
    assert.equal(findCredentials("none.example", env), undefined);
    assert.deepEqual(helperLog(store), [
      "reg.example:5000",
      "https://index.docker.io/v1/",
      "none.example",
    ]);
  });

  it("prefers the registry's credHelpers entry; falls back to auths when a helper has none", () => {
    config({
      credsStore: "store",
      credHelpers: { "q.io": "special" },
      auths: { "r.io": auth("file:pw") },
    });
    assert.deepEqual(findCredentials("q.io", env), { username: "q", password: "from-special" });
    assert.deepEqual(helperLog(special), ["q.io"]);
    assert.deepEqual(findCredentials("r.io", env), { username: "file", password: "pw" });
    assert.equal(helperLog(store).at(-1), "r.io", "credsStore was not asked first");
  });

  it("uno's own login comes first: no helper is run", () => {
    config({ credsStore: "store" });
    saveCredentials("reg.example:5000", { username: "mine", password: "x" }, env);
    const asked = helperLog(store).length;
    assert.deepEqual(findCredentials("reg.example:5000", env), { username: "mine", password: "x" });
    assert.equal(helperLog(store).length, asked);
    removeCredentials("reg.example:5000", env);
  });

  it("says what is wrong with a missing or failing helper", () => {
    config({ credsStore: "absent" });
    assert.throws(
      () => findCredentials("reg.example:5000", env),
      /names the credential helper "absent" but docker-credential-absent is not in PATH/,
    );
    fs.writeFileSync(
      path.join(bin, "docker-credential-broken"),
      "#!/bin/sh\necho boom >&2\nexit 3\n",
      {
        mode: 0o755,
      },
    );
    config({ credHelpers: { "reg.example:5000": "broken" } });
    assert.throws(
      () => findCredentials("reg.example:5000", env),
      /docker-credential-broken get for reg\.example:5000 failed \(exit 3\): boom/,
    );
    config({ credsStore: "../evil" });
    assert.throws(() => findCredentials("x.io", env), /"\.\.\/evil" is not a program name/);
  });
});

describe("uno pull from docker-registry", () => {
  let open: Registry;
  const bb = (): ReturnType<typeof layoutImage> => layoutImage("bb");

  before(async () => {
    assert.ok(fs.existsSync(BUSYBOX), `${BUSYBOX} is missing: install Debian's busybox-static`);
    buildLayout();
    open = await startRegistry("open");
    push(open, "bb", "test/bb:1.0");
  });

  it("pulls by tag: the image `uno load` makes of the same layout (ID, root)", async () => {
    const r = uno(["pull", `${open.host}/test/bb:1.0`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Image ID: ${bb().config}`));
    assert.match(r.stdout, new RegExp(`Pulled: ${open.host}/test/bb:1.0`));
    assert.match(r.stdout, /: done$/m, "no plain progress log when stdout is not a TTY");
    const pulled = Image.get(store, `${open.host}/test/bb:1.0`);
    assert.equal(pulled.id, bb().config);
    const l = uno(["load", "-i", layout]);
    assert.equal(l.status, 0, l.stderr);
    const loaded = Image.open(store, bb().manifest);
    assert.equal(loaded.id, pulled.id);
    const a = await pulled.rootfs();
    const b = await loaded.rootfs();
    assert.equal(a.erofsPath, b.erofsPath);
    assert.equal(b.cached, true, "the pulled image's root was not built by the pull");
  });

  it("runs the pulled image like the loaded one", () => {
    requireKvm();
    const p = uno(["run", `${open.host}/test/bb:1.0`]);
    assert.equal(p.status, 0, p.stderr);
    assert.equal(p.stdout, "pulled from a registry\namd64\n");
    const l = uno(["run", bb().config]);
    assert.equal(l.stdout, p.stdout);
  });

  it("pulls by digest (untagged, found by name@digest)", () => {
    const h = path.join(work, "home-digest");
    const ref = `${open.host}/test/bb@${bb().manifest}`;
    const r = uno(["pull", ref], { env: { UNO_HOME: h } });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /Pulled:/);
    const s = new Store(path.join(h, "store"));
    assert.equal(Image.get(s, ref).id, bb().config);
    const bad = uno(["pull", `${open.host}/test/bb@sha256:${"0".repeat(64)}`], {
      env: { UNO_HOME: h },
    });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /not found in the registry/);
  });

  it("says clearly when a repository or tag does not exist", () => {
    for (const ref of [`${open.host}/test/bb:nope`, `${open.host}/no/such:1`]) {
      const r = uno(["pull", ref]);
      assert.equal(r.status, 125);
      assert.match(r.stderr, /not found in the registry \(HTTP 404: MANIFEST_UNKNOWN|NAME_UNKNOWN/);
    }
  });

  it("resolves a multi-platform index by --platform", async () => {
    push(open, "bb", "test/multi:amd64");
    push(open, "other", "test/multi:arm64");
    const amd = layoutImage("bb");
    const arm = layoutImage("other");
    const mt = "application/vnd.oci.image.manifest.v1+json";
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: mt,
          digest: arm.manifest,
          size: arm.size,
          platform: { os: "linux", architecture: "arm64" },
        },
        {
          mediaType: mt,
          digest: amd.manifest,
          size: amd.size,
          platform: { os: "linux", architecture: "amd64" },
        },
      ],
    });
    const put = await fetch(`http://${open.host}/v2/test/multi/manifests/both`, {
      method: "PUT",
      headers: { "content-type": "application/vnd.oci.image.index.v1+json" },
      body: index,
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(put.status, 201, await put.text());
    const h = { UNO_HOME: path.join(work, "home-multi") };
    const a = uno(["pull", `${open.host}/test/multi:both`], { env: h });
    assert.equal(a.status, 0, a.stderr);
    assert.match(a.stdout, new RegExp(`Image ID: ${amd.config}`));
    const b = uno(["pull", "--platform", "linux/arm64", `${open.host}/test/multi:both`], {
      env: h,
    });
    assert.equal(b.status, 0, b.stderr);
    assert.match(b.stdout, new RegExp(`Image ID: ${arm.config}`));
    const before = storeState(new Store(path.join(h.UNO_HOME, "store")));
    const c = uno(["pull", "--platform", "linux/s390x", `${open.host}/test/multi:both`], {
      env: h,
    });
    assert.equal(c.status, 125);
    assert.match(
      c.stderr,
      /has no image for linux\/s390x \(it has: linux\/arm64, linux\/amd64\); choose one with --platform/,
    );
    assert.deepEqual(storeState(new Store(path.join(h.UNO_HOME, "store"))), before);
  });

  it("refuses a blob corrupted in the registry, leaving the store as it was", () => {
    push(open, "extra", "test/corrupt:1");
    const m = JSON.parse(
      fs.readFileSync(
        path.join(layout, "blobs", "sha256", layoutImage("extra").manifest.slice(7)),
        "utf8",
      ),
    ) as { layers: { digest: string }[] };
    const hex = m.layers.at(-1)!.digest.slice(7);
    const data = path.join(
      open.storage,
      "docker/registry/v2/blobs/sha256",
      hex.slice(0, 2),
      hex,
      "data",
    );
    const bytes = fs.readFileSync(data);
    bytes[bytes.length >> 1] ^= 0xff;
    fs.writeFileSync(data, bytes);
    // A store of its own: the main one has every layout layer from `uno load` already.
    const env = { UNO_HOME: path.join(work, "home-corrupt") };
    const s = new Store(path.join(env.UNO_HOME, "store"));
    assert.equal(uno(["pull", `${open.host}/test/bb:1.0`], { env }).status, 0);
    const before = storeState(s);
    const r = uno(["pull", `${open.host}/test/corrupt:1`], { env });
    assert.equal(r.status, 125, r.stdout);
    assert.match(r.stderr, new RegExp(`layer sha256:${hex}.*does not match its digest`));
    assert.deepEqual(storeState(s), before, "the store changed");
    const images = uno(["images"], { env });
    assert.equal(images.status, 0, images.stderr);
    assert.match(images.stdout, /test\/bb +1\.0/);
  });

  it("pulls Docker schema 2 media types (skopeo --format v2s2)", () => {
    tool("skopeo", [
      "copy",
      "-q",
      "--dest-tls-verify=false",
      "--format",
      "v2s2",
      `oci:${layout}:bb`,
      `docker://${open.host}/test/v2s2:1`,
    ]);
    const r = uno(["pull", `${open.host}/test/v2s2:1`]);
    assert.equal(r.status, 0, r.stderr);
    const im = Image.get(store, `${open.host}/test/v2s2:1`);
    assert.equal(im.manifest.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
    assert.equal(
      im.manifest.layers[0]!.mediaType,
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
    );
    requireKvm();
    assert.equal(
      uno(["run", `${open.host}/test/v2s2:1`]).stdout,
      "pulled from a registry\namd64\n",
    );
  });

  it("pulls zstd layers (skopeo --dest-compress-format zstd): the gzip image's root", async () => {
    const ref = `${open.host}/test/zstd:1`;
    // Recompressed into a layout first: copied straight to the registry, skopeo 1.9 would
    // mount the gzip layer the registry already has instead.
    const zl = path.join(work, "zstd-layout");
    const zstd = ["--dest-compress-format", "zstd"];
    tool("skopeo", ["copy", "-q", ...zstd, `oci:${layout}:bb`, `oci:${zl}:bb`]);
    tool("skopeo", [
      "copy",
      "-q",
      "--dest-tls-verify=false",
      ...zstd,
      `oci:${zl}:bb`,
      `docker://${ref}`,
    ]);
    const env = { UNO_HOME: path.join(work, "home-zstd") };
    const r = uno(["pull", ref], { env });
    assert.equal(r.status, 0, r.stderr);
    const im = Image.get(new Store(path.join(env.UNO_HOME, "store")), ref);
    assert.equal(im.id, bb().config, "zstd changes the manifest, not the config");
    assert.deepEqual(
      im.manifest.layers.map((l) => l.mediaType),
      im.manifest.layers.map(() => "application/vnd.oci.image.layer.v1.tar+zstd"),
    );
    // Built by the pull from the zstd layers (a store of its own), and byte for byte the root
    // the main store built from the gzip layers of the same image.
    const z = await im.rootfs();
    assert.equal(z.cached, true);
    const g = await Image.get(store, `${open.host}/test/bb:1.0`).rootfs();
    assert.ok(fs.readFileSync(z.erofsPath).equals(fs.readFileSync(g.erofsPath)));
    requireKvm();
    assert.equal(uno(["run", ref], { env }).stdout, "pulled from a registry\namd64\n");
  });

  it("refuses a broken zstd layer, storing nothing", async () => {
    const repo = "test/zstd";
    const blob = async (data: Buffer): Promise<string> => {
      const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
      const post = await fetch(`http://${open.host}/v2/${repo}/blobs/uploads/`, {
        method: "POST",
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(post.status, 202);
      const loc = new URL(post.headers.get("location")!, `http://${open.host}`);
      loc.searchParams.set("digest", digest);
      const put = await fetch(loc, {
        method: "PUT",
        body: new Uint8Array(data),
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(put.status, 201, await put.text());
      return digest;
    };
    const layer = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4]);
    const config = Buffer.from(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        rootfs: { type: "layers", diff_ids: [`sha256:${"1".repeat(64)}`] },
      }),
    );
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: await blob(config),
        size: config.length,
      },
      layers: [
        {
          mediaType: "application/vnd.oci.image.layer.v1.tar+zstd",
          digest: await blob(layer),
          size: layer.length,
        },
      ],
    });
    const put = await fetch(`http://${open.host}/v2/${repo}/manifests/1`, {
      method: "PUT",
      headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
      body: manifest,
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(put.status, 201, await put.text());
    const before = storeState();
    const r = uno(["pull", `${open.host}/${repo}:1`]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /zstd data is corrupt or cut short \(.*Decoding error/);
    assert.deepEqual(storeState(), before);
  });

  it("says when nothing listens at a registry address", async () => {
    const port = await freePort();
    const r = uno(["pull", `127.0.0.1:${port}/a/b:1`]);
    assert.equal(r.status, 125);
    assert.match(
      r.stderr,
      new RegExp(
        `cannot reach http://127.0.0.1:${port}/v2/a/b/manifests/1: ECONNREFUSED; nothing listens there`,
      ),
    );
  });

  it("two pulls of the same image at once both succeed", async () => {
    const env = { UNO_HOME: path.join(work, "home-twice") };
    const ref = `${open.host}/test/bb:1.0`;
    const [a, b] = await Promise.all([unoAsync(["pull", ref], env), unoAsync(["pull", ref], env)]);
    assert.equal(a.status, 0, a.stderr);
    assert.equal(b.status, 0, b.stderr);
    const s = new Store(path.join(env.UNO_HOME, "store"));
    assert.equal(Image.get(s, ref).id, bb().config);
    assert.deepEqual(fs.readdirSync(s.tmpDir), []);
  });

  describe("interrupted pulls", () => {
    /** One request through the proxy: what uno asked and what the registry answered. */
    interface Logged {
      url: string;
      range: string | undefined;
      status: number;
      bytes: number;
    }
    const requests: Logged[] = [];
    /** stallAfter: a blob body stops (the connection stays open) after that many bytes. */
    const mode: { stallAfter?: number; ignoreRange?: boolean } = {};
    let proxy: http.Server;
    let host: string;
    let big: { manifest: string; config: string; layer: string; size: number };
    const ref = (): string => `${host}/test/big:1`;

    before(async () => {
      // A layer of 24 MiB of random bytes (gzip cannot shrink it), pushed to the registry.
      const dir = path.join(work, "big");
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, "random"), randomBytes(24 << 20));
      tool("tar", ["-C", dir, "-cf", path.join(work, "big.tar"), "random"]);
      tool("umoci", [
        "raw",
        "add-layer",
        "--image",
        `${layout}:bb`,
        "--tag",
        "big",
        `${work}/big.tar`,
      ]);
      push(open, "big", "test/big:1");
      const im = layoutImage("big");
      const m = JSON.parse(
        fs.readFileSync(path.join(layout, "blobs", "sha256", im.manifest.slice(7)), "utf8"),
      ) as { layers: { digest: string; size: number }[] };
      big = { ...im, layer: m.layers.at(-1)!.digest, size: m.layers.at(-1)!.size };
      // A proxy in front of the registry that logs each request and can stall or drop Range.
      const [regHost, regPort] = open.host.split(":");
      proxy = http.createServer((req, res) => {
        const log: Logged = { url: req.url!, range: req.headers.range, status: 0, bytes: 0 };
        requests.push(log);
        const headers = { ...req.headers };
        if (mode.ignoreRange) delete headers.range;
        const limit = req.url!.includes("/blobs/") ? mode.stallAfter : undefined;
        const up = http.request(
          { host: regHost, port: Number(regPort), path: req.url, method: req.method, headers },
          (answer) => {
            log.status = answer.statusCode!;
            res.writeHead(answer.statusCode!, answer.headers);
            answer.on("data", (c: Buffer) => {
              const part = limit === undefined ? c : c.subarray(0, limit - log.bytes);
              log.bytes += part.length;
              res.write(part);
              if (limit !== undefined && log.bytes >= limit) answer.destroy();
            });
            answer.on("end", () => res.end());
          },
        );
        req.pipe(up);
      });
      await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
      host = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
    });
    after(() => {
      proxy?.closeAllConnections();
      proxy?.close();
    });

    /**
     * Starts `uno pull` through the stalling proxy and waits until the big layer's download
     * has `stallAfter` bytes on disk; returns the running pull.
     */
    async function pullUntilStalled(
      env: NodeJS.ProcessEnv,
      s: Store,
    ): Promise<{ child: ChildProcess; done: Promise<Out> }> {
      mode.stallAfter = 10 << 20;
      const done = unoAsync(["pull", ref()], env);
      const child = children.at(-1)!;
      const partial = s.downloadPath(big.layer);
      const deadline = Date.now() + 60_000;
      while ((fs.statSync(partial, { throwIfNoEntry: false })?.size ?? 0) < mode.stallAfter) {
        assert.ok(Date.now() < deadline, "the download did not reach the stall point in 60 s");
        assert.equal(child.exitCode, null, "uno pull ended before the stall point");
        await new Promise((r) => setTimeout(r, 50));
      }
      return { child, done };
    }

    const blobRequests = (): Logged[] => requests.filter((r) => r.url.endsWith(big.layer));

    /** The big layer's blob in `s` hashes to its name (its bytes were put together right). */
    const assertBigLayerStored = (s: Store): void =>
      assert.equal(
        createHash("sha256")
          .update(fs.readFileSync(s.blobPath(big.layer)))
          .digest("hex"),
        big.layer.slice(7),
      );

    /** A pull into a store of its own, SIGKILLed in the middle of the big layer. */
    async function killedMidway(name: string): Promise<{ env: NodeJS.ProcessEnv; s: Store }> {
      const env = { UNO_HOME: path.join(work, name) };
      const s = new Store(path.join(env.UNO_HOME, "store"));
      const { child, done } = await pullUntilStalled(env, s);
      child.kill("SIGKILL");
      await done;
      mode.stallAfter = undefined;
      return { env, s };
    }

    it("a killed pull leaves only its download in tmp/; the next pull resumes with Range", async () => {
      const { env, s } = await killedMidway("home-killed");
      // Nothing but downloads: no blob, no index; `uno images` works and shows nothing.
      const after = storeState(s);
      assert.deepEqual([after.blobs, after.erofs, after.index], [[], [], ""]);
      assert.ok(
        after.tmp.every((f) => f.startsWith("download-")),
        after.tmp.join(" "),
      );
      assert.equal(fs.statSync(s.downloadPath(big.layer)).size, 10 << 20);
      const images = uno(["images", "-q"], { env });
      assert.equal(images.status, 0, images.stderr);
      assert.equal(images.stdout, "");
      requests.length = 0;
      const again = await unoAsync(["pull", ref()], env);
      assert.equal(again.status, 0, again.stderr);
      assert.match(again.stdout, new RegExp(`Image ID: ${big.config}`));
      const asked = blobRequests();
      assert.deepEqual(
        asked.map((r) => [r.range, r.status, r.bytes]),
        [[`bytes=${10 << 20}-`, 206, big.size - (10 << 20)]],
      );
      assert.deepEqual(storeState(s).tmp, []);
      assertBigLayerStored(s);
      assert.equal(Image.get(s, ref()).id, big.config);
    });

    it("restarts the download when the registry ignores Range", async () => {
      const { env, s } = await killedMidway("home-norange");
      mode.ignoreRange = true;
      requests.length = 0;
      try {
        const again = await unoAsync(["pull", ref()], env);
        assert.equal(again.status, 0, again.stderr);
      } finally {
        mode.ignoreRange = false;
      }
      assert.deepEqual(
        blobRequests().map((r) => [r.range, r.status, r.bytes]),
        [[`bytes=${10 << 20}-`, 200, big.size]],
      );
      assert.equal(Image.get(s, ref()).id, big.config);
      assert.deepEqual(storeState(s).tmp, []);
    });

    it("an interrupt while the root is built keeps the downloads: the next pull fetches nothing", async () => {
      const s = new Store(path.join(work, "home-rootint", "store"));
      const ctl = new AbortController();
      // The root-building step is where the interrupt comes.
      const prepare = async (): Promise<void> => ctl.abort();
      await assert.rejects(
        pullImage(s, ref(), { signal: ctl.signal, prepare }),
        (e: unknown) =>
          e instanceof InterruptedError && /what was downloaded is kept/.test(e.message),
      );
      const st = storeState(s);
      assert.deepEqual([st.blobs, st.erofs, st.index], [[], [], ""]);
      assert.ok(st.tmp.includes(`download-${big.layer.slice(7)}`), st.tmp.join(" "));
      requests.length = 0;
      const again = await pullImage(s, ref());
      assert.equal(again.config, big.config);
      assert.deepEqual(
        requests.filter((r) => r.url.includes("/blobs/")),
        [],
        "blobs were downloaded again",
      );
      assert.deepEqual(storeState(s).tmp, []);
      assertBigLayerStored(s);
    });

    it("Ctrl-C stops the pull cleanly: exit 130, store as before, prune drops the download", async () => {
      const env = { UNO_HOME: path.join(work, "home-sigint") };
      const s = new Store(path.join(env.UNO_HOME, "store"));
      assert.equal(uno(["pull", `${open.host}/test/bb:1.0`], { env }).status, 0);
      const before = storeState(s);
      const { child, done } = await pullUntilStalled(env, s);
      child.kill("SIGINT");
      const r = await done;
      assert.equal(r.status, 130, r.stderr);
      assert.match(
        r.stderr,
        /pull of .*test\/big:1 interrupted: no image was stored; what was downloaded is kept, so pulling again resumes/,
      );
      const after = storeState(s);
      assert.deepEqual(
        [after.blobs, after.erofs, after.index],
        [before.blobs, before.erofs, before.index],
      );
      assert.ok(
        after.tmp.length > 0 && after.tmp.every((f) => f.startsWith("download-")),
        after.tmp.join(" "),
      );
      assert.equal(fs.existsSync(s.lockPath), false, "the lock was left behind");
      const p = uno(["image", "prune"], { env });
      assert.equal(p.status, 0, p.stderr);
      assert.deepEqual(storeState(s), before);
    });
  });

  describe("with htpasswd basic auth", () => {
    let reg: Registry;
    const env = { UNO_HOME: path.join(work, "home-basic"), HOME: path.join(work, "user-basic") };

    before(async () => {
      const file = path.join(work, "htpasswd");
      tool("htpasswd", ["-B", "-b", "-c", file, "alice", "s3cret"]);
      reg = await startRegistry("basic", [
        "auth:",
        "  htpasswd:",
        "    realm: uno-test",
        `    path: ${file}`,
      ]);
      push(reg, "bb", "private/bb:1", "alice:s3cret");
    });

    it("fails with 401 without login, succeeds after uno login --password-stdin", () => {
      const ref = `${reg.host}/private/bb:1`;
      const r = uno(["pull", ref], { env });
      assert.equal(r.status, 125);
      assert.match(
        r.stderr,
        new RegExp(`${reg.host}: authentication required .*uno login ${reg.host}`),
      );
      // A wrong password is refused by the registry at login and not stored.
      const wrong = uno(["login", "-u", "alice", "--password-stdin", reg.host], {
        env,
        input: "nope\n",
      });
      assert.equal(wrong.status, 125);
      assert.match(wrong.stderr, new RegExp(`${reg.host}: authentication failed`));
      assert.equal(fs.existsSync(path.join(env.UNO_HOME, "auth.json")), false);
      const l = uno(["login", "--username", "alice", "--password-stdin", reg.host], {
        env,
        input: "s3cret\n",
      });
      assert.equal(l.status, 0, l.stderr);
      assert.equal(fs.statSync(path.join(env.UNO_HOME, "auth.json")).mode & 0o777, 0o600);
      const p = uno(["pull", ref], { env });
      assert.equal(p.status, 0, p.stderr);
      assert.match(p.stdout, new RegExp(`Image ID: ${bb().config}`));
      assert.match(uno(["logout", reg.host], { env }).stdout, /Removed login credentials/);
      assert.equal(uno(["pull", ref], { env }).status, 125);
    });

    it("gets the password from docker's credsStore helper", () => {
      const bin = path.join(work, "helper-bin");
      const log = fakeHelper(bin, "test", { [reg.host]: ["alice", "s3cret"] });
      const dockerConfig = path.join(work, "helper-docker");
      fs.mkdirSync(dockerConfig);
      fs.writeFileSync(
        path.join(dockerConfig, "config.json"),
        JSON.stringify({ credsStore: "test" }),
      );
      const e = {
        UNO_HOME: path.join(work, "home-helper"),
        DOCKER_CONFIG: dockerConfig,
        PATH: `${bin}:${process.env.PATH}`,
      };
      const p = uno(["pull", `${reg.host}/private/bb:1`], { env: e });
      assert.equal(p.status, 0, p.stderr);
      assert.match(p.stdout, new RegExp(`Image ID: ${bb().config}`));
      assert.deepEqual(helperLog(log), [reg.host]);
      // uno login still writes uno's own file, never docker's config or its helper.
      const l = uno(["login", "-u", "alice", "--password-stdin", reg.host], {
        env: e,
        input: "s3cret\n",
      });
      assert.equal(l.status, 0, l.stderr);
      assert.equal(fs.statSync(path.join(e.UNO_HOME, "auth.json")).mode & 0o777, 0o600);
      assert.equal(
        fs.readFileSync(path.join(dockerConfig, "config.json"), "utf8"),
        JSON.stringify({ credsStore: "test" }),
      );
    });

    it("uses docker's config.json credentials", () => {
      fs.mkdirSync(path.join(env.HOME, ".docker"), { recursive: true });
      const auth = Buffer.from("alice:s3cret").toString("base64");
      fs.writeFileSync(
        path.join(env.HOME, ".docker", "config.json"),
        JSON.stringify({ auths: { [reg.host]: { auth } } }),
      );
      const p = uno(["pull", `${reg.host}/private/bb:1`], {
        env: { ...env, UNO_HOME: path.join(work, "home-docker") },
      });
      assert.equal(p.status, 0, p.stderr);
      // Wrong ones there: the pull says authentication failed (not "required").
      const bad = Buffer.from("alice:wrong").toString("base64");
      fs.writeFileSync(
        path.join(env.HOME, ".docker", "config.json"),
        JSON.stringify({ auths: { [reg.host]: { auth: bad } } }),
      );
      const w = uno(["pull", `${reg.host}/private/bb:1`], {
        env: { ...env, UNO_HOME: path.join(work, "home-docker") },
      });
      assert.equal(w.status, 125);
      assert.match(w.stderr, /authentication failed .*check the credentials/);
    });
  });

  describe("with token auth", () => {
    let reg: Registry;
    let server: http.Server;
    const env = { UNO_HOME: path.join(work, "home-token"), HOME: path.join(work, "user-token") };
    const requests: { auth: string | undefined; scope: string | null }[] = [];

    before(async () => {
      const dir = path.join(work, "token");
      fs.mkdirSync(dir);
      const key = path.join(dir, "key.pem");
      const cert = path.join(dir, "cert.pem");
      tool("openssl", [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "2",
        "-subj",
        "/CN=uno-token",
      ]);
      const der = Buffer.from(
        fs.readFileSync(cert, "utf8").replace(/-----[^-]+-----|\s/g, ""),
        "base64",
      ).toString("base64");
      const privateKey = fs.readFileSync(key, "utf8");
      const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString("base64url");
      /** A JWT the registry accepts: signed RS256 with the certificate in its x5c chain. */
      const jwt = (scope: string, user: string | undefined): string => {
        const [type, name, actions] = scope.split(":");
        const now = Math.floor(Date.now() / 1000);
        const head = b64({ alg: "RS256", typ: "JWT", x5c: [der] });
        const body = b64({
          iss: "uno-test-issuer",
          sub: user ?? "",
          aud: "uno-test",
          exp: now + 300,
          nbf: now - 10,
          iat: now,
          jti: String(Math.random()),
          access: user ? [{ type, name, actions: actions!.split(",") }] : [],
        });
        const sig = createSign("RSA-SHA256")
          .update(`${head}.${body}`)
          .sign(privateKey, "base64url");
        return `${head}.${body}.${sig}`;
      };
      server = http.createServer((req, res) => {
        const url = new URL(req.url!, "http://x");
        const scope = url.searchParams.get("scope");
        requests.push({ auth: req.headers.authorization, scope });
        const given = req.headers.authorization;
        // Like real token servers: wrong credentials get 401, none get an anonymous token.
        if (given !== undefined && given !== `Basic ${Buffer.from("bob:pw").toString("base64")}`) {
          res.statusCode = 401;
          res.end();
          return;
        }
        const user = given !== undefined ? "bob" : undefined;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ token: jwt(scope ?? "repository:x:pull", user) }));
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      const port = (server.address() as net.AddressInfo).port;
      reg = await startRegistry("token", [
        "auth:",
        "  token:",
        `    realm: http://127.0.0.1:${port}/token`,
        "    service: uno-test",
        "    issuer: uno-test-issuer",
        `    rootcertbundle: ${cert}`,
      ]);
      const skopeoToken = jwt("repository:tok/bb:pull,push", "bob");
      tool("skopeo", [
        "copy",
        "-q",
        "--dest-tls-verify=false",
        "--dest-registry-token",
        skopeoToken,
        `oci:${layout}:bb`,
        `docker://${reg.host}/tok/bb:1`,
      ]);
    });
    after(() => server?.close());

    // uno runs asynchronously here: the token server answers from this process's event loop.
    it("gets a bearer token for the challenge's scope, with the login's credentials", async () => {
      const ref = `${reg.host}/tok/bb:1`;
      const anon = await unoAsync(["pull", ref], env);
      assert.equal(anon.status, 125);
      assert.match(anon.stderr, /authentication required/);
      assert.equal(requests.at(-1)!.auth, undefined, "anonymous token request sent credentials");
      assert.equal(requests.at(-1)!.scope, "repository:tok/bb:pull");
      const login = (pw: string): Promise<Out> =>
        unoAsync(["login", "-u", "bob", "--password-stdin", reg.host], env, pw);
      const bad = await login("nope");
      assert.equal(bad.status, 125);
      assert.match(bad.stderr, /authentication failed \(token server said 401\)/);
      const l = await login("pw");
      assert.equal(l.status, 0, l.stderr);
      assert.equal(requests.at(-1)!.scope, null, "login's token request names a repository");
      const p = await unoAsync(["pull", ref], env);
      assert.equal(p.status, 0, p.stderr);
      assert.match(p.stdout, new RegExp(`Image ID: ${bb().config}`));
      assert.equal(requests.at(-1)!.auth, `Basic ${Buffer.from("bob:pw").toString("base64")}`);
    });
  });
});
