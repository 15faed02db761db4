/**
 * Packing dynamic programs for `uno run ./prog`: the dynamic-section reader (crafted ELF
 * buffers, malformed ones included), the loader-search emulation (src/lib/ldso.ts) on crafted
 * and real objects, the planned and written image, its cache key, and — end to end, through
 * bin/uno, compared with native runs — real gcc and musl-gcc dynamic programs.
 *
 * The end-to-end suite ("… in uno vs natively") needs the libOS to load PT_INTERP programs
 * (dynamic loading, issue 5 item 1); everything else runs on the host only.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BadElfError, UnoError } from "../../src/lib/errors.js";
import {
  DF_1_NODEFLIB,
  describeElf,
  describeElfObject,
  DT_FLAGS_1,
  DT_NEEDED,
  DT_RPATH,
  DT_RUNPATH,
  DT_SONAME,
  DT_STRSZ,
  DT_STRTAB,
  EM_X86_64,
  ET_DYN,
  ET_EXEC,
  MAX_NEEDED,
  PT_DYNAMIC,
  PT_INTERP,
  PT_LOAD,
  readDynamicFrom,
  type DynamicInfo,
  type ElfInfo,
  type ElfRejection,
} from "../../src/lib/elf.js";
import { expandTokens, readLdSoConf, resolveDynamicProgram } from "../../src/lib/ldso.js";
import { resolveInRoot } from "../../src/lib/paths.js";
import { packElf, planElfImage, type ElfImagePlan } from "../../src/image/rootfs.js";
import { assertSame, requireKvm, runNative, runUno } from "./guest-util.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "uno-pack-test-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function have(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

const HOST_LDSO = "/lib64/ld-linux-x86-64.so.2";
const MUSL_LDSO = "/lib/ld-musl-x86_64.so.1";

// ---------------------------------------------------------------------------------------
// Crafted ELF objects

interface DynElf {
  type?: number;
  cls?: number;
  machine?: number;
  interp?: string;
  needed?: string[];
  soname?: string;
  rpath?: string;
  runpath?: string;
  flags1?: bigint;
  /** Raw dynamic entries to use instead of the ones built from the fields above. */
  rawDynamic?: [bigint, bigint][];
  /** Leave out the DT_NULL terminator. */
  noNull?: boolean;
  /** Override DT_STRTAB's address / DT_STRSZ. */
  strtab?: bigint;
  strsz?: bigint;
  /** Override PT_DYNAMIC's offset/size. */
  dynOffset?: bigint;
  dynSize?: bigint;
  /** Add a second PT_DYNAMIC. */
  twoDynamic?: boolean;
}

const BASE = 0x400000n;

/**
 * A small ELF64 object: header, program headers (PT_LOAD of the whole file, PT_INTERP,
 * PT_DYNAMIC), the interpreter string, a string table and the dynamic section. The string
 * table's address is BASE + its offset, like a real non-PIE link.
 */
function makeDynElf(o: DynElf = {}): Buffer {
  const strings: Buffer[] = [Buffer.from([0])];
  let strLen = 1;
  const addStr = (s: string): bigint => {
    const at = strLen;
    const b = Buffer.from(s + "\0", "utf8");
    strings.push(b);
    strLen += b.length;
    return BigInt(at);
  };
  const dyn: [bigint, bigint][] = [];
  for (const n of o.needed ?? []) dyn.push([DT_NEEDED, addStr(n)]);
  if (o.soname !== undefined) dyn.push([DT_SONAME, addStr(o.soname)]);
  if (o.rpath !== undefined) dyn.push([DT_RPATH, addStr(o.rpath)]);
  if (o.runpath !== undefined) dyn.push([DT_RUNPATH, addStr(o.runpath)]);
  if (o.flags1 !== undefined) dyn.push([DT_FLAGS_1, o.flags1]);
  const interp = o.interp !== undefined ? Buffer.from(o.interp + "\0") : undefined;
  const nph = 2 + (interp ? 1 : 0) + (o.twoDynamic ? 1 : 0);
  const interpOff = 64 + 56 * nph;
  const strOff = interpOff + (interp?.length ?? 0);
  const dynOff = Math.ceil((strOff + strLen) / 8) * 8;
  const entries: [bigint, bigint][] = o.rawDynamic ?? [
    ...dyn,
    [DT_STRTAB, o.strtab ?? BASE + BigInt(strOff)],
    [DT_STRSZ, o.strsz ?? BigInt(strLen)],
  ];
  if (!o.noNull) entries.push([0n, 0n]);
  const total = dynOff + entries.length * 16;
  const b = Buffer.alloc(total);
  b.set([0x7f, 0x45, 0x4c, 0x46, o.cls ?? 2, 1, 1], 0);
  b.writeUInt16LE(o.type ?? ET_DYN, 16);
  b.writeUInt16LE(o.machine ?? EM_X86_64, 18);
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(BASE + 0x1000n, 24);
  b.writeBigUInt64LE(64n, 32);
  b.writeUInt16LE(64, 52);
  b.writeUInt16LE(56, 54);
  b.writeUInt16LE(nph, 56);
  const phdrs: { type: number; off: bigint; size: bigint }[] = [
    { type: PT_LOAD, off: 0n, size: BigInt(total) },
  ];
  if (interp) phdrs.push({ type: PT_INTERP, off: BigInt(interpOff), size: BigInt(interp.length) });
  const dynPh = {
    type: PT_DYNAMIC,
    off: o.dynOffset ?? BigInt(dynOff),
    size: o.dynSize ?? BigInt(entries.length * 16),
  };
  phdrs.push(dynPh);
  if (o.twoDynamic) phdrs.push(dynPh);
  phdrs.forEach((p, i) => {
    const at = 64 + i * 56;
    b.writeUInt32LE(p.type, at);
    b.writeUInt32LE(4, at + 4);
    b.writeBigUInt64LE(p.off, at + 8);
    b.writeBigUInt64LE(BigInt.asUintN(64, BASE + p.off), at + 16);
    b.writeBigUInt64LE(p.size, at + 32);
    b.writeBigUInt64LE(p.size, at + 40);
    b.writeBigUInt64LE(4096n, at + 48);
  });
  if (interp) interp.copy(b, interpOff);
  Buffer.concat(strings).copy(b, strOff);
  entries.forEach(([tag, val], i) => {
    b.writeBigUInt64LE(BigInt.asUintN(64, tag), dynOff + i * 16);
    b.writeBigUInt64LE(BigInt.asUintN(64, val), dynOff + i * 16 + 8);
  });
  return b;
}

