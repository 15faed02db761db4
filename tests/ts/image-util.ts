/**
 * Helpers shared by the image suites (images.test.ts, pull.test.ts): bin/uno with its own
 * UNO_HOME, tools that must succeed, and a snapshot of the store's files.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Store } from "../../src/lib/store.js";
import { ROOT } from "./guest-util.js";

export const UNO = path.join(ROOT, "bin", "uno");

export interface Out {
  status: number | null;
  stdout: string;
  stderr: string;
}

export type UnoRunner = (
  args: string[],
  o?: { input?: Buffer | string; env?: NodeJS.ProcessEnv },
) => Out;

/** Runs bin/uno with UNO_HOME=home (o.env may override it), bounded by a timeout. */
export function unoWithHome(home: string): UnoRunner {
  return (args, o = {}) => {
    const r = spawnSync(UNO, args, {
      input: o.input ?? "",
      env: { ...process.env, UNO_HOME: home, ...o.env },
      timeout: 120_000,
      maxBuffer: 64 << 20,
    });
    return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };
}

/** Runs a tool that must succeed (in `cwd`); returns its stdout. */
export function runTool(cmd: string, args: string[], cwd: string, input = ""): string {
  const r = spawnSync(cmd, args, { cwd, maxBuffer: 64 << 20, input });
  assert.equal(
    r.status,
    0,
    `${cmd} ${args.join(" ")} failed (${r.error?.message ?? r.status}): ${r.stderr?.toString()}` +
      (r.error ? `; install it (scripts/setup.sh installs ${cmd})` : ""),
  );
  return r.stdout.toString();
}

export interface StoreState {
  blobs: string[];
  erofs: string[];
  tmp: string[];
  index: string;
}

/** What a store holds on disk: blob names, roots, temporary files, the index. */
export function storeStateOf(store: Store): StoreState {
  const ls = (d: string): string[] => (fs.existsSync(d) ? fs.readdirSync(d).sort() : []);
  return {
    blobs: ls(store.blobsDir),
    erofs: ls(store.erofsDir),
    tmp: ls(store.tmpDir),
    index: fs.existsSync(store.indexPath) ? fs.readFileSync(store.indexPath, "utf8") : "",
  };
}
