/**
 * Inspect an ELF file's header, program headers and dynamic section (no section headers,
 * no symbols).
 *
 * Only what is needed is read: the 64-byte ELF header, the program header table and the
 * PT_INTERP string, each at its offset; for readDynamicFrom also PT_DYNAMIC and the strings
 * it names. The classification follows what
 * the Linux kernel's ELF loader would accept or refuse, so a file classified "ok" here is
 * one the libOS can be asked to load.
 */
import * as fs from "node:fs";
import { BadElfError } from "./errors.js";
import { resolveInRoot } from "./paths.js";

/** ELF e_type values uno cares about. */
export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;

/** Program header types. */
export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;

/** e_machine value for x86-64. */
export const EM_X86_64 = 62;

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const ELF64_EHDR_SIZE = 64;
const ELF64_PHDR_SIZE = 56;
/** The kernel refuses program header tables larger than this (fs/binfmt_elf.c). */
const MAX_PHDR_TABLE = 65536;
/** The kernel refuses interpreter paths longer than PATH_MAX. */
const PATH_MAX = 4096;
/** How much of the file is read up front; enough for the headers of any normal program. */
export const ELF_HEAD_BYTES = 4096;

export interface ProgramHeader {
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
  memsz: bigint;
  align: bigint;
}

/**
 * How the program is linked:
 *  - "static": ET_EXEC without PT_INTERP (classic `gcc -static`),
 *  - "static-pie": ET_DYN without PT_INTERP (`gcc -static-pie`, musl's default static),
 *  - "dynamic": has PT_INTERP; needs the named interpreter (ld.so) at run time.
 */
export type ElfLinkage = "static" | "static-pie" | "dynamic";

/** A 64-bit little-endian x86-64 executable uno understands. */
export interface ElfInfo {
  ok: true;
  type: "exec" | "dyn";
  linkage: ElfLinkage;
  /** True for static and static-pie: runnable without an interpreter. */
  isStatic: boolean;
  /** PT_INTERP contents, e.g. "/lib64/ld-linux-x86-64.so.2" (only when linkage is "dynamic"). */
  interpreter?: string;
  entry: bigint;
  programHeaders: ProgramHeader[];
}

/** Why a file is not an ELF program uno can run. */
export type ElfProblem =
  | "not-elf"
  | "script"
  | "not-64-bit"
  | "big-endian"
  | "not-x86-64"
  | "not-executable"
  | "truncated"
  | "corrupt";

export interface ElfRejection {
  ok: false;
  problem: ElfProblem;
  /** A human sentence, without the file name (e.g. "is a 32-bit ELF (ARM)"). */
  detail: string;
  /** For "not-x86-64"/"not-64-bit": the machine named by e_machine. */
  machine?: string;
  /** For "script": the interpreter line after "#!". */
  interpreter?: string;
}

export type ElfDescription = ElfInfo | ElfRejection;

/** Reads up to `length` bytes at `offset`; returns fewer at end of file. */
export type ReadAt = (offset: number, length: number) => Buffer;

const MACHINES: Record<number, string> = {
  2: "SPARC",
  3: "x86 (i386)",
  8: "MIPS",
  20: "PowerPC",
  21: "PowerPC64",
  22: "S/390",
  40: "ARM",
  43: "SPARC64",
  50: "IA-64",
  62: "x86-64",
  183: "AArch64",
  243: "RISC-V",
  258: "LoongArch",
};

export function machineName(eMachine: number): string {
  return MACHINES[eMachine] ?? `machine ${eMachine}`;
}

function reject(
  problem: ElfProblem,
  detail: string,
  extra: Partial<ElfRejection> = {},
): ElfRejection {
  return { ok: false, problem, detail, ...extra };
}

/** Converts a file offset/size to a number, or undefined when it cannot be a real offset. */
function toOffset(v: bigint): number | undefined {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
}

/**
 * Classify an ELF image from a reader over its bytes.
 * @param fileSize total size of the file, used to tell "truncated" from "corrupt".
 */
