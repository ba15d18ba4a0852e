/** What a simulated clock keeps of a timer: when it is due, in which order it was set, whether it was cancelled. */
export interface HeapTimer {
  readonly due: number;
  readonly seq: number;
  cancelled: boolean;
}

function before(x: HeapTimer, y: HeapTimer): boolean {
  return x.due < y.due || (x.due === y.due && x.seq < y.seq);
}

/**
 * The timer queue of the simulated clocks (FakeClock here, the cluster simulator's clock in test/sim): a binary
 * min-heap on (due, seq), so timers fire in due time and then creation order. Cancelled timers are dropped lazily
 * when they reach the top.
 */
export class TimerHeap<T extends HeapTimer> {
  readonly items: T[] = [];

  /** The next live timer, or undefined (cancelled ones at the top are dropped on the way). */
  peek(): T | undefined {
    while (this.items.length > 0 && this.items[0]!.cancelled) this.pop();
    return this.items[0];
  }

  push(timer: T): void {
    const heap = this.items;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  pop(): T {
    const heap = this.items;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}