function bigints(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? v.toString() : v;
}

function dynOf(b: Buffer): DynamicInfo {
  const d = describeElfObject(b);
  assert.equal(d.elf.ok, true, `not a valid ELF: ${JSON.stringify(d.elf, bigints)}`);
  assert.ok(d.dynamic, "no dynamic description");
  assert.equal(d.dynamic.ok, true, `dynamic rejected: ${JSON.stringify(d.dynamic, bigints)}`);
  return d.dynamic as DynamicInfo;
}

function dynBad(b: Buffer): ElfRejection {
  const d = describeElfObject(b);
  assert.equal(d.elf.ok, true, `not a valid ELF: ${JSON.stringify(d.elf, bigints)}`);
  assert.ok(d.dynamic && !d.dynamic.ok, "expected the dynamic section to be rejected");
  return d.dynamic as ElfRejection;
}

describe("dynamic section of crafted objects", () => {
  it("reads DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH, DT_FLAGS_1", () => {
    const d = dynOf(
      makeDynElf({
        interp: HOST_LDSO,
        needed: ["libfoo.so.1", "libc.so.6"],
        soname: "libme.so.2",
        rpath: "$ORIGIN/lib:/opt/x",
        runpath: "/opt/y",
        flags1: DF_1_NODEFLIB,
      }),
    );
    assert.equal(d.present, true);
    assert.deepEqual(d.needed, ["libfoo.so.1", "libc.so.6"]);
    assert.equal(d.soname, "libme.so.2");
    assert.equal(d.rpath, "$ORIGIN/lib:/opt/x");
    assert.equal(d.runpath, "/opt/y");
    assert.equal(d.flags1, DF_1_NODEFLIB);
  });

  it("an object without PT_DYNAMIC has none; one without names needs no string table", () => {
    const stat = Buffer.from(makeDynElf({ type: ET_EXEC }));
    stat.writeUInt16LE(1, 56); // only the PT_LOAD header
    const d = dynOf(stat);
    assert.equal(d.present, false);
    assert.deepEqual(d.needed, []);
    const bare = dynOf(makeDynElf({ rawDynamic: [] }));
    assert.equal(bare.present, true);
    assert.deepEqual(bare.needed, []);
  });

  it("malformed dynamic sections are rejected, never thrown", () => {
    const cases: [string, DynElf, RegExp][] = [
      ["no DT_NULL", { needed: ["a"], noNull: true }, /no DT_NULL/],
      ["two PT_DYNAMIC", { needed: ["a"], twoDynamic: true }, /more than one dynamic section/],
      ["PT_DYNAMIC past the end", { needed: ["a"], dynOffset: 1n << 40n }, /truncated|corrupt/],
      ["PT_DYNAMIC offset 2^64-1", { needed: ["a"], dynOffset: (1n << 64n) - 1n }, /corrupt/],
      ["absurd PT_DYNAMIC size", { needed: ["a"], dynSize: 1n << 50n }, /corrupt/],
      ["strtab outside every segment", { needed: ["a"], strtab: 0x10n }, /string table/],
      ["strtab + strsz past its segment", { needed: ["a"], strsz: 1n << 20n }, /string table/],
      ["strsz 2^64-1", { needed: ["a"], strsz: (1n << 64n) - 1n }, /string table/],
      ["strtab 2^64-1", { needed: ["a"], strtab: (1n << 64n) - 1n }, /string table/],
      [
        "string offset past the table",
        {
          rawDynamic: [
            [DT_NEEDED, 1000n],
            [DT_STRTAB, BASE + 64n],
            [DT_STRSZ, 8n],
          ],
        },
        /past the 8-byte string table/,
      ],
      [
        "unterminated string",
        // The string table is the ELF header's first 4 bytes: "\x7fELF" with no NUL.
        {
          rawDynamic: [
            [DT_NEEDED, 0n],
            [DT_STRTAB, BASE],
            [DT_STRSZ, 4n],
          ],
        },
        /not NUL-terminated/,
      ],
      ["names without DT_STRTAB", { rawDynamic: [[DT_NEEDED, 0n]] }, /DT_STRTAB\/DT_STRSZ missing/],
      [
        "empty DT_NEEDED name",
        {
          rawDynamic: [
            [DT_NEEDED, 0n],
            [DT_STRTAB, BASE + 8n],
            [DT_STRSZ, 8n],
          ],
        },
        /empty DT_NEEDED name/,
      ],
    ];
    for (const [what, o, re] of cases) {
      const r = dynBad(makeDynElf(o));
      assert.match(r.detail, re, what);
      assert.ok(r.problem === "corrupt" || r.problem === "truncated", what);
    }
  });

  it("absurd counts: more than MAX_NEEDED DT_NEEDED entries", () => {
    const entries: [bigint, bigint][] = [];
    for (let i = 0; i <= MAX_NEEDED; i++) entries.push([DT_NEEDED, 1n]);
    const r = dynBad(makeDynElf({ needed: ["x"], rawDynamic: [...entries] }));
    assert.match(r.detail, new RegExp(`more than ${MAX_NEEDED} DT_NEEDED`));
  });

  it("a long string without NUL is bounded, not read to the end of the file", () => {
    const big = makeDynElf({ needed: ["x".repeat(5000)] });
    const r = dynBad(big);
    assert.match(r.detail, /longer than 4096 bytes/);
  });

  it("random corruption of a real object never throws", () => {
    const gcc = path.join(tmp, "fuzz-src");
    if (!have("gcc")) assert.fail("gcc unavailable: install it with scripts/setup.sh");
    fs.writeFileSync(`${gcc}.c`, "int main(void) { return 0; }\n");
    execFileSync("gcc", ["-o", gcc, `${gcc}.c`]);
    const orig = fs.readFileSync(gcc);
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const info = describeElf(orig) as ElfInfo;
    const dyn = info.programHeaders.find((p) => p.type === PT_DYNAMIC)!;
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.from(orig);
      // Corrupt bytes in the headers and the dynamic section, where the reader looks.
      for (let k = 0; k < 4; k++) {
        const inDyn = rnd(2) === 0;
        const at = inDyn
          ? Number(dyn.offset) + rnd(Number(dyn.filesz))
          : rnd(64 + 56 * info.programHeaders.length);
        b[at] = rnd(256);
      }
      const d = describeElfObject(b);
      if (d.elf.ok) assert.ok(d.dynamic !== undefined);
    }
    const r = readDynamicFrom((o, l) => orig.subarray(o, o + l), orig.length, info);
    assert.equal(r.ok, true);
  });
});

