package dev.braid.stress.link;

import java.util.ArrayDeque;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One direction of an emulated link: chunks (relay) or packets (namespace form) go in with {@link #offer}
 * and come out of {@link #take} no earlier than their delivery time, in order.
 *
 * <p>Timing of a chunk of {@code n} bytes offered at {@code t}:
 * <pre>
 *   serialization starts  s = max(t, end of the previous chunk's serialization)
 *   serialization ends    e = s + n / rate                      (rate read from LinkControl now)
 *   delivered at          d = max(e + delay + jitter, previous d)   (never reordered)
 * </pre>
 * The bottleneck queue is what is offered but not yet serialized: {@code (end of serialization - now) x rate}
 * bytes. {@link #admissionDelayNanos} says how long a producer that wants to stay within the buffer should
 * wait (the relay); {@link #offer} with {@code dropIfFull} drops what does not fit instead (namespace form).
 * Besides the queue, everything held (serialized but not delivered, or not taken because the consumer's
 * socket is full) is capped at {@link #capBytes()} = buffer + rate x delay + rate x jitter + one chunk:
 * past it a relay stops reading, so a receiver that does not read pushes back all the way to the sender.
 *
 * <h2>Threads</h2>
 * One producer thread ({@link #buffer}, {@link #offer}, {@link #offerEnd}, {@link #admissionDelayNanos}), one
 * consumer thread ({@link #take}, {@link #delivered}, {@link #lost}); {@link #recycle}, {@link #close} and the
 * counters from any thread. The queue and {@code heldBytes} are guarded by {@code lock}; the producer's
 * schedule ({@code serializedUntil}, {@code lastDeliverAt}, the random numbers) is the producer's alone.
 *
 * <h2>Arrays</h2>
 * A producer copies each chunk into an array from {@link #buffer} (of {@code largestChunk} bytes); the line
 * owns it from {@link #offer} on and takes it back when the item is {@link #delivered}, {@link #lost} or
 * dropped. A new array per chunk made 125 MB/s of garbage at the rate, and the collector's pauses
 * (2-7 ms every 1.8 s, in the same JVM as the endpoints) stalled the link in both directions: jitter the
 * link was not configured with, in every call's round trip.
 */
public final class DelayLine {
    /** A chunk of bytes (or an end marker) and when it may be delivered. */
    public record Item(byte[] data, int length, long deliverAtNanos, boolean end) {
    }

    private final LinkSpec spec;
    private final LinkControl control;
    private final long capBytes;
    private final int largestChunk;
    private final SplittableRandom random;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final ArrayDeque<Item> queue = new ArrayDeque<>();
    private long heldBytes;
    private boolean closed;

    // producer only
    private long serializedUntil = System.nanoTime();
    private long lastDeliverAt = serializedUntil;

    private final LongAdder bytesIn = new LongAdder();
    private final LongAdder bytesOut = new LongAdder();
    private final LongAdder bytesDropped = new LongAdder();
    private final LongAdder itemsOut = new LongAdder();
    private volatile long peakHeld; // written under lock
    /** Arrays of {@code largestChunk} bytes to reuse: at most what the cap holds, plus two. */
    private final ArrayBlockingQueue<byte[]> free;
    private long arraysMade; // producer only

    /** @param largestChunk the largest chunk or packet the producer offers (part of the cap) */
    public DelayLine(final LinkSpec spec, final LinkControl control, final int largestChunk) {
        this.spec = spec;
        this.control = control;
        this.largestChunk = largestChunk;
        this.random = new SplittableRandom(spec.seed());
        final double oneWay = (spec.oneWayDelayNanos() + spec.jitterNanos()) / 1e9;
        this.capBytes = spec.bufferBytes() + (long) (Math.max(spec.bytesPerSecond(), 1) * oneWay) + largestChunk;
        this.free = new ArrayBlockingQueue<>((int) Math.min(4096, capBytes / Math.max(largestChunk, 1) + 2));
    }

    /**
     * Producer: an array of {@code largestChunk} bytes to copy a chunk into and {@link #offer}: one the line
     * gave back, or a new one.
     */
    public byte[] buffer() {
        final byte[] b = free.poll();
        if (b != null) {
            return b;
        }
        arraysMade++;
        return new byte[largestChunk];
    }

    /** Arrays {@link #buffer} had to make (the producer's count; read it from another thread after a join). */
    public long arraysMade() {
        return arraysMade;
    }

    /** Producer or consumer: takes back an array from {@link #buffer} not offered (any other is left to the collector). */
    public void recycle(final byte[] data) {
        if (data != null && data.length == largestChunk) {
            free.offer(data); // dropped if the pool is full
        }
    }

    /** Most bytes held at once: buffer + what is on the wire at the configured rate + one chunk. */
    public long capBytes() {
        return capBytes;
    }

    /** Producer: bytes waiting to be serialized at {@code now} (the bottleneck queue). */
    public long queuedBytes(final long now) {
        final long rate = control.rate();
        if (rate == 0 || serializedUntil - now <= 0) {
            return 0;
        }
        return (long) ((serializedUntil - now) / 1e9 * rate);
    }

    /**
     * Producer: 0 if a chunk (of at most {@code largestChunk}) may be offered now without exceeding the buffer
     * or the cap, else a time to wait
     * (nanoseconds) before asking again.
     */
    public long admissionDelayNanos(final long now) {
        final long rate = control.rate();
        final long over = queuedBytes(now) - spec.bufferBytes();
        if (over >= 0) {
            return Math.max(50_000, (long) (over * 1e9 / Math.max(rate, 1)));
        }
        lock.lock();
        try {
            return heldBytes + largestChunk > capBytes ? 200_000 : 0;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Producer: schedules {@code length} bytes of {@code data} (which the line now owns: best one from
     * {@link #buffer}). Returns false if it was dropped: the link is blackholed, the line is closed, or
     * {@code dropIfFull} and it does not fit the buffer or the cap.
     */
    public boolean offer(final byte[] data, final int length, final boolean dropIfFull) {
        final long now = System.nanoTime();
        bytesIn.add(length);
        if (control.blackholed()) {
            bytesDropped.add(length);
            recycle(data);
            return false;
        }
        final long rate = control.rate();
        if (dropIfFull && rate > 0 && queuedBytes(now) + length > spec.bufferBytes()) {
            bytesDropped.add(length);
            recycle(data);
            return false;
        }
        final long start = Math.max(now, serializedUntil);
        final long end = rate == 0 ? start : start + (long) (length * 1e9 / rate);
        final long jitter = spec.jitterNanos() == 0 ? 0 : random.nextLong(spec.jitterNanos() + 1);
        long deliverAt = end + spec.oneWayDelayNanos() + jitter;
        if (deliverAt - lastDeliverAt < 0) {
            deliverAt = lastDeliverAt;
        }
        lock.lock();
        try {
            if (closed || (dropIfFull && heldBytes + length > capBytes)) {
                bytesDropped.add(length);
                recycle(data);
                return false;
            }
            serializedUntil = end;
            lastDeliverAt = deliverAt;
            queue.addLast(new Item(data, length, deliverAt, false));
            heldBytes += length;
            if (heldBytes > peakHeld) {
                peakHeld = heldBytes;
            }
            changed.signalAll();
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** Producer: the sender finished (EOF); delivered after everything offered before, with the same delay. */
    public void offerEnd() {
        final long deliverAt = Math.max(lastDeliverAt, Math.max(System.nanoTime(), serializedUntil) + spec.oneWayDelayNanos());
        lock.lock();
        try {
            queue.addLast(new Item(null, 0, deliverAt, true));
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Consumer: the next item once it is due and the link is not stalled, or null when the line is closed.
     * Items that come due while the link is blackholed are dropped here (counted), not returned; an end
     * marker waits for the blackhole to lift.
     * Call {@link #delivered} once the item's bytes have been written.
     */
    public Item take() throws InterruptedException {
        lock.lock();
        try {
            while (true) {
                if (closed) {
                    return null;
                }
                final Item head = queue.peekFirst();
                if (head == null) {
                    changed.await(50, TimeUnit.MILLISECONDS);
                    continue;
                }
                final long now = System.nanoTime();
                final long wait = head.deliverAtNanos - now;
                if (wait > 0) {
                    changed.awaitNanos(wait);
                    continue;
                }
                if (control.stalledAt(now) || (head.end && control.blackholed())) {
                    // a blackhole drops data but holds an end of stream: over a real link the FIN is
                    // retransmitted until it gets through, so the receiver sees it only once the link is back
                    changed.await(1, TimeUnit.MILLISECONDS);
                    continue;
                }
                queue.pollFirst();
                if (!head.end && control.blackholed()) {
                    heldBytes -= head.length;
                    bytesDropped.add(head.length);
                    recycle(head.data);
                    continue;
                }
                return head;
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Consumer: {@code item}'s bytes left the emulator (written to the receiving socket or device); its array
     * goes back to the line.
     */
    public void delivered(final Item item) {
        lock.lock();
        try {
            heldBytes -= item.length;
        } finally {
            lock.unlock();
        }
        bytesOut.add(item.length);
        itemsOut.increment();
        recycle(item.data);
    }

    /** Consumer: counts the extra writes made for one-byte segments. */
    void countWrites(final long writes) {
        itemsOut.add(writes - 1);
    }

    /** Consumer: {@code item} was taken but could not be delivered (the receiver went away); its array goes back. */
    public void lost(final Item item) {
        lock.lock();
        try {
            heldBytes -= item.length;
            bytesDropped.add(item.length);
        } finally {
            lock.unlock();
        }
        recycle(item.data);
    }

    /** Any thread: drops what is held and makes {@link #take} return null. */
    public void close() {
        lock.lock();
        try {
            closed = true;
            queue.clear();
            heldBytes = 0;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Bytes held now (queued, on the wire, or taken and not yet written). */
    public long heldBytes() {
        lock.lock();
        try {
            return heldBytes;
        } finally {
            lock.unlock();
        }
    }

    public long peakHeldBytes() {
        return peakHeld;
    }

    public long bytesIn() {
        return bytesIn.sum();
    }

    public long bytesOut() {
        return bytesOut.sum();
    }

    public long bytesDropped() {
        return bytesDropped.sum();
    }

    /** Writes made to the receiver (one per chunk, or one per byte with one-byte segments). */
    public long itemsOut() {
        return itemsOut.sum();
    }

    public LinkSpec spec() {
        return spec;
    }
}