export function describeElfFrom(readAt: ReadAt, fileSize: number): ElfDescription {
  const head = readAt(0, Math.min(ELF_HEAD_BYTES, fileSize));

  if (head.length >= 2 && head[0] === 0x23 && head[1] === 0x21) {
    const line = head
      .subarray(2, 2 + 256)
      .toString("latin1")
      .split("\n")[0]!
      .trim();
    return reject("script", `is a script (#!${line}), not an ELF program`, {
      interpreter: line.split(/\s+/)[0] || undefined,
    });
  }
  const magic = head.subarray(0, 4);
  if (!magic.equals(ELF_MAGIC.subarray(0, magic.length)) || head.length === 0) {
    return reject(
      "not-elf",
      fileSize === 0 ? "is empty, not an ELF program" : "is not an ELF program",
    );
  }
  if (head.length < 6) {
    // Starts like an ELF file but ends before the class/byte-order bytes.
    return reject("truncated", `is truncated (${fileSize} bytes, an ELF header is 64)`);
  }

  const eiClass = head[4]!;
  const eiData = head[5]!;
  if (eiData !== 1 && eiData !== 2) {
    return reject("corrupt", `has a corrupt ELF header (byte order ${eiData})`);
  }
  if (eiClass !== 2) {
    if (eiClass !== 1) {
      return reject("corrupt", `has a corrupt ELF header (class ${eiClass})`);
    }
    // ELF32: e_machine is at the same offset (18) as in ELF64.
    let machine: string | undefined;
    if (head.length >= 20) {
      machine = machineName(eiData === 1 ? head.readUInt16LE(18) : head.readUInt16BE(18));
    }
    return reject(
      "not-64-bit",
      `is a 32-bit ELF${machine ? ` (${machine})` : ""}; uno runs 64-bit x86-64 programs`,
      { machine },
    );
  }
  if (eiData !== 1) {
    let machine: string | undefined;
    if (head.length >= 20) machine = machineName(head.readUInt16BE(18));
    return reject(
      "big-endian",
      `is a big-endian ELF${machine ? ` (${machine})` : ""}; uno runs x86-64 programs`,
      { machine },
    );
  }
  if (head.length < ELF64_EHDR_SIZE) {
    return reject(
      "truncated",
      `is truncated (${fileSize} bytes, a 64-bit ELF header is ${ELF64_EHDR_SIZE})`,
    );
  }

  const eType = head.readUInt16LE(16);
  const eMachine = head.readUInt16LE(18);
  const entry = head.readBigUInt64LE(24);
  const phoffBig = head.readBigUInt64LE(32);
  const phentsize = head.readUInt16LE(54);
  const phnum = head.readUInt16LE(56);

  if (eMachine !== EM_X86_64) {
    const machine = machineName(eMachine);
    return reject("not-x86-64", `is a 64-bit ELF for ${machine}; uno runs x86-64 programs`, {
      machine,
    });
  }
  if (eType !== ET_EXEC && eType !== ET_DYN) {
    const what =
      eType === ET_REL
        ? "a relocatable object (.o), not an executable: link it first"
        : eType === ET_CORE
          ? "a core dump, not an executable"
          : `an ELF of type ${eType}, not an executable`;
    return reject("not-executable", `is ${what}`);
  }

  if (phnum === 0) {
    return reject("corrupt", "has no program headers (corrupt or not a program)");
  }
  if (phnum === 0xffff) {
    // PN_XNUM: the real count lives in section header 0; no real executable needs this.
    return reject("corrupt", "has an extended program header count (PN_XNUM), not supported");
  }
  if (phentsize !== ELF64_PHDR_SIZE) {
    return reject("corrupt", `has a corrupt ELF header (program header size ${phentsize})`);
  }
  const tableSize = phnum * ELF64_PHDR_SIZE;
  if (tableSize > MAX_PHDR_TABLE) {
    return reject("corrupt", `has a corrupt ELF header (${phnum} program headers)`);
  }
  const phoff = toOffset(phoffBig);
  if (phoff === undefined || phoff + tableSize > fileSize) {
    return reject(
      phoff !== undefined && phoff < fileSize ? "truncated" : "corrupt",
      phoff !== undefined && phoff < fileSize
        ? "is truncated (the program header table runs past the end of the file)"
        : "has a corrupt ELF header (program headers outside the file)",
    );
  }
  const table =
    phoff + tableSize <= head.length
      ? head.subarray(phoff, phoff + tableSize)
      : readAt(phoff, tableSize);
  if (table.length < tableSize) {
    return reject(
      "truncated",
      "is truncated (the program header table runs past the end of the file)",
    );
  }

  const programHeaders: ProgramHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = i * ELF64_PHDR_SIZE;
    programHeaders.push({
      type: table.readUInt32LE(o),
      flags: table.readUInt32LE(o + 4),
      offset: table.readBigUInt64LE(o + 8),
      vaddr: table.readBigUInt64LE(o + 16),
      filesz: table.readBigUInt64LE(o + 32),
      memsz: table.readBigUInt64LE(o + 40),
      align: table.readBigUInt64LE(o + 48),
    });
  }

  const loads = programHeaders.filter((p) => p.type === PT_LOAD);
  if (loads.length === 0) {
    return reject("corrupt", "has no loadable segments (corrupt or not a program)");
  }
  for (const p of loads) {
    if (p.filesz > p.memsz) {
      return reject("corrupt", "has a corrupt segment (file size larger than memory size)");
    }
    const off = toOffset(p.offset);
    const sz = toOffset(p.filesz);
    if (off === undefined || sz === undefined || off + sz > fileSize) {
      return reject("truncated", "is truncated (a loadable segment runs past the end of the file)");
    }
  }

  const interps = programHeaders.filter((p) => p.type === PT_INTERP);
  let interpreter: string | undefined;
  if (interps.length > 1) {
    return reject("corrupt", "has more than one interpreter (PT_INTERP) header");
  }
  if (interps.length === 1) {
    const p = interps[0]!;
    const off = toOffset(p.offset);
    const sz = toOffset(p.filesz);
    if (sz === undefined || sz < 2 || sz > PATH_MAX) {
      return reject("corrupt", "has a corrupt interpreter (PT_INTERP) header");
    }
    if (off === undefined || off + sz > fileSize) {
      return reject(
        "truncated",
        "is truncated (the interpreter path runs past the end of the file)",
      );
    }
    const raw = off + sz <= head.length ? head.subarray(off, off + sz) : readAt(off, sz);
    if (raw.length < sz) {
      return reject(
        "truncated",
        "is truncated (the interpreter path runs past the end of the file)",
      );
    }
    if (raw[sz - 1] !== 0) {
      return reject("corrupt", "has a corrupt interpreter path (not NUL-terminated)");
    }
    interpreter = raw.subarray(0, raw.indexOf(0)).toString("utf8");
    if (interpreter.length === 0) {
      return reject("corrupt", "has an empty interpreter path");
    }
  }

  const type = eType === ET_EXEC ? "exec" : "dyn";
  const linkage: ElfLinkage =
    interpreter !== undefined ? "dynamic" : type === "exec" ? "static" : "static-pie";
  const info: ElfInfo = {
    ok: true,
    type,
    linkage,
    isStatic: linkage !== "dynamic",
    entry,
    programHeaders,
  };
  if (interpreter !== undefined) info.interpreter = interpreter;
  return info;
}

