package dev.braid.internal.engine.stream;

import dev.braid.BraidStream;
import dev.braid.StreamPacket;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.concurrent.MpscBufferQueue;
import dev.braid.internal.wire.Frames;
import dev.braid.spi.IoThreads;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.util.concurrent.locks.LockSupport;

import static dev.braid.internal.wire.FrameHeader.HEADER_LENGTH;
import static dev.braid.internal.wire.FrameHeader.PAYLOAD_OFFSET;
import static dev.braid.internal.wire.FrameHeader.TYPE_STREAM_HOLE;

/**
 * A stream's inbound side: the queue of received packets, the reading thread's paths (copying reads,
 * zero-copy packets), credit for what is consumed, and the drain on abort or close.
 *
 * <h2>Threads</h2>
 * <ul>
 *   <li>The connection's reader offers packets ({@link #offer}), one producer of the MPSC queue {@link #in}.</li>
 *   <li>One reading thread at a time: {@link #read}, {@link #readPacket}; it owns {@code current},
 *       {@code currentPos}, {@code holeLeft}.</li>
 *   <li>Any thread: {@link #packetConsumed} (packets may be closed anywhere; credit is thread-safe in
 *       {@link StreamFlowControl}), {@link #drainInbound}, {@link #wake}.</li>
 * </ul>
 *
 * <h2>Consumer token</h2>
 * An abort (any thread) or a connection close must release queued packets at once, but the queue has one
 * consumer. So the consumer side is guarded by a token ({@code inToken}): the reading thread takes it with
 * one uncontended CAS per poll, a drainer takes it to empty the queue, and whoever holds it when the
 * stream's failure is set drains after releasing it. Nobody ever waits for the token.
 *
 * <h2>Waiting</h2>
 * A blocked reader parks after publishing itself in {@code waiter} (volatile) and re-checking its
 * condition; whoever changes the condition (a packet, EOF, failure) calls {@link #wake} after the change.
 */
final class StreamReceiver {
    private static final VarHandle IN_TOKEN;

