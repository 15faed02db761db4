/**
 * Published ports and network modes (src/lib/ports.ts): docker's -p/-P/--network formats,
 * what uno-vmm is given for them, and the host ports uno chooses. Binds only on the host's
 * loopback (127.0.0.1, ::1 when the host has IPv6); needs neither KVM nor a build of uno-vmm.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as dgram from "node:dgram";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { PortUnavailableError, UsageError } from "../../src/lib/errors.js";
import { Instance, removeTree } from "../../src/lib/instance.js";
import { parseRunOptions } from "../../src/lib/options.js";
import {
  canonicalIp,
  checkPublishConflicts,
  formatNetwork,
  formatPublishedPort,
  formatVmmPublish,
  parseCidr,
  parseExposedPort,
  parseNetwork,
  parsePublish,
  parsePublishSpec,
  publishAllRequests,
  resolveHostPorts,
  type PortRequest,
} from "../../src/lib/ports.js";

/** The request fields that matter, without `source`. */
function short(r: PortRequest): string {
  const host =
    r.hostPortMin === 0
      ? "*"
      : r.hostPortMin === r.hostPortMax
        ? String(r.hostPortMin)
        : `${r.hostPortMin}-${r.hostPortMax}`;
  return `${r.hostIp} ${host} ${r.guestPort}/${r.protocol}`;
}

function parsed(spec: string): string[] {
  return parsePublishSpec(spec).map(short);
}

/** Asserts that `fn` throws a UsageError whose message matches `re`. */
function usageError(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UsageError, `expected a UsageError, got ${String(e)}`);
    assert.match(e.message, re);
    assert.equal(e.exitCode, 125);
    return true;
  });
}

describe("-p/--publish: valid specs", () => {
  const cases: [string, string[]][] = [
    ["80", ["0.0.0.0 * 80/tcp"]],
    ["8080:80", ["0.0.0.0 8080 80/tcp"]],
    ["8080:80/tcp", ["0.0.0.0 8080 80/tcp"]],
    ["8080:80/TCP", ["0.0.0.0 8080 80/tcp"]],
    ["5353:53/udp", ["0.0.0.0 5353 53/udp"]],
    ["53/udp", ["0.0.0.0 * 53/udp"]],
    [":80", ["0.0.0.0 * 80/tcp"]],
    ["127.0.0.1:8080:80", ["127.0.0.1 8080 80/tcp"]],
    ["127.0.0.1::80", ["127.0.0.1 * 80/tcp"]],
    ["127.0.0.1::80/udp", ["127.0.0.1 * 80/udp"]],
    ["0.0.0.0:1:65535", ["0.0.0.0 1 65535/tcp"]],
    ["[::1]:8080:80", ["::1 8080 80/tcp"]],
    ["[::]:8080:80/udp", [":: 8080 80/udp"]],
    ["[::1]::80", ["::1 * 80/tcp"]],
    ["[0:0:0:0:0:0:0:1]:8080:80", ["::1 8080 80/tcp"]],
    ["[2001:DB8::1]:8080:80", ["2001:db8::1 8080 80/tcp"]],
    // docker also takes an IPv6 address without brackets: the last two parts are the ports.
    ["::1:8080:80", ["::1 8080 80/tcp"]],
    ["[::ffff:127.0.0.1]:8080:80", ["::ffff:127.0.0.1 8080 80/tcp"]],
    ["8000-8002:80-82", ["0.0.0.0 8000 80/tcp", "0.0.0.0 8001 81/tcp", "0.0.0.0 8002 82/tcp"]],
    ["127.0.0.1:9000-9001:90-91/udp", ["127.0.0.1 9000 90/udp", "127.0.0.1 9001 91/udp"]],
    ["80-82", ["0.0.0.0 * 80/tcp", "0.0.0.0 * 81/tcp", "0.0.0.0 * 82/tcp"]],
    ["127.0.0.1::80-81", ["127.0.0.1 * 80/tcp", "127.0.0.1 * 81/tcp"]],
    // docker: a host range for one guest port is the range to choose a free host port from.
    ["8000-8010:80", ["0.0.0.0 8000-8010 80/tcp"]],
    ["8080-8080:80-80", ["0.0.0.0 8080 80/tcp"]],
  ];
  for (const [spec, want] of cases) {
    it(spec, () => assert.deepEqual(parsed(spec), want));
  }

  it("each request remembers the spec it came from", () => {
    assert.equal(parsePublishSpec("8080:80")[0]!.source, "-p 8080:80");
  });
});

