/**
 * The instance's network as a user sees it (issue 6, "Ports and policy"), with Debian's
 * python3 (scripts/debian-root.sh) as the guest program:
 *
 * - a published TCP port reaches the guest's listener, whose getpeername is the real client;
 *   a published UDP port answers from the published port;
 * - a guest listener on an unpublished port gets nothing from outside, and the guest's
 *   127.0.0.1 is its own: a host listener there is not reachable from the guest, and two
 *   instances can both listen on the same guest port;
 * - egress to a test host in a network namespace this test makes (a veth pair, addresses
 *   from 10.213.7.0/30): allowed by default, denied by --network none and by an allow= list
 *   that does not name it (ENETUNREACH), allowed by one that does; DNS through the guest's
 *   resolver (glibc, UDP) to a small DNS server on the test host.
 *
 * Traffic goes only to the loopback and to the namespace the test makes. Needs root (ip netns)
 * and KVM: fails without them, never skips.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as dgram from "node:dgram";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { requireFile, requireKvm, ROOT, UNO } from "./guest-util.js";

const DEBIAN_ROOT = path.join(ROOT, "build", "debian-root");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "uno-network-test-"));
const unoHome = path.join(tmp, "uno-home");
const NS = `uno-net-test-${process.pid}`;
const HOST_IP = "10.213.7.1"; /* the host's end of the veth pair */
const NS_IP = "10.213.7.2"; /* the test host inside the namespace */
const NS_PORT = 8123;

const running: ChildProcess[] = [];

