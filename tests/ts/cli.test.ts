/**
 * Tests of the uno CLI and the library it sits on: ELF classification, option parsing,
 * paths, KVM check, Instance (against a fake uno-vmm script), and the `uno` command run as a
 * subprocess through bin/uno.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  BadElfError,
  KvmUnavailableError,
  NotBuiltError,
  TargetNotFoundError,
  UnoError,
  UsageError,
  VmmError,
} from "../../src/lib/errors.js";
import {
  describeElf,
  EM_X86_64,
  ET_CORE,
  ET_DYN,
  ET_EXEC,
  ET_REL,
  checkInterpreterInRoot,
  explainElf,
  inspectElfFile,
  PT_INTERP,
  PT_LOAD,
  requireElfProgram,
  requireStaticElf,
  type ElfDescription,
  type ElfInfo,
  type ElfRejection,
} from "../../src/lib/elf.js";
import {
  formatMemory,
  mergeEnv,
  MIN_MEMORY_BYTES,
  parseEnvArg,
  parseEnvFile,
  parseMemory,
  parseRunOptions,
  parseWorkdir,
  readEnvFile,
} from "../../src/lib/options.js";
import * as paths from "../../src/lib/paths.js";
import { checkKvm, kvmProblem } from "../../src/lib/kvm.js";
import { DEFAULT_PATH, Instance, removeTree } from "../../src/lib/instance.js";

const ROOT = paths.repoRoot();
const UNO = path.join(ROOT, "bin", "uno");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "uno-cli-test-"));

after(() => {
  removeTree(tmp);
});

function have(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

const HELLO_C = `#include <stdio.h>
int main(int argc, char **argv) { printf("hello %d\\n", argc); return 0; }
`;

/** Compiles HELLO_C with `cc` and `flags` into tmp/name; returns the path or undefined. */
function compile(name: string, cc: string, flags: string[]): string | undefined {
  if (!have(cc)) return undefined;
  const src = path.join(tmp, "hello.c");
  if (!fs.existsSync(src)) fs.writeFileSync(src, HELLO_C);
  const out = path.join(tmp, name);
  const r = spawnSync(cc, [...flags, "-o", out, src], { stdio: "pipe" });
  return r.status === 0 ? out : undefined;
}

const elfs: Record<string, string | undefined> = {};
before(() => {
  elfs.gccStatic = compile("hello-static", "gcc", ["-static"]);
  elfs.gccDynamic = compile("hello-dynamic", "gcc", []);
  elfs.muslStatic = compile("hello-musl", "musl-gcc", ["-static"]);
  elfs.staticPie = compile("hello-static-pie", "gcc", ["-static-pie"]);
});

function ok(d: ElfDescription): ElfInfo {
  assert.equal(d.ok, true, `expected a valid ELF, got ${JSON.stringify(d, bigintJson)}`);
  return d as ElfInfo;
}
function bad(d: ElfDescription): ElfRejection {
  assert.equal(d.ok, false, "expected a rejection");
  return d as ElfRejection;
}
function bigintJson(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? v.toString() : v;
}

interface FakeElf {
  cls?: number;
  data?: number;
  machine?: number;
  type?: number;
  interp?: Buffer;
  /** Leave out the PT_LOAD header. */
  noLoad?: boolean;
}

/** Builds a minimal ELF64 image: header, program headers, then the interpreter string. */
function makeElf(o: FakeElf = {}): Buffer {
  const phdrs: { type: number; offset: number; size: number }[] = [];
  const nph = (o.noLoad ? 0 : 1) + (o.interp ? 1 : 0);
  const interpOff = 64 + 56 * nph;
  const total = interpOff + (o.interp?.length ?? 0);
  if (!o.noLoad) phdrs.push({ type: PT_LOAD, offset: 0, size: total });
  if (o.interp) phdrs.push({ type: PT_INTERP, offset: interpOff, size: o.interp.length });
  const b = Buffer.alloc(total);
  b.set([0x7f, 0x45, 0x4c, 0x46, o.cls ?? 2, o.data ?? 1, 1], 0);
  b.writeUInt16LE(o.type ?? ET_EXEC, 16);
  b.writeUInt16LE(o.machine ?? EM_X86_64, 18);
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(0x401000n, 24);
  b.writeBigUInt64LE(64n, 32); // e_phoff
  b.writeUInt16LE(64, 52); // e_ehsize
  b.writeUInt16LE(56, 54); // e_phentsize
  b.writeUInt16LE(phdrs.length, 56); // e_phnum
  phdrs.forEach((p, i) => {
    const at = 64 + i * 56;
    b.writeUInt32LE(p.type, at);
    b.writeUInt32LE(4, at + 4);
    b.writeBigUInt64LE(BigInt(p.offset), at + 8);
    b.writeBigUInt64LE(0x400000n + BigInt(p.offset), at + 16);
    b.writeBigUInt64LE(BigInt(p.size), at + 32);
    b.writeBigUInt64LE(BigInt(p.size), at + 40);
    b.writeBigUInt64LE(4096n, at + 48);
  });
  if (o.interp) o.interp.copy(b, interpOff);
  return b;
}

const LD_SO = Buffer.from("/lib64/ld-linux-x86-64.so.2\0");