/** Classify an ELF image held entirely in memory (handy for tests and small files). */
export function describeElf(buf: Buffer): ElfDescription {
  return describeElfFrom((offset, length) => buf.subarray(offset, offset + length), buf.length);
}

/**
 * Classify the ELF file at `file`, reading only its headers.
 * Throws BadElfError if the file cannot be opened or is not a regular file.
 */
export function inspectElfFile(file: string): ElfDescription {
  return withElfFile(file, describeElfFrom);
}

function withElfFile<T>(file: string, fn: (readAt: ReadAt, size: number) => T): T {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === "ENOENT"
        ? "no such file or directory"
        : err.code === "EACCES"
          ? "permission denied"
          : err.message;
    throw new BadElfError(file, `cannot open ${file}: ${why}`, "unreadable");
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      throw new BadElfError(file, `${file} is not a regular file`, "not-a-file");
    }
    const readAt: ReadAt = (offset, length) => {
      const buf = Buffer.alloc(length);
      let got = 0;
      while (got < length) {
        const n = fs.readSync(fd, buf, got, length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    };
    return fn(readAt, st.size);
  } finally {
    fs.closeSync(fd);
  }
}

/** Asynchronous form of inspectElfFile. */
export async function inspectElf(file: string): Promise<ElfDescription> {
  return inspectElfFile(file);
}