describe("-p/--publish: invalid specs, with messages a person can act on", () => {
  const cases: [string, RegExp][] = [
    ["", /invalid --publish "": empty/],
    [" ", /empty/],
    ["80 ", /whitespace/],
    ["http", /guest port "http" is not a port number \(1-65535\)/],
    ["0", /guest port 0 is out of range \(1-65535\)/],
    ["65536", /guest port 65536 is out of range/],
    ["99999999999999999999", /out of range/],
    ["-1", /the guest port range "-1" should be START-END/],
    ["+80", /"\+80" is not a port number/],
    ["0x50", /"0x50" is not a port number/],
    ["8080:", /the guest port is empty/],
    ["0:80", /host port 0 is out of range.*for a random host port leave it out: -p GUESTPORT/],
    ["70000:80", /host port 70000 is out of range/],
    ["8080:80/", /nothing after '\/': use \/tcp or \/udp/],
    ["8080:80/sctp", /sctp is not supported: use \/tcp or \/udp/],
    ["8080:80/SCTP", /sctp is not supported/],
    ["8080:80/icmp", /unknown protocol "icmp": use \/tcp or \/udp/],
    ["8080:80/tcp/udp", /guest port "80\/tcp" is not a port number/],
    [
      "8000-8010:80-85",
      /host range 8000-8010 has 11 port\(s\) but the guest range 80-85 has 6: ranges must be of equal length/,
    ],
    ["8000-8001:80-82", /ranges must be of equal length/],
    ["90-80", /guest port range 90-80 ends before it starts/],
    ["8010-8000:80", /host port range 8010-8000 ends before it starts/],
    ["80-90-100", /range "80-90-100" should be START-END/],
    ["80-", /the guest port range "80-" should be START-END/],
    [
      "localhost:8080:80",
      /host IP "localhost": not an IPv4 or IPv6 address \(host names are not accepted\)/,
    ],
    ["1.2.3:8080:80", /host IP "1.2.3": not an IPv4 or IPv6 address/],
    ["256.0.0.1:8080:80", /host IP "256.0.0.1"/],
    ["127.000.0.1:8080:80", /host IP "127.000.0.1"/],
    [":8080:80", /the host IP is empty \(leave it out for 0.0.0.0\)/],
    ["[127.0.0.1]:8080:80", /brackets are for IPv6 addresses; "127.0.0.1" is not one/],
    ["[::1:8080:80", /no '\]' after the IPv6 host IP/],
    ["::1]:8080:80", /a '\]' without '\[': write IPv6 host IPs as \[ADDR\]:HOSTPORT:GUESTPORT/],
    ["[]:8080:80", /brackets are for IPv6 addresses; "" is not one/],
    ["[fe80::1%eth0]:8080:80", /host IP "fe80::1%eth0": zone ids are not supported/],
    ["fe80::1%eth0:8080:80", /zone ids are not supported/],
    [
      "[::1]:8080",
      /after \[::1\] expected :HOSTPORT:GUESTPORT \(:: and GUESTPORT for a random host port\)/,
    ],
    ["[::1]8080:80", /after \[::1\] expected :HOSTPORT:GUESTPORT/],
    ["[::1]:1:8080:80", /after \[::1\] expected :HOSTPORT:GUESTPORT/],
    ["1.2.3.4:5:6:7", /host IP "1.2.3.4:5"/],
  ];
  for (const [spec, re] of cases) {
    it(JSON.stringify(spec), () => usageError(() => parsePublishSpec(spec), re));
  }
});