    static {
        try {
            IN_TOKEN = MethodHandles.lookup().findVarHandle(StreamReceiver.class, "inToken", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final StreamImpl s;
    final MpscBufferQueue in = new MpscBufferQueue();
    private volatile Thread readWaiter;
    @SuppressWarnings("unused") // accessed through IN_TOKEN
    private volatile boolean inToken;
    /** Reading thread: the packet being consumed and where. */
    private PooledBuffer current;
    private int currentPos;
    private long holeLeft;
    /** The reading thread was told EOF: every byte the peer sent was read. */
    volatile boolean eofDelivered;
    volatile long bytesRead;
    volatile long lastReadNanos = System.nanoTime();

    StreamReceiver(final StreamImpl s) {
        this.s = s;
    }

    /** Reader: a data or hole packet admitted by flow control; the queue owns it now. */
    void offer(final PooledBuffer f) {
        in.offer(f);
    }

    /** Any thread, after a change the reading thread may wait for: wakes it. */
    void wake() {
        final Thread r = readWaiter;
        if (r != null) {
            LockSupport.unpark(r);
        }
    }

    /** Any thread: whether packets wait that the reading thread has not taken. */
    boolean hasQueued() {
        return !in.isEmptyVolatile();
    }

    /** Reading thread: bytes, {@code WOULD_BLOCK} after the timeout, or {@code EOF}. */
    int read(final ByteBuffer dst, final long timeoutNanos) {
        if (!dst.hasRemaining()) {
            return 0;
        }
        final long deadline = timeoutNanos == Long.MAX_VALUE ? Long.MAX_VALUE : System.nanoTime() + timeoutNanos;
        while (true) {
            final int n = readAvailable(dst);
            if (n != 0) {
                return n;
            }
            final long left = deadline == Long.MAX_VALUE ? Long.MAX_VALUE : deadline - System.nanoTime();
            if (left <= 0) {
                return BraidStream.WOULD_BLOCK;
            }
            if (Thread.currentThread().isInterrupted()) {
                throw s.interrupted("reading");
            }
            readWaiter = Thread.currentThread();
            if (in.isEmpty() && s.failure == null && !s.remoteEof) {
                IoThreads.checkBlockingAllowed("BraidStream.read");
                s.park(left); // wakeReader and fail unpark it
            }
            readWaiter = null;
        }
    }

    /** Copies what is available: bytes, 0 if nothing now, EOF. Throws the s.failure. */
    private int readAvailable(final ByteBuffer dst) {
        if (!IN_TOKEN.compareAndSet(this, false, true)) {
            s.throwIfFailed(); // a drain holds the token: the stream failed
            return 0;
        }
        int n = 0;
        try {
            if (s.failure == null) {
                n = copyInto(dst);
                if (n == 0 && s.remoteEof && current == null) {
                    // The EOF flag is set after the last packet was queued: if a poll now finds nothing,
                    // nothing can follow. A packet that slipped in between is read, not dropped.
                    n = copyInto(dst);
                    if (n == 0 && current == null) {
                        n = BraidStream.EOF;
                        eofDelivered = true;
                    }
                }
            }
        } finally {
            IN_TOKEN.setVolatile(this, false);
        }
        if (s.failure != null) {
            drainInbound();
            throw s.failure();
        }
        if (n > 0) {
            lastReadNanos = System.nanoTime();
            bytesRead += n;
        }
        return n;
    }

    /** Holds the inbound token. */
    private int copyInto(final ByteBuffer dst) {
        int total = 0;
        while (dst.hasRemaining()) {
            if (current == null) {
                current = in.poll();
                if (current == null) {
                    break;
                }
                if (Frames.type(current) == TYPE_STREAM_HOLE) {
                    holeLeft = current.byteBuffer().getLong(PAYLOAD_OFFSET);
                } else {
                    currentPos = PAYLOAD_OFFSET;
                }
            }
            final ByteBuffer b = current.byteBuffer();
            if (Frames.type(current) == TYPE_STREAM_HOLE) {
                final int z = (int) Math.min(dst.remaining(), holeLeft);
                for (int i = 0; i < z; i++) {
                    dst.put((byte) 0);
                }
                holeLeft -= z;
                total += z;
                if (holeLeft == 0) {
                    releaseCurrent();
                }
            } else {
                final int end = Frames.length(current);
                final int z = Math.min(dst.remaining(), end - currentPos);
                dst.put(dst.position(), b, currentPos, z); // absolute: no slice per copy
                dst.position(dst.position() + z);
                currentPos += z;
                total += z;
                if (currentPos == end) {
                    releaseCurrent();
                }
            }
        }
        return total;
    }

    private void releaseCurrent() {
        final PooledBuffer f = current;
        current = null;
        packetConsumed(f);
    }

    /** Reading thread: the next packet, blocking; null at EOF. */
    StreamPacket readPacket() {
        while (true) {
            final StreamPacket p = take(true, "readPacket()");
            if (p == StreamPacket.EOF) {
                return null;
            }
            if (p != null) {
                return p;
            }
            if (Thread.currentThread().isInterrupted()) {
                throw s.interrupted("reading");
            }
            readWaiter = Thread.currentThread();
            if (in.isEmpty() && s.failure == null && !s.remoteEof) {
                IoThreads.checkBlockingAllowed("BraidStream.readPacket");
                s.park(Long.MAX_VALUE); // wakeReader and fail unpark it
            }
            readWaiter = null;
        }
    }

    /**
     * Reading thread, never blocking: the next packet, null when none is queued now, or
     * {@link StreamPacket#EOF} once the peer's end was reached (every packet before it read).
     */
    StreamPacket tryReadPacket() {
        return take(false, "tryReadPacket()");
    }

    /**
     * Reading thread: one look at the receive queue, for both packet reads. Returns the next packet,
     * {@link StreamPacket#EOF} once the peer's end was reached, or null when nothing is queued now (or, when
     * {@code spinWhileBusy} is false, when a drain holds the token). Throws the stream's failure.
     */
    private StreamPacket take(final boolean spinWhileBusy, final String method) {
        while (!IN_TOKEN.compareAndSet(this, false, true)) {
            s.throwIfFailed(); // only a drain takes the token from the reader: the stream failed
            if (!spinWhileBusy) {
                return null;
            }
            Thread.onSpinWait();
        }
        PooledBuffer f = null;
        boolean eof = false;
        try {
            if (s.failure == null) {
                if (current != null) {
                    throw new IllegalStateException(method + " after a partial read(): finish reading the packet first");
                }
                f = in.poll();
                if (f == null && s.remoteEof) {
                    f = in.poll(); // the EOF flag follows the last packet: a second look is final
                    eof = f == null;
                }
            }
        } finally {
            IN_TOKEN.setVolatile(this, false);
        }
        if (s.failure != null) {
            if (f != null) {
                packetConsumed(f);
            }
            drainInbound();
            throw s.failure();
        }
        if (f != null) {
            lastReadNanos = System.nanoTime();
            return new StreamPacketImpl(s, f);
        }
        if (eof) {
            eofDelivered = true;
            return StreamPacket.EOF;
        }
        return null;
    }

    /** A received packet was consumed: return its bytes to the window and its buffer to the pool. */
    void packetConsumed(final PooledBuffer f) {
        final long wire = StreamFlowControl.cost(Frames.length(f), Frames.length(f) - HEADER_LENGTH);
        f.release();
        s.table.consumed(wire);
        final long credit = s.flow.consumed(wire, s.failure == null && !s.done);
        if (credit > 0) {
            s.table.sendCredit(s.serial, credit);
        }
        resumeReadsIfPaused();
    }

    void resumeReadsIfPaused() {
        if (s.readHold != null && s.readHold.isHeld() && (s.failure != null || s.flow.queued() < s.flow.receiveWindow() / 2)) {
            s.readHold.release();
        }
    }

    /** Releases every queued inbound packet, if no one else is consuming right now. */
    void drainInbound() {
        do {
            drainInboundOnce();
        } while ((s.failure != null || s.done) && !in.isEmptyVolatile() && !inTokenHeld());
        resumeReadsIfPaused();
    }

    private boolean inTokenHeld() {
        return (boolean) IN_TOKEN.getVolatile(this);
    }

    private void drainInboundOnce() {
        if (!IN_TOKEN.compareAndSet(this, false, true)) {
            return; // the holder drains when it sees the s.failure
        }
        try {
            if (current != null) {
                final PooledBuffer f = current;
                current = null;
                f.release();
                s.flow.dropped(StreamFlowControl.cost(Frames.length(f), Frames.length(f) - HEADER_LENGTH));
            }
            PooledBuffer f;
            while ((f = in.poll()) != null) {
                s.flow.dropped(StreamFlowControl.cost(Frames.length(f), Frames.length(f) - HEADER_LENGTH));
                f.release();
            }
        } finally {
            IN_TOKEN.setVolatile(this, false);
        }
    }
}
