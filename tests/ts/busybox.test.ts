/**
 * Debian's busybox-static inside uno. The suite builds a root directory in a temp dir
 * (bin/busybox, etc/passwd, etc/group, data files, tmp/) and runs applets in it with
 * `bin/uno run -w / DIR -- /bin/busybox APPLET ARGS`, comparing with the same busybox run
 * natively in DIR with the same (relative) arguments. Applets that change the file system
 * run natively on a fresh copy of DIR with their absolute paths prefixed by the copy's
 * path. These tests need KVM: without a usable /dev/kvm they fail, they are never skipped.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  assertSame,
  firstDifference,
  GUEST_PATH,
  requireKvm,
  runNative,
  runUno,
  tempDir,
  type Result,
} from "./guest-util.js";

const BUSYBOX = "/bin/busybox";

const tmp = tempDir("uno-busybox-test-");
const rootfs = path.join(tmp, "root");
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Both runs get this environment (uno adds HOSTNAME; nothing here prints it). */
const ENV = { TZ: "UTC" };
const NATIVE_ENV = { PATH: GUEST_PATH, HOME: "/root", ...ENV };
/** A fixed mtime for everything in the root directory, so listings are comparable. */
const MTIME = new Date("2021-03-04T05:06:07Z");

const LINES = "pear\napple\nbanana\napple\ncherry\nbanana\napple\n";
const WORDS = "the quick brown fox\njumps over\nthe  lazy   dog\n";
const TABLE = "name,qty,price\napple,3,1.50\npear,10,0.25\nfig,7,2.00\n";

/** Deterministic pseudo-random bytes (xorshift32). */
function pseudoRandom(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}
const BIG = pseudoRandom((1 << 20) + 123, 0x9e3779b9);

/** name:x:id:... lines for the ids the files will have, named as on the host. */
function accountLines(file: string, id: number, fallback: string): string {
  try {
    for (const l of fs.readFileSync(file, "utf8").split("\n")) {
      const f = l.split(":");
      if (f.length > 2 && Number(f[2]) === id) return l + "\n";
    }
  } catch {
    /* no such file on the host */
  }
  return fallback + "\n";
}

function buildRootfs(dir: string): void {
  const w = (rel: string, data: string | Buffer, mode = 0o644): void => {
    fs.writeFileSync(path.join(dir, rel), data);
    fs.chmodSync(path.join(dir, rel), mode);
  };
  for (const d of ["bin", "etc", "data", "data/sub", "tmp"]) fs.mkdirSync(path.join(dir, d));
  fs.chmodSync(path.join(dir, "tmp"), 0o1777);
  fs.copyFileSync(BUSYBOX, path.join(dir, "bin", "busybox"));
  fs.chmodSync(path.join(dir, "bin", "busybox"), 0o755);
  const { uid, gid } = os.userInfo();
  let passwd = "root:x:0:0:root:/root:/bin/sh\n";
  let group = "root:x:0:\n";
  if (uid !== 0) passwd += accountLines("/etc/passwd", uid, `user:x:${uid}:${gid}::/:/bin/sh`);
  if (gid !== 0) group += accountLines("/etc/group", gid, `group:x:${gid}:`);
  w("etc/passwd", passwd);
  w("etc/group", group);
  // The image's own hosts and resolv.conf: without them uno generates defaults (libos/fs/etc.c)
  // that a native listing of this directory would not show.
  w("etc/hosts", "127.0.0.1\tlocalhost\n");
  w("etc/resolv.conf", "");
  w("data/lines.txt", LINES);
  w("data/sorted.txt", LINES.split("\n").filter(Boolean).sort().join("\n") + "\n");
  w("data/words.txt", WORDS);
  w("data/table.csv", TABLE);
  w("data/numbers.txt", Array.from({ length: 1000 }, (_, i) => `${i + 1}\n`).join(""));
  w("data/big.bin", BIG);
  w("data/empty", "");
  w("data/secret", "top secret\n", 0o600);
  w("data/script.sh", "#!/bin/sh\necho hi\n", 0o755);
  w("data/sub/nested.txt", "nested\n");
  fs.symlinkSync("lines.txt", path.join(dir, "data", "link"));
  const touch = (rel: string): void => {
    const p = path.join(dir, rel);
    fs.lutimesSync(p, MTIME, MTIME);
    if (fs.lstatSync(p).isDirectory()) for (const n of fs.readdirSync(p)) touch(path.join(rel, n));
  };
  touch("");
}