// ---------------------------------------------------------------------------------------
// The search, on crafted objects

/** Writes a crafted object to dir/name (creating dir). */
function put(dir: string, name: string, o: DynElf): string {
  fs.mkdirSync(dir, { recursive: true });
  const f = path.join(dir, name);
  fs.writeFileSync(f, makeDynElf(o));
  return f;
}

function resolveFile(file: string, opts: Parameters<typeof resolveDynamicProgram>[5] = {}) {
  const d = describeElfObject(fs.readFileSync(file));
  assert.ok(d.elf.ok && d.dynamic?.ok);
  return resolveDynamicProgram(
    file,
    `/${path.basename(file)}`,
    `./${path.basename(file)}`,
    d.elf,
    d.dynamic,
    { ldSoConf: path.join(tmp, "no-ld.so.conf"), glibcDirs: [], ...opts },
  );
}

describe("library search (crafted objects)", () => {
  it("NEEDED loops and self-references end; each library is packed once", () => {
    const dir = path.join(tmp, "loop");
    put(dir, "liba.so", { needed: ["libb.so", "liba.so"], soname: "liba.so", runpath: dir });
    put(dir, "libb.so", { needed: ["liba.so", "libb.so"], runpath: dir });
    const prog = put(dir, "prog", { interp: HOST_LDSO, needed: ["liba.so"], runpath: dir });
    const r = resolveFile(prog);
    assert.deepEqual(
      r.libraries.map((l) => [l.name, l.hostPath, l.neededBy?.display]),
      [
        ["liba.so", `${dir}/liba.so`, "./prog"],
        ["libb.so", `${dir}/libb.so`, `${dir}/liba.so`],
      ],
    );
  });

  it("glibc: DT_RUNPATH serves only direct needs; DT_RPATH is inherited down the chain", () => {
    const dir = path.join(tmp, "chain");
    const lib = path.join(dir, "lib");
    put(lib, "liba.so", { needed: ["libb.so"] });
    put(lib, "libb.so", {});
    const withRunpath = put(dir, "prog-runpath", {
      interp: HOST_LDSO,
      needed: ["liba.so"],
      runpath: "$ORIGIN/lib",
    });
    assert.throws(
      () => resolveFile(withRunpath),
      (e: unknown) =>
        e instanceof BadElfError &&
        e.reason === "library-missing" &&
        e.message.includes(`  libb.so (needed by ${lib}/liba.so) not found`) &&
        !e.message.includes("liba.so (needed by"),
    );
    const withRpath = put(dir, "prog-rpath", {
      interp: HOST_LDSO,
      needed: ["liba.so"],
      rpath: "$ORIGIN/lib",
    });
    const r = resolveFile(withRpath);
    assert.deepEqual(
      r.libraries.map((l) => [l.name, l.foundIn?.from, l.guestPath]),
      [
        ["liba.so", "DT_RPATH of ./prog-rpath", "/lib/liba.so"],
        ["libb.so", "DT_RPATH of ./prog-rpath", "/lib/libb.so"],
      ],
    );
    // DT_RPATH is ignored when the same object has DT_RUNPATH.
    const both = put(dir, "prog-both", {
      interp: HOST_LDSO,
      needed: ["liba.so"],
      rpath: "$ORIGIN/lib",
      runpath: "/nonexistent",
    });
    assert.throws(
      () => resolveFile(both),
      /liba\.so \(needed by \.\/prog-both\) not found in \/nonexistent/,
    );
  });

  it("musl: each object's DT_RUNPATH serves the objects it leads to; libc.so is the loader", () => {
    const dir = path.join(tmp, "musl-chain");
    const lib = path.join(dir, "lib");
    put(lib, "liba.so", { needed: ["libb.so", "libc.so"] });
    put(lib, "libb.so", { needed: ["libm.so", "libpthread.so.0"] });
    const prog = put(dir, "prog", {
      interp: MUSL_LDSO,
      needed: ["liba.so", "libc.so"],
      runpath: "$ORIGIN/lib",
    });
    if (!fs.existsSync(MUSL_LDSO)) assert.fail(`${MUSL_LDSO} missing: apt-get install musl`);
    const r = resolveFile(prog, { muslPathFile: path.join(tmp, "no-musl-path") });
    assert.equal(r.kind, "musl");
    assert.deepEqual(
      r.libraries.map((l) => l.name),
      ["liba.so", "libb.so"],
    );
    assert.deepEqual(r.configFiles, []);
  });

  it("32-bit and foreign candidates are skipped as ld.so skips them; junk is an error", () => {
    const dir = path.join(tmp, "skip");
    put(path.join(dir, "a"), "libx.so", { cls: 1 });
    put(path.join(dir, "b"), "libx.so", { machine: 183 });
    put(path.join(dir, "c"), "libx.so", {});
    const prog = put(dir, "prog", {
      interp: HOST_LDSO,
      needed: ["libx.so"],
      runpath: `${dir}/a:${dir}/b:${dir}/c`,
    });
    const notes: string[] = [];
    const r = resolveFile(prog, { onNote: (n) => notes.push(n) });
    assert.equal(r.libraries[0]!.hostPath, `${dir}/c/libx.so`);
    assert.equal(notes.length, 2);
    assert.match(notes[0]!, /32-bit/);
    fs.writeFileSync(path.join(dir, "a", "libx.so"), "GROUP ( /lib/libx.so.1 )\n");
    assert.throws(
      () => resolveFile(prog),
      (e: unknown) =>
        e instanceof BadElfError &&
        e.message ===
          `libx.so (needed by ./prog) was found at ${dir}/a/libx.so, which is not an ELF program`,
    );
    // A library with a malformed dynamic section is named.
    fs.writeFileSync(path.join(dir, "a", "libx.so"), makeDynElf({ needed: ["y"], noNull: true }));
    assert.throws(
      () => resolveFile(prog),
      /found at .*\/a\/libx\.so, which has a corrupt dynamic section \(no DT_NULL/,
    );
  });

  it("every missing library is listed with what needs it; relative rpath entries are left out", () => {
    const dir = path.join(tmp, "missing");
    put(dir, "liba.so", { needed: ["libgone1.so"] });
    const prog = put(dir, "prog", {
      interp: HOST_LDSO,
      needed: ["liba.so", "libgone2.so"],
      rpath: `relative/dir::${dir}`,
    });
    const notes: string[] = [];
    assert.throws(
      () => resolveFile(prog, { onNote: (n) => notes.push(n) }),
      (e: unknown) =>
        e instanceof BadElfError &&
        e.exitCode === 125 &&
        e.message ===
          `./prog needs shared libraries that are not on this host:\n` +
            `  libgone2.so (needed by ./prog) not found in ${dir}\n` +
            `  libgone1.so (needed by ${dir}/liba.so) not found in ${dir}\n` +
            `Install them, or run the program from a root directory that has them: uno run DIR -- PROG`,
    );
    // Each left-out entry is noted once.
    assert.equal(notes.filter((n) => /relative to the working directory/.test(n)).length, 2);
  });

  it("a missing interpreter is named", () => {
    const prog = put(path.join(tmp, "nointerp"), "prog", { interp: "/nonexistent/ld.so.1" });
    assert.throws(
      () => resolveFile(prog),
      (e: unknown) =>
        e instanceof BadElfError &&
        e.reason === "interpreter-missing" &&
        e.message.startsWith(
          "./prog is dynamically linked and needs its interpreter /nonexistent/ld.so.1, which is not on this host",
        ),
    );
  });

  it("ld.so.conf: includes (globs, relative), comments, dir=type; DF_1_NODEFLIB", () => {
    const dir = path.join(tmp, "conf");
    const d1 = path.join(dir, "d1");
    const d2 = path.join(dir, "d2");
    put(d2, "libconf.so", {});
    fs.mkdirSync(path.join(dir, "conf.d"), { recursive: true });
    fs.writeFileSync(
      path.join(dir, "ld.so.conf"),
      `# comment\ninclude conf.d/*.conf\n${d1}/ # trailing slash\nhwcap 1 x\n`,
    );
    fs.writeFileSync(
      path.join(dir, "conf.d", "b.conf"),
      `${d2}=libc6\ninclude ${dir}/ld.so.conf\n`,
    );
    fs.writeFileSync(path.join(dir, "conf.d", "a.conf"), `${d1}\n`);
    fs.writeFileSync(path.join(dir, "conf.d", "c.txt"), `/not/included\n`);
    assert.deepEqual(readLdSoConf(path.join(dir, "ld.so.conf")), [d1, d2]);
    const prog = put(dir, "prog", { interp: HOST_LDSO, needed: ["libconf.so"] });
    const r = resolveFile(prog, { ldSoConf: path.join(dir, "ld.so.conf") });
    assert.equal(r.libraries[0]!.hostPath, `${d2}/libconf.so`);
    assert.equal(r.libraries[0]!.guestPath, `${d2}/libconf.so`);
    // The guest's loader finds ld.so.conf directories through the cache.
    if (fs.existsSync("/etc/ld.so.cache")) assert.deepEqual(r.configFiles, ["/etc/ld.so.cache"]);
    const nodeflib = put(dir, "prog2", {
      interp: HOST_LDSO,
      needed: ["libconf.so"],
      flags1: DF_1_NODEFLIB,
    });
    assert.throws(
      () => resolveFile(nodeflib, { ldSoConf: path.join(dir, "ld.so.conf") }),
      /libconf\.so \(needed by \.\/prog2\) not found\n/,
    );
  });

  it("$ORIGIN, ${ORIGIN}, $LIB, $PLATFORM", () => {
    assert.equal(expandTokens("$ORIGIN/a:${ORIGIN}/b", "/o", "glibc", "lib64"), "/o/a:/o/b");
    assert.equal(expandTokens("/x/$LIB/${PLATFORM}", "/o", "glibc", "lib64"), "/x/lib64/x86_64");
    assert.equal(expandTokens("/x/$LIB/$ORIGINAL", "/o", "musl", "lib64"), "/x/$LIB/$ORIGINAL");
  });
});

// ---------------------------------------------------------------------------------------
// Real programs

interface Built {
  dir: string;
  prog: string;
}

/** Compiles C source `main` (and shared libraries) into a fresh directory. */
function build(
  name: string,
  main: string,
  libs: { file: string; soname: string; src: string; flags?: string[] }[],
  flags: string[],
  cc = "gcc",
): Built {
  const dir = path.join(tmp, name);
  fs.mkdirSync(path.join(dir, "lib"), { recursive: true });
  for (const l of libs) {
    const src = path.join(dir, `${path.basename(l.file)}.c`);
    fs.writeFileSync(src, l.src);
    execFileSync(cc, [
      "-shared",
      "-fPIC",
      `-Wl,-soname,${l.soname}`,
      "-o",
      path.join(dir, l.file),
      src,
      ...(l.flags ?? []),
    ]);
  }
  fs.writeFileSync(path.join(dir, "main.c"), main);
  const prog = path.join(dir, "prog");
  execFileSync(cc, ["-o", prog, path.join(dir, "main.c"), ...flags]);
  return { dir, prog };
}

const GREET_MAIN = `#include <stdio.h>
const char *greet(void);
int main(int argc, char **argv) { printf("%s %d\\n", greet(), argc); return 3; }
`;
const GREET_LIB = `const char *who(void);
static char buf[64];
const char *greet(void) { const char *w = who(); int i = 0; for (const char *p = "hello "; *p; p++) buf[i++] = *p; while (*w) buf[i++] = *w++; buf[i] = 0; return buf; }
`;
const WHO_LIB = `const char *who(void) { return "world"; }\n`;

/**
 * prog -> libgreet.so.1 (in $ORIGIN/lib, a symlink to libgreet.so.1.0) -> libwho.so.1 (in
 * $ORIGIN/lib/sub, through libgreet's own DT_RUNPATH $ORIGIN/sub).
 */
function buildGreet(name: string, dtags: "rpath" | "runpath", cc = "gcc"): Built {
  const tagFlag = dtags === "rpath" ? "-Wl,--disable-new-dtags" : "-Wl,--enable-new-dtags";
  const dir = path.join(tmp, name);
  fs.mkdirSync(path.join(dir, "lib", "sub"), { recursive: true });
  const b = build(
    name,
    GREET_MAIN,
    [
      { file: "lib/sub/libwho.so.1", soname: "libwho.so.1", src: WHO_LIB },
      {
        file: "lib/libgreet.so.1.0",
        soname: "libgreet.so.1",
        src: GREET_LIB,
        flags: [path.join(dir, "lib", "sub", "libwho.so.1"), tagFlag, "-Wl,-rpath,$ORIGIN/sub"],
      },
    ],
    [
      path.join(dir, "lib", "libgreet.so.1.0"),
      tagFlag,
      "-Wl,-rpath,$ORIGIN/lib",
      `-Wl,-rpath-link,${dir}/lib/sub`,
    ],
    cc,
  );
  fs.symlinkSync("libgreet.so.1.0", path.join(dir, "lib", "libgreet.so.1"));
  return b;
}

function extract(img: string): string {
  const out = fs.mkdtempSync(path.join(tmp, "extract-"));
  const r = spawnSync("fsck.erofs", [`--extract=${out}`, img], { encoding: "utf8" });
  assert.equal(r.status, 0, `fsck.erofs --extract failed: ${r.stdout}${r.stderr}`);
  return out;
}

/** Every object of the plan is where the guest loader opens it, with the host's bytes. */
function assertPlacement(plan: ElfImagePlan, extracted: string): void {
  const r = plan.resolution!;
  for (const o of [r.interpreter, ...r.libraries]) {
    const inImage = resolveInRoot(extracted, o.guestPath);
    assert.ok(inImage !== undefined, `${o.guestPath} does not resolve in the image`);
    assert.ok(
      fs.readFileSync(inImage).equals(fs.readFileSync(o.hostPath)),
      `${o.guestPath} in the image differs from ${o.hostPath}`,
    );
  }
  const prog = resolveInRoot(extracted, plan.execPath)!;
  assert.ok(fs.readFileSync(prog).equals(fs.readFileSync(plan.file)));
  assert.equal(fs.statSync(prog).mode & 0o777, 0o755);
}

const byPath = (plan: ElfImagePlan): Map<string, string> =>
  new Map(
    plan.entries.map((e) => [
      e.path,
      e.kind === "symlink" ? `-> ${e.target}` : e.kind === "file" ? `file ${e.host}` : "dir",
    ]),
  );

describe("packing real dynamic programs", () => {
  const cache = path.join(tmp, "cache");

  it("gcc: the interpreter at its PT_INTERP path, libc where the loader looks, symlinks kept", async () => {
    assert.ok(have("gcc"), "gcc unavailable: install it with scripts/setup.sh");
    const { prog } = build(
      "gcc-hello",
      `#include <stdio.h>\nint main(void){puts("hi");return 0;}\n`,
      [],
      [],
    );
    const plan = await planElfImage(prog, { display: "./prog" });
    const r = plan.resolution!;
    assert.equal(r.kind, "glibc");
    assert.equal(r.interpreter.guestPath, HOST_LDSO);
    assert.deepEqual(
      r.libraries.map((l) => l.name),
      ["libc.so.6"],
    );
    const entries = byPath(plan);
    // The interpreter's path as the host has it: a symlink (Debian) or the file itself.
    const interpAt = path.join(fs.realpathSync(path.dirname(HOST_LDSO)), path.basename(HOST_LDSO));
    if (fs.lstatSync(interpAt).isSymbolicLink())
      assert.equal(entries.get(interpAt), `-> ${fs.readlinkSync(interpAt)}`);
    else assert.equal(entries.get(interpAt), `file ${interpAt}`);
    // Every symlink on the host's path to the interpreter is in the image as a link.
    for (const p of ["/lib", "/lib64"]) {
      if (fs.lstatSync(p).isSymbolicLink())
        assert.equal(entries.get(p), `-> ${fs.readlinkSync(p)}`);
    }
    assert.equal(entries.get("/prog"), `file ${prog}`);
    // Nothing else from the host: only the objects' real files are packed.
    const files = plan.entries.filter((e) => e.kind === "file").map((e) => e.host!);
    assert.deepEqual(
      files.sort(),
      [prog, fs.realpathSync(HOST_LDSO), fs.realpathSync(r.libraries[0]!.hostPath)].sort(),
    );
    const packed = await packElf(prog, cache, { display: "./prog" });
    assertPlacement(plan, extract(packed.erofsPath));
    assert.equal(packed.execPath, "/prog");
  });

  for (const tags of ["rpath", "runpath"] as const) {
    it(`gcc with a library under $ORIGIN (DT_${tags.toUpperCase()}), its own $ORIGIN dependency, the cache key`, async () => {
      assert.ok(have("gcc"), "gcc unavailable: install it with scripts/setup.sh");
      const { dir, prog } = buildGreet(`greet-${tags}`, tags);
      const dyn = dynOf(fs.readFileSync(prog));
      assert.equal(tags === "rpath" ? dyn.rpath : dyn.runpath, "$ORIGIN/lib");
      assert.equal(tags === "rpath" ? dyn.runpath : dyn.rpath, undefined);
      const plan = await planElfImage(prog);
      const libs = plan.resolution!.libraries;
      assert.deepEqual(
        libs.map((l) => [l.name, l.hostPath, l.guestPath]),
        [
          ["libgreet.so.1", `${dir}/lib/libgreet.so.1`, "/lib/libgreet.so.1"],
          ["libc.so.6", libs[1]!.hostPath, libs[1]!.hostPath],
          ["libwho.so.1", `${dir}/lib/sub/libwho.so.1`, "/lib/sub/libwho.so.1"],
        ],
      );
      // The guest path /lib/... goes through the image's /lib (a link to usr/lib on a
      // merged-/usr host); libgreet.so.1 stays a link to libgreet.so.1.0.
      const entries = byPath(plan);
      const libDir = fs.lstatSync("/lib").isSymbolicLink() ? "/usr/lib" : "/lib";
      assert.equal(entries.get(`${libDir}/libgreet.so.1`), "-> libgreet.so.1.0");
      assert.equal(entries.get(`${libDir}/libgreet.so.1.0`), `file ${dir}/lib/libgreet.so.1.0`);
      assert.equal(entries.get(`${libDir}/sub/libwho.so.1`), `file ${dir}/lib/sub/libwho.so.1`);

      const p1 = await packElf(prog, cache);
      assertPlacement(plan, extract(p1.erofsPath));
      const p2 = await packElf(prog, cache);
      assert.equal(p2.cached, true);
      assert.equal(p2.digest, p1.digest);
      // A library's new contents give a new image, even with its size and mtime kept.
      const who = path.join(dir, "lib", "sub", "libwho.so.1");
      const st = fs.statSync(who);
      const bytes = fs.readFileSync(who);
      const i = bytes.indexOf("world");
      bytes.write("WORLD", i);
      fs.writeFileSync(who, bytes);
      fs.utimesSync(who, st.atime, st.mtime);
      const p3 = await packElf(prog, cache);
      assert.notEqual(p3.digest, p1.digest);
      bytes.write("world", i);
      fs.writeFileSync(who, bytes);
    });
  }

  it("musl-gcc: the musl loader (which is libc) and its path file", async () => {
    assert.ok(have("musl-gcc"), "musl-gcc unavailable: install musl-tools (scripts/setup.sh)");
    assert.ok(fs.existsSync(MUSL_LDSO), `${MUSL_LDSO} missing: apt-get install musl`);
    const { dir, prog } = buildGreet("musl-greet", "runpath", "musl-gcc");
    const plan = await planElfImage(prog);
    const r = plan.resolution!;
    assert.equal(r.kind, "musl");
    assert.equal(r.interpreter.guestPath, MUSL_LDSO);
    assert.deepEqual(
      r.libraries.map((l) => [l.name, l.hostPath]),
      [
        ["libgreet.so.1", `${dir}/lib/libgreet.so.1`],
        ["libwho.so.1", `${dir}/lib/sub/libwho.so.1`],
      ],
    );
    const pathFile = "/etc/ld-musl-x86_64.path";
    assert.deepEqual(r.configFiles, fs.existsSync(pathFile) ? [pathFile] : []);
    const packed = await packElf(prog, cache);
    const out = extract(packed.erofsPath);
    assertPlacement(plan, out);
    if (fs.existsSync(pathFile)) {
      assert.ok(fs.readFileSync(path.join(out, pathFile)).equals(fs.readFileSync(pathFile)));
    }
  });

  it("what glibc would not find, uno does not pack: the missing library natively and in uno", async () => {
    assert.ok(have("gcc"), "gcc unavailable: install it with scripts/setup.sh");
    // DT_RUNPATH applies to the program's own needs only: libwho (needed by libgreet, whose
    // DT_RUNPATH is left out here) is not found natively either.
    const dir = path.join(tmp, "runpath-miss");
    fs.mkdirSync(path.join(dir, "lib"), { recursive: true });
    const { prog } = build(
      "runpath-miss",
      GREET_MAIN,
      [
        { file: "lib/libwho.so.1", soname: "libwho.so.1", src: WHO_LIB },
        {
          file: "lib/libgreet.so.1",
          soname: "libgreet.so.1",
          src: GREET_LIB,
          flags: [path.join(dir, "lib", "libwho.so.1")],
        },
      ],
      [
        path.join(dir, "lib", "libgreet.so.1"),
        "-Wl,--enable-new-dtags",
        "-Wl,-rpath,$ORIGIN/lib",
        `-Wl,-rpath-link,${dir}/lib`,
      ],
    );
    const native = spawnSync(prog, [], { encoding: "utf8" });
    assert.equal(native.status, 127);
    assert.match(native.stderr, /libwho\.so\.1: cannot open shared object file/);
    await assert.rejects(planElfImage(prog, { display: "./prog" }), (e: unknown) => {
      assert.ok(e instanceof UnoError);
      assert.match(
        e.message,
        new RegExp(`libwho\\.so\\.1 \\(needed by ${dir}/lib/libgreet\\.so\\.1\\) not found in /`),
      );
      return true;
    });
  });

  it("a program named like a top-level directory of its libraries is refused clearly", async () => {
    assert.ok(have("gcc"), "gcc unavailable: install it with scripts/setup.sh");
    const dir = path.join(tmp, "clash");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "m.c"), "int main(void){return 0;}\n");
    execFileSync("gcc", ["-o", path.join(dir, "usr"), path.join(dir, "m.c")]);
    await assert.rejects(
      planElfImage(path.join(dir, "usr")),
      /its name "usr" clashes with \/usr of the image/,
    );
  });
});

