/**
 * Dockerfiles for `uno build`: dockerfile-ast (the parser behind the Dockerfile language
 * server) splits the file into instructions — escape directive, line continuations, comments
 * — and this module turns each into the logical line docker's builder sees, checks what the
 * builder would refuse (unknown instructions, missing arguments, instructions before FROM,
 * unknown flags) with file:line, groups them into stages, and does docker's word processing
 * (quotes, the escape character, $VAR, ${VAR}, ${VAR:-word}, ${VAR:+word}).
 */
import { DockerfileParser } from "dockerfile-ast";
import { DockerfileError } from "./errors.js";

/** One instruction as the builder uses it. */
export interface Instruction {
  /** Upper case: "RUN", "COPY"… */
  keyword: string;
  /** 1-based line of the keyword. */
  line: number;
  /** The arguments as one logical line (continuations joined, comment lines dropped), flags removed. */
  text: string;
  /** --name=value flags before the arguments, values not yet substituted. */
  flags: Map<string, string>;
  /** The JSON (exec) form's strings, when the arguments are a JSON array of strings. */
  json?: string[];
}

export interface Stage {
  index: number;
  from: Instruction;
  /** The instructions after FROM. */
  body: Instruction[];
}

export interface ParsedDockerfile {
  file: string;
  escape: string;
  /** ARGs before the first FROM (usable in FROM lines). */
  globalArgs: Instruction[];
  stages: Stage[];
}

/** The flags each instruction accepts; others are refused (RUN --mount needs BuildKit's cache). */
const FLAGS: Record<string, readonly string[]> = {
  FROM: ["platform"],
  COPY: ["from", "chown", "chmod"],
  ADD: ["chown", "chmod"],
  RUN: [],
  HEALTHCHECK: ["interval", "timeout", "start-period", "start-interval", "retries"],
};

const KEYWORDS = new Set([
  "FROM",
  "RUN",
  "CMD",
  "LABEL",
  "MAINTAINER",
  "EXPOSE",
  "ENV",
  "ADD",
  "COPY",
  "ENTRYPOINT",
  "VOLUME",
  "USER",
  "WORKDIR",
  "ARG",
  "ONBUILD",
  "STOPSIGNAL",
  "HEALTHCHECK",
  "SHELL",
]);

/** Instructions whose arguments may be a JSON array (the exec form). */
const JSON_FORMS = new Set(["RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"]);

/**
 * Joins an instruction's raw argument lines the way docker's parser does: a trailing escape
 * character continues the line, and comment or blank lines inside a continuation are dropped.
 */
function logicalLine(raw: string, escape: string): string {
  const lines = raw.split(/\r?\n/);
  const kept = lines.filter(
    (l, i) => i === 0 || (l.trim() !== "" && !l.trimStart().startsWith("#")),
  );
  return kept
    .map((l) => {
      const t = l.replace(/[ \t\r]+$/, "");
      return t.endsWith(escape) ? t.slice(0, -escape.length) : l.replace(/\r$/, "");
    })
    .join("");
}

function parseJsonForm(text: string): string[] | undefined {
  if (!text.trimStart().startsWith("[")) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined; // docker runs a malformed JSON array as a shell command
  }
  return Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : undefined;
}

/**
 * Parses a Dockerfile's text.
 * @throws DockerfileError naming file:line for unknown instructions, missing arguments,
 *   instructions before FROM, unknown flags, heredocs and SHELL without JSON.
 */
