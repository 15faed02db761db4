// uno-vmm and the libOS as a whole: what a person sees from `uno run --trace` and
// `--verbose`, the cost model (console output without an exit per write), and clear errors
// for bad input to uno-vmm. Every test needs KVM and fails (never skips) without it.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { ROOT, requireFile, requireKvm, runNative, runUno, tempDir } from "./guest-util.js";

const VMM = path.join(ROOT, "build", "uno-vmm");
const LIBOS = path.join(ROOT, "build", "libos.elf");
const tmp = tempDir("uno-vmm-test-");
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function prog(name: string): string {
  const p = path.join(ROOT, "build", "guest", "musl", name);
  requireFile(p, "build the guest programs with `make guest-progs`");
  return p;
}

/** What each VMM says of its exits at the end (--verbose), by guest pid: one line per VMM,
 * in whatever order they end. */
function exitsByPid(
  stderr: string,
  processes: number,
): Map<number, { exits: number; ahead: number }> {
  const all = [
    ...stderr.matchAll(/(\d+) hypercall exits, \d+ doorbells, (\d+) receives ahead \(pid (\d+)\)/g),
  ];
  assert.equal(
    all.length,
    processes,
    `${processes} processes should report their exits:\n${stderr}`,
  );
  const by = new Map(all.map((m) => [Number(m[3]), { exits: Number(m[1]), ahead: Number(m[2]) }]));
  assert.ok(by.has(1), `one report should be PID 1's:\n${stderr}`);
  return by;
}

describe("--trace", () => {
  it("prints each system call and reports -ENOSYS, which the program sees", () => {
    requireKvm();
    const r = runUno(prog("enosys"), ["uno-only"], { unoFlags: ["--trace"] });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^syscall 1000: -1 ENOSYS$/m);
    assert.match(r.stdout, /^io_uring_setup: -1 ENOSYS$/m);
    assert.match(r.stderr, /^\[uno\] io_uring_setup\(.*\) = -1 ENOSYS \(-38\)$/m);
    assert.match(r.stderr, /^\[uno\] writev?\(1, 0x[0-9a-f]+, \d+\) = \d+$/m);
    assert.match(r.stderr, /^\[uno\] exit_group\(0\) = \?$/m);
    assert.match(r.stderr, /trace summary: 2 calls returned -ENOSYS/);
    assert.match(r.stderr, /^\[uno\]\s+io_uring_setup\s+\(425\) x1$/m);
    assert.match(r.stderr, /numbers beyond 511 x1/);
  });

  it("the same program natively gets ENOSYS for the nonexistent number too", () => {
    const n = runNative(prog("enosys"), []);
    const u = runUno(prog("enosys"), []);
    assert.equal(n.stdout, "syscall 1000: -1 ENOSYS\n");
    assert.equal(u.stdout, n.stdout);
    assert.doesNotMatch(u.stderr, /\[uno\]/, "no trace output without --trace");
  });
});