// ---------------------------------------------------------------------------------------
// End to end: NEEDS the libOS's dynamic loading (PT_INTERP; issue 5 item 1) from main.

describe("dynamic programs in uno vs natively (needs the libOS's PT_INTERP loading)", () => {
  let greet: Built | undefined;
  let greetRpath: Built | undefined;
  let muslGreet: Built | undefined;
  let hello: Built | undefined;
  before(() => {
    if (have("gcc")) {
      hello = build(
        "e2e-hello",
        `#include <stdio.h>\n#include <stdlib.h>\nint main(int c, char **v){for(int i=0;i<c;i++)printf("%d %s\\n",i,v[i]);printf("%s\\n", getenv("PATH") ? "path" : "none");return 5;}\n`,
        [],
        [],
      );
      greet = buildGreet("e2e-greet-runpath", "runpath");
      greetRpath = buildGreet("e2e-greet-rpath", "rpath");
    }
    if (have("musl-gcc") && fs.existsSync(MUSL_LDSO)) {
      muslGreet = buildGreet("e2e-musl-greet", "runpath", "musl-gcc");
    }
  });

  const compare = (b: Built | undefined, what: string, args: string[]): void => {
    requireKvm();
    assert.ok(b, `${what}: the compiler is missing (scripts/setup.sh installs gcc and musl-tools)`);
    // Natively argv[0] is the path run; in uno it is the image path /prog: run the same.
    const native = runNative(b.prog, args);
    const uno = runUno(b.prog, args);
    assertSame(what, { ...native, stdout: native.stdout.replace(b.prog, "/prog") }, uno);
  };

  it("gcc dynamic hello: output and exit status", () => compare(hello, "gcc hello", ["a", "b c"]));
  it("gcc, libraries under $ORIGIN through DT_RUNPATH", () => compare(greet, "runpath", ["x"]));
  it("gcc, libraries under $ORIGIN through DT_RPATH", () => compare(greetRpath, "rpath", []));
  it("musl-gcc, libraries under $ORIGIN", () => compare(muslGreet, "musl", ["y"]));
  it("uno run DIR -- /prog, DIR being a packed image's files (interpreter through symlinks)", async () => {
    requireKvm();
    assert.ok(greet, "gcc unavailable: install it with scripts/setup.sh");
    const packed = await packElf(greet.prog, path.join(tmp, "cache-e2e"));
    const root = extract(packed.erofsPath);
    const native = runNative(greet.prog, ["z"]);
    const uno = runUno(root, ["--", "/prog", "z"]);
    assertSame(
      "root directory",
      { ...native, stdout: native.stdout.replace(greet.prog, "/prog") },
      uno,
    );
  });
});
