/**
 * Small helpers for tests and benchmarks that run servers as child processes: waiting,
 * ports, output tails, process ends, servers in namespaces of their own. Shared by
 * tests/ts/servers.test.ts and bench/servers.ts.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether `cmd` is on PATH. */
export function hasCommand(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** A TCP port of `host` that is free right now (bind port 0, close). */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Keeps the last `max` characters of a stream. */
export function tail(stream: NodeJS.ReadableStream | null, max = 64 * 1024): () => string {
  let text = "";
  stream?.on("data", (d: Buffer) => {
    text += d.toString("utf8");
    if (text.length > 2 * max) text = text.slice(-max);
  });
  return () => text.slice(-max);
}

/** Waits (bounded) for a child process to exit; true when it did. */
export function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Starts `cmd` natively as PID 1 of fresh network, mount and PID namespaces, chrooted into an
 * overlay of `root` whose writable layer is a new directory under `tmp` (returned as `dir`,
 * with `dir/upper` the layer). The namespace's loopback is up; nothing else is. Killing the
 * child (SIGKILL) kills the namespace's PID 1 (--kill-child) and every process inside.
 */
export function spawnIsolated(
  tmp: string,
  root: string,
  cmd: string[],
): { child: ChildProcess; dir: string } {
  const dir = fs.mkdtempSync(path.join(tmp, "native-"));
  for (const d of ["upper", "work", "merged"]) fs.mkdirSync(path.join(dir, d));
  const script =
    "set -e; root=$1; dir=$2; shift 2; ip link set lo up; " +
    'mount -t overlay overlay -o "lowerdir=$root,upperdir=$dir/upper,workdir=$dir/work" "$dir/merged"; ' +
    'mount -t proc proc "$dir/merged/proc"; exec chroot "$dir/merged" "$@"';
  const args = ["--net", "--mount", "--pid", "--fork", "--kill-child", "sh", "-c", script];
  const child = spawn("unshare", [...args, "native-server", root, dir, ...cmd], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  return { child, dir };
}
