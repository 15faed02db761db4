/**
 * An instance ends as a whole: killing the `uno` process (SIGKILL: no cleanup runs) ends
 * PID 1's VMM (it dies with its parent) and with it every other process of the instance
 * (each VMM watches PID 1's). Needs KVM: fails without it, never skips.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { requireKvm, tempDir, UNO } from "./guest-util.js";

const tmp = tempDir("uno-instance-test-");
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** /proc entries (in whatever PID namespace /proc shows) whose command line has `mark`. */
function marked(mark: string): string[] {
  return fs.readdirSync("/proc").filter((d) => {
    if (!/^\d+$/.test(d)) return false;
    try {
      return fs.readFileSync(`/proc/${d}/cmdline`, "utf8").includes(mark);
    } catch {
      return false; /* gone meanwhile */
    }
  });
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

describe("an instance ends with its uno process", () => {
  it("SIGKILL to uno ends PID 1 and the processes it forked", async () => {
    requireKvm();
    const root = path.join(tmp, "root");
    fs.mkdirSync(path.join(root, "bin"), { recursive: true });
    fs.copyFileSync("/bin/busybox", path.join(root, "bin", "busybox"));
    fs.chmodSync(path.join(root, "bin", "busybox"), 0o755);
    const mark = `UNO_INSTANCE_TEST=${process.pid}-${Date.now()}`;
    const child = spawn(
      UNO,
      ["run", "-e", mark, root, "--", "/bin/busybox", "sh", "-c", "sleep 100 & sleep 100 & wait"],
      { stdio: "ignore", env: { ...process.env, UNO_HOME: path.join(tmp, "home") } },
    );
    try {
      // PID 1 (sh) and its two children: three uno-vmm processes carry the mark.
      assert.ok(await until(() => marked(mark).length >= 3, 20_000), "the instance did not start");
      child.kill("SIGKILL");
      assert.ok(
        await until(() => marked(mark).length === 0, 10_000),
        `still running after uno was killed: ${marked(mark).length} process(es)`,
      );
    } finally {
      child.kill("SIGKILL");
    }
  });
});
