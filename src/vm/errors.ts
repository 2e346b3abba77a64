// The one error the VM layer raises for anything the user can fix: a bad
// name, a malformed or hostile .vmx/.vmsd/.vmsn, a VM held by another host,
// a VM stopped because its host lost the datastore lease.
export class VmError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'VmError';
    this.exitCode = exitCode;
  }
}

/** A VM that another run holds (exit code 4: "busy"). */
export class VmLockedError extends VmError {
  constructor(message: string) {
    super(message, 4);
    this.name = 'VmLockedError';
  }
}

/** The host lost its datastore lease while running a VM: the guest was stopped, nothing more was written (exit code 5). */
export class VmFencedError extends VmError {
  constructor(message: string) {
    super(message, 5);
    this.name = 'VmFencedError';
  }
}
