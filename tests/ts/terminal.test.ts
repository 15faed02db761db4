/**
 * An interactive session through a pseudo-terminal (script(1)): `uno run -it` with busybox
 * sh as the guest's shell. Commands are typed, a `sleep 100` is interrupted with Ctrl-C, the
 * prompt comes back, `exit` ends the session with its status. Needs KVM: fails without it.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { requireKvm, tempDir, UNO } from "./guest-util.js";

const tmp = tempDir("uno-terminal-test-");
/** Marks this run's uno-vmm processes (in their --env argument) for pkill. */
const MARK = `${process.pid}-${Date.now()}`;
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function rootfs(): string {
  const root = path.join(tmp, "root");
  fs.mkdirSync(path.join(root, "bin"), { recursive: true });
  fs.copyFileSync("/bin/busybox", path.join(root, "bin", "busybox"));
  fs.chmodSync(path.join(root, "bin", "busybox"), 0o755);
  for (const a of ["sh", "sleep", "echo", "cat", "tr"])
    fs.symlinkSync("busybox", path.join(root, "bin", a));
  return root;
}

/** The `NSpid:` line of /proc/PID/status: the process's pid in each PID namespace, outermost first. */
function nsPids(pid: string): number[] {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const line = /^NSpid:\s*(.*)$/m.exec(status)?.[1] ?? pid;
  return line.trim().split(/\s+/).map(Number);
}

/**
 * Pids, as this process can signal them, of the processes whose command line contains all of
 * `words`. The /proc mounted may be another PID namespace's than ours (a CI sandbox): its
 * directory names are then not our pids; NSpid gives each process's pid at our depth.
 */
function pidsWhoseCommandHas(...words: string[]): number[] {
  const depth = nsPids("self").length;
  const pids: number[] = [];
  for (const d of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, "utf8");
      if (!words.every((w) => cmd.includes(w))) continue;
      // Both lists start at the /proc's namespace; entry depth-1 is the pid in ours.
      const mine = nsPids(d)[depth - 1];
      if (mine !== undefined) pids.push(mine);
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

/** A terminal session: what was printed so far, and a way to type and wait for output. */
class Session {
  out = "";
  readonly done: Promise<number>;
  private readonly child;
  constructor(cmd: string) {
    // script(1) runs the command with $SHELL -c. dash (CI's /bin/sh) does not exec a lone
    // command: it would stay in the terminal's foreground group, die of the Ctrl-C, and script
    // would report its 130 instead of uno's status. `exec` makes uno the session's process
    // whatever the shell; SHELL is fixed so the caller's environment does not matter.
    this.child = spawn("script", ["-qefc", `exec ${cmd}`, "/dev/null"], {
      stdio: ["pipe", "pipe", "inherit"],
      env: { ...process.env, SHELL: "/bin/sh", UNO_HOME: path.join(tmp, "home") },
    });
    this.child.stdout.on("data", (b: Buffer) => (this.out += b.toString("utf8")));
    this.done = new Promise((resolve) => this.child.once("exit", (c) => resolve(c ?? -1)));
  }
  type(s: string): void {
    this.child.stdin.write(s);
  }
  /** Waits until the output (from `from` on) matches re; fails after ms. */
  async waitFor(re: RegExp, from: number, ms = 20_000): Promise<number> {
    const end = Date.now() + ms;
    for (;;) {
      const m = re.exec(this.out.slice(from));
      if (m) return from + m.index + m[0].length;
      if (Date.now() > end)
        assert.fail(`no ${re} in the terminal after ${ms} ms; it shows:\n${this.out.slice(from)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  /** Types s every `every` ms until the output (from `from` on) matches re. */
  async retypeUntil(s: string, re: RegExp, from: number, every: number): Promise<number> {
    return this.untilShown(re, from, every, () => this.type(s));
  }
  /** Does act() every `every` ms until the output (from `from` on) matches re; fails after 20 s. */
  async untilShown(re: RegExp, from: number, every: number, act: () => void): Promise<number> {
    const end = Date.now() + 20_000;
    for (;;) {
      act();
      const next = Date.now() + every;
      while (Date.now() < next) {
        const m = re.exec(this.out.slice(from));
        if (m) return from + m.index + m[0].length;
        await new Promise((r) => setTimeout(r, 50));
      }
      if (Date.now() > end)
        assert.fail(`no ${re} in the terminal after 20 s; it shows:\n${this.out.slice(from)}`);
    }
  }
  kill(): void {
    this.child.kill("SIGKILL");
  }
}

describe("uno run -it: an interactive shell on a terminal", () => {
  it("runs typed commands, Ctrl-C interrupts a sleep, SIGWINCH reaches the shell, exit ends the session", async () => {
    requireKvm();
    const root = rootfs();
    const s = new Session(
      `${UNO} run -it -e PS1='PROMPT$ ' -e UNO_TERMINAL_TEST=${MARK} ${root} -- /bin/sh -i`,
    );
    try {
      let at = await s.waitFor(/PROMPT\$ /, 0);
      s.type("echo hello $((6*7)) | tr a-z A-Z\r");
      at = await s.waitFor(/HELLO 42\r?\n/, at);
      at = await s.waitFor(/PROMPT\$ /, at);
      s.type("[ -t 0 ] && echo stdin-is-a-tty\r");
      at = await s.waitFor(/stdin-is-a-tty/, at);
      at = await s.waitFor(/PROMPT\$ /, at);
      // The Ctrl-C must reach the sleep, not the shell before it has started the sleep (on a
      // loaded machine that can take a while): the shell says when it gets there, and Ctrl-C
      // is typed again until the prompt is back.
      const t0 = Date.now();
      s.type("echo sleeping; sleep 100\r");
      at = await s.waitFor(/\nsleeping\r?\n/, at);
      at = await s.retypeUntil("\x03", /PROMPT\$ /, at, 1500);
      assert.ok(Date.now() - t0 < 30_000, "Ctrl-C did not end the sleep");
      s.type("echo status=$?\r");
      at = await s.waitFor(/status=130/, at);
      // A window-size change: the terminal signals its foreground process group (here, the
      // uno-vmm processes); uno-vmm passes SIGWINCH to the guest's foreground group. The signal
      // is sent once the trap is set (the shell says so), and again until it shows.
      s.type("trap 'echo got-winch' WINCH; echo trap-set; read line; echo after-read\r");
      at = await s.waitFor(/\ntrap-set\r?\n/, at);
      const vmms = pidsWhoseCommandHas("uno-vmm", `UNO_TERMINAL_TEST=${MARK}`);
      assert.ok(vmms.length > 0, "no uno-vmm process to signal");
      at = await s.untilShown(/got-winch/, at, 1000, () => {
        for (const pid of vmms) process.kill(pid, "SIGWINCH");
      });
      s.type("\r");
      at = await s.waitFor(/after-read/, at);
      s.type("exit 4\r");
      const code = await s.done;
      assert.equal(code, 4, `the session ended with ${code}:\n${s.out}`);
    } finally {
      s.kill();
    }
  });
});