describe("-p: two specs that bind the same host port are refused", () => {
  it("the same host port twice", () =>
    usageError(
      () => parsePublish(["8080:80", "8080:81"]),
      /^-p 8080:80 and -p 8080:81 map host port 0\.0\.0\.0:8080\/tcp twice: each host port can be published once$/,
    ));
  it("the same spec twice", () =>
    usageError(
      () => parsePublish(["8080:80", "8080:80"]),
      /^-p 8080:80 is given twice: each host port \(here 0\.0\.0\.0:8080\/tcp\) can be published once$/,
    ));
  it("a range overlapping a single port", () =>
    usageError(
      () => parsePublish(["8000-8005:80-85", "8003:90"]),
      /-p 8000-8005:80-85 and -p 8003:90/,
    ));
  it("the wildcard and a specific address of the same family", () =>
    usageError(
      () => parsePublish(["127.0.0.1:8080:80", "8080:81"]),
      /host port 127\.0\.0\.1:8080\/tcp and 0\.0\.0\.0:8080\/tcp twice/,
    ));
  it(":: (dual-stack) and an IPv4 address", () =>
    usageError(() => parsePublish(["[::]:8080:80", "127.0.0.1:8080:81"]), /twice/));
  it("allowed: tcp and udp on one port, different addresses, one guest port twice", () => {
    assert.equal(parsePublish(["8080:80", "8080:80/udp"]).length, 2);
    assert.equal(parsePublish(["127.0.0.1:8080:80", "127.0.0.2:8080:80"]).length, 2);
    assert.equal(parsePublish(["127.0.0.1:8080:80", "[::1]:8080:80"]).length, 2);
    assert.equal(parsePublish(["8080:80", "8081:80"]).length, 2);
    assert.equal(parsePublish(["80", "80"]).length, 2, "two random host ports for one guest port");
  });
  it("at most 256 ports (uno-vmm's limit), ranges counted port by port", () => {
    assert.equal(parsePublish(["10000-10255:20000-20255"]).length, 256);
    usageError(
      () => parsePublish(["10000-10255:20000-20255", "80"]),
      /^257 ports to publish \(ranges count port by port\): an instance publishes at most 256$/,
    );
    usageError(() => parsePublish(["1000-2000:1000-2000"]), /1001 ports to publish/);
  });
  it("checkPublishConflicts sees -P's requests too", () => {
    const explicit = parsePublish(["8080:80"]);
    assert.doesNotThrow(() => checkPublishConflicts([...explicit, ...publishAllRequests(["80"])]));
  });
});

describe("-P/--publish-all over the image's exposed ports", () => {
  it("every exposed port on a random host port of 0.0.0.0", () => {
    assert.deepEqual(publishAllRequests(["80/tcp", "53/udp", "443"]).map(short), [
      "0.0.0.0 * 80/tcp",
      "0.0.0.0 * 53/udp",
      "0.0.0.0 * 443/tcp",
    ]);
    assert.equal(publishAllRequests(["80/tcp"])[0]!.source, "-P (80/tcp)");
  });
  it("ranges, case, duplicates", () => {
    assert.deepEqual(publishAllRequests(["8000-8001/TCP", "8000/tcp"]).map(short), [
      "0.0.0.0 * 8000/tcp",
      "0.0.0.0 * 8001/tcp",
    ]);
  });
  it("ports -p already publishes are left to -p (as docker)", () => {
    const explicit = parsePublish(["8080:80"]);
    assert.deepEqual(publishAllRequests(["80/tcp", "80/udp"], explicit).map(short), [
      "0.0.0.0 * 80/udp",
    ]);
  });
  it("no exposed ports: nothing (as docker)", () => {
    assert.deepEqual(publishAllRequests([]), []);
  });
  it("invalid exposed ports", () => {
    usageError(() => parseExposedPort("http"), /the image exposes port "http": not a port/);
    usageError(() => parseExposedPort("0/tcp"), /out of range 1-65535/);
    usageError(() => parseExposedPort("80/sctp"), /sctp is not supported/);
    usageError(() => parseExposedPort("80/xyz"), /unknown protocol xyz/);
    usageError(() => parseExposedPort("90-80"), /ends before it starts/);
  });
});

