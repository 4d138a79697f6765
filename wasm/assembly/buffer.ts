// Growable raw byte buffers. The module allocates only through here and only when a buffer
// must grow (geometrically), so memory stays flat once a job's log has warmed it up.

/** Returns `ptr` grown to hold at least `need` bytes (contents kept); `cap` is the current size. */
export function grow(ptr: usize, cap: i32, need: i32): usize {
  let size = cap < 64 ? 64 : cap;
  while (size < need) size <<= 1;
  const fresh = heap.alloc(<usize>size);
  if (ptr != 0) {
    memory.copy(fresh, ptr, <usize>cap);
    heap.free(ptr);
  }
  return fresh;
}

export function newCapacity(cap: i32, need: i32): i32 {
  let size = cap < 64 ? 64 : cap;
  while (size < need) size <<= 1;
  return size;
}