/**
 * A sentence explaining why `name` can't be run, or undefined when it is an x86-64 program
 * uno can load: static, static-PIE or dynamic. A dynamic program also needs its interpreter
 * and libraries; `uno run FILE` packs them from the host (src/lib/ldso.ts) and
 * `uno run DIR -- PROG` finds them in DIR (see checkInterpreterInRoot).
 */
export function explainElf(name: string, d: ElfDescription): string | undefined {
  if (!d.ok) {
    if (d.problem === "script") {
      return (
        `${name} ${d.detail}; uno runs a script only from a root directory that contains its ` +
        `interpreter: uno run DIR -- /path/to/script`
      );
    }
    return `${name} ${d.detail}`;
  }
  return undefined;
}

/**
 * Require `file` to be an x86-64 executable uno can load (static, static-PIE or dynamic).
 * @param name how to name the file in the error message (defaults to the path).
 * @throws BadElfError with a message a person can act on.
 */
export function requireElfProgram(file: string, name = file): ElfInfo {
  const d = inspectElfFile(file);
  const why = explainElf(name, d);
  if (why !== undefined || !d.ok) {
    throw new BadElfError(file, why ?? `${name} is not runnable`, d.ok ? "unknown" : d.problem);
  }
  return d;
}

/**
 * Require `file` to be a static (or static-PIE) x86-64 executable, for callers that have no
 * way to provide an interpreter.
 * @throws BadElfError (reason "dynamic" for a dynamically linked program).
 */
export function requireStaticElf(file: string, name = file): ElfInfo {
  const d = requireElfProgram(file, name);
  if (d.linkage === "dynamic") {
    throw new BadElfError(
      file,
      `${name} is dynamically linked (interpreter ${d.interpreter}); a static program is ` +
        `needed here — link with -static`,
      "dynamic",
    );
  }
  return d;
}

/**
 * For a dynamic program that will run from root directory `root`: checks that the
 * interpreter named by its PT_INTERP exists in `root` (resolved as the guest would,
 * following symlinks inside `root` only) and is an x86-64 ELF. Returns the interpreter's
 * host path, or undefined for a static program.
 * @param name how to name the program in messages, e.g. "/usr/bin/python3 (in rootfs/)".
 * @throws BadElfError naming the interpreter and the root directory.
 */
export function checkInterpreterInRoot(
  root: string,
  info: ElfInfo,
  name: string,
): string | undefined {
  const interp = info.interpreter;
  if (info.linkage !== "dynamic" || interp === undefined) return undefined;
  if (!interp.startsWith("/")) {
    throw new BadElfError(
      name,
      `${name} names a relative interpreter (${interp}); uno needs an absolute PT_INTERP path`,
      "interpreter-relative",
    );
  }
  const host = resolveInRoot(root, interp);
  let isFile = false;
  if (host !== undefined) {
    try {
      isFile = fs.statSync(host).isFile();
    } catch {
      isFile = false;
    }
  }
  if (host === undefined || !isFile) {
    throw new BadElfError(
      name,
      `${name} is dynamically linked and needs its interpreter ${interp}, which is not in ` +
        `${root}: put the interpreter and the libraries the program needs in ${root} ` +
        `(e.g. copy them from a system with the same libc), or link the program with -static`,
      "interpreter-missing",
    );
  }
  const d = inspectElfFile(host);
  if (!d.ok) {
    throw new BadElfError(
      host,
      `${name} needs the interpreter ${interp}, but ${interp} in ${root} ${d.detail}`,
      "interpreter-bad",
    );
  }
  return host;
}

// ---------------------------------------------------------------------------------------
// The dynamic section (PT_DYNAMIC): what a dynamic object needs from the loader.

/** Dynamic section tags. */
export const DT_NULL = 0n;
export const DT_NEEDED = 1n;
export const DT_STRTAB = 5n;
export const DT_STRSZ = 10n;
export const DT_SONAME = 14n;
export const DT_RPATH = 15n;
export const DT_RUNPATH = 29n;
export const DT_FLAGS_1 = 0x6ffffffbn;
/** DT_FLAGS_1 bit: do not search the default library directories. */
export const DF_1_NODEFLIB = 0x800n;