describe("--network", () => {
  const ok: [string, string][] = [
    ["default", "default"],
    ["bridge", "default"],
    ["none", "none"],
    ["allow=10.0.0.0/8", "allow=10.0.0.0/8"],
    ["allow=10.0.0.0/8,192.168.1.0/24", "allow=10.0.0.0/8,192.168.1.0/24"],
    ["allow=10.0.0.0/8, 192.168.1.0/24", "allow=10.0.0.0/8,192.168.1.0/24"],
    ["allow=2001:DB8::/32", "allow=2001:db8::/32"],
    ["allow=192.0.2.7", "allow=192.0.2.7/32"],
    ["allow=2001:db8::7", "allow=2001:db8::7/128"],
    ["allow=0.0.0.0/0,::/0", "allow=0.0.0.0/0,::/0"],
    ["allow=10.0.0.0/8,10.0.0.0/8", "allow=10.0.0.0/8"],
    ["allow=10.1.2.3/32", "allow=10.1.2.3/32"],
    ["allow=10.0.0.128/25", "allow=10.0.0.128/25"],
    ["allow=2001:db8:0:0:0:0:0:0/64", "allow=2001:db8::/64"],
    ["allow=::ffff:10.0.0.0/104", "allow=::ffff:10.0.0.0/104"],
  ];
  for (const [value, want] of ok) {
    it(`${value} → ${want}`, () => assert.equal(formatNetwork(parseNetwork(value)), want));
  }

  const bad: [string, RegExp][] = [
    ["host", /^--network host: uno has no host network mode: use -p to publish ports$/],
    ["mynet", /unknown --network "mynet": use default, none or allow=CIDR\[,CIDR\.\.\.\]/],
    ["container:abc", /unknown --network/],
    ["", /unknown --network ""/],
    ["allow=", /--network allow= needs at least one CIDR.*--network none/],
    [
      "allow=10.0.0.0/33",
      /CIDR "10\.0\.0\.0\/33": the prefix length "\/33" should be a number from 0 to 32/,
    ],
    ["allow=2001:db8::/129", /from 0 to 128/],
    ["allow=10.0.0.0/", /the prefix length "\/" should be/],
    ["allow=10.0.0.0/-1", /the prefix length/],
    ["allow=10.0.0.0/8/8", /the prefix length/],
    ["allow=10.0.0/8", /"10\.0\.0" is not an IPv4 or IPv6 address/],
    ["allow=example.com", /"example\.com" is not an IPv4 or IPv6 address/],
    ["allow=10.0.0.0/8,", /"" is not an IPv4 or IPv6 address/],
    ["allow=10.0.0.1/8", /host bits set below \/8: did you mean 10\.0\.0\.0\/8\?/],
    ["allow=192.168.1.1/24", /did you mean 192\.168\.1\.0\/24\?/],
    ["allow=2001:db8::1/32", /did you mean 2001:db8::\/32\?/],
  ];
  for (const [value, re] of bad) {
    it(`refuses ${JSON.stringify(value)}`, () => usageError(() => parseNetwork(value), re));
  }

  it("at most 32 CIDRs (uno-vmm's limit), counted after duplicates go", () => {
    const list = (n: number): string =>
      Array.from({ length: n }, (_, i) => `10.0.${i}.0/24`).join(",");
    assert.equal(
      (parseNetwork(`allow=${list(32)},10.0.0.0/24`) as { cidrs: string[] }).cidrs.length,
      32,
    );
    usageError(
      () => parseNetwork(`allow=${list(33)}`),
      /--network allow= has 33 CIDRs: at most 32/,
    );
  });

  it("parseCidr normalizes", () => {
    assert.equal(parseCidr("172.16.0.0/12"), "172.16.0.0/12");
    assert.equal(parseCidr("fd00::/8"), "fd00::/8");
    assert.equal(parseCidr("::/0"), "::/0");
  });
});

