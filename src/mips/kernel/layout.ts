// Fixed points of the kernel's user address spaces, and how many programs
// and threads it keeps at once (so that a fork or exec bomb in the guest
// meets -1, not the host's memory limit).

/** Where a forked thread returns to when its function returns: fetching there ends the thread. */
export const ThreadReturnAddress = 0x7ffffff0;
/** Programs alive or waiting to be joined. */
export const MaxProcesses = 1024;
/** Threads alive. */
export const MaxThreads = 4096;