describe("ELF classification of compiled programs", () => {
  it("gcc -static is a static ET_EXEC", () => {
    assert.ok(elfs.gccStatic, "gcc -static unavailable: install it with scripts/setup.sh");
    const d = ok(inspectElfFile(elfs.gccStatic));
    assert.equal(d.linkage, "static");
    assert.equal(d.type, "exec");
    assert.equal(d.isStatic, true);
    assert.equal(d.interpreter, undefined);
    assert.ok(d.programHeaders.some((p) => p.type === PT_LOAD));
    assert.ok(d.entry > 0n);
  });

  it("gcc (default) is dynamic with the glibc interpreter", () => {
    assert.ok(elfs.gccDynamic, "gcc unavailable: install it with scripts/setup.sh");
    const d = ok(inspectElfFile(elfs.gccDynamic));
    assert.equal(d.linkage, "dynamic");
    assert.equal(d.isStatic, false);
    assert.equal(d.interpreter, "/lib64/ld-linux-x86-64.so.2");
  });

  it("musl-gcc -static is static", () => {
    assert.ok(elfs.muslStatic, "musl-gcc unavailable: install it with scripts/setup.sh");
    const d = ok(inspectElfFile(elfs.muslStatic));
    assert.equal(d.isStatic, true);
    assert.equal(d.interpreter, undefined);
    assert.ok(d.linkage === "static" || d.linkage === "static-pie");
  });

  it("gcc -static-pie is ET_DYN without an interpreter (static-pie)", () => {
    assert.ok(elfs.staticPie, "gcc -static-pie unavailable: install it with scripts/setup.sh");
    const d = ok(inspectElfFile(elfs.staticPie));
    assert.equal(d.type, "dyn");
    assert.equal(d.linkage, "static-pie");
    assert.equal(d.isStatic, true);
  });

  it("requireElfProgram accepts static and dynamic programs; requireStaticElf explains dynamic ones", () => {
    assert.ok(
      elfs.gccStatic && elfs.gccDynamic,
      "gcc unavailable: install it with scripts/setup.sh",
    );
    assert.equal(requireElfProgram(elfs.gccStatic).linkage, "static");
    assert.equal(requireElfProgram(elfs.gccDynamic).linkage, "dynamic");
    assert.equal(explainElf("./hello", inspectElfFile(elfs.gccDynamic)), undefined);
    assert.equal(requireStaticElf(elfs.gccStatic).linkage, "static");
    assert.throws(
      () => requireStaticElf(elfs.gccDynamic!, "./hello"),
      (e: unknown) =>
        e instanceof BadElfError &&
        e.exitCode === 125 &&
        e.reason === "dynamic" &&
        e.message.startsWith(
          "./hello is dynamically linked (interpreter /lib64/ld-linux-x86-64.so.2); " +
            "a static program is needed here — link with -static",
        ),
    );
    const txt = path.join(tmp, "not-a-program.txt");
    fs.writeFileSync(txt, "text\n");
    assert.throws(
      () => requireElfProgram(txt, "notes"),
      (e: unknown) => e instanceof BadElfError && e.message === "notes is not an ELF program",
    );
  });

  it("checkInterpreterInRoot finds the interpreter through the root's own symlinks", () => {
    assert.ok(elfs.gccDynamic, "gcc unavailable: install it with scripts/setup.sh");
    const info = ok(inspectElfFile(elfs.gccDynamic));
    const root = path.join(tmp, "interp-root");
    // Debian's layout: /lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/..., /lib -> usr/lib.
    fs.mkdirSync(path.join(root, "usr", "lib", "x86_64-linux-gnu"), { recursive: true });
    fs.mkdirSync(path.join(root, "lib64"));
    fs.symlinkSync("usr/lib", path.join(root, "lib"));
    assert.throws(
      () => checkInterpreterInRoot(root, info, "/hello (in root)"),
      (e: unknown) =>
        e instanceof BadElfError &&
        e.reason === "interpreter-missing" &&
        e.message.startsWith(
          `/hello (in root) is dynamically linked and needs its interpreter ` +
            `/lib64/ld-linux-x86-64.so.2, which is not in ${root}`,
        ),
    );
    fs.symlinkSync(
      "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
      path.join(root, "lib64", "ld-linux-x86-64.so.2"),
    );
    // A dangling link is as missing as no link.
    assert.throws(() => checkInterpreterInRoot(root, info, "x"), /which is not in/);
    const real = path.join(root, "usr", "lib", "x86_64-linux-gnu", "ld-linux-x86-64.so.2");
    fs.writeFileSync(real, "not an ELF\n");
    assert.throws(
      () => checkInterpreterInRoot(root, info, "x"),
      (e: unknown) =>
        e instanceof BadElfError &&
        e.reason === "interpreter-bad" &&
        /x needs the interpreter \/lib64\/ld-linux-x86-64\.so\.2, but .* is not an ELF program/.test(
          e.message,
        ),
    );
    fs.copyFileSync(fs.realpathSync("/lib64/ld-linux-x86-64.so.2"), real);
    assert.equal(checkInterpreterInRoot(root, info, "x"), fs.realpathSync(real));
    // A link leaving the root is not followed to the host's interpreter.
    const escape = path.join(tmp, "interp-escape");
    fs.mkdirSync(escape);
    fs.symlinkSync("../../../../../../../../lib64", path.join(escape, "lib64"));
    assert.throws(() => checkInterpreterInRoot(escape, info, "x"), /which is not in/);
    // Static programs need nothing.
    assert.ok(elfs.gccStatic, "gcc -static unavailable");
    assert.equal(checkInterpreterInRoot(root, ok(inspectElfFile(elfs.gccStatic)), "x"), undefined);
  });

  it("a real program cut short is truncated, not valid", () => {
    assert.ok(elfs.gccStatic, "gcc unavailable: install it with scripts/setup.sh");
    const whole = fs.readFileSync(elfs.gccStatic);
    const d = bad(describeElf(whole.subarray(0, 3000)));
    assert.equal(d.problem, "truncated");
    const d2 = bad(describeElf(whole.subarray(0, 40)));
    assert.equal(d2.problem, "truncated");
  });

  it("inspectElfFile rejects directories and missing files with BadElfError", () => {
    assert.throws(() => inspectElfFile(tmp), BadElfError);
    assert.throws(() => inspectElfFile(path.join(tmp, "missing")), /no such file or directory/);
  });
});