describe("IP literals", () => {
  it("canonicalIp", () => {
    assert.equal(canonicalIp("127.0.0.1"), "127.0.0.1");
    assert.equal(canonicalIp("0:0:0:0:0:0:0:1"), "::1");
    assert.equal(canonicalIp("2001:DB8:0::1"), "2001:db8::1");
    assert.equal(canonicalIp("::FFFF:1.2.3.4"), "::ffff:1.2.3.4");
    for (const bad of ["", "1.2.3", "01.2.3.4", "[::1]", "fe80::1%lo", "localhost", "1.2.3.4.5"]) {
      assert.equal(canonicalIp(bad), undefined, bad);
    }
  });
});

describe("uno-vmm's --publish and docker's display format", () => {
  it("IPv4 and IPv6", () => {
    const v4 = { hostIp: "0.0.0.0", hostPort: 8080, guestPort: 80, protocol: "tcp" as const };
    const v6 = { hostIp: "::1", hostPort: 5353, guestPort: 53, protocol: "udp" as const };
    assert.equal(formatVmmPublish(v4), "0.0.0.0:8080:80/tcp");
    assert.equal(formatVmmPublish(v6), "[::1]:5353:53/udp");
    assert.equal(formatPublishedPort(v4), "0.0.0.0:8080->80/tcp");
    assert.equal(formatPublishedPort(v6), "[::1]:5353->53/udp");
  });
});

describe("parseRunOptions: -p, -P, --network together", () => {
  it("defaults", () => {
    const o = parseRunOptions({});
    assert.deepEqual(o.publish, []);
    assert.equal(o.publishAll, false);
    assert.deepEqual(o.network, { mode: "default" });
  });
  it("values", () => {
    const o = parseRunOptions({
      publish: ["127.0.0.1:8080:80", "53/udp"],
      publishAll: true,
      network: "allow=10.0.0.0/8",
    });
    assert.deepEqual(o.publish.map(short), ["127.0.0.1 8080 80/tcp", "0.0.0.0 * 53/udp"]);
    assert.equal(o.publishAll, true);
    assert.deepEqual(o.network, { mode: "allow", cidrs: ["10.0.0.0/8"] });
  });
  it("--network none with -p or -P is refused", () => {
    usageError(
      () => parseRunOptions({ network: "none", publish: ["80"] }),
      /--network none gives the instance no network, so -p cannot publish ports: drop one of them/,
    );
    usageError(() => parseRunOptions({ network: "none", publishAll: true }), /so -P cannot/);
  });
  it("errors of the parts come through", () => {
    usageError(() => parseRunOptions({ publish: ["80/sctp"] }), /sctp is not supported/);
    usageError(() => parseRunOptions({ network: "host" }), /no host network mode/);
    usageError(() => parseRunOptions({ publish: ["8080:80", "8080:80/tcp"] }), /twice/);
  });
});

/** A port that is free on 127.0.0.1 right now (tcp). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Holds a TCP listener on 127.0.0.1:port until closed. */
function holdTcp(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}

const hasIpv6Loopback = ((): boolean => {
  for (const addrs of Object.values(os.networkInterfaces())) {
    if (addrs?.some((a) => a.address === "::1")) return true;
  }
  return false;
})();

