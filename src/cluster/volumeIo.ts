// What the cluster code needs of a volume: positioned reads and writes of
// logical bytes, and a flush. LogicalVolume and GuardedVolume both fit.
export interface VolumeIO {
  read(buf: Uint8Array, offset: number): Promise<void>;
  write(buf: Uint8Array, offset: number): Promise<void>;
  flush(): Promise<void>;
}
