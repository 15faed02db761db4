// What this host offers uno: is KVM usable, and which backend uno-vmm picks for it
// (`uno-vmm --probe`). Used by `uno info` and available to the REST API later.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import * as paths from "./paths.js";
import { kvmProblem } from "./kvm.js";

export interface HostInfo {
  version: string;
  vmm: { path: string; built: boolean };
  libos: { path: string; built: boolean };
  state: string;
  kvm: { usable: boolean; problem?: string };
  /** "native" (hardware KVM: VT-x/AMD-V) or "cpl3" (PVM-style KVM), with the reason. */
  backend?: { name: string; why: string };
}

export function hostInfo(): HostInfo {
  const vmmPath = paths.vmmPath();
  const libosPath = paths.libosPath();
  const info: HostInfo = {
    version: paths.unoVersion(),
    vmm: { path: vmmPath, built: fs.existsSync(vmmPath) },
    libos: { path: libosPath, built: fs.existsSync(libosPath) },
    state: paths.unoHome(),
    kvm: { usable: true },
  };
  const problem = kvmProblem();
  if (problem) info.kvm = { usable: false, problem: problem.message };
  if (info.vmm.built && info.kvm.usable) {
    const r = spawnSync(vmmPath, ["--probe"], { encoding: "utf8", timeout: 10_000 });
    const name = /^backend: (\S+)$/m.exec(r.stdout ?? "")?.[1];
    const why = /^why: (.*)$/m.exec(r.stdout ?? "")?.[1];
    if (r.status === 0 && name) info.backend = { name, why: why ?? "" };
    else info.kvm = { usable: false, problem: (r.stderr ?? "").trim() || "uno-vmm --probe failed" };
  }
  return info;
}