describe("cost model", () => {
  it("console output costs no exit per write", () => {
    requireKvm();
    const lines = 2000;
    const r = runUno(prog("manylines"), [String(lines)], { unoFlags: ["--verbose"] });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.split("\n").length - 1, lines);
    assert.match(r.stdout, /^line 1999$/m);
    const m = /(\d+) hypercall exits, (\d+) doorbells/.exec(r.stderr);
    assert.ok(m, `uno-vmm --verbose should report its exits:\n${r.stderr}`);
    const exits = Number(m[1]);
    assert.ok(exits <= lines / 20, `${exits} exits for ${lines} writes: too many`);
  });

  it("small sends on a connected socket cost no exit each (asynchronous sends)", () => {
    requireKvm();
    const sends = 2000;
    const r = runUno(prog("sendq"), ["count", String(sends)], { unoFlags: ["--verbose"] });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `sent ${sends} x 50 bytes: ok, received in order: yes\n`);
    const exits = exitsByPid(r.stderr, 2).get(1)!.exits;
    assert.ok(exits <= sends / 20, `${exits} exits for ${sends} sends: too many`);
  });

  it("a read of what epoll reported costs no exit (receiving ahead)", () => {
    requireKvm();
    const rounds = 1000;
    const r = runUno(prog("rxahead"), ["count", String(rounds)], { unoFlags: ["--verbose"] });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${rounds} rounds: ok\n`);
    const by = exitsByPid(r.stderr, 2);
    const { exits, ahead } = by.get(1)!;
    const client = [...by.entries()].find(([pid]) => pid !== 1)![1];
    // Every round's request reaches the reader with the wait that reports it; without it
    // each round is a wait and a read (2.5 exits a round measured), with it 1.4-1.7.
    assert.ok(ahead >= rounds * 0.9, `${ahead} receives ahead in ${rounds} rounds`);
    assert.ok(exits <= rounds * 2.2, `${exits} exits for ${rounds} rounds: too many`);
    // The client's blocking receive waits in the host: one exit for the attempt and the wait
    // (three before: an attempt through the ring, a poll, the receive).
    assert.ok(
      client.exits <= rounds * 1.5,
      `the client made ${client.exits} exits in ${rounds} rounds`,
    );
  });

  it("--verbose names the backend and the boot phases", () => {
    requireKvm();
    const r = runUno(prog("hello"), [], { unoFlags: ["--verbose"] });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /backend (cpl3|native)/);
    assert.match(r.stderr, /uno-libos: \[\s*\d+ us\] program loaded; entering it/);
  });
});

describe("the console", () => {
  // script(1) gives the program a real terminal of a known size.
  function underScript(cmd: string): string {
    const r = spawnSync("script", ["-qec", `stty rows 33 cols 101; ${cmd}`, "/dev/null"], {
      encoding: "utf8",
      timeout: 30_000,
      input: "",
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.replace(/\r/g, "");
  }

  it("terminal settings and size are the real terminal's, on a terminal", () => {
    requireKvm();
    const native = underScript(prog("tty"));
    const uno = underScript(`${path.join(ROOT, "bin", "uno")} run -t ${prog("tty")}`);
    assert.match(native, /^echo now=0$/m);
    assert.match(native, /^winsize 33x101$/m);
    assert.equal(uno, native);
  });

  it("on a terminal but without -t: plain streams (isatty false), as docker", () => {
    requireKvm();
    const uno = underScript(`${path.join(ROOT, "bin", "uno")} run ${prog("tty")}`);
    assert.match(uno, /^isatty\(0\)=0 isatty\(1\)=0$/m);
  });

  it("not a terminal: ENOTTY, as natively", () => {
    requireKvm();
    const n = runNative(prog("tty"), []);
    const u = runUno(prog("tty"), []);
    assert.equal(n.stdout, "isatty(0)=0 isatty(1)=0\n");
    assert.equal(u.stdout, n.stdout);
  });
});

describe("processes of an instance", () => {
  /** A root directory with busybox and its applets (sh, sleep…) as symlinks. */
  function busyboxRoot(): string {
    const root = path.join(tmp, "bbroot");
    if (fs.existsSync(root)) return root;
    fs.mkdirSync(path.join(root, "bin"), { recursive: true });
    fs.mkdirSync(path.join(root, "tmp"));
    fs.copyFileSync("/bin/busybox", path.join(root, "bin", "busybox"));
    fs.chmodSync(path.join(root, "bin", "busybox"), 0o755);
    for (const a of ["sh", "sleep", "echo"]) fs.symlinkSync("busybox", path.join(root, "bin", a));
    return root;
  }

  it("a fork bomb stops at --pids-limit with EAGAIN", () => {
    requireKvm();
    const r = runUno(prog("forkbomb"), [], { unoFlags: ["--pids-limit", "8"] });
    // PID 1 counts: 7 children fit under a limit of 8.
    assert.equal(r.stdout, "forked 7, then Resource temporarily unavailable; reaped 7\n", r.stderr);
    assert.equal(r.status, 0);
  });

  it("--pids-limit rejects nonsense", () => {
    const r = runUno(prog("hello"), [], { unoFlags: ["--pids-limit", "0"] });
    assert.equal(r.status, 125);
    assert.match(r.stderr, /--pids-limit/);
  });

  it("when PID 1 exits, the instance ends with its status (a background job does not hold it)", () => {
    requireKvm();
    const t0 = Date.now();
    const r = runUno(busyboxRoot(), ["--", "/bin/sh", "-c", "sleep 100 & echo started; exit 3"]);
    assert.equal(r.stdout, "started\n");
    assert.equal(r.status, 3, r.stderr);
    assert.ok(Date.now() - t0 < 60_000, "uno run waited for the background sleep");
  });

  it("SIGTERM to uno reaches the guest's PID 1, whose trap runs (as docker stop)", async () => {
    requireKvm();
    const child = spawn(
      path.join(ROOT, "bin", "uno"),
      [
        "run",
        busyboxRoot(),
        "--",
        "/bin/sh",
        "-c",
        'trap "echo got TERM; exit 7" TERM; echo ready; while :; do sleep 1; done',
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, UNO_HOME: path.join(tmp, "home") },
      },
    );
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      const poll = setInterval(() => {
        if (out.includes("ready")) {
          clearInterval(poll);
          child.kill("SIGTERM");
        }
      }, 50);
      child.once("exit", (c) => {
        clearTimeout(timer);
        clearInterval(poll);
        resolve(c);
      });
    });
    assert.equal(out, "ready\ngot TERM\n");
    assert.equal(code, 7);
  });
});

describe("--user: the first process's credentials", () => {
  it("uid, gid and supplementary groups as setpriv gives them natively (busybox id)", () => {
    requireKvm();
    const root = path.join(tmp, "idroot");
    fs.mkdirSync(path.join(root, "bin"), { recursive: true });
    fs.copyFileSync("/bin/busybox", path.join(root, "bin", "busybox"));
    fs.chmodSync(path.join(root, "bin", "busybox"), 0o755);
    const img = path.join(tmp, "id.erofs");
    const mk = spawnSync("mkfs.erofs", ["--quiet", img, root], { encoding: "utf8" });
    assert.equal(mk.status, 0, `mkfs.erofs (erofs-utils): ${mk.stderr}`);
    for (const [uid, gid, groups] of [
      ["1000", "100", "5,6,7"],
      ["0", "0", ""],
      ["4242", "4343", ""],
    ]) {
      const user = groups ? `${uid}:${gid}:${groups}` : `${uid}:${gid}`;
      const uno = spawnSync(
        VMM,
        [
          "--user",
          user,
          "--image",
          img,
          "--upper",
          fs.mkdtempSync(path.join(tmp, "up-")),
          "--libos",
          LIBOS,
          "--",
          "/bin/busybox",
          "id",
        ],
        { encoding: "utf8", timeout: 30_000 },
      );
      const native = spawnSync(
        "setpriv",
        [
          "--reuid",
          uid,
          "--regid",
          gid,
          groups ? `--groups=${groups}` : "--clear-groups",
          "/bin/busybox",
          "id",
        ],
        { encoding: "utf8", timeout: 30_000 },
      );
      assert.equal(native.status, 0, `setpriv: ${native.stderr}`);
      // Natively the names of the host's users may show; the guest's root has no /etc/passwd.
      const numeric = (s: string) => s.replace(/\([^)]*\)/g, "");
      assert.equal(uno.status, 0, uno.stderr);
      assert.equal(numeric(uno.stdout), numeric(native.stdout), `--user ${user}`);
    }
  });
});

describe("nice values, as a container has them", () => {
  it("getpriority/setpriority/nice match Linux without CAP_SYS_NICE (a user namespace)", () => {
    requireKvm();
    for (const libc of ["musl", "glibc"]) {
      const exe = path.join(ROOT, "build", "guest", libc, "priority");
      requireFile(exe, "build the guest programs with `make guest-progs`");
      const native = spawnSync("unshare", ["-U", "-r", exe], { encoding: "utf8", timeout: 30_000 });
      assert.equal(native.status, 0, `unshare -U -r (a user namespace): ${native.stderr}`);
      const uno = runUno(exe, []);
      assert.equal(uno.status, 0, uno.stderr);
      assert.equal(uno.stdout, native.stdout, `${libc}: uno vs native`);
    }
  });
});

describe("backends", () => {
  const hardware = ["kvm_intel", "kvm_amd"].some((m) => fs.existsSync(`/sys/module/${m}`));
  const pvm = fs.existsSync("/sys/module/kvm_pvm");

  it("uno-vmm --probe and uno info name the backend this host's KVM needs", () => {
    requireKvm();
    const r = spawnSync(VMM, ["--probe"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const want = hardware ? "native" : "cpl3";
    assert.match(r.stdout, new RegExp(`^backend: ${want}$`, "m"));
    assert.match(r.stdout, pvm && !hardware ? /^why: kvm_pvm/m : /^why: /m);
    const info = spawnSync(path.join(ROOT, "bin", "uno"), ["info", "--format", "json"], {
      encoding: "utf8",
    });
    assert.equal(info.status, 0, info.stderr);
    const j = JSON.parse(info.stdout) as { kvm: { usable: boolean }; backend: { name: string } };
    assert.equal(j.kvm.usable, true);
    assert.equal(j.backend.name, want);
  });

  it("--backend native on a KVM that emulates ring 0 is refused, naming why", () => {
    requireKvm();
    const img = path.join(tmp, "probe.erofs");
    fs.writeFileSync(img, Buffer.alloc(8192));
    const up = fs.mkdtempSync(path.join(tmp, "upper-"));
    const r = spawnSync(VMM, ["--backend", "native", "--image", img, "--upper", up, "--", "/x"], {
      encoding: "utf8",
      env: { PATH: process.env.PATH },
      timeout: 30_000,
    });
    if (pvm && !hardware) {
      assert.equal(r.status, 125);
      assert.match(r.stderr, /needs hardware KVM \(VT-x\/AMD-V\); this host's KVM is kvm_pvm/);
    } else {
      // Hardware KVM: the backend is allowed; the junk image is what fails.
      assert.equal(r.status, 125);
      assert.match(r.stderr, /not a usable EROFS image/);
    }
  });

  it("--verbose reports the backend the libOS runs, matching the VMM's", () => {
    requireKvm();
    const r = runUno(prog("hello"), [], { unoFlags: ["--verbose"] });
    assert.equal(r.status, 0, r.stderr);
    const vmm = /backend (cpl3|native) \(/.exec(r.stderr)?.[1];
    const libos = /entering it \((cpl3|native) backend\)/.exec(r.stderr)?.[1];
    assert.ok(vmm && libos, r.stderr);
    assert.equal(libos, vmm);
  });
});

describe("uno-vmm: bad input gets a clear error and status 125", () => {
  function vmm(args: string[], env: NodeJS.ProcessEnv = process.env) {
    return spawnSync(VMM, args, { encoding: "utf8", env, timeout: 30_000 });
  }
  const upper = () => fs.mkdtempSync(path.join(tmp, "upper-"));

  it("missing arguments print the usage", () => {
    requireFile(VMM, "run `make`");
    const r = vmm([]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /^usage: uno-vmm --image FILE --upper DIR/m);
  });

  it("a missing image file", () => {
    const r = vmm(["--image", path.join(tmp, "none.erofs"), "--upper", upper(), "--", "/x"]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /cannot open image .*none\.erofs: No such file or directory/);
  });

  it("an image that is not EROFS", () => {
    requireKvm();
    const img = path.join(tmp, "junk.erofs");
    fs.writeFileSync(img, Buffer.alloc(8192, 0x41));
    const r = vmm(["--image", img, "--upper", upper(), "--libos", LIBOS, "--", "/x"]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /the root image is not a usable EROFS image/);
  });

  it("a program path that is not absolute, a bad --memory, a bad --env", () => {
    const img = path.join(tmp, "junk.erofs");
    fs.writeFileSync(img, Buffer.alloc(8192));
    let r = vmm(["--image", img, "--upper", upper(), "--", "relative"]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /must be an absolute path in the image/);
    r = vmm(["--image", img, "--upper", upper(), "--memory", "1M", "--", "/x"]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /--memory 1M: need 16M to 64G/);
    r = vmm(["--image", img, "--upper", upper(), "--env", "NOEQUALS", "--", "/x"]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /--env NOEQUALS: expected KEY=VALUE/);
    for (const bad of [
      "1000",
      "x:1",
      "1:2:",
      "1:2:3,",
      "4294967295:0",
      "1:-2",
      "1:2:" + "3,".repeat(33) + "3",
    ]) {
      r = vmm(["--image", img, "--upper", upper(), "--user", bad, "--", "/x"]);
      assert.equal(r.status, 125, bad);
      assert.match(r.stderr, /--user .*: expected UID:GID\[:GID,...\]/, bad);
    }
  });

  it("a libOS file that is not a libOS", () => {
    requireKvm();
    const img = path.join(tmp, "junk.erofs");
    fs.writeFileSync(img, Buffer.alloc(8192));
    const r = vmm(["--image", img, "--upper", upper(), "--libos", "/bin/true", "--", "/x"]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /libOS image \/bin\/true: /);
  });

  it("no /dev/kvm: says so and how to fix it", () => {
    const img = path.join(tmp, "junk.erofs");
    fs.writeFileSync(img, Buffer.alloc(8192));
    // A private mount namespace with an empty /dev: uno-vmm finds no /dev/kvm.
    const script = `mount -t tmpfs none /dev && exec "$0" --image "$1" --upper "$2" -- /x`;
    const r = spawnSync(
      "unshare",
      ["--user", "--map-root-user", "--mount", "sh", "-c", script, VMM, img, upper()],
      { encoding: "utf8", timeout: 30_000 },
    );
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /\/dev\/kvm not found: this machine has no KVM/);
  });
});