describe("ELF classification of hand-made headers", () => {
  it("a minimal static ET_EXEC is accepted", () => {
    const d = ok(describeElf(makeElf()));
    assert.equal(d.linkage, "static");
    assert.equal(d.entry, 0x401000n);
    assert.equal(d.programHeaders.length, 1);
  });

  it("ET_DYN without PT_INTERP is static-pie; with PT_INTERP it is dynamic", () => {
    assert.equal(ok(describeElf(makeElf({ type: ET_DYN }))).linkage, "static-pie");
    const d = ok(describeElf(makeElf({ type: ET_DYN, interp: LD_SO })));
    assert.equal(d.linkage, "dynamic");
    assert.equal(d.interpreter, "/lib64/ld-linux-x86-64.so.2");
  });

  it("not ELF: text, empty file, shell script", () => {
    assert.equal(bad(describeElf(Buffer.from("hello world\n"))).problem, "not-elf");
    const empty = bad(describeElf(Buffer.alloc(0)));
    assert.equal(empty.problem, "not-elf");
    assert.match(empty.detail, /empty/);
    const script = bad(describeElf(Buffer.from("#!/bin/sh -e\necho hi\n")));
    assert.equal(script.problem, "script");
    assert.equal(script.interpreter, "/bin/sh");
  });

  it("32-bit, big-endian and foreign-architecture ELFs name what they are", () => {
    const i386 = Buffer.alloc(52);
    i386.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
    i386.writeUInt16LE(ET_EXEC, 16);
    i386.writeUInt16LE(3, 18);
    const d32 = bad(describeElf(i386));
    assert.equal(d32.problem, "not-64-bit");
    assert.match(d32.detail, /32-bit ELF \(x86 \(i386\)\)/);

    const be = bad(describeElf(makeElf({ data: 2 })));
    assert.equal(be.problem, "big-endian");

    const arm = bad(describeElf(makeElf({ machine: 183 })));
    assert.equal(arm.problem, "not-x86-64");
    assert.equal(arm.machine, "AArch64");
    assert.match(arm.detail, /64-bit ELF for AArch64; uno runs x86-64 programs/);

    const riscv = bad(describeElf(makeElf({ machine: 243 })));
    assert.equal(riscv.machine, "RISC-V");
  });

  it("objects and core dumps are not executables", () => {
    const rel = bad(describeElf(makeElf({ type: ET_REL })));
    assert.equal(rel.problem, "not-executable");
    assert.match(rel.detail, /relocatable object/);
    assert.equal(bad(describeElf(makeElf({ type: ET_CORE }))).problem, "not-executable");
  });

  it("truncated headers", () => {
    const full = makeElf({ interp: LD_SO });
    assert.equal(bad(describeElf(full.subarray(0, 5))).problem, "truncated");
    assert.equal(bad(describeElf(full.subarray(0, 63))).problem, "truncated");
    // Program header table runs past the end.
    assert.equal(bad(describeElf(full.subarray(0, 100))).problem, "truncated");
    // Interpreter string runs past the end (the PT_LOAD check fires first or the interp one).
    assert.equal(bad(describeElf(full.subarray(0, full.length - 3))).problem, "truncated");
  });

  it("corrupt headers", () => {
    const cases: [string, (b: Buffer) => void][] = [
      ["bad class", (b) => (b[4] = 7)],
      ["bad byte order", (b) => (b[5] = 0)],
      ["wrong phentsize", (b) => b.writeUInt16LE(55, 54)],
      ["no program headers", (b) => b.writeUInt16LE(0, 56)],
      ["PN_XNUM", (b) => b.writeUInt16LE(0xffff, 56)],
      ["phoff far outside the file", (b) => b.writeBigUInt64LE(0xffffffffffffn, 32)],
      ["phoff beyond 2^53", (b) => b.writeBigUInt64LE(0xffffffffffffffffn, 32)],
      ["filesz > memsz", (b) => b.writeBigUInt64LE(1n, 64 + 40)],
    ];
    for (const [name, mutate] of cases) {
      const b = makeElf();
      mutate(b);
      const d = describeElf(b);
      assert.equal(d.ok, false, name);
      assert.equal((d as ElfRejection).problem, "corrupt", name);
    }
    assert.equal(bad(describeElf(makeElf({ noLoad: true, interp: LD_SO }))).problem, "corrupt");
    const unterminated = bad(describeElf(makeElf({ interp: Buffer.from("/lib/ld.so") })));
    assert.equal(unterminated.problem, "corrupt");
    assert.match(unterminated.detail, /NUL-terminated/);
    assert.equal(bad(describeElf(makeElf({ interp: Buffer.from("\0\0") }))).problem, "corrupt");
  });

  it("reads only the headers: a huge file costs a few reads", () => {
    const f = path.join(tmp, "sparse-elf");
    const head = makeElf();
    // Make the PT_LOAD segment cover a 1 GiB sparse file.
    head.writeBigUInt64LE(1n << 30n, 64 + 32);
    head.writeBigUInt64LE(1n << 30n, 64 + 40);
    fs.writeFileSync(f, head);
    fs.truncateSync(f, 1 << 30);
    const started = process.hrtime.bigint();
    const d = ok(inspectElfFile(f));
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(d.linkage, "static");
    assert.ok(ms < 200, `took ${ms} ms`);
    fs.rmSync(f);
  });
});

describe("memory sizes", () => {
  it("parses docker-style sizes", () => {
    const M = 1024 * 1024;
    assert.equal(parseMemory("64m"), 64 * M);
    assert.equal(parseMemory("512M"), 512 * M);
    assert.equal(parseMemory("1g"), 1024 * M);
    assert.equal(parseMemory("1G"), 1024 * M);
    assert.equal(parseMemory("1.5g"), 1536 * M);
    assert.equal(parseMemory("64MiB"), 64 * M);
    assert.equal(parseMemory("64mb"), 64 * M);
    assert.equal(parseMemory("16384k"), 16 * M);
    assert.equal(parseMemory(String(32 * M)), 32 * M, "bare number is bytes");
    assert.equal(parseMemory(`${16 * M}b`), 16 * M);
    assert.equal(parseMemory(64 * M), 64 * M);
    assert.equal(parseMemory("16m"), MIN_MEMORY_BYTES);
  });

  it("rejects too-small sizes with the minimum in the message", () => {
    assert.throws(
      () => parseMemory("4m"),
      (e: unknown) =>
        e instanceof UsageError &&
        e.exitCode === 125 &&
        e.message === "--memory 4m is too small: uno needs at least 16m",
    );
    assert.throws(() => parseMemory("1000"), /--memory 1000 is too small/);
    assert.throws(() => parseMemory("0"), /too small/);
    assert.throws(() => parseMemory(`${MIN_MEMORY_BYTES - 1}`), /too small/);
  });

  it("rejects malformed sizes", () => {
    for (const v of ["", "abc", "64x", "-64m", "m", "1e9", "64 m m", "0x100m"]) {
      assert.throws(() => parseMemory(v), UsageError, v);
    }
    assert.throws(() => parseMemory("99999999999999t"), /out of range/);
    assert.throws(() => parseMemory("abc"), /invalid --memory value "abc": use a size like 64m/);
  });

  it("formatMemory round-trips", () => {
    for (const v of ["64m", "1g", "16385k", "16m", "3t"]) {
      assert.equal(formatMemory(parseMemory(v)), v);
    }
    assert.equal(formatMemory(16 * 1024 * 1024 + 1), String(16 * 1024 * 1024 + 1));
  });
});