before(() => {
  const f = spawnSync("sh", ["-c", `command -v file >/dev/null && file -L ${BUSYBOX}`]);
  if (!fs.existsSync(BUSYBOX)) {
    assert.fail(
      `${BUSYBOX} is missing: install Debian's busybox-static (apt-get install busybox-static)`,
    );
  }
  if (f.status === 0) {
    assert.doesNotMatch(
      f.stdout.toString(),
      /dynamically linked/,
      `${BUSYBOX} is dynamically linked: install busybox-static instead of busybox`,
    );
  }
  fs.mkdirSync(rootfs);
  buildRootfs(rootfs);
});

/** busybox APPLET ARGS natively in the root directory and inside uno with -w /. */
function bb(args: string[], o: { input?: string | Buffer; env?: Record<string, string> } = {}) {
  requireKvm();
  const native = runNative(BUSYBOX, args, {
    cwd: rootfs,
    input: o.input,
    env: { ...NATIVE_ENV, ...o.env },
  });
  const uno = runUno(rootfs, ["--", "/bin/busybox", ...args], {
    cwd: "/",
    input: o.input,
    env: { ...ENV, ...o.env },
  });
  return { native, uno };
}

/** Runs bb() and asserts equal stdout and status (and stderr, unless told otherwise). */
function same(
  args: string[],
  o: { input?: string | Buffer; status?: number; stderr?: boolean } = {},
): { native: Result; uno: Result } {
  const r = bb(args, o);
  const what = `busybox ${args.join(" ")}`;
  if (o.status !== undefined) {
    assert.equal(
      r.native.status,
      o.status,
      `native ${what}: status ${r.native.status}: ${r.native.stderr}`,
    );
  }
  assertSame(what, r.native, r.uno);
  if (o.stderr !== false) {
    assert.ok(
      r.uno.stderr === r.native.stderr,
      `${what}: stderr differs, ${firstDifference(r.native.stderr, r.uno.stderr)}`,
    );
  }
  return r;
}

/**
 * `ls -l` output with what legitimately differs between file systems taken out: the "total"
 * (block count) lines and the size column of directories.
 */
function normaliseLs(out: string): string {
  return out
    .split("\n")
    .filter((l) => !/^total \d+$/.test(l))
    .map((l) =>
      l.startsWith("d") ? l.replace(/^(\S+\s+\d+\s+\S+\s+\S+)\s+\d+/, "$1 <dirsize>") : l,
    )
    .join("\n");
}