const ELF64_DYN_SIZE = 16;
/** The largest dynamic section read (64 Ki entries); real ones have a few dozen entries. */
const MAX_DYNAMIC_BYTES = 1 << 20;
/** The most DT_NEEDED entries accepted in one object (real programs have tens). */
export const MAX_NEEDED = 1024;
/** The longest DT_NEEDED/DT_SONAME string (a path at most). */
const MAX_NAME_BYTES = PATH_MAX;
/** The longest DT_RPATH/DT_RUNPATH string (a list of paths). */
const MAX_PATHLIST_BYTES = 65536;

/** What an object's dynamic section asks of the loader. */
export interface DynamicInfo {
  ok: true;
  /** False when the object has no PT_DYNAMIC (a static program). */
  present: boolean;
  /** DT_NEEDED names in order. */
  needed: string[];
  soname?: string;
  /** DT_RPATH (a colon-separated list, unexpanded). */
  rpath?: string;
  /** DT_RUNPATH (a colon-separated list, unexpanded). */
  runpath?: string;
  /** DT_FLAGS_1 (0 when absent). */
  flags1: bigint;
}

/**
 * Finds the file offset of virtual address range [vaddr, vaddr+size) through the PT_LOAD
 * segments (the range must lie in one segment's file-backed part).
 */
export function vaddrToOffset(
  headers: ProgramHeader[],
  vaddr: bigint,
  size: bigint,
): bigint | undefined {
  for (const p of headers) {
    if (p.type !== PT_LOAD) continue;
    if (vaddr >= p.vaddr && vaddr + size <= p.vaddr + p.filesz) {
      return p.offset + (vaddr - p.vaddr);
    }
  }
  return undefined;
}

/**
 * Reads the dynamic section of an object already classified by describeElfFrom: DT_NEEDED,
 * DT_SONAME, DT_RPATH, DT_RUNPATH (strings from DT_STRTAB, whose address is converted to a
 * file offset through the PT_LOAD segments, bounded by DT_STRSZ) and DT_FLAGS_1. Everything
 * read is bounds-checked: a malformed section gives a rejection ("corrupt"/"truncated"),
 * never an exception, and the work done is bounded by the file size and fixed limits.
 */