describe("environment", () => {
  const host = { HOSTVAR: "from-host", EMPTY: "" };

  it("-e KEY=VALUE and KEY alone", () => {
    assert.deepEqual(parseEnvArg("A=1", host), ["A", "1"]);
    assert.deepEqual(parseEnvArg("A=", host), ["A", ""]);
    assert.deepEqual(parseEnvArg("A=b=c", host), ["A", "b=c"]);
    assert.deepEqual(parseEnvArg("HOSTVAR", host), ["HOSTVAR", "from-host"]);
    assert.deepEqual(parseEnvArg("EMPTY", host), ["EMPTY", ""]);
    assert.equal(parseEnvArg("UNSET_VAR", host), undefined);
    assert.throws(() => parseEnvArg("=x", host), /empty name/);
    assert.throws(() => parseEnvArg("", host), /empty name/);
    assert.throws(() => parseEnvArg("A=\0", host), /NUL/);
  });

  it("env files in docker's format", () => {
    const content = [
      "\uFEFF# a comment",
      "A=1",
      "",
      "   B=two words  ",
      "  # indented comment",
      'C="quoted"',
      "D=x=y",
      "HOSTVAR",
      "UNSET_VAR",
      "E=crlf\r",
      "\t",
      "F=",
    ].join("\n");
    assert.deepEqual(parseEnvFile(content, "f.env", host), [
      ["A", "1"],
      ["B", "two words  "],
      ["C", '"quoted"'],
      ["D", "x=y"],
      ["HOSTVAR", "from-host"],
      ["E", "crlf"],
      ["F", ""],
    ]);
  });

  it("env file errors name the file and line", () => {
    assert.throws(
      () => parseEnvFile("A=1\nMY VAR=x\n", "f.env", host),
      (e: unknown) =>
        e instanceof UsageError && e.message === "f.env:2: variable 'MY VAR' contains whitespace",
    );
    assert.throws(() => parseEnvFile("=x\n", "f.env", host), /f\.env:1: no variable name/);
    assert.throws(
      () => readEnvFile(path.join(tmp, "no-such.env"), host),
      /cannot read --env-file .*no-such\.env: no such file or directory/,
    );
    const f = path.join(tmp, "ok.env");
    fs.writeFileSync(f, "X=1\n");
    assert.deepEqual(readEnvFile(f, host), [["X", "1"]]);
  });

  it("parseRunOptions: env files first, then -e (later wins)", () => {
    const f = path.join(tmp, "order.env");
    fs.writeFileSync(f, "A=file\nB=file\n");
    const o = parseRunOptions(
      { env: ["B=flag", "HOSTVAR", "C=3"], envFiles: [f], memory: "64m", workdir: "/app/./x/.." },
      host,
    );
    assert.deepEqual(o.env, [
      ["A", "file"],
      ["B", "file"],
      ["B", "flag"],
      ["HOSTVAR", "from-host"],
      ["C", "3"],
    ]);
    assert.deepEqual(mergeEnv(o.env), [
      ["A", "file"],
      ["B", "flag"],
      ["HOSTVAR", "from-host"],
      ["C", "3"],
    ]);
    assert.equal(o.memoryBytes, 64 * 1024 * 1024);
    assert.equal(o.workdir, "/app");
    assert.equal(o.trace, false);
    assert.throws(() => parseRunOptions({ memory: "4m" }), /too small/);
    assert.throws(() => parseRunOptions({ bogus: 1 } as never), /invalid run options/);
  });

  it("mergeEnv overrides in order", () => {
    assert.deepEqual(
      mergeEnv(
        [
          ["PATH", "/bin"],
          ["HOME", "/root"],
        ],
        [["HOME", "/home/x"]],
        [["A", "1"]],
      ),
      [
        ["PATH", "/bin"],
        ["HOME", "/home/x"],
        ["A", "1"],
      ],
    );
  });

  it("workdir must be absolute", () => {
    assert.equal(parseWorkdir("/srv//app/"), "/srv/app/");
    assert.throws(() => parseWorkdir("app"), /--workdir "app" must be an absolute path/);
    assert.throws(() => parseWorkdir(""), UsageError);
  });
});

describe("paths", () => {
  it("state directory precedence: UNO_HOME, XDG_CACHE_HOME, ~/.cache", () => {
    assert.equal(paths.unoHome({ UNO_HOME: "/a", XDG_CACHE_HOME: "/b", HOME: "/h" }), "/a");
    assert.equal(paths.unoHome({ XDG_CACHE_HOME: "/b", HOME: "/h" }), "/b/uno");
    assert.equal(paths.unoHome({ XDG_CACHE_HOME: "rel", HOME: "/h" }), "/h/.cache/uno");
    assert.equal(paths.unoHome({ UNO_HOME: "", HOME: "/h" }), "/h/.cache/uno");
    assert.equal(paths.instanceDir("abc", { UNO_HOME: "/a" }), "/a/instances/abc");
  });

  it("build outputs live in <root>/build unless overridden", () => {
    assert.ok(fs.existsSync(path.join(ROOT, "package.json")));
    assert.ok(fs.existsSync(path.join(ROOT, "src", "lib", "paths.ts")));
    assert.equal(paths.vmmPath({}), path.join(ROOT, "build", "uno-vmm"));
    assert.equal(paths.libosPath({}), path.join(ROOT, "build", "libos.elf"));
    assert.equal(paths.vmmPath({ UNO_VMM: "/x/vmm" }), "/x/vmm");
    assert.equal(paths.libosPath({ UNO_LIBOS: "/x/libos" }), "/x/libos");
    assert.throws(
      () => paths.requireVmm({ UNO_VMM: "/nonexistent/uno-vmm" }),
      (e: unknown) =>
        e instanceof NotBuiltError &&
        e.message === "uno-vmm not found at /nonexistent/uno-vmm: run `make` first",
    );
  });

  it("resolveInRoot follows symlinks inside the root only", () => {
    const r = path.join(tmp, "resolve-root");
    fs.mkdirSync(path.join(r, "bin"), { recursive: true });
    fs.mkdirSync(path.join(r, "usr", "bin"), { recursive: true });
    fs.writeFileSync(path.join(r, "bin", "busybox"), "x");
    fs.symlinkSync("/bin/busybox", path.join(r, "bin", "sh")); // absolute: inside the root
    fs.symlinkSync("../../bin/busybox", path.join(r, "usr", "bin", "env"));
    fs.symlinkSync("../../../../../../etc/passwd", path.join(r, "usr", "bin", "escape"));
    fs.symlinkSync("loop2", path.join(r, "loop1"));
    fs.symlinkSync("loop1", path.join(r, "loop2"));
    fs.symlinkSync("/usr/bin", path.join(r, "ubin"));
    const real = fs.realpathSync(r);
    const bb = path.join(real, "bin", "busybox");
    assert.equal(paths.resolveInRoot(r, "/bin/busybox"), bb);
    assert.equal(paths.resolveInRoot(r, "/bin/sh"), bb);
    assert.equal(paths.resolveInRoot(r, "/usr/bin/env"), bb);
    assert.equal(paths.resolveInRoot(r, "/ubin/env"), bb);
    assert.equal(paths.resolveInRoot(r, "/usr/./bin/../../bin/sh"), bb);
    assert.equal(paths.resolveInRoot(r, "/usr/bin/escape"), undefined);
    assert.equal(paths.resolveInRoot(r, "/../etc/passwd"), undefined);
    assert.equal(paths.resolveInRoot(r, "/loop1"), undefined);
    assert.equal(paths.resolveInRoot(r, "/missing"), undefined);
    assert.equal(paths.resolveInRoot(r, "/bin/busybox/x"), undefined);
  });
});

