/** Checks that this machine can run KVM guests for the current user. */
import * as fs from "node:fs";
import { KvmUnavailableError } from "./errors.js";

export const KVM_DEVICE = "/dev/kvm";

/**
 * Opens `device` read-write and closes it again.
 * @throws KvmUnavailableError with advice when it is missing or not accessible.
 */
export function checkKvm(device: string = KVM_DEVICE): void {
  let fd: number;
  try {
    fd = fs.openSync(device, fs.constants.O_RDWR);
  } catch (e) {
    throw kvmError(device, e as NodeJS.ErrnoException);
  }
  fs.closeSync(fd);
}

/** Like checkKvm, but returns the error instead of throwing it. */
export function kvmProblem(device: string = KVM_DEVICE): KvmUnavailableError | undefined {
  try {
    checkKvm(device);
    return undefined;
  } catch (e) {
    if (e instanceof KvmUnavailableError) return e;
    throw e;
  }
}

function kvmError(device: string, err: NodeJS.ErrnoException): KvmUnavailableError {
  switch (err.code) {
    case "ENOENT":
    case "ENODEV":
    case "ENXIO":
      return new KvmUnavailableError(
        `${device} not found: this machine has no KVM. Enable virtualization or run on a host with KVM.`,
        "missing",
      );
    case "EACCES":
    case "EPERM":
      return new KvmUnavailableError(
        `no permission to open ${device}: add your user to the 'kvm' group ` +
          `(sudo usermod -aG kvm $USER) and log in again`,
        "permission",
      );
    default:
      return new KvmUnavailableError(`cannot open ${device}: ${err.message}`, "other");
  }
}
