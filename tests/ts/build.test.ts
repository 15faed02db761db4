/**
 * uno build: Dockerfiles built into the store, RUN steps in uno micro-VMs.
 *
 * Expected results come from elsewhere: what a built image runs must print what the same
 * busybox prints natively (or what chroot into the same Debian root prints); the files,
 * owners and modes of a built image are read back with Debian's umoci (`uno save`, then
 * `umoci unpack` as root), and the layers with tar-stream. Needs root, KVM, busybox-static,
 * umoci and getfattr (Debian's attr).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createGunzip, gzipSync } from "node:zlib";
import * as tar from "tar-stream";
import { BuildContext } from "../../src/build/context.js";
import { keyValues, parseDockerfile, words } from "../../src/build/dockerfile.js";
import { DockerfileError } from "../../src/build/errors.js";
import { Image } from "../../src/lib/image.js";
import { Store } from "../../src/lib/store.js";
import { requireKvm } from "./guest-util.js";
import {
  debianRoot,
  runTool,
  snapshot,
  UNO,
  startRegistry,
  umociLayout,
  unoWithHome,
  type FileInfo,
  type Out,
  type UnoRunner,
} from "./image-util.js";

const BUSYBOX = "/bin/busybox";
const work = fs.mkdtempSync(path.join(os.tmpdir(), "uno-build-"));
const home = path.join(work, "home");
const store = new Store(path.join(home, "store"));
const uno = unoWithHome(home);
after(() => fs.rmSync(work, { recursive: true, force: true }));

/** A context directory with these files (string contents; a Buffer as is). */
function context(name: string, files: Record<string, string | Buffer>): string {
  const dir = path.join(work, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [f, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), data);
  }
  return dir;
}

/** uno build with a longer timeout than other commands (RUN boots VMs, Debian is big). */
function build(args: string[], unoHome = home): Out {
  const out = spawnSync(UNO, ["build", ...args], {
    env: { ...process.env, UNO_HOME: unoHome },
    timeout: 600_000,
    maxBuffer: 64 << 20,
  });
  return { status: out.status, stdout: out.stdout.toString(), stderr: out.stderr.toString() };
}