describe("busybox applets in uno", () => {
  it("echo", () => {
    same(["echo", "hello", "world"], { status: 0 });
    same(["echo", "-n", "no newline"], { status: 0 });
    same(["echo", "-e", "tab\\there\\nnext"], { status: 0 });
  });

  it("cat", () => {
    same(["cat", "data/lines.txt", "data/words.txt"], { status: 0 });
    same(["cat", "data/link"], { status: 0 });
    same(["cat", "-n", "data/words.txt"], { status: 0 });
    same(["cat", "data/empty"], { status: 0 });
    same(["cat", "data/missing"], { status: 1 });
    same(["cat", "data/sub"], { status: 1 });
    const { uno } = same(["cat", "data/big.bin"], { status: 0 });
    assert.equal(uno.stdout, BIG.toString("utf8"), "cat of the 1 MiB file returns it");
  });

  it("ls -la (directory sizes and block totals normalised)", () => {
    for (const dir of ["data", "etc", "bin", "data/sub"]) {
      const { native, uno } = bb(["ls", "-la", dir]);
      assert.equal(native.status, 0, native.stderr);
      assert.equal(uno.status, 0, uno.stderr);
      assert.equal(normaliseLs(uno.stdout), normaliseLs(native.stdout), `ls -la ${dir}`);
    }
    const { native, uno } = bb(["ls", "-lan", "data"]);
    assert.equal(normaliseLs(uno.stdout), normaliseLs(native.stdout), "ls -lan data");
    same(["ls", "data"], { status: 0 });
    same(["ls", "-1", "data/sub", "etc"], { status: 0 });
    same(["ls", "-la", "data/missing"], { status: 1 });
    same(["ls", "-ld", "data/link", "data/secret", "data/script.sh"], { status: 0 });
  });

  it("wc", () => {
    same(["wc", "data/lines.txt", "data/words.txt"], { status: 0 });
    same(["wc", "-l", "data/numbers.txt"], { status: 0 });
    const { uno } = same(["wc", "-c", "data/big.bin"], { status: 0 });
    assert.match(uno.stdout, new RegExp(`^${BIG.length} data/big.bin\n$`));
  });

  it("sha256sum equals the host's sum of the same files", () => {
    requireKvm();
    for (const rel of ["data/big.bin", "bin/busybox"]) {
      const host = spawnSync("sha256sum", [rel], { cwd: rootfs });
      assert.equal(host.status, 0, `host sha256sum ${rel}: ${host.stderr}`);
      const uno = runUno(rootfs, ["--", "/bin/busybox", "sha256sum", rel], { cwd: "/" });
      assert.equal(uno.status, 0, uno.stderr);
      assert.equal(uno.stdout, host.stdout.toString(), `sha256sum ${rel}`);
      const mine = createHash("sha256")
        .update(fs.readFileSync(path.join(rootfs, rel)))
        .digest("hex");
      assert.equal(uno.stdout, `${mine}  ${rel}\n`);
    }
    // and of stdin
    const uno = runUno(rootfs, ["--", "/bin/busybox", "sha256sum"], { input: BIG });
    assert.equal(uno.stdout, `${createHash("sha256").update(BIG).digest("hex")}  -\n`);
  });

  it("head and tail", () => {
    same(["head", "-n", "3", "data/lines.txt"], { status: 0 });
    same(["head", "-c", "10", "data/words.txt"], { status: 0 });
    same(["head", "data/numbers.txt"], { status: 0 });
    same(["tail", "-n", "2", "data/lines.txt"], { status: 0 });
    same(["tail", "-c", "5", "data/words.txt"], { status: 0 });
    same(["tail", "-n", "+995", "data/numbers.txt"], { status: 0 });
  });

  it("sort and uniq", () => {
    same(["sort", "data/lines.txt"], { status: 0 });
    same(["sort", "-r", "-u", "data/lines.txt"], { status: 0 });
    same(["sort", "-t", ",", "-k", "2", "-n", "data/table.csv"], { status: 0 });
    same(["sort", "-n", "-r", "data/numbers.txt"], { status: 0 });
    same(["uniq", "data/sorted.txt"], { status: 0 });
    same(["uniq", "-c", "data/sorted.txt"], { status: 0 });
    same(["uniq", "-d", "data/sorted.txt"], { status: 0 });
    const { uno } = same(["sort", "data/lines.txt"], { status: 0 });
    assert.equal(uno.stdout, "apple\napple\napple\nbanana\nbanana\ncherry\npear\n");
  });

  it("grep", () => {
    same(["grep", "the", "data/words.txt"], { status: 0 });
    same(["grep", "-c", "apple", "data/lines.txt"], { status: 0 });
    same(["grep", "-v", "-n", "apple", "data/lines.txt"], { status: 0 });
    same(["grep", "-E", "fox|dog", "data/words.txt"], { status: 0 });
    same(["grep", "-i", "-w", "THE", "data/words.txt"], { status: 0 });
    same(["grep", "nomatch", "data/words.txt"], { status: 1 });
    same(["grep", "x", "data/missing"], { status: 2 });
    same(["grep", "-l", "apple", "data/lines.txt", "data/words.txt", "data/sorted.txt"], {
      status: 0,
    });
  });

  it("sed", () => {
    same(["sed", "s/the/THE/g", "data/words.txt"], { status: 0 });
    same(["sed", "-n", "2p", "data/lines.txt"], { status: 0 });
    same(["sed", "-e", "1d", "-e", "s/o/0/", "data/words.txt"], { status: 0 });
    same(["sed", "-E", "s/([a-z]+),([0-9]+)/\\2:\\1/", "data/table.csv"], { status: 0 });
    same(["sed", "y/abc/xyz/", "data/lines.txt"], { status: 0 });
  });

  it("awk", () => {
    same(["awk", "-F", ",", "NR > 1 { s += $2 * $3 } END { print s }", "data/table.csv"], {
      status: 0,
    });
    same(["awk", '{ print NR ": " $1, NF }', "data/words.txt"], { status: 0 });
    same(["awk", 'BEGIN { printf "%d %s %.3f %e\\n", 42, "x", 3.14159, 12345.678 }'], {
      status: 0,
    });
    // (Debian's busybox awk has no math functions compiled in)
    same(["awk", 'BEGIN { print int(7/2), 7 % 3, 1e3 / 8, substr("hello", 2, 3) }'], {
      status: 0,
    });
    same(["awk", "{ n[$1]++ } END { for (k in n) c++; print c }", "data/lines.txt"], {
      status: 0,
    });
    same(["awk", "BEGIN { srand(1); x = rand(); print (x >= 0 && x < 1) }"], { status: 0 });
  });

  it("cut and tr", () => {
    same(["cut", "-d", ",", "-f", "1,3", "data/table.csv"], { status: 0 });
    same(["cut", "-c", "1-5", "data/words.txt"], { status: 0 });
    same(["tr", "a-z", "A-Z"], { input: WORDS, status: 0 });
    same(["tr", "-d", "aeiou"], { input: WORDS, status: 0 });
    same(["tr", "-s", " "], { input: WORDS, status: 0 });
    const { uno } = same(["tr", "a-z", "A-Z"], { input: "hello\n", status: 0 });
    assert.equal(uno.stdout, "HELLO\n");
  });

  it("a few more: printf, seq, expr, basename, dirname, od, md5sum", () => {
    same(["printf", "%s-%05d-%x\\n", "a", "42", "255"], { status: 0 });
    same(["seq", "3", "2", "11"], { status: 0 });
    same(["expr", "6", "*", "7"], { status: 0 });
    same(["expr", "0", "+", "0"], { status: 1 });
    same(["basename", "/a/b/c.txt", ".txt"], { status: 0 });
    same(["dirname", "/a/b/c.txt"], { status: 0 });
    same(["od", "-A", "x", "-t", "x1", "data/words.txt"], { status: 0 });
    same(["md5sum", "data/big.bin", "data/lines.txt"], { status: 0 });
  });

  it("true and false", () => {
    same(["true"], { status: 0 });
    same(["false"], { status: 1 });
  });

  it("sh -c with builtins", () => {
    const { uno } = same(["sh", "-c", "echo $((6*7)); exit 3"], { status: 3 });
    assert.equal(uno.stdout, "42\n");
    same(["sh", "-c", 'x=0; for i in 1 2 3 4; do x=$((x + i)); done; echo "$x"'], { status: 0 });
    same(["sh", "-c", 'case "$0" in sh) echo sh;; *) echo other;; esac'], { status: 0 });
    same(["sh", "-c", "f() { return 5; }; f; echo $?"], { status: 0 });
  });

  it("sh: the read builtin", () => {
    same(["sh", "-c", 'while read a; do echo "<$a>"; done'], { input: LINES, status: 0 });
    same(["sh", "-c", 'read a b < data/words.txt; echo "$b|$a"'], { status: 0 });
  });

  it("date", () => {
    requireKvm();
    // a fixed date prints the same as natively
    same(["date", "-u", "-d", "@1234567890"], { status: 0 });
    same(["date", "-u", "-d", "@0", "+%Y-%m-%d %H:%M:%S %j %a %b"], { status: 0 });
    // now: within a minute of the host's clock
    const uno = runUno(rootfs, ["--", "/bin/busybox", "date", "-u", "+%Y-%m-%dT%H:%M:%SZ"], {
      env: ENV,
    });
    assert.equal(uno.status, 0, uno.stderr);
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\n$/.exec(uno.stdout);
    assert.ok(m, `unexpected date output ${JSON.stringify(uno.stdout)}`);
    const skew = Math.abs(Date.parse(m[1]!) - Date.now());
    assert.ok(skew < 60_000, `uno's date is ${skew} ms away from the host's`);
    // the default format looks the same as natively
    const { native, uno: u2 } = bb(["date"]);
    const fmt = /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d UTC \d{4}\n$/;
    assert.match(native.stdout, fmt);
    assert.match(u2.stdout, fmt);
    const secs = runUno(rootfs, ["--", "/bin/busybox", "date", "+%s"]);
    assert.ok(Math.abs(Number(secs.stdout) - Date.now() / 1000) < 60, `date +%s: ${secs.stdout}`);
  });

  it("env shows the -e variables and uno's defaults", () => {
    requireKvm();
    const uno = runUno(rootfs, ["--", "/bin/busybox", "env"], {
      env: { FOO: "bar", WITH_SPACE: "a b", EMPTY: "" },
    });
    assert.equal(uno.status, 0, uno.stderr);
    const lines = uno.stdout.split("\n").filter(Boolean).sort();
    assert.equal(lines.length, 6, `env printed: ${uno.stdout}`);
    assert.deepEqual(
      lines.filter((l) => !l.startsWith("HOSTNAME=")),
      ["EMPTY=", "FOO=bar", "HOME=/root", `PATH=${GUEST_PATH}`, "WITH_SPACE=a b"],
    );
    assert.ok(
      lines.some((l) => /^HOSTNAME=[0-9a-f]{12}$/.test(l)),
      `no HOSTNAME in ${uno.stdout}`,
    );
    // a value with '=' in it
    const one = runUno(rootfs, ["--", "/bin/busybox", "env"], { env: { FOO: "x=y" } });
    assert.match(one.stdout, /^FOO=x=y$/m);
  });

  it("uname", () => {
    same(["uname", "-s"], { status: 0 });
    same(["uname", "-m"], { status: 0 });
    same(["uname", "-o"], { status: 0 });
    const { native, uno } = bb(["uname", "-a"]);
    const fmt = /^Linux \S+ \S+ .* x86_64 GNU\/Linux\n$/;
    assert.match(native.stdout, fmt);
    assert.match(uno.stdout, fmt);
    assert.equal(uno.status, 0);
  });

  it("stdin: echo -n abc | uno run DIR -- /bin/busybox wc -c prints 3", () => {
    requireKvm();
    const uno = runUno(rootfs, ["--", "/bin/busybox", "wc", "-c"], { input: "abc" });
    assert.equal(uno.status, 0, uno.stderr);
    assert.equal(uno.stdout.trim(), "3");
    same(["wc", "-c"], { input: "abc", status: 0 });
    same(["wc"], { input: BIG, status: 0 });
    const big = runUno(rootfs, ["--", "/bin/busybox", "cat"], { input: BIG });
    assert.ok(Buffer.from(big.stdout, "utf8").equals(Buffer.from(BIG.toString("utf8"), "utf8")));
  });

  describe("mkdir, touch, rm, mv in / and /tmp (each its own run)", () => {
    // [args, expected status, expected stderr]; absolute paths are prefixed with a fresh
    // copy's path natively, and stderr must match the native run's as well.
    const cases: [string[], number, string?, string?][] = [
      [["mkdir", "/newdir"], 0],
      [["mkdir", "/tmp/newdir"], 0],
      [["mkdir", "/a/b"], 1, "mkdir: can't create directory '/a/b': No such file or directory\n"],
      [["mkdir", "-p", "/a/b/c"], 0],
      [["mkdir", "/etc"], 1, "mkdir: can't create directory '/etc': File exists\n"],
      [["mkdir", "/data/lines.txt/x"], 1],
      [["mkdir", "-m", "700", "/tmp/private"], 0],
      [["touch", "/newfile"], 0],
      [["touch", "/tmp/newfile"], 0],
      [["touch", "/data/lines.txt"], 0],
      [["touch", "/nonexistent/x"], 1, "touch: /nonexistent/x: No such file or directory\n"],
      [["rm", "/data/lines.txt"], 0],
      [["rm", "/nonexistent"], 1, "rm: can't remove '/nonexistent': No such file or directory\n"],
      [["rm", "-f", "/nonexistent"], 0],
      [["rm", "/data"], 1, "rm: '/data' is a directory\n"],
      [["rm", "-r", "/data"], 0],
      [["rm", "-rf", "/data/sub"], 0],
      [["rmdir", "/data/sub"], 1],
      [["rmdir", "/tmp"], 0],
      [["mv", "/data/lines.txt", "/tmp/x"], 0],
      [["mv", "/data/lines.txt", "/renamed"], 0],
      [["mv", "/nonexistent", "/tmp/y"], 1],
      [["mv", "/data/sub", "/tmp/"], 0],
      [["mv", "/data", "/moved"], 0],
      [["sed", "-i", "s/apple/APPLE/g", "/data/lines.txt"], 0],
      [["sh", "-c", "echo hi > /newfile && [ -s /newfile ] && echo written"], 0],
      [["sh", "-c", "cd /tmp && pwd && echo x > f && [ -f /tmp/f ] && echo exists"], 0],
      [["sh", "-c", "echo x > /data/missing-dir/f"], 1],
      [["sh", "-c", "[ -e /data/lines.txt ] && echo yes; [ -d /data/sub ] && echo dir"], 0],
    ];
    for (const [args, status, stderr, todo] of cases) {
      it(`${args.join(" ")} → ${status}`, { todo }, () => {
        requireKvm();
        const copy = fs.mkdtempSync(path.join(tmp, "copy-"));
        const cp = spawnSync("cp", ["-a", `${rootfs}/.`, copy]);
        assert.equal(cp.status, 0, cp.stderr.toString());
        // Inside sh -c scripts, absolute paths are rewritten too.
        const prefixed = args.map((a) =>
          a.startsWith("/") ? copy + a : a.replace(/(^|[\s<>])\//g, `$1${copy}/`),
        );
        const native = runNative(BUSYBOX, prefixed, { cwd: copy, env: NATIVE_ENV });
        const uno = runUno(rootfs, ["--", "/bin/busybox", ...args], { cwd: "/", env: ENV });
        const unprefix = (s: string): string => s.split(copy).join("");
        assert.equal(native.status, status, `native: ${native.stderr}`);
        assertSame(args.join(" "), { ...native, stdout: unprefix(native.stdout) }, uno);
        assert.equal(uno.stderr, unprefix(native.stderr), "stderr (error messages) differ");
        if (stderr !== undefined) assert.equal(uno.stderr, stderr, "the error message");
        if (status === 0) assert.equal(uno.stderr, "", "no error message");
        fs.rmSync(copy, { recursive: true, force: true });
      });
    }
    it("the host's root directory was never changed", () => {
      assert.equal(fs.readFileSync(path.join(rootfs, "data", "lines.txt"), "utf8"), LINES);
      assert.deepEqual(fs.readdirSync(rootfs).sort(), ["bin", "data", "etc", "tmp"]);
      assert.deepEqual(fs.readdirSync(path.join(rootfs, "tmp")), []);
      assert.ok(fs.existsSync(path.join(rootfs, "data", "sub", "nested.txt")));
    });
  });
});