describe("resolveHostPorts: checks fixed host ports and chooses the others (loopback only)", () => {
  it("random ports: distinct, non-zero, and free again afterwards", async () => {
    const reqs = parsePublish(["127.0.0.1::80", "127.0.0.1::81", "127.0.0.1::80/udp"]);
    const got = await resolveHostPorts(reqs);
    assert.equal(got.length, 3);
    for (const p of got) assert.ok(p.hostPort > 0 && p.hostPort <= 65535, String(p.hostPort));
    assert.notEqual(got[0]!.hostPort, got[1]!.hostPort);
    assert.deepEqual(
      got.map((p) => [p.hostIp, p.guestPort, p.protocol]),
      [
        ["127.0.0.1", 80, "tcp"],
        ["127.0.0.1", 81, "tcp"],
        ["127.0.0.1", 80, "udp"],
      ],
    );
    // Closed again: uno-vmm must be able to bind them.
    const s = await holdTcp(got[0]!.hostPort);
    await new Promise<void>((r) => s.close(() => r()));
    const u = dgram.createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      u.once("error", reject);
      u.bind(got[2]!.hostPort, "127.0.0.1", () => resolve());
    });
    await new Promise<void>((r) => u.close(() => r()));
  });

  it("a fixed port that is free is kept as given", async () => {
    const port = await freePort();
    const got = await resolveHostPorts(parsePublish([`127.0.0.1:${port}:80`]));
    assert.deepEqual(got, [
      { hostIp: "127.0.0.1", hostPort: port, guestPort: 80, protocol: "tcp" },
    ]);
  });

  it("a fixed port in use: PortUnavailableError naming it", async () => {
    const port = await freePort();
    const s = await holdTcp(port);
    try {
      await assert.rejects(
        resolveHostPorts(parsePublish([`127.0.0.1:${port}:80`])),
        (e: unknown) => {
          assert.ok(e instanceof PortUnavailableError);
          assert.equal(e.code, "PORT_UNAVAILABLE");
          assert.equal(
            e.message,
            `-p 127.0.0.1:${port}:80: host port 127.0.0.1:${port}/tcp is already in use: choose another host port, or leave it out for a random one`,
          );
          return true;
        },
      );
      // udp on the same port is another socket: free.
      const got = await resolveHostPorts(parsePublish([`127.0.0.1:${port}:80/udp`]));
      assert.equal(got[0]!.hostPort, port);
    } finally {
      s.close();
    }
  });

  it("a dynamic host range skips busy ports; all busy is an error", async () => {
    const port = await freePort();
    const s = await holdTcp(port);
    try {
      // The range starts at the busy port: the next free one is chosen.
      const got = await resolveHostPorts(parsePublish([`127.0.0.1:${port}-${port + 20}:80`]));
      assert.ok(got[0]!.hostPort > port && got[0]!.hostPort <= port + 20, String(got[0]!.hostPort));
      await assert.rejects(
        resolveHostPorts(parsePublish([`127.0.0.1:${port}-${port}:80`])),
        /already in use/,
      );
    } finally {
      s.close();
    }
  });

  it("random and ranged choices avoid the fixed ports of the same run", async () => {
    const port = await freePort();
    const got = await resolveHostPorts(
      parsePublish([`127.0.0.1:${port}-${port + 1}:81`, `127.0.0.1:${port}:80`]),
    );
    assert.equal(got[1]!.hostPort, port, "the fixed port is kept");
    assert.equal(got[0]!.hostPort, port + 1, "the range took the next one");
  });

  it("an address that is not this host's", async () => {
    // 192.0.2.0/24 is TEST-NET-1: never a local address.
    await assert.rejects(
      resolveHostPorts(parsePublish(["192.0.2.1::80"])),
      (e: unknown) =>
        e instanceof PortUnavailableError &&
        e.message === "-p 192.0.2.1::80: 192.0.2.1 is not an address of this host",
    );
  });

  it("IPv6 loopback", { skip: hasIpv6Loopback ? false : "this host has no ::1" }, async () => {
    const got = await resolveHostPorts(parsePublish(["[::1]::80", "[::1]::53/udp"]));
    assert.ok(got.every((p) => p.hostIp === "::1" && p.hostPort > 0));
    assert.match(formatVmmPublish(got[0]!), /^\[::1\]:\d+:80\/tcp$/);
  });
});