export function parseDockerfile(text: string, file: string): ParsedDockerfile {
  if (text.includes("\0")) throw new DockerfileError(file, 1, "the file contains NUL bytes");
  let df;
  try {
    df = DockerfileParser.parse(text);
  } catch (err) {
    throw new DockerfileError(file, 1, `cannot parse: ${(err as Error).message}`);
  }
  const escape = df.getEscapeCharacter() || "\\";
  const out: ParsedDockerfile = { file, escape, globalArgs: [], stages: [] };
  const lines = text.split("\n");
  for (const ins of df.getInstructions()) {
    const keyword = ins.getKeyword().toUpperCase();
    const line = ins.getRange().start.line + 1;
    const fail = (why: string): never => {
      throw new DockerfileError(file, line, why);
    };
    if (!KEYWORDS.has(keyword))
      fail(
        `unknown instruction: ${ins.getKeyword()} (uno build knows ${[...KEYWORDS].join(", ")})`,
      );
    // The instruction's own text: dockerfile-ast's argument content leaves flags out.
    const r = ins.getRange();
    const raw = lines
      .slice(r.start.line, r.end.line + 1)
      .map((l, i, a) => (i === a.length - 1 ? l.slice(0, r.end.character) : l))
      .join("\n")
      .slice(r.start.character)
      .replace(/^\s*\S+/, "");
    let rest = logicalLine(raw, escape).trim();
    const flags = new Map<string, string>();
    // Flags: leading --name[=value] words (values without spaces, as docker's parser reads them).
    for (;;) {
      const m = /^--([A-Za-z][A-Za-z0-9-]*)(?:=(\S*))?(?:\s+|$)/.exec(rest);
      if (!m) break;
      const allowed = FLAGS[keyword] ?? [];
      if (!allowed.includes(m[1]!))
        fail(
          `${keyword} --${m[1]} is not supported by uno build` +
            (allowed.length ? ` (it accepts ${allowed.map((f) => `--${f}`).join(", ")})` : ""),
        );
      flags.set(m[1]!, m[2] ?? "true");
      rest = rest.slice(m[0].length);
    }
    if (rest === "") fail(`${keyword} requires at least one argument`);
    if (
      /^<<-?["']?[A-Za-z_]/.test(rest) &&
      (keyword === "RUN" || keyword === "COPY" || keyword === "ADD")
    )
      fail(`heredocs (${keyword} <<…) are not supported by uno build`);
    const instruction: Instruction = { keyword, line, text: rest, flags };
    if (JSON_FORMS.has(keyword)) {
      const json = parseJsonForm(rest);
      if (json !== undefined) instruction.json = json;
    }
    if (keyword === "SHELL" && (instruction.json === undefined || instruction.json.length === 0))
      fail(`SHELL requires the arguments as a JSON array of strings, e.g. SHELL ["/bin/sh", "-c"]`);
    if (keyword === "FROM") {
      out.stages.push({ index: out.stages.length, from: instruction, body: [] });
    } else if (out.stages.length === 0) {
      if (keyword !== "ARG")
        fail(
          `${keyword} before the first FROM: a Dockerfile must begin with FROM (only ARG may come before it)`,
        );
      out.globalArgs.push(instruction);
    } else {
      out.stages[out.stages.length - 1]!.body.push(instruction);
    }
  }
  if (out.stages.length === 0)
    throw new DockerfileError(file, 1, "no FROM instruction: nothing to build");
  return out;
}

// ---------------------------------------------------------------------------------------
// Word processing

/** Variables visible to an instruction (ARGs with values, then ENV). */
export type Vars = ReadonlyMap<string, string>;

/** An unterminated quote or ${ in `s`; the caller adds file:line. */
export class WordSyntaxError extends Error {}

const isSpace = (c: string): boolean => c === " " || c === "\t" || c === "\n" || c === "\r";

/**
 * Docker's word processing of `s`: quotes removed ('…' literal, "…" with $ expansion), the
 * escape character quoting the next character, variables expanded. With `split`, unquoted
 * white space separates words; without, the result is one word.
 */
function lex(s: string, vars: Vars, escape: string, split: boolean): string[] {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  let i = 0;
  const expand = (): string => {
    // At s[i] === "$".
    const next = s[i + 1];
    if (next === "{") {
      const close = matchingBrace(s, i + 1);
      if (close < 0) throw new WordSyntaxError(`missing "}" in ${s}`);
      const body = s.slice(i + 2, close);
      i = close + 1;
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-+])([\s\S]*))?$/.exec(body);
      if (!m) throw new WordSyntaxError(`bad substitution \${${body}} in ${s}`);
      const value = vars.get(m[1]!);
      if (m[3] === undefined) return value ?? "";
      // ":-"/":+" treat an empty value as unset; "-"/"+" only an unset one.
      const set = m[2] === ":" ? value !== undefined && value !== "" : value !== undefined;
      const word = (): string => lex(m[4]!, vars, escape, false).join("");
      if (m[3] === "-") return set ? value! : word();
      return set ? word() : "";
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i + 1));
    if (!m) {
      i++;
      return "$";
    }
    i += 1 + m[0].length;
    return vars.get(m[0]) ?? "";
  };
  while (i < s.length) {
    const c = s[i]!;
    if (split && isSpace(c)) {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
      i++;
      continue;
    }
    // An unquoted expansion that is empty makes no word (as in a shell); anything else does.
    if (c === "$") {
      const v = expand();
      cur += v;
      if (v !== "") inWord = true;
      continue;
    }
    inWord = true;
    if (c === escape) {
      cur += s[i + 1] ?? escape;
      i += 2;
    } else if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new WordSyntaxError(`unmatched ' in ${s}`);
      cur += s.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= s.length) throw new WordSyntaxError(`unmatched " in ${s}`);
        const d = s[i]!;
        if (d === '"') break;
        if (d === escape && (s[i + 1] === '"' || s[i + 1] === "$" || s[i + 1] === escape)) {
          cur += s[i + 1];
          i += 2;
        } else if (d === "$") cur += expand();
        else {
          cur += d;
          i++;
        }
      }
      i++;
    } else {
      cur += c;
      i++;
    }
  }
  if (inWord || !split) words.push(cur);
  return words;
}

/** The index of the "}" closing the "{" at `open`, or -1. */
function matchingBrace(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === "{") depth++;
    else if (s[i] === "}" && --depth === 0) return i;
  }
  return -1;
}

/** `s` split into words, quotes removed, variables expanded. */
export function words(s: string, vars: Vars, escape = "\\"): string[] {
  return lex(s, vars, escape, true);
}

/** `s` as one word, quotes removed, variables expanded (white space kept). */
export function word(s: string, vars: Vars, escape = "\\"): string {
  return lex(s, vars, escape, false)[0] ?? "";
}

/**
 * KEY=VALUE pairs of ENV, LABEL and ARG (each word split at its first "="; quotes inside a
 * word are removed). ENV's legacy form "ENV KEY VALUE…" (no "=" in the first word) is one
 * pair, the value being the rest of the line. ARG's "NAME" without "=" has no value.
 */
export function keyValues(
  text: string,
  vars: Vars,
  escape: string,
  legacy: boolean,
): [string, string | undefined][] {
  const first = /^\s*(\S+)/.exec(text)?.[1] ?? "";
  if (legacy && !first.includes("=")) {
    const rest = text.trimStart().slice(first.length).trim();
    return [[word(first, vars, escape), word(rest, vars, escape)]];
  }
  return words(text, vars, escape).map((w): [string, string | undefined] => {
    const eq = w.indexOf("=");
    return eq < 0 ? [w, undefined] : [w.slice(0, eq), w.slice(eq + 1)];
  });
}
