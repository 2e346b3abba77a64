// The one error type of the virtual disk layer: a disk that cannot be opened,
// read, written or changed as asked, with a message naming the file.
export class DiskError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DiskError';
  }
}