export function readDynamicFrom(
  readAt: ReadAt,
  fileSize: number,
  info: ElfInfo,
): DynamicInfo | ElfRejection {
  const dyns = info.programHeaders.filter((p) => p.type === PT_DYNAMIC);
  if (dyns.length === 0) return { ok: true, present: false, needed: [], flags1: 0n };
  if (dyns.length > 1) {
    return reject("corrupt", "has more than one dynamic section (PT_DYNAMIC) header");
  }
  const ph = dyns[0]!;
  const off = toOffset(ph.offset);
  const sz = toOffset(ph.filesz);
  if (off === undefined || sz === undefined || sz > MAX_DYNAMIC_BYTES) {
    return reject("corrupt", "has a corrupt dynamic section header (PT_DYNAMIC size or offset)");
  }
  if (off + sz > fileSize) {
    return reject("truncated", "is truncated (the dynamic section runs past the end of the file)");
  }
  const raw = readAt(off, sz);
  if (raw.length < sz) {
    return reject("truncated", "is truncated (the dynamic section runs past the end of the file)");
  }

  const neededOffsets: bigint[] = [];
  let strtab: bigint | undefined;
  let strsz: bigint | undefined;
  let soname: bigint | undefined;
  let rpath: bigint | undefined;
  let runpath: bigint | undefined;
  let flags1 = 0n;
  let terminated = false;
  for (let o = 0; o + ELF64_DYN_SIZE <= raw.length; o += ELF64_DYN_SIZE) {
    const tag = raw.readBigInt64LE(o);
    const val = raw.readBigUInt64LE(o + 8);
    if (tag === DT_NULL) {
      terminated = true;
      break;
    }
    if (tag === DT_NEEDED) {
      if (neededOffsets.length >= MAX_NEEDED) {
        return reject(
          "corrupt",
          `has a corrupt dynamic section (more than ${MAX_NEEDED} DT_NEEDED entries)`,
        );
      }
      neededOffsets.push(val);
    } else if (tag === DT_STRTAB) strtab = val;
    else if (tag === DT_STRSZ) strsz = val;
    else if (tag === DT_SONAME) soname = val;
    else if (tag === DT_RPATH) rpath = val;
    else if (tag === DT_RUNPATH) runpath = val;
    else if (tag === DT_FLAGS_1) flags1 = val;
  }
  if (!terminated) {
    return reject("corrupt", "has a corrupt dynamic section (no DT_NULL terminator)");
  }
  const result: DynamicInfo = { ok: true, present: true, needed: [], flags1 };
  const wantsStrings =
    neededOffsets.length > 0 ||
    soname !== undefined ||
    rpath !== undefined ||
    runpath !== undefined;
  if (!wantsStrings) return result;
  if (strtab === undefined || strsz === undefined) {
    return reject(
      "corrupt",
      "has a corrupt dynamic section (names without a string table: DT_STRTAB/DT_STRSZ missing)",
    );
  }
  const strOffBig = vaddrToOffset(info.programHeaders, strtab, strsz);
  const strOff = strOffBig === undefined ? undefined : toOffset(strOffBig);
  const strSize = toOffset(strsz);
  if (strOff === undefined || strSize === undefined || strOff + strSize > fileSize) {
    return reject(
      "corrupt",
      `has a corrupt dynamic section (its string table at 0x${strtab.toString(16)}, ` +
        `${strsz} bytes, is not inside a loadable segment)`,
    );
  }
  const str = (index: bigint, what: string, max: number): string | ElfRejection => {
    if (index >= strsz) {
      return reject(
        "corrupt",
        `has a corrupt dynamic section (${what} at string offset ${index}, past the ` +
          `${strsz}-byte string table)`,
      );
    }
    const at = strOff + Number(index);
    const avail = strSize - Number(index);
    const want = Math.min(avail, max + 1);
    const bytes = readAt(at, want);
    const nul = bytes.indexOf(0);
    if (nul < 0) {
      return reject(
        bytes.length < want ? "truncated" : "corrupt",
        want === avail
          ? `has a corrupt dynamic section (${what} is not NUL-terminated in the string table)`
          : `has a corrupt dynamic section (${what} is longer than ${max} bytes)`,
      );
    }
    return bytes.subarray(0, nul).toString("utf8");
  };
  for (const n of neededOffsets) {
    const s = str(n, "a DT_NEEDED name", MAX_NAME_BYTES);
    if (typeof s !== "string") return s;
    if (s === "")
      return reject("corrupt", "has a corrupt dynamic section (an empty DT_NEEDED name)");
    result.needed.push(s);
  }
  if (soname !== undefined) {
    const s = str(soname, "DT_SONAME", MAX_NAME_BYTES);
    if (typeof s !== "string") return s;
    result.soname = s;
  }
  if (rpath !== undefined) {
    const s = str(rpath, "DT_RPATH", MAX_PATHLIST_BYTES);
    if (typeof s !== "string") return s;
    result.rpath = s;
  }
  if (runpath !== undefined) {
    const s = str(runpath, "DT_RUNPATH", MAX_PATHLIST_BYTES);
    if (typeof s !== "string") return s;
    result.runpath = s;
  }
  return result;
}

/** An ELF file's classification and, for a valid one, its dynamic section. */
export interface ElfObjectDescription {
  elf: ElfDescription;
  /** Present when `elf` is valid: the dynamic section or why it cannot be read. */
  dynamic?: DynamicInfo | ElfRejection;
}

/** describeElf + readDynamicFrom over an in-memory image. */
export function describeElfObject(buf: Buffer): ElfObjectDescription {
  const readAt: ReadAt = (offset, length) => buf.subarray(offset, offset + length);
  const elf = describeElfFrom(readAt, buf.length);
  if (!elf.ok) return { elf };
  return { elf, dynamic: readDynamicFrom(readAt, buf.length, elf) };
}

/**
 * Classifies the file at `file` and reads its dynamic section, reading only the parts
 * needed. Throws BadElfError if the file cannot be opened or is not a regular file.
 */
export function inspectElfObjectFile(file: string): ElfObjectDescription {
  return withElfFile(file, (readAt, size) => {
    const elf = describeElfFrom(readAt, size);
    if (!elf.ok) return { elf };
    return { elf, dynamic: readDynamicFrom(readAt, size, elf) };
  });
}