after(() => {
  for (const c of running) c.kill("SIGKILL");
  spawnSync("ip", ["netns", "del", NS]);
  spawnSync("ip", ["link", "del", `${NS.slice(0, 10)}h`]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A free TCP (or UDP) port of the host's loopback. */
async function freePort(udp = false): Promise<number> {
  if (udp) {
    const s = dgram.createSocket("udp4");
    await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
    const p = s.address().port;
    s.close();
    return p;
  }
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const p = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return p;
}

/** `uno run` of python3 -c SCRIPT in the Debian root, in the background. */
function unoPython(flags: string[], script: string): { child: ChildProcess; out: () => string } {
  const child = spawn(UNO, ["run", ...flags, DEBIAN_ROOT, "--", "/usr/bin/python3", "-c", script], {
    env: { ...process.env, UNO_HOME: unoHome },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.push(child);
  let text = "";
  child.stdout!.on("data", (b: Buffer) => (text += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (text += b.toString()));
  return { child, out: () => text };
}

/** Runs python3 -c SCRIPT in uno to its end: its output and status. */
function unoPythonSync(flags: string[], script: string): { status: number | null; out: string } {
  const r = spawnSync(UNO, ["run", ...flags, DEBIAN_ROOT, "--", "/usr/bin/python3", "-c", script], {
    env: { ...process.env, UNO_HOME: unoHome },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, out: (r.stdout ?? "") + (r.stderr ?? "") };
}

/** Waits until `out()` contains `text` (the guest says it is ready), at most ms. */
async function waitFor(out: () => string, text: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!out().includes(text)) {
    if (Date.now() > end) assert.fail(`no "${text}" from the guest after ${ms} ms:\n${out()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function exited(child: ChildProcess, ms = 30_000): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  return await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`uno did not end within ${ms} ms`)), ms);
    child.once("exit", (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

/** One TCP exchange from the host: what the server sent before closing. */
async function tcpRead(port: number, ms = 20_000): Promise<{ text: string; localPort: number }> {
  return await new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    let text = "";
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer on port ${port} within ${ms} ms`));
    }, ms);
    s.on("data", (b) => (text += b.toString()));
    s.on("error", (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.on("connect", () => {
      const localPort = s.localPort!;
      s.on("close", () => {
        clearTimeout(t);
        resolve({ text, localPort });
      });
    });
  });
}

/** Whether a TCP connection to 127.0.0.1:port from the host is refused. */
async function refused(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.on("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code === "ECONNREFUSED"));
  });
}

/** python3 -c SCRIPT on the test host (in the namespace), once it printed `ready`. */
async function testHostPython(script: string, ready: string): Promise<ChildProcess> {
  const child = spawn("ip", ["netns", "exec", NS, "python3", "-c", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  running.push(child);
  let out = "";
  child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  await waitFor(() => out, ready, 20_000);
  return child;
}

const ACCEPT_ONE = (port: number) => `
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", ${port}))
s.listen()
print("listening", flush=True)
c, peer = s.accept()
c.sendall(("peer %s %d\\n" % peer).encode())
c.close()
`;

describe("the instance's network: published ports, a private loopback, egress policy", () => {
  before(() => {
    requireKvm();
    requireFile(path.join(DEBIAN_ROOT, "usr", "bin", "python3"), "run scripts/debian-root.sh");
  });

  it("a published TCP port reaches the guest's listener, which sees the real client", async () => {
    const host = await freePort();
    const g = unoPython(["-p", `127.0.0.1:${host}:80`], ACCEPT_ONE(80));
    await waitFor(g.out, "listening");
    const r = await tcpRead(host);
    assert.equal(r.text, `peer 127.0.0.1 ${r.localPort}\n`, g.out());
    assert.equal(await exited(g.child), 0, g.out());
  });

  it("a published UDP port: the guest's reply comes from the published port", async () => {
    const host = await freePort(true);
    const g = unoPython(
      ["-p", `127.0.0.1:${host}:53/udp`],
      `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 53))
print("bound", flush=True)
data, peer = s.recvfrom(100)
s.sendto(b"echo " + data, peer)
`,
    );
    await waitFor(g.out, "bound");
    const sock = dgram.createSocket("udp4");
    const reply = await new Promise<{ msg: string; port: number }>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no UDP reply within 20 s")), 20_000);
      sock.on("message", (m, rinfo) => {
        clearTimeout(t);
        resolve({ msg: m.toString(), port: rinfo.port });
      });
      sock.send("ping", host, "127.0.0.1");
    });
    sock.close();
    assert.deepEqual(reply, { msg: "echo ping", port: host });
    assert.equal(await exited(g.child), 0, g.out());
  });

  it("an unpublished guest port is not on the host; the guest's 127.0.0.1 is its own", async () => {
    // A host listener on the loopback: the guest's connect to that port is refused (its own
    // loopback has no one there), and its listener on another port is not on the host.
    const hostSrv = net.createServer((c) => c.end("host\n"));
    await new Promise<void>((r) => hostSrv.listen(0, "127.0.0.1", r));
    const hostPort = (hostSrv.address() as net.AddressInfo).port;
    const guestPort = await freePort();
    const g = unoPython(
      [],
      `
import socket, errno, time
l = socket.socket()
l.bind(("0.0.0.0", ${guestPort}))
l.listen()
c = socket.socket()
try:
    c.connect(("127.0.0.1", ${hostPort}))
    print("reached the host's listener")
except OSError as e:
    print("host loopback:", errno.errorcode[e.errno])
print("listening", flush=True)
time.sleep(3)
`,
    );
    await waitFor(g.out, "listening");
    assert.ok(await refused(guestPort), "the guest's unpublished port answered on the host");
    assert.equal(await exited(g.child), 0, g.out());
    hostSrv.close();
    assert.match(g.out(), /host loopback: ECONNREFUSED/);
  });

  it("two instances listen on the same guest port at once", async () => {
    const [h1, h2] = [await freePort(), await freePort()];
    const a = unoPython(["-p", `127.0.0.1:${h1}:80`], ACCEPT_ONE(80));
    const b = unoPython(["-p", `127.0.0.1:${h2}:80`], ACCEPT_ONE(80));
    await waitFor(a.out, "listening");
    await waitFor(b.out, "listening");
    const [ra, rb] = [await tcpRead(h1), await tcpRead(h2)];
    assert.match(ra.text, /^peer 127\.0\.0\.1 /);
    assert.match(rb.text, /^peer 127\.0\.0\.1 /);
    assert.equal(await exited(a.child), 0, a.out());
    assert.equal(await exited(b.child), 0, b.out());
  });

  describe("egress to a test host in a network namespace", () => {
    before(async () => {
      const veth = `${NS.slice(0, 10)}h`;
      const cmds: string[][] = [
        ["netns", "add", NS],
        ["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", NS],
        ["addr", "add", `${HOST_IP}/30`, "dev", veth],
        ["link", "set", veth, "up"],
        ["-n", NS, "addr", "add", `${NS_IP}/30`, "dev", "eth0"],
        ["-n", NS, "link", "set", "eth0", "up"],
        ["-n", NS, "link", "set", "lo", "up"],
      ];
      for (const c of cmds) {
        const r = spawnSync("ip", c, { encoding: "utf8" });
        assert.equal(r.status, 0, `ip ${c.join(" ")}: ${r.stderr}${r.error?.message ?? ""}`);
      }
      // The test host: answers every connection with one line.
      await testHostPython(
        `
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("${NS_IP}", ${NS_PORT}))
s.listen()
print("up", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b"hello from the test host\\n")
    c.close()
`,
        "up",
      );
    });

    const CLIENT = `
import socket, errno
c = socket.socket()
c.settimeout(10)
try:
    c.connect(("${NS_IP}", ${NS_PORT}))
    print("got:", c.recv(100).decode().strip())
except OSError as e:
    print("error:", errno.errorcode.get(e.errno, e.errno))
`;

    it("allowed by default", () => {
      const r = unoPythonSync([], CLIENT);
      assert.equal(r.status, 0, r.out);
      assert.match(r.out, /got: hello from the test host/);
    });

    it("--network none: nothing leaves (ENETUNREACH)", () => {
      const r = unoPythonSync(["--network", "none"], CLIENT);
      assert.match(r.out, /error: ENETUNREACH/);
    });

    it("DNS: glibc's resolver asks the test host's DNS server over UDP", async () => {
      const dns = await testHostPython(
        `
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("${NS_IP}", 53))
print("dns up", flush=True)
while True:
    q, peer = s.recvfrom(512)
    i = 12
    while q[i] != 0:
        i += 1 + q[i]
    qtype = struct.unpack(">H", q[i + 1:i + 3])[0]
    answer, count = b"", 0
    if qtype == 1:  # A: one address; anything else: no data
        answer = b"\\xc0\\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton("10.213.7.99")
        count = 1
    s.sendto(q[:2] + struct.pack(">HHHHH", 0x8180, 1, count, 0, 0) + q[12:i + 5] + answer, peer)
`,
        "dns up",
      );
      const r = unoPythonSync(
        [],
        `
import socket
open("/etc/resolv.conf", "w").write("nameserver ${NS_IP}\\n")
print("resolved:", socket.gethostbyname("svc.uno.test"))
`,
      );
      dns.kill("SIGKILL");
      assert.equal(r.status, 0, r.out);
      assert.match(r.out, /resolved: 10\.213\.7\.99/);
    });

    it("--network allow=: only the networks named", () => {
      const yes = unoPythonSync(["--network", "allow=10.213.7.0/30"], CLIENT);
      assert.match(yes.out, /got: hello from the test host/);
      const no = unoPythonSync(["--network", "allow=192.0.2.0/24"], CLIENT);
      assert.match(no.out, /error: ENETUNREACH/);
    });
  });
});
