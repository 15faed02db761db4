/**
 * The guest programs of tests/guest/, each built static with musl and with glibc (`make
 * guest-progs` → build/guest/{musl,glibc}/NAME), run natively and inside uno (`bin/uno run`)
 * with the same arguments, environment and input: stdout and exit status must be equal.
 * These tests need KVM: without a usable /dev/kvm they fail, they are never skipped.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  assertSame,
  compareSections,
  GUEST_PATH,
  requireFile,
  requireKvm,
  ROOT,
  runNative,
  runUno,
  tempDir,
  type Result,
} from "./guest-util.js";

// Static (musl, glibc, glibc static-PIE) and dynamic (glibc PIE, musl), each run natively
// and by `uno run PROGRAM` (a dynamic one packed with its interpreter and libraries).
const VARIANTS = ["musl", "glibc", "glibc-pie", "glibc-dyn", "musl-dyn"] as const;
type Variant = (typeof VARIANTS)[number];

// Known uno bugs (reported to the lead), as `todo` reasons: by program, then by section
// (or "exit status", or a fault kind), for "all" variants or one. A todo test still runs and
// is reported as TODO, never as a pass; delete the entry once the bug is fixed.
type Todo = Partial<Record<"all" | Variant, Record<string, string>>>;

// (Every bug once listed here is fixed: the stale TLB on cpl3, readlink's short buffer,
// absolute symlink targets, F_SETFL O_APPEND on the writable layer, lost whiteouts, rename of
// an image directory. Add entries only for newly found bugs.)
const NONE: Todo = {};
const FILEOPS_TODO = NONE;
const OVERLAY_TODO = NONE;
const MEMORY_TODO = NONE;
const FAULTS_TODO = NONE;
// The process programs (issue 4: fork, exec, wait, pipes, signals, poll, process groups).
const FORK_TODO: Todo = {};
const WAIT_TODO: Todo = {};
const EXEC_TODO: Todo = {};
const PIPES_TODO: Todo = {};
const SIGNALS_TODO: Todo = {};
const SIGASYNC_TODO: Todo = {};
const POLL_TODO: Todo = {};
const PGRP_TODO: Todo = {};
const THREADIO_TODO: Todo = {};

/** The host files a dynamic variant needs at run time (its interpreter; glibc's libc). */
const LOADER_FILES: Partial<Record<Variant, string[]>> = {
  "glibc-dyn": ["/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6"],
  "musl-dyn": ["/lib/ld-musl-x86_64.so.1"],
};

/** Copies them into a root directory at the same paths (as regular files). */
function addLoader(rootfs: string, v: Variant): void {
  for (const f of LOADER_FILES[v] ?? []) {
    fs.mkdirSync(path.join(rootfs, path.dirname(f)), { recursive: true });
    fs.copyFileSync(f, path.join(rootfs, f));
    fs.chmodSync(path.join(rootfs, f), 0o755);
  }
}

function todo(table: Todo, v: Variant): Record<string, string> {
  return { ...table.all, ...table[v] };
}

const tmp = tempDir("uno-guest-test-");
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function prog(variant: Variant, name: string): string {
  const p = path.join(ROOT, "build", "guest", variant, name);
  requireFile(p, "build the guest programs with `make guest-progs`");
  return p;
}

/** The environment a guest gets from uno by default, for the native run. */
const NATIVE_ENV = { PATH: GUEST_PATH, HOME: "/root" };

/** Runs `name args` natively and in uno (as a bare ELF) and returns both results. */
function both(
  variant: Variant,
  name: string,
  args: string[],
  o: { input?: string | Buffer; env?: Record<string, string> } = {},
): { native: Result; uno: Result } {
  requireKvm();
  const exe = prog(variant, name);
  const native = runNative(exe, args, { input: o.input, env: { ...NATIVE_ENV, ...o.env } });
  const uno = runUno(exe, args, { input: o.input, env: o.env });
  return { native, uno };
}

function same(
  variant: Variant,
  name: string,
  args: string[],
  o: { input?: string | Buffer; env?: Record<string, string>; status?: number } = {},
): { native: Result; uno: Result } {
  const r = both(variant, name, args, o);
  if (o.status !== undefined) {
    assert.equal(
      r.native.status,
      o.status,
      `native ${name} ${args.join(" ")} ended with ${r.native.status}, the test expects ${o.status}: ${r.native.stderr}`,
    );
  }
  assertSame(`${variant}/${name} ${args.join(" ")}`, r.native, r.uno);
  return r;
}