describe("Instance: the ports and network handed to uno-vmm", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "uno-ports-test-"));
  const libos = path.join(tmp, "libos.elf");
  const state = path.join(tmp, "state");
  before(() => fs.writeFileSync(libos, ""));
  after(() => removeTree(tmp));
  const base = () => ({
    image: "/img.erofs",
    command: "/hello",
    vmmPath: "/bin/true",
    libosPath: libos,
    stateDir: state,
    kvmDevice: false as const,
  });

  /** The values following each `flag` in args. */
  function values(args: string[], flag: string): string[] {
    return args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
  }

  it("no ports: --network default, before the program", async () => {
    const inst = await Instance.create({ ...base(), id: "net-default" });
    const args = inst.vmmArgs();
    assert.deepEqual(values(args, "--network"), ["default"]);
    assert.deepEqual(values(args, "--publish"), []);
    assert.ok(args.indexOf("--network") < args.indexOf("--"));
    inst.cleanup();
  });

  it("-p, ranges expanded, random ports chosen; --network allow", async () => {
    const port = await freePort();
    const inst = await Instance.create({
      ...base(),
      id: "net-ports",
      publish: parsePublish([`127.0.0.1:${port}:80`, "127.0.0.1::53/udp"]),
      network: parseNetwork("allow=10.0.0.0/8,2001:db8::/32"),
    });
    const args = inst.vmmArgs();
    assert.deepEqual(values(args, "--network"), ["allow=10.0.0.0/8,2001:db8::/32"]);
    const pub = values(args, "--publish");
    assert.equal(pub.length, 2);
    assert.equal(pub[0], `127.0.0.1:${port}:80/tcp`);
    assert.match(pub[1]!, /^127\.0\.0\.1:[1-9]\d*:53\/udp$/);
    assert.deepEqual(inst.ports.map(formatVmmPublish), pub);
    inst.cleanup();
  });

  it("-P publishes the exposed ports not already published; none exposed: nothing", async () => {
    const inst = await Instance.create({
      ...base(),
      id: "net-all",
      publish: parsePublish(["127.0.0.1::80"]),
      publishAll: true,
      exposedPorts: ["80/tcp", "9/udp"],
    });
    assert.deepEqual(
      inst.ports.map((p) => [p.hostIp, p.guestPort, p.protocol]),
      [
        ["127.0.0.1", 80, "tcp"],
        ["0.0.0.0", 9, "udp"],
      ],
    );
    inst.cleanup();
    const none = await Instance.create({ ...base(), id: "net-all-none", publishAll: true });
    assert.deepEqual(values(none.vmmArgs(), "--publish"), []);
    none.cleanup();
  });

  it("a busy host port fails before the instance directory is made", async () => {
    const port = await freePort();
    const s = await holdTcp(port);
    try {
      await assert.rejects(
        Instance.create({
          ...base(),
          id: "net-busy",
          publish: parsePublish([`127.0.0.1:${port}:80`]),
        }),
        PortUnavailableError,
      );
      assert.equal(fs.existsSync(path.join(state, "instances", "net-busy")), false);
    } finally {
      s.close();
    }
  });

  it("--network none with ports, and bad exposed ports, are refused", async () => {
    await assert.rejects(
      Instance.create({ ...base(), publish: parsePublish(["80"]), network: { mode: "none" } }),
      /--network none gives the instance no network: it cannot publish ports/,
    );
    await assert.rejects(
      Instance.create({ ...base(), publishAll: true, exposedPorts: ["80/sctp"] }),
      /sctp is not supported/,
    );
  });
});