describe("KVM check", () => {
  it("a missing device gives the 'no KVM' advice", () => {
    assert.throws(
      () => checkKvm(path.join(tmp, "no-kvm")),
      (e: unknown) =>
        e instanceof KvmUnavailableError &&
        e.reason === "missing" &&
        e.exitCode === 125 &&
        e.message.endsWith(
          "not found: this machine has no KVM. Enable virtualization or run on a host with KVM.",
        ),
    );
  });

  it("an unopenable device gives the 'kvm group' advice", () => {
    const f = path.join(tmp, "kvm-noperm");
    fs.writeFileSync(f, "");
    fs.chmodSync(f, 0o000);
    if (process.getuid?.() !== 0) {
      const e = kvmProblem(f);
      assert.ok(e);
      assert.equal(e.reason, "permission");
      assert.match(e.message, /no permission to open .*: add your user to the 'kvm' group/);
      return;
    }
    // Root can open anything: check as an unprivileged user in a child process.
    fs.chmodSync(tmp, 0o755);
    const kvmJs = new URL("../../src/lib/kvm.js", import.meta.url).href;
    const script = `import(${JSON.stringify(kvmJs)}).then((m) => {
      const e = m.kvmProblem(${JSON.stringify(f)});
      process.stdout.write(JSON.stringify({ reason: e?.reason, message: e?.message }));
    });`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      uid: 65534,
      gid: 65534,
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const e = JSON.parse(r.stdout) as { reason: string; message: string };
    assert.equal(e.reason, "permission");
    assert.match(e.message, /no permission to open .*: add your user to the 'kvm' group/);
  });

  it("other failures say what happened", () => {
    const e = kvmProblem(tmp); // a directory: EISDIR
    assert.ok(e instanceof KvmUnavailableError);
    assert.equal(e.reason, "other");
    assert.match(e.message, /cannot open/);
  });
});

/** Writes an executable shell script standing in for uno-vmm. */
function fakeVmm(name: string, body: string): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return f;
}

/** A fake uno-vmm that prints one argument per line, checks --upper, and exits $FAKE_EXIT. */
const ECHO_VMM = `
upper=
prev=
for a; do
  printf 'ARG[%s]\\n' "$a"
  [ "$prev" = --upper ] && upper=$a
  prev=$a
done
[ -d "$upper" ] && echo UPPER_EXISTS && echo data > "$upper/written"
exit \${FAKE_EXIT:-0}`;

describe("Instance", () => {
  const libos = path.join(tmp, "libos.elf");
  const state = path.join(tmp, "state");
  let echoVmm = "";
  before(() => {
    fs.writeFileSync(libos, "");
    echoVmm = fakeVmm("echo-vmm", ECHO_VMM);
  });
  const base = () => ({
    image: "/img.erofs",
    command: "/hello",
    vmmPath: echoVmm,
    libosPath: libos,
    stateDir: state,
    kvmDevice: false as const,
  });

  function collect(s: NodeJS.ReadableStream | null): Promise<string> {
    return new Promise((resolve) => {
      let out = "";
      s!.on("data", (d: Buffer) => (out += d.toString()));
      s!.on("end", () => resolve(out));
    });
  }

  it("builds the uno-vmm command line of the contract", async () => {
    const bootId = fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    const inst = await Instance.create({
      ...base(),
      args: ["-x", "--", "a b"],
      env: [
        ["HOME", "/home/me"],
        ["A", "1"],
      ],
      cwd: "/srv",
      memoryBytes: 64 * 1024 * 1024,
      trace: true,
      verbose: true,
      id: "test-argv",
    });
    assert.deepEqual(inst.vmmArgs(), [
      "--image",
      "/img.erofs",
      "--upper",
      path.join(state, "instances", "test-argv", "upper"),
      "--libos",
      libos,
      "--hostname",
      "test-argv",
      "--cpuid-cache",
      path.join(tmp, "state", `kvm-cpuid-${bootId}.bin`),
      "--memory",
      "67108864",
      "--env",
      `PATH=${DEFAULT_PATH}`,
      "--env",
      "HOSTNAME=test-argv",
      "--env",
      "HOME=/home/me",
      "--env",
      "A=1",
      "--cwd",
      "/srv",
      "--trace",
      "--verbose",
      "--network",
      "default",
      "--",
      "/hello",
      "-x",
      "--",
      "a b",
    ]);
    assert.ok(fs.statSync(inst.upperDir).isDirectory());
    inst.cleanup();
    assert.equal(fs.existsSync(inst.dir), false);
  });

  it("spawn: runs uno-vmm, passes the exit code, removes the instance directory", async () => {
    const { child, done } = await Instance.spawn({ ...base(), args: ["x y"] });
    const out = collect(child.stdout);
    const r = await done;
    const text = await out;
    assert.equal(r.exitCode, 0);
    assert.equal(r.signal, undefined);
    assert.match(text, /ARG\[--\]\nARG\[\/hello\]\nARG\[x y\]\n/);
    assert.match(text, /UPPER_EXISTS/);
    const upper = /ARG\[--upper\]\nARG\[([^\]]+)\]/.exec(text)![1]!;
    assert.equal(fs.existsSync(path.dirname(upper)), false, "instance dir removed");
  });

  it("keep leaves the writable layer in place", async () => {
    const { done } = await Instance.spawn({ ...base(), keep: true, id: "kept" }, "ignore");
    await done;
    const written = path.join(state, "instances", "kept", "upper", "written");
    assert.equal(fs.readFileSync(written, "utf8"), "data\n");
  });

  it("exit codes and signals", async () => {
    const exit7 = fakeVmm("exit7", "exit 7");
    assert.deepEqual(await (await Instance.spawn({ ...base(), vmmPath: exit7 })).done, {
      exitCode: 7,
    });
    const killed = fakeVmm("killed", "kill -KILL $$");
    assert.deepEqual(await (await Instance.spawn({ ...base(), vmmPath: killed })).done, {
      exitCode: 137,
      signal: "SIGKILL",
    });
  });

  it("run() with inherited stdio returns the program's status", async () => {
    const exit3 = fakeVmm("exit3", "exit 3");
    assert.deepEqual(await Instance.run({ ...base(), vmmPath: exit3 }), { exitCode: 3 });
  });

  it("errors: unstartable uno-vmm, relative command, read-only leftovers", async () => {
    const notExec = path.join(tmp, "not-executable");
    fs.writeFileSync(notExec, "", { mode: 0o644 });
    const { done } = await Instance.spawn({ ...base(), vmmPath: notExec }, "ignore");
    await assert.rejects(
      done,
      (e: unknown) => e instanceof VmmError && /cannot start/.test(e.message),
    );
    await assert.rejects(
      Instance.create({ ...base(), command: "hello" }),
      (e: unknown) => e instanceof UsageError && /must be absolute/.test(e.message),
    );
    await assert.rejects(
      Instance.create({ ...base(), memoryBytes: 1024 }),
      /too small: uno needs at least 16m/,
    );
    // A guest may leave read-only directories behind; cleanup still removes them.
    const ro = fakeVmm(
      "ro-vmm",
      'u=$4; mkdir -p "$u/a/b" && touch "$u/a/b/f" && chmod 500 "$u/a/b" "$u/a"',
    );
    const r = await Instance.spawn({ ...base(), vmmPath: ro, id: "readonly" }, "ignore");
    assert.equal((await r.done).exitCode, 0);
    assert.equal(fs.existsSync(path.join(state, "instances", "readonly")), false);
  });

  it("errors are UnoErrors with exit code 125", () => {
    for (const e of [
      new UsageError("x"),
      new TargetNotFoundError("/x"),
      new BadElfError("/x", "m", "not-elf"),
      new NotBuiltError("uno-vmm", "/x"),
      new KvmUnavailableError("m", "missing"),
      new VmmError("m"),
    ]) {
      assert.ok(e instanceof UnoError && e instanceof Error);
      assert.equal(e.exitCode, 125);
      assert.equal(e.name, e.constructor.name);
    }
    assert.equal(new TargetNotFoundError("/x").message, "no such file or directory: /x");
  });
});

interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function uno(args: string[], env: NodeJS.ProcessEnv = {}, cwd = tmp): CliResult {
  const r = spawnSync(UNO, args, {
    cwd,
    env: { ...process.env, UNO_HOME: path.join(tmp, "cli-home"), ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("uno CLI (subprocess)", () => {
  const fakeEnv = (): NodeJS.ProcessEnv => ({
    UNO_VMM: path.join(tmp, "cli-echo-vmm"),
    UNO_LIBOS: path.join(tmp, "cli-libos.elf"),
  });
  before(() => {
    fakeVmm("cli-echo-vmm", ECHO_VMM);
    fs.writeFileSync(path.join(tmp, "cli-libos.elf"), "");
  });
  const kvmOk = kvmProblem() === undefined;

  it("missing target: exit 125 and names it", () => {
    const r = uno(["run", "/nonexistent"]);
    assert.equal(r.status, 125);
    assert.equal(r.stderr, "uno: no such file or directory: /nonexistent\n");
  });

  it("unknown flag: exit 125 and names the flag", () => {
    const r = uno(["run", "--bogus", "x"]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /unknown option '--bogus'/);
    const r2 = uno(["frobnicate"]);
    assert.equal(r2.status, 125);
    assert.match(r2.stderr, /unknown command 'frobnicate'/);
    assert.equal(uno(["run"]).status, 125);
  });

  it("a dynamic ELF is packed with its interpreter and libraries (uno-vmm contract)", () => {
    assert.ok(elfs.gccDynamic, "gcc unavailable: install it with scripts/setup.sh");
    assert.ok(kvmOk, "no usable /dev/kvm: these tests need KVM");
    const r = uno(["run", "--verbose", elfs.gccDynamic, "a"], { ...fakeEnv(), FAKE_EXIT: "7" });
    assert.equal(r.status, 7, r.stderr);
    assert.match(
      r.stderr,
      /is dynamically linked \(glibc\); packing \/lib64\/ld-linux-x86-64\.so\.2, \/lib\/x86_64-linux-gnu\/libc\.so\.6\n/,
    );
    const args = [...r.stdout.matchAll(/^ARG\[(.*)\]$/gm)].map((m) => m[1]);
    assert.deepEqual(args.slice(args.indexOf("--")), ["--", "/hello-dynamic", "a"]);
  });

  it("a dynamic ELF whose library is missing: exit 125, what is missing and who needs it", () => {
    assert.ok(have("gcc"), "gcc unavailable: install it with scripts/setup.sh");
    const dir = path.join(tmp, "missing-lib");
    fs.mkdirSync(path.join(dir, "lib"), { recursive: true });
    fs.writeFileSync(path.join(dir, "gone.c"), "int gone(void) { return 3; }\n");
    fs.writeFileSync(
      path.join(dir, "main.c"),
      "int gone(void);\nint main(void) { return gone(); }\n",
    );
    execFileSync("gcc", [
      "-shared",
      "-fPIC",
      "-Wl,-soname,libgone.so.1",
      "-o",
      path.join(dir, "lib", "libgone.so.1"),
      path.join(dir, "gone.c"),
    ]);
    execFileSync("gcc", [
      "-o",
      path.join(dir, "prog"),
      path.join(dir, "main.c"),
      path.join(dir, "lib", "libgone.so.1"),
      "-Wl,-rpath,$ORIGIN/lib",
    ]);
    fs.rmSync(path.join(dir, "lib", "libgone.so.1"));
    // Reported before KVM or the build are needed.
    const r = uno(["run", "./prog"], { UNO_VMM: path.join(tmp, "nope", "uno-vmm") }, dir);
    assert.equal(r.status, 125);
    assert.equal(
      r.stderr.split("\n")[0],
      "uno: ./prog needs shared libraries that are not on this host:",
    );
    assert.match(
      r.stderr,
      new RegExp(`\n  libgone\\.so\\.1 \\(needed by \\./prog\\) not found in ${dir}/lib, `),
    );
    assert.match(r.stderr, /\/usr\/lib\n/);
    assert.match(r.stderr, /uno run DIR -- PROG\n$/);
  });

  it("non-ELF and foreign ELF targets are refused", () => {
    const txt = path.join(tmp, "notes.txt");
    fs.writeFileSync(txt, "just text\n");
    let r = uno(["run", txt]);
    assert.equal(r.status, 125);
    assert.equal(r.stderr, `uno: ${txt} is not an ELF program\n`);
    const arm = path.join(tmp, "arm64-prog");
    fs.writeFileSync(arm, makeElf({ machine: 183 }));
    r = uno(["run", arm]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /64-bit ELF for AArch64; uno runs x86-64 programs/);
  });

  it("too-small memory and bad options", () => {
    let r = uno(["run", "--memory", "4m", "/nonexistent"]);
    assert.equal(r.status, 125);
    assert.equal(r.stderr, "uno: --memory 4m is too small: uno needs at least 16m\n");
    r = uno(["run", "-w", "relative", "/nonexistent"]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /must be an absolute path/);
    r = uno(["run", "--env-file", path.join(tmp, "missing.env"), "/nonexistent"]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /cannot read --env-file/);
  });

  it("-p, -P and --network errors: exit 125 before anything runs", () => {
    let r = uno(["run", "-p", "8080:80/sctp", "/nonexistent"]);
    assert.equal(r.status, 125);
    assert.equal(
      r.stderr,
      'uno: invalid --publish "8080:80/sctp": sctp is not supported: use /tcp or /udp\n',
    );
    r = uno(["run", "--network", "host", "/nonexistent"]);
    assert.equal(r.status, 125);
    assert.equal(
      r.stderr,
      "uno: --network host: uno has no host network mode: use -p to publish ports\n",
    );
    r = uno(["run", "--publish", "8000-8010:80-85", "/nonexistent"]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /ranges must be of equal length/);
    r = uno(["run", "-P", "--network", "none", "/nonexistent"]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /--network none gives the instance no network, so -P cannot publish/);
    r = uno(["run", "-p", "9000:90", "-p", "9000:91", "/nonexistent"]);
    assert.equal(r.status, 125);
    assert.match(r.stderr, /-p 9000:90 and -p 9000:91 map host port 0\.0\.0\.0:9000\/tcp twice/);
  });

  it("-p and --network reach uno-vmm; --verbose shows the chosen ports docker's way", () => {
    assert.ok(elfs.gccStatic, "gcc unavailable: install it with scripts/setup.sh");
    assert.ok(kvmOk, "no usable /dev/kvm: these tests need KVM");
    const r = uno(
      [
        "run",
        "--verbose",
        "-p",
        "127.0.0.1::80",
        "--publish=127.0.0.1::90-91/udp",
        "-P",
        "--network",
        "allow=10.0.0.0/8,2001:DB8::/32",
        elfs.gccStatic,
      ],
      fakeEnv(),
    );
    assert.equal(r.status, 0, r.stderr);
    const args = [...r.stdout.matchAll(/^ARG\[(.*)\]$/gm)].map((m) => m[1]!);
    const after = (flag: string): string[] =>
      args.flatMap((a, k) => (a === flag && k < args.indexOf("--") ? [args[k + 1]!] : []));
    assert.deepEqual(after("--network"), ["allow=10.0.0.0/8,2001:db8::/32"]);
    const pub = after("--publish");
    assert.equal(pub.length, 3, `--publish arguments: ${pub.join(" ")}`);
    const m = pub.map((p) => /^127\.0\.0\.1:(\d+):(\d+)\/(tcp|udp)$/.exec(p));
    assert.ok(
      m.every((x) => x !== null),
      pub.join(" "),
    );
    assert.deepEqual(
      m.map((x) => `${x![2]}/${x![3]}`),
      ["80/tcp", "90/udp", "91/udp"],
    );
    for (const x of m) {
      assert.ok(Number(x![1]) > 0);
      // The same mapping, as docker shows it.
      assert.ok(
        r.stderr.includes(`uno: publish 127.0.0.1:${x![1]}->${x![2]}/${x![3]}\n`),
        r.stderr,
      );
    }
    assert.match(r.stderr, /uno: -P: the image exposes no ports; nothing more published/);
  });

  it("directory target without a command", () => {
    const dir = path.join(tmp, "empty-root");
    fs.mkdirSync(dir, { recursive: true });
    const r = uno(["run", dir]);
    assert.equal(r.status, 125);
    assert.equal(r.stderr, "uno: no command given: uno run DIR -- /path/in/rootfs [ARGS]\n");
    const r2 = uno(["run", dir, "--", "ls"]);
    assert.equal(r2.status, 125);
    assert.match(r2.stderr, /ls: the program must be an absolute path inside/);
  });

  it("directory target: a dynamic program needs its interpreter in the root", () => {
    assert.ok(elfs.gccDynamic, "gcc unavailable: install it with scripts/setup.sh");
    assert.ok(kvmOk, "no usable /dev/kvm: these tests need KVM");
    const dir = path.join(tmp, "dyn-root");
    fs.mkdirSync(path.join(dir, "usr", "bin"), { recursive: true });
    fs.copyFileSync(elfs.gccDynamic, path.join(dir, "usr", "bin", "hello"));
    fs.symlinkSync("/usr/bin/hello", path.join(dir, "usr", "bin", "hi"));
    let r = uno(["run", dir, "--", "/usr/bin/hi"], fakeEnv());
    assert.equal(r.status, 125);
    assert.match(
      r.stderr,
      /^uno: \/usr\/bin\/hi \(in .*dyn-root\) is dynamically linked and needs its interpreter \/lib64\/ld-linux-x86-64\.so\.2, which is not in .*dyn-root: /,
    );
    // Debian's layout: the interpreter through /lib64 -> /lib/x86_64-linux-gnu and /lib -> usr/lib.
    fs.mkdirSync(path.join(dir, "usr", "lib", "x86_64-linux-gnu"), { recursive: true });
    fs.mkdirSync(path.join(dir, "lib64"));
    fs.symlinkSync("usr/lib", path.join(dir, "lib"));
    fs.symlinkSync(
      "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
      path.join(dir, "lib64", "ld-linux-x86-64.so.2"),
    );
    fs.copyFileSync(
      fs.realpathSync("/lib64/ld-linux-x86-64.so.2"),
      path.join(dir, "usr", "lib", "x86_64-linux-gnu", "ld-linux-x86-64.so.2"),
    );
    r = uno(["run", dir, "--", "/usr/bin/hi", "x"], fakeEnv());
    assert.equal(r.status, 0, r.stderr);
    const args = [...r.stdout.matchAll(/^ARG\[(.*)\]$/gm)].map((m) => m[1]);
    assert.deepEqual(args.slice(args.indexOf("--")), ["--", "/usr/bin/hi", "x"]);
  });

  it("uno-vmm not built", () => {
    assert.ok(elfs.gccStatic, "gcc unavailable: install it with scripts/setup.sh");
    const r = uno(["run", elfs.gccStatic], { UNO_VMM: path.join(tmp, "nope", "uno-vmm") });
    assert.equal(r.status, 125);
    assert.equal(
      r.stderr,
      `uno: uno-vmm not found at ${path.join(tmp, "nope", "uno-vmm")}: run \`make\` first\n`,
    );
  });

  it("help, version, and no arguments exit 0", () => {
    const h = uno(["--help"]);
    assert.equal(h.status, 0);
    assert.match(h.stdout, /Usage: uno/);
    const rh = uno(["run", "--help"]);
    assert.equal(rh.status, 0);
    assert.match(rh.stdout, /--memory <size>/);
    const v = uno(["--version"]);
    assert.equal(v.status, 0);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
      version: string;
    };
    assert.equal(v.stdout, `uno ${pkg.version}\n`);
    const vv = uno(["version"]);
    assert.equal(vv.status, 0);
    assert.match(vv.stdout, /^uno \d+\.\d+\.\d+\nuno-vmm: /);
    assert.equal(uno([]).status, 0);
  });

  it("bin/uno works through a symlink from another directory", () => {
    const link = path.join(tmp, "uno-link");
    fs.symlinkSync(UNO, link);
    const link2 = path.join(tmp, "uno-link2");
    fs.symlinkSync("uno-link", link2); // relative link to a link
    for (const l of [link, link2]) {
      const r = spawnSync(l, ["--version"], { cwd: "/", encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^uno /);
    }
  });

  it("runs a static ELF: the uno-vmm contract, args after TARGET, the exit code", () => {
    assert.ok(elfs.gccStatic, "gcc unavailable: install it with scripts/setup.sh");
    assert.ok(kvmOk, "no usable /dev/kvm: these tests need KVM");
    const envFile = path.join(tmp, "cli.env");
    fs.writeFileSync(envFile, "# settings\nFROM_FILE=yes\nA=from-file\nHOST_ONLY\n");
    const r = uno(
      [
        "run",
        "--env-file",
        envFile,
        "-e",
        "A=1",
        "-m",
        "64m",
        "-w",
        "/tmp",
        elfs.gccStatic,
        "-x",
        "--verbose",
      ],
      { ...fakeEnv(), FAKE_EXIT: "42", HOST_ONLY: "h" },
    );
    assert.equal(r.status, 42, r.stderr);
    const args = [...r.stdout.matchAll(/^ARG\[(.*)\]$/gm)].map((m) => m[1]);
    const i = args.indexOf("--");
    assert.deepEqual(args.slice(i), ["--", "/hello-static", "-x", "--verbose"]);
    assert.equal(args[args.indexOf("--image") + 1]!.endsWith(".erofs"), true);
    const envs = args.filter((_, k) => args[k - 1] === "--env");
    assert.deepEqual(envs.slice(3), ["FROM_FILE=yes", "A=1", "HOST_ONLY=h"]);
    assert.equal(envs[0], `PATH=${DEFAULT_PATH}`);
    assert.ok(args.includes("HOME=/root"));
    assert.equal(args[args.indexOf("--memory") + 1], String(64 * 1024 * 1024));
    assert.equal(args[args.indexOf("--cwd") + 1], "/tmp");
    assert.equal(args[args.indexOf("--libos") + 1], path.join(tmp, "cli-libos.elf"));
    assert.ok(!args.slice(0, i).includes("--verbose"), "--verbose after TARGET is the program's");
    assert.match(r.stdout, /UPPER_EXISTS/);
    const instances = path.join(tmp, "cli-home", "instances");
    assert.deepEqual(fs.existsSync(instances) ? fs.readdirSync(instances) : [], []);
  });

  it("runs a program in a root directory, with -- and --entrypoint", () => {
    assert.ok(elfs.gccStatic, "gcc unavailable: install it with scripts/setup.sh");
    assert.ok(kvmOk, "no usable /dev/kvm: these tests need KVM");
    const dir = path.join(tmp, "static-root");
    fs.mkdirSync(path.join(dir, "bin"), { recursive: true });
    fs.copyFileSync(elfs.gccStatic, path.join(dir, "bin", "busybox"));
    let r = uno(["run", "--trace", dir, "--", "/bin/busybox", "ls", "-la", "/"], fakeEnv());
    assert.equal(r.status, 0, r.stderr);
    let args = [...r.stdout.matchAll(/^ARG\[(.*)\]$/gm)].map((m) => m[1]);
    assert.deepEqual(args.slice(args.indexOf("--")), ["--", "/bin/busybox", "ls", "-la", "/"]);
    assert.ok(args.includes("--trace"));
    r = uno(["run", "--entrypoint", "/bin/busybox", dir, "echo", "hi"], fakeEnv());
    assert.equal(r.status, 0, r.stderr);
    args = [...r.stdout.matchAll(/^ARG\[(.*)\]$/gm)].map((m) => m[1]);
    assert.deepEqual(args.slice(args.indexOf("--")), ["--", "/bin/busybox", "echo", "hi"]);
  });

  it("forwards SIGTERM to uno-vmm and exits with its status", { timeout: 60_000 }, async () => {
    assert.ok(elfs.gccStatic, "gcc unavailable: install it with scripts/setup.sh");
    assert.ok(kvmOk, "no usable /dev/kvm: these tests need KVM");
    const vmm = fakeVmm(
      "term-vmm",
      `trap 'echo got-TERM; exit 42' TERM\necho ready\nwhile :; do sleep 0.02; done`,
    );
    const child = spawn(UNO, ["run", elfs.gccStatic], {
      env: { ...process.env, ...fakeEnv(), UNO_VMM: vmm, UNO_HOME: path.join(tmp, "cli-home") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    await new Promise<void>((resolve) => {
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("ready")) resolve();
      });
    });
    child.kill("SIGTERM");
    const status = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(status, 42);
    assert.match(out, /got-TERM/);
  });
});

// Make sure the test ELF builder produces what the real toolchain would accept.
describe("test helpers", () => {
  it("makeElf output is accepted by readelf when available", () => {
    assert.ok(have("readelf"), "readelf (binutils) is required");
    const f = path.join(tmp, "made.elf");
    fs.writeFileSync(f, makeElf({ interp: LD_SO }));
    const out = execFileSync("readelf", ["-lW", f], { encoding: "utf8" });
    assert.match(out, /Requesting program interpreter: \/lib64\/ld-linux-x86-64\.so\.2/);
  });
});