for (const v of VARIANTS) {
  describe(`guest programs (${v})`, () => {
    it("hello: stdout and stderr kept apart", () => {
      const { native, uno } = same(v, "hello", [], { status: 0 });
      assert.equal(native.stdout, "hello, world\n");
      assert.equal(uno.stderr, native.stderr, "stderr differs");
    });

    describe("args", () => {
      const cases: [string, string[]][] = [
        ["no arguments", []],
        ["plain and spaced", ["a", "b c", "  lead", "trail  "]],
        ["empty strings", ["", "x", ""]],
        ["dashes", ["-x", "--help", "--", "-"]],
        ["UTF-8 and control characters", ["ünïcødé", "tab\there", "new\nline", 'quote"back\\']],
        ["a 100000-byte argument", ["y".repeat(100_000)]],
        ["300 arguments", Array.from({ length: 300 }, (_, i) => `arg${i}`)],
      ];
      for (const [label, args] of cases) {
        it(label, () => {
          same(v, "args", args, { status: 0 });
        });
      }
    });

    describe("exit status", () => {
      const cases: [string, string, number][] = [
        ["--exit", "0", 0],
        ["--exit", "1", 1],
        ["--exit", "42", 42],
        ["--exit", "255", 255],
        ["--exit", "256", 0],
        ["--exit", "257", 1],
        ["--return", "0", 0],
        ["--return", "3", 3],
        ["--return", "255", 255],
        ["--_exit", "42", 42],
        ["--_exit", "200", 200],
        ["--exit-flush", "7", 7],
      ];
      for (const [how, n, want] of cases) {
        it(`${how} ${n} → ${want}`, () => {
          const { uno } = same(v, "args", [how, n], { status: want });
          if (how === "--exit-flush") assert.equal(uno.stdout, "flushed at exit");
        });
      }
    });

    it("env: -e variables and the defaults", () => {
      const env = {
        FOO: "bar",
        EMPTY: "",
        WITH_EQ: "a=b=c",
        SPACES: "  two  spaces  ",
        UTF8: "héllo wörld",
      };
      const names = ["FOO", "EMPTY", "WITH_EQ", "SPACES", "UTF8", "PATH", "HOME", "NOPE"];
      const { uno } = same(v, "env", names, { env, status: 0 });
      assert.match(uno.stdout, /^FOO=\[bar\] len=3$/m);
      assert.match(uno.stdout, /^NOPE unset$/m);
    });

    describe("fileops", () => {
      for (const base of ["/tmp/work", "/work"]) {
        it(`under ${base}`, async (t) => {
          requireKvm();
          const exe = prog(v, "fileops");
          // natively: a directory that does not exist yet inside a fresh temp dir
          const nativeBase = path.join(fs.mkdtempSync(path.join(tmp, "fileops-")), "work");
          const native = runNative(exe, [nativeBase], { env: NATIVE_ENV });
          assert.equal(native.status, 0, `native fileops failed: ${native.stderr}`);
          const uno = runUno(exe, [base]);
          await compareSections(t, native, uno, todo(FILEOPS_TODO, v));
        });
      }
    });

    it("fifo: mkfifo/mknod, opening FIFOs (waits, O_NONBLOCK), two processes at one", async (t) => {
      requireKvm();
      const exe = prog(v, "fifo");
      const nativeBase = path.join(fs.mkdtempSync(path.join(tmp, "fifo-")), "work");
      const native = runNative(exe, [nativeBase], { env: NATIVE_ENV });
      assert.equal(native.status, 0, `native fifo failed: ${native.stderr}`);
      const uno = runUno(exe, ["/tmp/fifo"]);
      await compareSections(t, native, uno, {});
    });

    it("overlay: changes to the image's files (copy-up, whiteouts, opaque dirs)", async (t) => {
      requireKvm();
      const exe = prog(v, "overlay");
      // The root directory: bin/overlay plus the tree `overlay --setup` makes.
      const rootfs = fs.mkdtempSync(path.join(tmp, "overlay-root-"));
      fs.mkdirSync(path.join(rootfs, "bin"));
      fs.copyFileSync(exe, path.join(rootfs, "bin", "overlay"));
      fs.chmodSync(path.join(rootfs, "bin", "overlay"), 0o755);
      addLoader(rootfs, v);
      const setup = runNative(exe, ["--setup", rootfs]);
      assert.equal(setup.status, 0, `overlay --setup failed: ${setup.stderr}`);
      // Natively: on a throwaway copy, with the copy's path as prefix.
      const copy = path.join(fs.mkdtempSync(path.join(tmp, "overlay-copy-")), "root");
      const cp = spawnSync("cp", ["-a", rootfs, copy]);
      assert.equal(cp.status, 0, `cp -a failed: ${cp.stderr}`);
      const native = runNative(path.join(copy, "bin", "overlay"), [copy], { env: NATIVE_ENV });
      assert.equal(native.status, 0, `native overlay failed: ${native.stderr}`);

      const before = snapshot(rootfs);
      const uno = runUno(rootfs, ["--", "/bin/overlay", ""]);
      await t.test("the host's root directory is unchanged", () => {
        assert.deepEqual(snapshot(rootfs), before);
      });
      await compareSections(t, native, uno, todo(OVERLAY_TODO, v));
      // A second run starts from the image again: nothing of the first run's layer is left.
      const again = runUno(rootfs, ["--", "/bin/overlay", ""]);
      await t.test("a second run sees the pristine image", () => {
        assert.equal(again.stdout, uno.stdout);
      });
    });

    it("memory: malloc, brk, mmap, mprotect, mremap, madvise, file mappings", async (t) => {
      requireKvm();
      const exe = prog(v, "memory");
      const native = runNative(exe, [], { env: NATIVE_ENV });
      assert.equal(native.status, 0, `native memory failed:\n${native.stdout}\n${native.stderr}`);
      const uno = runUno(exe, []);
      await compareSections(t, native, uno, todo(MEMORY_TODO, v));
    });

    describe("faults end the program with 128+signal and a report", () => {
      // abort() is left out: it needs tgkill/kill (signals issue); see the report.
      const kinds: [string, number, string][] = [
        ["null", 139, "SIGSEGV"],
        ["wild", 139, "SIGSEGV"],
        ["rodata", 139, "SIGSEGV"],
        ["mprotect", 139, "SIGSEGV"],
        ["protnone", 139, "SIGSEGV"],
        ["munmap", 139, "SIGSEGV"],
        ["exec-nx", 139, "SIGSEGV"],
        ["stack", 139, "SIGSEGV"],
        ["ud2", 132, "SIGILL"],
        ["div0", 136, "SIGFPE"],
        ["int3", 133, "SIGTRAP"],
        ["none", 0, ""],
      ];
      for (const [kind, status, sig] of kinds) {
        it(`${kind} → ${status}`, { todo: todo(FAULTS_TODO, v)[kind] }, () => {
          const { uno } = same(v, "faults", [kind], { status });
          if (sig) assert.match(uno.stderr, new RegExp(sig), "uno's fault report names the signal");
        });
      }
    });

    it("time: clocks, sleeps, agreement with the host", () => {
      // The guest compares its wall clock with this value (within 5 s).
      const { uno } = same(v, "time", [String(Math.floor(Date.now() / 1000))], { status: 0 });
      assert.match(uno.stdout, /realtime within 5 s of the host's: yes/);
    });

    it("cputime: CPU-time clocks, getrusage and times count computing, per thread", () => {
      requireKvm();
      same(v, "cputime", [], { status: 0 });
    });

    it("random: getrandom and the simple devices", () => {
      same(v, "random", [], { status: 0 });
    });

    it("procfs: /proc/self/{exe,fd,maps,cmdline}, meminfo, cpuinfo, uptime", () => {
      const { uno } = same(v, "procfs", ["one", "two words", ""], { status: 0 });
      assert.match(uno.stdout, /entries: \. \.\. 0 1 2 3\n/);
    });

    it("uname and process facts", () => {
      const { uno } = same(v, "uname", [], { status: 0 });
      assert.match(uno.stdout, /^sysname=Linux\nmachine=x86_64\n/);
    });

    describe("stdin", () => {
      const big = Buffer.alloc(3 << 20);
      let x = 0x12345678;
      for (let i = 0; i < big.length; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        big[i] = x & 0xff;
      }
      const inputs: [string, string | Buffer][] = [
        ["empty", ""],
        ["abc", "abc"],
        ["two lines", "abc\ndef\n"],
        ["3 MiB of binary", big],
      ];
      for (const [label, input] of inputs) {
        it(label, () => {
          same(v, "stdin", [], { input, status: 0 });
        });
      }
      it("the checksum is the real one (not just the same)", () => {
        const { uno } = same(v, "stdin", [], { input: "abc", status: 0 });
        assert.match(uno.stdout, /^bytes=3 lines=0 fnv=e71fa2190541574b\n/);
      });
    });

    describe("processes: fork, exec, wait, pipes, signals, poll, process groups", () => {
      // Each program runs with no arguments (it re-executes itself through argv[0] where it
      // needs to), checks Linux's invariants itself (exit status 1 and a message on stderr
      // when one fails natively) and prints only relations, never pids or times.
      const programs: [string, string, Todo, string[]][] = [
        [
          "fork",
          "fork, vfork, raw clone, posix_spawn; private, 100 MiB and MAP_SHARED memory; shared offsets",
          FORK_TODO,
          ["--memory", "512m"],
        ],
        [
          "wait",
          "wait4/waitpid/waitid, statuses, WNOHANG/WUNTRACED/WCONTINUED/WNOWAIT/__WALL, zombies, orphans",
          WAIT_TODO,
          [],
        ],
        [
          "exec",
          "execve/execveat, argv/envp, close-on-exec, signals across exec, E2BIG, errors, #! scripts",
          EXEC_TODO,
          [],
        ],
        [
          "pipes",
          "pipe/pipe2, EOF, EPIPE/SIGPIPE, PIPE_BUF atomicity, F_GETPIPE_SZ, O_NONBLOCK, pipelines",
          PIPES_TODO,
          [],
        ],
        [
          "signals",
          "sigaction flags, siginfo, masks, queueing, sigaltstack, faults caught, default actions",
          SIGNALS_TODO,
          [],
        ],
        [
          "sigasync",
          "EINTR vs SA_RESTART, alarm/pause, itimers, sigsuspend, SIGCHLD, kill to groups, busy child",
          SIGASYNC_TODO,
          [],
        ],
        ["poll", "poll/ppoll/select/pselect over pipes and files, timeouts, EINTR", POLL_TODO, []],
        ["pgrp", "setpgid/getpgid/setsid/getsid and their errors, waitpid by group", PGRP_TODO, []],
        [
          "sockets",
          "TCP/UDP over the instance's loopback (IPv4, IPv6): names, half-close, EPIPE/SIGPIPE, " +
            "errors, non-blocking connect, poll, timeouts, scatter/gather, fork, socketpair",
          {},
          [],
        ],
        [
          "sendq",
          "sends that outrun the reader (TCP, AF_UNIX): EAGAIN and POLLOUT, bytes unsent at " +
            "close/shutdown/exit arrive in order, a reset peer fails later sends",
          {},
          [],
        ],
        [
          "rxahead",
          "reading what epoll reported (received ahead in uno): level/edge/one-shot epoll, " +
            "poll, select, FIONREAD, MSG_PEEK/TRUNC/WAITALL, order, blocking again, EOF, reuse",
          {},
          [],
        ],
        [
          "unixsock",
          "AF_UNIX stream/datagram/seqpacket sockets with path and abstract names, autobind, " +
            "addresses, a listener across fork",
          {},
          [],
        ],
        [
          "creds",
          "set*uid/set*gid/setgroups with Linux's rules, /proc/self/status ids, prctl options",
          {},
          [],
        ],
        [
          "threadio",
          "host calls of several threads at once: poll and read of one pipe, fork from a thread",
          THREADIO_TODO,
          [],
        ],
        [
          "locks",
          "fcntl record locks, OFD locks and flock between processes, F_SETLKW and signals",
          NONE,
          [],
        ],
        [
          "mmapfile",
          "MAP_SHARED files (coherent with read/write, across fork), msync, mincore, splits, SIGBUS",
          NONE,
          [],
        ],
        [
          "epoll",
          "epoll: ctl errors, level/edge triggered, ONESHOT, hang-ups, DEL/close, nesting, pwait, fork",
          NONE,
          [],
        ],
        [
          "timerfd",
          "timerfd: relative/absolute/interval timers, gettime, EAGAIN, in poll and epoll, fork",
          NONE,
          [],
        ],
        [
          "signalfd",
          "signalfd: blocked signals read, mask update, EAGAIN, poll/epoll, a child's kill, SIGCHLD",
          NONE,
          [],
        ],
      ];
      for (const [name, what, table, unoFlags] of programs) {
        it(`${name}: ${what}`, async (t) => {
          requireKvm();
          const exe = prog(v, name);
          const native = runNative(exe, [], { env: NATIVE_ENV });
          assert.equal(
            native.status,
            0,
            `native ${name} failed:\n${native.stdout}\n${native.stderr}`,
          );
          const uno = runUno(exe, [], { unoFlags });
          await compareSections(t, native, uno, todo(table, v));
        });
      }
    });
  });
}

/** Path → type, mode, size, content hash or link target, mtime: everything a run could change. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    const p = path.join(dir, rel);
    const st = fs.lstatSync(p);
    let what = `${st.mode.toString(8)} ${st.mtimeMs}`;
    if (st.isFile()) {
      what += ` ${st.size} ${createHash("sha256").update(fs.readFileSync(p)).digest("hex")}`;
    } else if (st.isSymbolicLink()) {
      what += ` -> ${fs.readlinkSync(p)}`;
    } else if (st.isDirectory()) {
      for (const name of fs.readdirSync(p).sort()) walk(path.join(rel, name));
    }
    out[rel || "."] = what;
  };
  walk("");
  return out;
}
