// fsck's exit codes, e2fsck's values (a bit mask). Apart from the checker so
// that the command line can name them without loading it.
export const FSCK_OK = 0;
export const FSCK_CORRECTED = 1;
export const FSCK_REBOOT = 2;
export const FSCK_UNCORRECTED = 4;
export const FSCK_ERROR = 8;
export const FSCK_USAGE = 16;
