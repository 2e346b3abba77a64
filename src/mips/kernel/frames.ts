// The physical page allocator: which frames of physical memory are in use.
// Always hands out the lowest free frame, so runs are reproducible.

export class OutOfMemory extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutOfMemory';
  }
}

export class FrameAllocator {
  private used: Uint8Array;
  private free: number;
  /** Lowest frame that might be free. */
  private hint = 0;

  constructor(readonly numFrames: number) {
    this.used = new Uint8Array(numFrames);
    this.free = numFrames;
  }

  get freeFrames(): number {
    return this.free;
  }

  /** Takes the lowest free frame; throws OutOfMemory when there is none. */
  allocate(): number {
    if (this.free === 0) throw new OutOfMemory(`out of physical memory (all ${this.numFrames} pages in use)`);
    let f = this.hint;
    while (this.used[f]) f++;
    this.used[f] = 1;
    this.free--;
    this.hint = f + 1;
    return f;
  }

  release(frame: number): void {
    if (!this.used[frame]) throw new Error(`frame ${frame} released twice`);
    this.used[frame] = 0;
    this.free++;
    if (frame < this.hint) this.hint = frame;
  }

  save(): Uint8Array {
    return this.used.slice();
  }

  restore(used: Uint8Array): void {
    this.used = used.slice();
    this.free = this.used.reduce((n, u) => n + (u ? 0 : 1), 0);
    this.hint = 0;
  }
}
