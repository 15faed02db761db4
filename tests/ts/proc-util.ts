/**
 * Small helpers for tests and benchmarks that run servers as child processes: waiting,
 * ports, output tails, process ends. Shared by tests/ts/servers.test.ts and bench/servers.ts.
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import * as net from "node:net";

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