function mustBuild(args: string[]): Out {
  const r = build(args);
  assert.equal(r.status, 0, `uno build ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}

function run(image: string, args: string[] = [], flags: string[] = []): Out {
  return uno(["run", ...flags, image, ...args]);
}

function mustRun(image: string, args: string[] = [], flags: string[] = []): string {
  const r = run(image, args, flags);
  assert.equal(r.status, 0, `uno run ${image} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function inspect(image: string): {
  Id: string;
  Config: Record<string, unknown>;
  RootFS: { diff_ids: string[] };
} {
  const r = uno(["inspect", image]);
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as ReturnType<typeof inspect>[])[0]!;
}

/** The image's config as stored (history included). */
function storedConfig(image: string): Record<string, unknown> {
  return JSON.parse(store.readBlob(Image.get(store, image).id).toString()) as Record<
    string,
    unknown
  >;
}

/** `uno save` of `image`, unpacked by umoci as root: path → what it is (image-util's snapshot). */
function umociUnpack(image: string): Map<string, FileInfo> {
  assert.equal(process.getuid?.(), 0, "comparing owners needs root");
  const dir = fs.mkdtempSync(path.join(work, "save-"));
  const tarFile = path.join(dir, "image.tar");
  const r = uno(["save", "-o", tarFile, image]);
  assert.equal(r.status, 0, r.stderr);
  const layout = path.join(dir, "layout");
  fs.mkdirSync(layout);
  runTool("tar", ["-xf", tarFile, "-C", layout], dir);
  const index = JSON.parse(fs.readFileSync(path.join(layout, "index.json"), "utf8")) as {
    manifests: { annotations?: Record<string, string> }[];
  };
  const ref = index.manifests[0]!.annotations!["org.opencontainers.image.ref.name"]!;
  const bundle = path.join(dir, "bundle");
  runTool("umoci", ["unpack", "--image", `${layout}:${ref}`, bundle], dir);
  return snapshot(path.join(bundle, "rootfs"));
}

const sha = (s: string): string => createHash("sha256").update(s).digest("hex");

/** The entries of an image's layer `i` (from the end when negative), read with tar-stream. */
async function layerEntries(image: string, i: number): Promise<Map<string, tar.Header>> {
  const im = Image.get(store, image);
  const l = im.manifest.layers.at(i)!;
  const extract = tar.extract();
  fs.createReadStream(store.blobPath(l.digest)).pipe(createGunzip()).pipe(extract);
  const out = new Map<string, tar.Header>();
  for await (const e of extract) {
    out.set(e.header.name.replace(/\/$/, ""), e.header);
    e.resume();
  }
  return out;
}

const busyboxNative = (args: string[]): string => runTool(BUSYBOX, args, work);

/** A base with busybox and its applets in /bin, /etc/passwd and /etc/group (built once). */
const BASE = "bbase:1";
function buildBase(): void {
  const ctx = context("base", {
    passwd: "root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000:bob:/home/bob:/bin/sh\n",
    group: "root:x:0:\nbob:x:1000:\nstaff:x:50:bob\n",
    Dockerfile: `FROM scratch
COPY busybox /bin/busybox
COPY passwd group /etc/
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["/bin/sh"]
`,
  });
  fs.copyFileSync(BUSYBOX, path.join(ctx, "busybox"));
  fs.chmodSync(path.join(ctx, "busybox"), 0o755);
  mustBuild(["-t", BASE, ctx]);
}

describe("uno build", () => {
  before(() => {
    requireKvm();
    buildBase();
  });

  it("COPY of a static binary onto scratch runs as the binary does natively", () => {
    const ctx = context("static", {
      Dockerfile: `FROM scratch\nCOPY bb /bin/busybox\nCMD ["/bin/busybox", "seq", "-s", ",", "3", "2", "11"]\n`,
    });
    fs.copyFileSync(BUSYBOX, path.join(ctx, "bb"));
    fs.chmodSync(path.join(ctx, "bb"), 0o755);
    const r = mustBuild(["-t", "static:1", ctx]);
    assert.match(r.stdout, /^Step 1\/3 : FROM scratch$/m);
    assert.match(r.stdout, /^Step 3\/3 : CMD /m);
    assert.equal(mustRun("static:1"), busyboxNative(["seq", "-s", ",", "3", "2", "11"]));
    assert.equal(
      mustRun("static:1", ["/bin/busybox", "sha256sum", "/bin/busybox"]).split(" ")[0],
      busyboxNative(["sha256sum", BUSYBOX]).split(" ")[0],
    );
    const c = inspect("static:1").Config;
    assert.deepEqual(c.Cmd, ["/bin/busybox", "seq", "-s", ",", "3", "2", "11"]);
    // -q prints the image ID only.
    const q = mustBuild(["-q", "-t", "static:1", ctx]);
    assert.equal(q.stdout.trim(), inspect("static:1").Id);
  });

  it("multi-stage: RUN's writable layer (whiteouts, owners, set-ID, links) and COPY --from", async () => {
    const ctx = context("multi", {
      Dockerfile: `FROM ${BASE} AS builder
RUN mkdir /data && echo hello world | tr a-z A-Z > /data/up \\
 && echo owned > /data/owned && chown 1000:50 /data/owned \\
 && cp /bin/busybox /data/suid && chmod 4755 /data/suid && chmod 2711 /data \\
 && ln -s up /data/link && ln /data/up /data/hard && mkfifo /data/fifo \\
 && touch "/data/$(printf 'odd\\nname')" '/data/back\\slash é' \\
 && chown 1000:50 "/data/$(printf 'odd\\nname')" '/data/back\\slash é' \\
 && rm /bin/wc && seq 1 3 | wc -l > /data/count 2>/dev/null || seq 1 3 | busybox wc -l > /data/count

FROM scratch
COPY --from=0 /bin/busybox /bin/
COPY --from=builder /data /data
COPY --from=builder /data/link /bin/sh /out/
CMD ["/bin/busybox", "cat", "/data/up"]
`,
    });
    mustBuild(["-t", "builder:1", "--target", "builder", ctx]);
    mustBuild(["-t", "multi:1", ctx]);
    // The RUN layer: a whiteout for the deleted /bin/wc, the guest's owners and set-ID bit.
    const layer = await layerEntries("builder:1", -1);
    assert.ok(layer.has("bin/.wh.wc"), `no whiteout for /bin/wc in ${[...layer.keys()].join(" ")}`);
    assert.equal(layer.get("data/owned")?.uid, 1000);
    // getfattr escapes odd bytes of names; they are read back to the same names.
    for (const odd of ["data/odd\nname", "data/back\\slash é"])
      assert.deepEqual([layer.get(odd)?.uid, layer.get(odd)?.gid], [1000, 50], odd);
    assert.equal(layer.get("data/owned")?.gid, 50);
    assert.equal((layer.get("data/suid")?.mode ?? 0) & 0o7777, 0o4755);
    // One inode under two names: the first name in the tar is the file, the other a link to it.
    const hard = [layer.get("data/hard"), layer.get("data/up")];
    assert.deepEqual(
      hard.map((h) => h?.type),
      ["file", "link"],
    );
    assert.equal(hard[1]?.linkname, "data/hard");
    assert.equal(layer.get("data/fifo")?.type, "fifo");
    assert.equal(run("builder:1", ["/bin/wc", "/etc/passwd"]).status, 127);

    const t = umociUnpack("multi:1");
    assert.equal(t.get("/data/up")?.sha256, sha("HELLO WORLD\n"));
    assert.equal(t.get("/data/count")?.sha256, sha("3\n"));
    assert.deepEqual([t.get("/data/owned")?.uid, t.get("/data/owned")?.gid], [1000, 50]);
    assert.equal(t.get("/data/suid")?.mode, 0o4755);
    assert.equal(t.get("/data")?.mode, 0o2711);
    assert.equal(t.get("/data/link")?.target, "up");
    assert.equal(t.get("/data/hard")?.links, "/data/up", "hard link kept");
    assert.ok(!t.has("/bin/wc") && !t.has("/bin/sh"), "only the selected files are copied");
    assert.equal(t.get("/bin/busybox")?.mode, 0o755);
    // Symlinked sources are followed and keep their own names.
    assert.equal(t.get("/out/link")?.sha256, sha("HELLO WORLD\n"));
    assert.equal(t.get("/out/sh")?.sha256, t.get("/bin/busybox")?.sha256);
    assert.equal(mustRun("multi:1"), "HELLO WORLD\n");
    assert.equal(
      mustRun("multi:1", ["/bin/busybox", "stat", "-c", "%u:%g %a", "/data/owned"]),
      "1000:50 644\n",
    );
  });

  it("RUN with shell pipelines on a Debian image built by umoci", async () => {
    const root = debianRoot();
    const layout = path.join(work, "deb-layout");
    umociLayout(root, layout, "deb", work);
    const loaded = uno(["load", "-i", layout]);
    assert.equal(loaded.status, 0, loaded.stderr);
    const id = /Loaded image ID: (sha256:[0-9a-f]+)/.exec(loaded.stdout)?.[1];
    assert.ok(id, loaded.stdout);
    assert.equal(uno(["tag", id, "debbase:12"]).status, 0);
    const ctx = context("deb", {
      Dockerfile: `FROM debbase:12
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN dpkg -l | grep -c '^ii' > /count \\
 && rm -rf /usr/share/doc && mkdir /usr/share/doc && echo fresh > /usr/share/doc/only \\
 && rm -rf /usr/share/man \\
 && echo 'alice:x:1234:1234:Alice:/home/alice:/bin/sh' >> /etc/passwd \\
 && echo 'alice:x:1234:' >> /etc/group && mkdir -p /home/alice && chown alice:alice /home/alice \\
 && chmod u+s /usr/bin/env
COPY --chmod=0755 hello.sh /bin/
WORKDIR /var/run/app
USER alice
WORKDIR /home/alice
RUN id -un > who && pwd >> who && ls -ld /home/alice | awk '{print $3":"$4}' >> who
CMD ["sh", "-c", "cat /count; ls /usr/share/doc; cat who; ls /usr/share | grep -c '^man$'; hello.sh; ls -d /run/app"]
`,
      "hello.sh": "#!/bin/sh\necho hello\n",
    });
    mustBuild(["-t", "debrun:1", ctx]);
    const native = spawnSync(
      "/usr/sbin/chroot",
      [root, "/bin/sh", "-c", "dpkg -l | grep -c '^ii'"],
      {
        encoding: "utf8",
      },
    );
    assert.equal(native.status, 0, native.stderr);
    const out = run("debrun:1");
    assert.equal(
      out.stdout,
      `${native.stdout}only\nalice\n/home/alice\nalice:alice\n0\nhello\n/run/app\n`,
      out.stderr,
    );
    // COPY to /bin/ and WORKDIR /var/run/app went through the image's symlinks.
    const copied = await layerEntries("debrun:1", -3);
    assert.deepEqual([...copied.keys()], ["usr/bin/hello.sh"]);
    assert.deepEqual([...(await layerEntries("debrun:1", -2)).keys()], ["run/app"]);
    // rm -rf + mkdir made /usr/share/doc opaque; /usr/share/man is a whiteout.
    const diffs = await layerEntries("debrun:1", -4);
    assert.ok(diffs.has("usr/share/doc/.wh..wh..opq"), "opaque /usr/share/doc");
    assert.ok(diffs.has("usr/share/.wh.man"), "whiteout for /usr/share/man");
    assert.equal(inspect("debrun:1").Config.User, "alice");
    // Directories and files the RUN copied up keep the image's modes and owners.
    const paths =
      "/usr /usr/share /usr/bin /etc /etc/passwd /etc/group /home /usr/bin/su /usr/bin/env";
    const stat = `stat -c '%a %u:%g %n' ${paths}`;
    const nativeStat = spawnSync("/usr/sbin/chroot", [root, "/bin/sh", "-c", stat], {
      encoding: "utf8",
    });
    const expected = nativeStat.stdout.replace(
      /^755 0:0 \/usr\/bin\/env$/m,
      "4755 0:0 /usr/bin/env",
    );
    assert.match(expected, /^4755 0:0 \/usr\/bin\/env$/m);
    assert.equal(mustRun("debrun:1", ["sh", "-c", stat]), expected);
  });

  it("an unchanged rebuild runs no RUN; changing a COPYed file re-runs that step and later ones", () => {
    const ctx = context("cache", {
      "input.txt": "one\n",
      Dockerfile: `FROM ${BASE}
COPY input.txt /input.txt
RUN head -c 16 /dev/urandom | od -An -tx1 > /random && cat /input.txt >> /random
RUN head -c 16 /dev/urandom | od -An -tx1 > /random2
CMD ["cat", "/random", "/random2"]
`,
    });
    const first = mustBuild(["-t", "cache:1", ctx]);
    assert.doesNotMatch(first.stdout, /Using cache/);
    const id1 = inspect("cache:1").Id;
    const r1 = mustRun("cache:1");
    const again = mustBuild(["-t", "cache:1", ctx]);
    assert.equal((again.stdout.match(/Using cache/g) ?? []).length, 3, again.stdout);
    assert.equal(inspect("cache:1").Id, id1, "same image ID");
    assert.equal(mustRun("cache:1"), r1, "RUN did not run again");
    // A new mtime only: the contents decide.
    const input = path.join(ctx, "input.txt");
    fs.utimesSync(input, new Date(), new Date(Date.now() + 10_000));
    assert.equal((mustBuild(["-t", "cache:1", ctx]).stdout.match(/Using cache/g) ?? []).length, 3);
    fs.writeFileSync(input, "two\n");
    const changed = mustBuild(["-t", "cache:1", ctx]);
    assert.doesNotMatch(changed.stdout, /Using cache/, "the COPY and both RUNs re-ran");
    assert.notEqual(inspect("cache:1").Id, id1);
    const r2 = mustRun("cache:1");
    assert.notEqual(r2, r1);
    assert.match(r2, /two\n/);
    // Garbage collection (uno rmi of another image) keeps the cache; uno image prune empties it.
    const r3 = mustRun("cache:1");
    assert.equal(uno(["rmi", "static:1"]).status, 0);
    assert.equal((mustBuild(["-t", "cache:1", ctx]).stdout.match(/Using cache/g) ?? []).length, 3);
    assert.equal(uno(["image", "prune"]).status, 0);
    assert.doesNotMatch(mustBuild(["-t", "cache:1", ctx]).stdout, /Using cache/);
    assert.notEqual(mustRun("cache:1"), r3, "RUN ran again after the prune");
    // --no-cache runs everything.
    const nc = mustBuild(["--no-cache", "-t", "cache:1", ctx]);
    assert.doesNotMatch(nc.stdout, /Using cache/);
    assert.notEqual(mustRun("cache:1"), r3);
  });

  it("ARG, --build-arg, ENV substitution, WORKDIR, USER, EXPOSE, LABEL, SHELL, .dockerignore, ADD, globs, --chown", async () => {
    const bundle = await tarArchive(
      [
        { name: "bundle/", type: "directory" },
        { name: "bundle/file", data: "from the archive\n" },
      ],
      "gzip",
    );
    // Recognized by their bytes, not their names.
    const xz = await tarArchive([{ name: "./xzbundle/file", data: "xz\n" }], "xz");
    const bz = await tarArchive([{ name: "bzbundle/file", data: "bzip2\n" }], "bzip2");
    const ctx = context("features", {
      ".dockerignore": "*.txt\n!keep.txt\n**/*.bak\n",
      "keep.txt": "kept\n",
      "drop.txt": "dropped\n",
      "sub/x.bak": "bak\n",
      "sub/y.conf": "conf\n",
      "secret.conf": "secret\n",
      "bundle.tar.gz": bundle,
      "other.bin": xz,
      "b.tbz": bz,
      Dockerfile: `ARG BASE=${BASE}
FROM --platform=$BUILDPLATFORM \${BASE}
ARG GREETING=hello
ARG TARGETARCH
ENV APP_HOME=/srv/app NAME=\${GREETING:-none} ALT=\${NOPE:+alt} SET=\${GREETING:+set}
ENV LEGACY a value with spaces
WORKDIR $APP_HOME
WORKDIR sub
COPY *.txt sub ./
COPY --chown=bob:staff --chmod=0640 secret.conf conf/
ADD bundle.tar.gz other.bin b.tbz /opt/
SHELL ["/bin/sh", "-ec"]
RUN echo "$GREETING from $(pwd) as $(id -u) on $TARGETARCH" > greeting; ls -A > listing
USER bob
EXPOSE 8080/tcp 53/udp
LABEL org.example.k="v w" other=1
HEALTHCHECK CMD true
STOPSIGNAL SIGQUIT
VOLUME ["/srv/data"]
ONBUILD RUN echo later
MAINTAINER someone <s@example.com>
ENTRYPOINT echo "entry:" "$NAME"
`,
    });
    const r = mustBuild(["--build-arg", "GREETING=bonjour", "-t", "feat:1", ctx]);
    const hcLine =
      fs
        .readFileSync(path.join(ctx, "Dockerfile"), "utf8")
        .split("\n")
        .findIndex((l) => l.startsWith("HEALTHCHECK")) + 1;
    assert.match(r.stderr, new RegExp(`warning: .*Dockerfile:${hcLine}: HEALTHCHECK is ignored`));
    const c = inspect("feat:1").Config;
    const env = c.Env as string[];
    for (const e of [
      "APP_HOME=/srv/app",
      "NAME=bonjour",
      "ALT=",
      "SET=set",
      "LEGACY=a value with spaces",
    ])
      assert.ok(env.includes(e), `${e} in ${env.join(" ")}`);
    assert.ok(!env.some((e) => e.startsWith("GREETING=")), "build-args stay out of the image");
    assert.equal(c.WorkingDir, "/srv/app/sub");
    assert.equal(c.User, "bob");
    assert.deepEqual(Object.keys(c.ExposedPorts as object).sort(), ["53/udp", "8080/tcp"]);
    assert.deepEqual(c.Labels, { "org.example.k": "v w", other: "1" });
    assert.deepEqual(c.Entrypoint, ["/bin/sh", "-ec", 'echo "entry:" "$NAME"']);
    assert.equal(c.Cmd ?? null, null, "ENTRYPOINT resets the base's Cmd");
    // Recorded where the config has a field, each with a warning.
    assert.equal(c.StopSignal, "SIGQUIT");
    assert.deepEqual(c.Volumes, { "/srv/data": {} });
    assert.deepEqual(c.OnBuild, ["RUN echo later"]);
    assert.equal(storedConfig("feat:1").author, "someone <s@example.com>");
    for (const w of ["STOPSIGNAL", "VOLUME", "ONBUILD", "MAINTAINER"])
      assert.match(r.stderr, new RegExp(`warning: .*Dockerfile:\\d+: ${w} `));
    const history = storedConfig("feat:1").history as {
      created_by: string;
      empty_layer?: boolean;
    }[];
    assert.ok(history.some((h) => h.created_by.startsWith("RUN /bin/sh -ec ") && !h.empty_layer));
    assert.ok(history.some((h) => h.created_by.startsWith("EXPOSE") && h.empty_layer));

    assert.equal(mustRun("feat:1"), "entry: bonjour\n");
    const look = (cmd: string): string =>
      mustRun("feat:1", ["-c", cmd], ["--entrypoint", "/bin/sh"]);
    assert.equal(look("cat greeting"), "bonjour from /srv/app/sub as 0 on amd64\n");
    // .dockerignore: keep.txt re-included, drop.txt and *.bak left out; sub's contents copied.
    assert.equal(look("ls -A | sort | tr '\\n' ' '"), "conf greeting keep.txt listing y.conf ");
    assert.equal(
      look("stat -c '%u:%g %a' conf/secret.conf; cat conf/secret.conf"),
      "1000:50 640\nsecret\n",
    );
    assert.equal(
      look("cat /opt/bundle/file /opt/xzbundle/file /opt/bzbundle/file"),
      "from the archive\nxz\nbzip2\n",
    );
    assert.equal(look("id -u; pwd"), "1000\n/srv/app/sub\n");
    const p = run("feat:1", [], ["-P", "--entrypoint", "/bin/true"]);
    assert.equal(p.status, 0, p.stderr);
  });

  it("fails clearly: a failing RUN, syntax errors, unknown instructions, missing or escaping sources", () => {
    const before = uno(["images", "--format", "json"]).stdout;
    const fail = (
      name: string,
      dockerfile: string,
      re: RegExp,
      files: Record<string, string> = {},
    ): Out => {
      const ctx = context(`err-${name}`, { ...files, Dockerfile: dockerfile });
      const r = build(["-t", `err-${name}:1`, ctx]);
      assert.notEqual(r.status, 0, `${name} should fail:\n${r.stdout}`);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /internal error/);
      return r;
    };
    const r = fail(
      "run",
      `FROM ${BASE}\nRUN echo partial > /p && exit 3\n`,
      /Dockerfile:2: the command '\/bin\/sh -c echo partial > \/p && exit 3' returned a non-zero code: 3/,
    );
    assert.equal(r.status, 1);
    fail("syntax", `FROM ${BASE}\nENV A="unterminated\n`, /Dockerfile:2: unmatched "/);
    fail("noargs", `FROM ${BASE}\nCOPY\n`, /Dockerfile:2: COPY requires at least one argument/);
    fail("unknown", `FROM ${BASE}\nFROB x\n`, /Dockerfile:2: unknown instruction: FROB/);
    fail("first", `RUN true\n`, /Dockerfile:1: RUN before the first FROM/);
    fail(
      "missing",
      `FROM ${BASE}\nCOPY nothere /x\n`,
      /Dockerfile:2: COPY nothere: nothere: file not found in the build context/,
    );
    fail("escape", `FROM ${BASE}\nCOPY ../x /x\n`, /\.\.\/x is outside the build context/);
    fail("url", `FROM ${BASE}\nADD https://example.com/x /x\n`, /ADD from a URL is not supported/);
    fail(
      "flag",
      `FROM ${BASE}\nRUN --mount=type=cache,target=/x true\n`,
      /Dockerfile:2: RUN --mount is not supported/,
    );
    fail("stage", `FROM ${BASE}\nCOPY --from=7 /x /x\n`, /--from=7: no earlier stage/);
    fail(
      "loop",
      `FROM ${BASE} AS a\nRUN ln -s loop /loop\nFROM scratch\nCOPY --from=a /loop /x\n`,
      /Dockerfile:4: COPY: \/loop: not found in the source stage/,
    );
    fail(
      "platform",
      `FROM --platform=linux/arm64 ${BASE}\n`,
      /Dockerfile:1: .*linux\/amd64 images only/,
    );
    // A bad -t is refused before anything is built.
    const bad = build(["-t", "Bad:Name", context("err-tag", { Dockerfile: "FROM scratch\n" })]);
    assert.equal(bad.status, 125);
    assert.match(bad.stderr, /invalid reference format "Bad:Name"/);
    assert.equal(bad.stdout, "");
    assert.equal(
      uno(["images", "--format", "json"]).stdout,
      before,
      "no image was added or tagged",
    );
  });

  it("FROM an image the store does not have pulls it from a registry", async () => {
    const children: ChildProcess[] = [];
    try {
      const reg = await startRegistry(path.join(work, "registry"), children);
      const archive = path.join(work, "bbase.oci.tar");
      assert.equal(uno(["save", "-o", archive, BASE]).status, 0);
      runTool(
        "skopeo",
        [
          "copy",
          "-q",
          "--dest-tls-verify=false",
          `oci-archive:${archive}`,
          `docker://${reg.host}/bb:1`,
        ],
        work,
      );
      const fresh = path.join(work, "home-pull");
      const ctx = context("pull", {
        Dockerfile: `FROM ${reg.host}/bb:1\nRUN echo pulled > /p\nCMD ["cat", "/p"]\n`,
      });
      const r = build(["-t", "pulled:1", ctx], fresh);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Pulling ${reg.host}/bb:1$`, "m"));
      const unoFresh = unoWithHome(fresh);
      assert.equal(unoFresh(["run", "pulled:1"]).stdout, "pulled\n");
      // The base is stored under its name too, with the ID it has here.
      const ids = (h: UnoRunner, ref: string): string =>
        (JSON.parse(h(["inspect", ref]).stdout) as { Id: string }[])[0]!.Id;
      assert.equal(ids(unoFresh, `${reg.host}/bb:1`), ids(uno, BASE));
    } finally {
      for (const c of children) c.kill();
    }
  });

  it("an interrupted RUN (SIGINT) fails the build and leaves no instance, lock or image", async () => {
    const ctx = context("interrupt", {
      Dockerfile: `FROM ${BASE}\nRUN echo started && sleep 60\n`,
    });
    const before = uno(["images", "--format", "json"]).stdout;
    const child = spawn(UNO, ["build", "-t", "interrupted:1", ctx], {
      env: { ...process.env, UNO_HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const started = new Promise<void>((resolve) =>
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (/^started$/m.test(out)) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    await started;
    const t0 = Date.now();
    child.kill("SIGINT");
    const status = await exited;
    assert.ok(Date.now() - t0 < 20_000, "the VM stopped on SIGINT");
    assert.equal(status, 1, `${out}\n${err}`);
    assert.match(
      err,
      /the command '\/bin\/sh -c echo started && sleep 60' returned a non-zero code: 130/,
    );
    const instances = path.join(home, "instances");
    assert.deepEqual(fs.existsSync(instances) ? fs.readdirSync(instances) : [], []);
    assert.ok(!fs.existsSync(store.lockPath), "the store lock is released");
    assert.equal(uno(["images", "--format", "json"]).stdout, before);
  });

  it("follows docker's documented .dockerignore and variable substitution examples", () => {
    // docs.docker.com, "Build context" (.dockerignore) and "Dockerfile reference" (Environment replacement).
    const ignored = (rules: string, paths: string[]): string[] => {
      const dir = context(`ignore-${paths.length}-${rules.length}`, { ".dockerignore": rules });
      const c = new BuildContext(dir);
      return paths.filter((p) => c.isIgnored(p));
    };
    assert.deepEqual(
      ignored("# comment\n*/temp*\n*/*/temp*\ntemp?\n", [
        "somedir/temporary.txt",
        "somedir/temp",
        "somedir/subdir/temporary.txt",
        "tempa",
        "temp",
        "temporary.txt",
        "a/b/c/temp1",
      ]),
      ["somedir/temporary.txt", "somedir/temp", "somedir/subdir/temporary.txt", "tempa"],
    );
    assert.deepEqual(ignored("**/*.go\n", ["x.go", "a/b/y.go", "a/go"]), ["x.go", "a/b/y.go"]);
    assert.deepEqual(
      ignored("*.md\n!README*.md\nREADME-secret.md\n", ["a.md", "README.md", "README-secret.md"]),
      ["a.md", "README-secret.md"],
    );
    // A parent directory that matches excludes what is below it.
    assert.deepEqual(ignored("/build\n", ["build/x/y", "src/build"]), ["build/x/y"]);

    // Continuations (also CRLF, and the escape directive), comment lines inside them, flags.
    const df = parseDockerfile(
      "# escape=`\r\nFROM scratch\r\nRUN a `\r\n# note\r\n  b\r\nCOPY --chown=1:2 --from=x a b\n",
      "Dockerfile",
    );
    const body = df.stages[0]!.body;
    assert.deepEqual(
      body.map((i) => [i.keyword, i.line, i.text, [...i.flags]]),
      [
        ["RUN", 3, "a   b", []],
        [
          "COPY",
          6,
          "a b",
          [
            ["chown", "1:2"],
            ["from", "x"],
          ],
        ],
      ],
    );
    const vars = new Map([
      ["abc", "hello"],
      ["empty", ""],
    ]);
    assert.deepEqual(words("$abc ${abc}x \\$abc '$abc' \"$abc z\"", vars), [
      "hello",
      "hellox",
      "$abc",
      "$abc",
      "hello z",
    ]);
    // An unquoted empty expansion is no word at all; a quoted one is an empty word.
    assert.deepEqual(words('${abc:-w} ${nope:-w} ${empty:-w} ${empty-w} "${empty-w}"', vars), [
      "hello",
      "w",
      "w",
      "",
    ]);
    assert.deepEqual(words("${abc:+w} ${nope:+w} ${empty:+w} ${empty+w}x", vars), ["w", "wx"]);
    assert.deepEqual(keyValues('A="a b" B=c\\ d', vars, "\\", false), [
      ["A", "a b"],
      ["B", "c d"],
    ]);
    assert.deepEqual(keyValues("LEGACY  value  $abc", vars, "\\", true), [
      ["LEGACY", "value  hello"],
    ]);
  });

  it("the parser refuses garbage with file:line errors and never crashes", () => {
    const pieces = [
      "FROM",
      "RUN",
      "COPY",
      "\\",
      "\n",
      "[",
      "]",
      '"',
      "'",
      "${",
      "}",
      "$",
      " ",
      "#",
      "--",
      "=",
      "\u00e9",
      "\t",
      "AS",
      "x",
      "ARG",
      "ENV",
      "escape=`",
    ];
    let seed = 42;
    const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    const inputs = [
      "",
      "\0",
      "FROM",
      "\\\n\\\n",
      "# escape=`\nFROM x`\n",
      Buffer.from([0xff, 0xfe, 0x00, 0x41]).toString("latin1"),
    ];
    for (let i = 0; i < 400; i++)
      inputs.push(Array.from({ length: 1 + rand(30) }, () => pieces[rand(pieces.length)]).join(""));
    for (const text of inputs) {
      try {
        parseDockerfile(text, "Garbage");
      } catch (err) {
        assert.ok(
          err instanceof DockerfileError,
          `${JSON.stringify(text)}: ${(err as Error).stack}`,
        );
        assert.match((err as Error).message, /^Garbage:\d+: /);
      }
    }
  });
});

/** A .tar.gz written with tar-stream. */
/** A tar written with tar-stream, compressed by zlib's gzip or Debian's xz or bzip2. */
async function tarArchive(
  entries: { name: string; type?: "directory"; data?: string }[],
  compression: "gzip" | "xz" | "bzip2",
): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries)
    if (e.type === "directory") pack.entry({ name: e.name, type: "directory", mode: 0o755 });
    else pack.entry({ name: e.name, mode: 0o644 }, e.data ?? "");
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  const plain = Buffer.concat(chunks);
  if (compression === "gzip") return gzipSync(plain);
  const r = spawnSync(compression, ["-z", "-c"], { input: plain });
  assert.equal(r.status, 0, `${compression} failed`);
  return r.stdout;
}
