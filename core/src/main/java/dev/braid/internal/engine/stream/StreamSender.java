package dev.braid.internal.engine.stream;

import dev.braid.BraidException;
import dev.braid.PayloadWriter;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.concurrent.SpscBufferRing;
import dev.braid.internal.wire.Frames;
import dev.braid.spi.IoThreads;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.util.concurrent.locks.LockSupport;

import static dev.braid.internal.wire.FrameHeader.PAYLOAD_OFFSET;
import static dev.braid.internal.wire.FrameHeader.STATUS_CONTINUE;
import static dev.braid.internal.wire.FrameHeader.TYPE_STREAM;
import static dev.braid.internal.wire.FrameHeader.TYPE_STREAM_HOLE;

/**
 * A stream's outbound side: the send ring, the writing thread's paths (copying, zero-copy, non-blocking,
 * holes), and the state the connection's {@link StreamScheduler} keeps per stream. The scheduler sends a
 * packet only when the stream's {@link StreamFlowControl} allows it.
 *
 * <h2>Threads</h2>
 * <ul>
 *   <li>One writing thread at a time: the write paths, the single producer of the SPSC ring {@link #out}.
 *       The stream's end (EOF, OK) travels through the same ring, so it never overtakes data; an abort goes
 *       on the connection's control lane and overtakes everything.</li>
 *   <li>The connection's writer (the scheduler): consumes the ring, owns {@link #inActive} and
 *       {@link #deficit}, calls {@link #onRingSpace}.</li>
 *   <li>Any thread: {@link #drainOutbound} (abort, close), the hand-over flags.</li>
 * </ul>
 *
 * <h2>Consumer token</h2>
 * An abort must release queued packets at once, but the ring has one consumer. So its consumer side is
 * guarded by a token ({@code outToken}): the scheduler takes it with one uncontended CAS per visit, a
 * drainer takes it to empty the ring, and whoever holds it when the failure is set drains after releasing
 * it. Nobody ever waits for the token.
 *
 * <h2>The open packet (whole packets): who owns it when</h2>
 * A write's remainder may stay <em>open</em> in the ring (see "Whole packets" in docs/design.md): queued, its
 * header not yet written, so the next write can append to it. One word, {@link #open}, says who owns it,
 * and it names the packet itself, never only a state, so a compare-and-set on it can only ever act on the
 * packet it names:
 * <ul>
 *   <li>{@code open == f}: {@code f} is open. The writing thread may take it ({@code f → APPENDING}) to
 *       append; a consumer holding the token, with {@code f} at the ring's head, may seal it
 *       ({@code f → null}) and then owns it: it writes the header and sends (or drops) it, and the writing
 *       thread never touches it again (its next CAS from {@code f} fails).</li>
 *   <li>{@code open == APPENDING}: the writing thread owns {@link #carry} (which is {@link #lastOpen}): it
 *       appends, or writes the header when it fills or seals the packet, then hands it back with a release
 *       store ({@code → carry}, still open) or gives it up ({@code → null}, sealed, header written).
 *       Consumers leave a packet at the head that is {@code lastOpen} alone meanwhile; the writing thread
 *       schedules the stream (and drains it, if it failed) after its release store.</li>
 *   <li>{@code open == null}, or another packet: a packet at the ring's head that is not named is sealed,
 *       its header written. Whoever set {@code open} away from a packet wrote its header before (writing
 *       thread, release store) or writes it after (the sealing consumer, which alone holds it then).</li>
 * </ul>
 * Memory ordering: the writing thread's appends and header happen before its release store of {@code open}
 * (a volatile set or a successful CAS); a consumer's volatile read of {@code open} (acquire) that sees that
 * store or a later one sees them. {@code lastOpen} is written (volatile) before the packet is offered, and
 * changes only when the next open packet is queued, which needs this one given up first; so a consumer that
 * reads {@code APPENDING} and then {@code lastOpen == f} may be wrong only towards waiting (the writing
 * thread has since handed {@code f} back or sealed it; its schedule call brings the consumer back), never
 * towards reading a packet still being written.
 * A packet is never released while {@code open} names it: sealing sets {@code open} away from it first.
 * (Before this word named the packet, an int state OPEN/APPENDING/SEALED and a separate {@code openPacket}
 * let a consumer read {@code openPacket == P}, the writing thread fill and seal P and queue the next
 * remainder Q as OPEN, and the consumer's CAS OPEN→SEALED succeed on Q's state: it wrote P's header a second
 * time (limit 0: {@code Frames.length} threw IndexOutOfBoundsException, INTERNAL_ERROR) and sent Q without
 * a header. {@code OpenPacketRaceTest} and the jcstress {@code OpenPacketTests} cover it.)
 *
 * <h2>Waiting</h2>
 * A blocked writer parks after publishing itself in {@code writeWaiter} (volatile) and re-checking that the
 * ring is full; the scheduler reads the waiter after freeing a slot and unparks it (Dekker-style: each
 * writes its own volatile, then reads the other's).
 */
final class StreamSender {
    /**
     * Slots in the send ring. Enough that a stream writing small packets still fills a writer pass's
     * quantum (64 x 4 KiB packets = 263,936 bytes), so deficit round-robin, not the ring, decides the shares.
     */
    static final int OUT_RING_PACKETS = 64;
    /**
     * Bytes the send ring may hold (checked before each offer, so it may be passed by one packet): eight
     * maximal packets, the bound the ring had when it held eight slots (docs/design.md, memory bounds).
     */
    static final long OUT_RING_BYTES = 8L * (dev.braid.internal.wire.FrameHeader.HEADER_LENGTH
            + dev.braid.internal.wire.FrameHeader.MAX_STREAM_PAYLOAD);
    private static final VarHandle SCHEDULED;
    private static final VarHandle IN_READY;
    private static final VarHandle OUT_TOKEN;
    private static final VarHandle WANT_WRITABLE;
    private static final VarHandle OPEN;
    /**
     * Whether a write's remainder stays open for the next write to fill (whole packets, issue 13). On unless
     * {@code -Dbraid.carryRemainder=false}: then each write's remainder goes as a packet of its own.
     */
    static final boolean CARRY_REMAINDER = !"false".equalsIgnoreCase(System.getProperty("braid.carryRemainder"));
    /** {@link #open}: the writing thread is appending to {@link #carry} (consumers leave it alone). */
    private static final Object APPENDING = new Object();

    static {
        try {
            final MethodHandles.Lookup l = MethodHandles.lookup();
            SCHEDULED = l.findVarHandle(StreamSender.class, "scheduled", boolean.class);
            IN_READY = l.findVarHandle(StreamSender.class, "inReady", boolean.class);
            OUT_TOKEN = l.findVarHandle(StreamSender.class, "outToken", boolean.class);
            WANT_WRITABLE = l.findVarHandle(StreamSender.class, "wantWritable", boolean.class);
            OPEN = l.findVarHandle(StreamSender.class, "open", Object.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final StreamImpl s;
    final StreamFlowControl flow;
    final int maxPacket;
    final SpscBufferRing out = new SpscBufferRing(OUT_RING_PACKETS);
    /** Bytes in {@link #out}: added by the producer before its offer, taken off by whoever polls. */
    private final java.util.concurrent.atomic.AtomicLong ringBytes = new java.util.concurrent.atomic.AtomicLong();
    private volatile Thread writeWaiter;
    /** A non-blocking writer found the ring full and waits for onWritable. */
    @SuppressWarnings("unused") // also accessed through WANT_WRITABLE
    private volatile boolean wantWritable;
    @SuppressWarnings("unused") // accessed through SCHEDULED
    private volatile boolean scheduled;
    @SuppressWarnings("unused") // accessed through OUT_TOKEN
    private volatile boolean outToken;
    /** Writing thread only: the open packet it may still append to (see "Whole packets"), or null. */
    private PooledBuffer carry;
    /**
     * The last packet queued open: written by the writing thread before it is offered, for consumers that
     * find {@link #open} at {@code APPENDING} (see "The open packet" above).
     */
    private volatile PooledBuffer lastOpen;
    /** Who owns the open packet now: the packet itself, {@code APPENDING}, or null (see above). */
    @SuppressWarnings("unused") // accessed through OPEN
    private volatile Object open;
    /** Writer-owned scheduling state (see StreamScheduler). */
    boolean inActive;
    long deficit;
    volatile long bytesWritten;

    StreamSender(final StreamImpl s, final StreamFlowControl flow, final int maxPacket) {
        this.s = s;
        this.flow = flow;
        this.maxPacket = maxPacket;
    }


    /**
     * The payload of a full packet of this stream now: the connection's packet size
     * ({@link SendBudget#packetPayload()}, which follows the delivery rate when this side tunes windows),
     * within this stream's largest ({@link #maxPacket}). Any thread.
     */
    int packetSize() {
        return Math.min(maxPacket, s.table.sendBudget.packetPayload());
    }

    /**
     * Writing thread: copies {@code src}'s remaining bytes into packets, blocking while the ring is full.
     * Whole packets: the bytes go first into the open packet a previous write left (see "Whole packets"),
     * then into full packets; the remainder of a write that completed a packet stays open for the next write.
     */
    void write(final ByteBuffer src) {
        put(src, true);
    }

    void write(final byte[] bytes, final int off, final int len) {
        write(ByteBuffer.wrap(bytes, off, len));
    }

    void write(final int length, final PayloadWriter writer) {
        if (length < 1) {
            throw new IllegalArgumentException("packet length " + length + " must be at least 1");
        }
        if (length > maxPacket) {
            throw new dev.braid.LimitExceededException("maxStreamPacket", maxPacket, "a zero-copy packet of "
                    + length + " bytes is larger than the largest packet stream " + s + " may send, " + maxPacket
                    + " bytes (libvirt's packet limit, the peer's window and largest message decide it; "
                    + "BraidStream.maxPacketSize() says it, write(ByteBuffer) splits)");
        }
        final PooledBuffer f = dataPacket(length);
        final ByteBuffer b = f.byteBuffer();
        try {
            final ByteBuffer dst = b.slice(PAYLOAD_OFFSET, length);
            writer.write(dst);
            if (dst.hasRemaining()) {
                throw new IllegalStateException("PayloadWriter wrote " + dst.position() + " of the " + length
                        + " bytes it declared");
            }
        } catch (Throwable t) {
            f.release();
            throw t;
        }
        b.position(PAYLOAD_OFFSET + length);
        commitAndQueue(f, TYPE_STREAM, STATUS_CONTINUE, true);
        bytesWritten += length;
    }

    /**
     * Writing thread: sends {@code src}'s remaining bytes without copying them, as packets whose payload is
     * a slice of {@code src} (each a frame header of its own plus the slice, written by one gathering write);
     * {@code onRelease} runs once, when the last of them was written or dropped. A heap buffer cannot go to
     * the socket as it is: it is copied (one pass, as {@link #write(ByteBuffer)}) and released at once.
     * Blocks like {@code write} while the ring is full. {@code src}'s position advances past what was queued.
     */
    void write(final ByteBuffer src, final Runnable onRelease) {
        java.util.Objects.requireNonNull(onRelease, "onRelease");
        checkWritable();
        if (!src.isDirect() || !src.hasRemaining()) {
            try {
                write(src);
            } finally {
                onRelease.run();
            }
            return;
        }
        final int total = src.remaining();
        final int size = packetSize();
        final int packets = (total + size - 1) / size;
        final ReleaseCountdown countdown = new ReleaseCountdown(packets, onRelease);
        int queued = 0;
        try {
            while (src.hasRemaining()) {
                final int n = Math.min(src.remaining(), size);
                final PooledBuffer header = s.table.pool.acquire(dev.braid.internal.wire.FrameHeader.HEADER_LENGTH);
                final ByteBuffer h = header.byteBuffer();
                Frames.writeHeader(h, dev.braid.internal.wire.FrameHeader.HEADER_LENGTH + n, s.procedure.program(),
                        s.procedure.version(), s.procedure.procedure(), TYPE_STREAM, s.serial, STATUS_CONTINUE);
                h.limit(dev.braid.internal.wire.FrameHeader.HEADER_LENGTH).position(0);
                final PooledBuffer payload = s.table.pool.wrap(src.slice(src.position(), n), countdown);
                src.position(src.position() + n);
                queued++;
                queuePair(header, payload);
                bytesWritten += n;
            }
        } finally {
            for (int i = queued; i < packets; i++) {
                countdown.run(); // packets never made: their share of the release is due now
            }
        }
    }

    /** Runs the caller's release callback when the last of a write's packets is released. Any thread. */
    private static final class ReleaseCountdown extends java.util.concurrent.atomic.AtomicInteger implements Runnable {
        private static final long serialVersionUID = 1L;
        private final transient Runnable onRelease;

        ReleaseCountdown(final int packets, final Runnable onRelease) {
            super(packets);
            this.onRelease = onRelease;
        }

        @Override
        public void run() {
            if (decrementAndGet() == 0) {
                onRelease.run();
            }
        }
    }

    int tryWrite(final ByteBuffer src) {
        return put(src, false);
    }

    /**
     * Writing thread: the copying write paths. {@code block} false: stops (returning what it took) when the
     * ring is full, after asking the writer for onWritable.
     */
    private int put(final ByteBuffer src, final boolean block) {
        checkWritable();
        final int size = packetSize();
        int total = 0;
        boolean completed = false; // this write completed a packet: its remainder stays open
        if (carry != null && src.hasRemaining()) {
            final int n = appendToOpen(src);
            total += n;
            completed = carry == null && n > 0;
        }
        while (src.hasRemaining()) {
            if (!block && isFull()) {
                // Ask the writer for onWritable, then look again: a slot freed before the flag was seen
                // would otherwise go unannounced.
                wantWritable = true;
                if (isFull()) {
                    break;
                }
                wantWritable = false;
            }
            final int n = Math.min(src.remaining(), size);
            final boolean open = CARRY_REMAINDER && completed && n < size;
            final PooledBuffer f = dataPacket(open ? size : n);
            final ByteBuffer b = f.byteBuffer();
            if (open) {
                b.limit(PAYLOAD_OFFSET + size); // the open packet is full, and sealed, at this size
            }
            final int limit = src.limit();
            src.limit(src.position() + n);
            b.put(src);
            src.limit(limit);
            if (open) {
                queueOpen(f, block);
            } else {
                commitAndQueue(f, TYPE_STREAM, STATUS_CONTINUE, block);
            }
            total += n;
            bytesWritten += n;
            completed = true;
        }
        return total;
    }

    /**
     * Writing thread: appends what fits of {@code src} to the open packet, if the scheduler has not sealed it
     * yet; seals it when full. Returns the bytes taken (0: it was sealed, {@link #carry} is now null).
     */
    private int appendToOpen(final ByteBuffer src) {
        final PooledBuffer c = carry;
        if (!OPEN.compareAndSet(this, c, APPENDING)) {
            carry = null; // the scheduler (or a drainer) sealed it: it is on its way
            return 0;
        }
        final ByteBuffer b = c.byteBuffer();
        final int n = Math.min(src.remaining(), b.limit() - b.position());
        final int limit = src.limit();
        src.limit(src.position() + n);
        b.put(src);
        src.limit(limit);
        ringBytes.addAndGet(n);
        bytesWritten += n;
        if (b.position() == b.limit()) {
            commitOpen(c);
            carry = null;
            OPEN.setVolatile(this, null);
        } else {
            OPEN.setVolatile(this, c);
        }
        s.table.schedule(this); // the scheduler may have passed it by while it was being appended to
        if (s.failure != null) {
            drainOutbound(); // aborted meanwhile: a drainer stopped at this packet and left it to us
        }
        return n;
    }

    /** Writing thread: queues {@code f} (payload written, header not yet) as the open packet. */
    private void queueOpen(final PooledBuffer f, final boolean block) {
        final int length = f.byteBuffer().position();
        carry = f;
        lastOpen = f;
        OPEN.setVolatile(this, f); // before the offer: a consumer that sees f at the head finds it named
        try {
            queue(f, length, block, Long.MAX_VALUE);
        } catch (RuntimeException | Error e) {
            // never reached the ring (queue released it), so no consumer saw it; nothing names it after this
            carry = null;
            lastOpen = null;
            OPEN.setVolatile(this, null);
            throw e;
        }
    }

    /**
     * Writing thread: seals the open packet, if any, so that nothing is appended to it behind a packet
     * queued after it. Called before anything else is queued (holes, zero-copy packets, the end).
     */
    private void sealOpen() {
        final PooledBuffer c = carry;
        if (c == null) {
            return;
        }
        carry = null;
        if (OPEN.compareAndSet(this, c, APPENDING)) {
            commitOpen(c);
            OPEN.setVolatile(this, null);
        } // else a consumer sealed it: it is on its way, and no longer ours

    }

    /**
     * Consumer (the scheduler or a drainer, holding the token), with {@code f} at the ring's head: if
     * {@code f} is the open packet, seals it (the writing thread appends no more; its header is written).
     * Returns false if the writing thread is appending to it right now: look again later (it schedules
     * the stream, and drains it if the stream failed, when it is done).
     */
    boolean sealIfOpen(final PooledBuffer f) {
        final Object o = OPEN.compareAndExchange(this, f, null);
        if (o == f) {
            commitOpen(f); // ours alone now: the writing thread's next CAS from f fails
            return true;
        }
        // f is not named: sealed, its header written (true); or it is the packet being appended to (false:
        // the writing thread schedules the stream when it hands it back)
        return !(o == APPENDING && f == lastOpen);
    }

    /**
     * Whether {@code f} (at the ring's head) is the open packet, still unsealed (or, being appended to, may
     * be: a consumer then waits, see "The open packet"). Consumer.
     */
    boolean isOpen(final PooledBuffer f) {
        final Object o = OPEN.getVolatile(this);
        return o == f || (o == APPENDING && f == lastOpen);
    }

    private void commitOpen(final PooledBuffer f) {
        Frames.commit(f, s.procedure.program(), s.procedure.version(), s.procedure.procedure(), TYPE_STREAM,
                s.serial, STATUS_CONTINUE);
    }

    void sendHole(final long length) {
        if (length <= 0) {
            throw new IllegalArgumentException("hole length must be > 0: " + length);
        }
        checkWritable();
        final PooledBuffer f = Frames.claim(s.table.pool, 12);
        f.byteBuffer().putLong(length).putInt(0);
        commitAndQueue(f, TYPE_STREAM_HOLE, STATUS_CONTINUE, true);
        bytesWritten += length;
    }

    private PooledBuffer dataPacket(final int n) {
        checkWritable();
        return Frames.claim(s.table.pool, n);
    }

    private void checkWritable() {
        final BraidException f = s.failure;
        if (f != null) {
            throw f;
        }
        if (s.localEndQueued || s.eofQueued) {
            throw new IllegalStateException("stream " + s + " was already " + (s.localEndQueued ? "finished"
                    : "closed for writing (closeWrite or finish sent its end of data)") + " on this side");
        }
    }

    /**
     * Commits the header and hands the packet to the writer. Blocking mode waits while the ring is full;
     * non-blocking mode is only used after checking there is room (single producer).
     */
    void commitAndQueue(final PooledBuffer f, final int type, final int status, final boolean block) {
        commitAndQueue(f, type, status, block, Long.MAX_VALUE);
    }

    /** As above; a blocking offer gives up at {@code deadline} (System.nanoTime), aborting the stream. */
    void commitAndQueue(final PooledBuffer f, final int type, final int status, final boolean block,
                                final long deadline) {
        sealOpen();
        Frames.commit(f, s.procedure.program(), s.procedure.version(), s.procedure.procedure(), type, s.serial, status);
        queue(f, f.byteBuffer().remaining(), block, deadline);
    }

    /** Offers {@code f} ({@code length} bytes counted against the ring's bound), waiting as commitAndQueue says. */
    private void queue(final PooledBuffer f, final int length, final boolean block, final long deadline) {
        while (!tryOffer(f, length)) {
            if (!block) {
                f.release();
                throw new IllegalStateException("send ring full in non-blocking write");
            }
            final BraidException fail = s.failure;
            if (fail != null) {
                f.release();
                throw fail;
            }
            if (Thread.currentThread().isInterrupted()) {
                f.release();
                throw s.interrupted("writing");
            }
            final long left = deadline == Long.MAX_VALUE ? Long.MAX_VALUE : deadline - System.nanoTime();
            if (left <= 0) {
                f.release();
                final BraidException t = s.finishTimedOut();
                s.abortWith(t, "finish handshake timed out");
                throw t;
            }
            writeWaiter = Thread.currentThread();
            if (isFull() && s.failure == null) {
                try {
                    IoThreads.checkBlockingAllowed("BraidStream.write (the send ring is full)");
                } catch (RuntimeException e) {
                    writeWaiter = null;
                    f.release();
                    throw e;
                }
                s.park(left); // onRingSpace and fail unpark it
            }
            writeWaiter = null;
        }
        s.table.schedule(this);
        if (s.failure != null) {
            drainOutbound(); // aborted meanwhile: the writer may never look at this stream again
        }
    }

    /**
     * Offers a header and its caller-owned payload as one packet (the consumer sees both or neither),
     * blocking while the ring lacks two slots. On failure both are released (the payload's release runs the
     * caller's callback).
     */
    private void queuePair(final PooledBuffer header, final PooledBuffer payload) {
        sealOpen();
        final int length = header.byteBuffer().remaining() + payload.byteBuffer().remaining();
        while (true) {
            if (!isFull()) {
                ringBytes.addAndGet(length);
                if (out.offerPair(header, payload)) {
                    break;
                }
                ringBytes.addAndGet(-length);
            }
            final BraidException fail = s.failure;
            if (fail != null) {
                header.release();
                payload.release();
                throw fail;
            }
            if (Thread.currentThread().isInterrupted()) {
                header.release();
                payload.release();
                throw s.interrupted("writing");
            }
            writeWaiter = Thread.currentThread();
            if (out.size() >= out.capacity() - 1 || isFull()) {
                if (s.failure == null) {
                    try {
                        IoThreads.checkBlockingAllowed("BraidStream.write (the send ring is full)");
                    } catch (RuntimeException e) {
                        writeWaiter = null;
                        header.release();
                        payload.release();
                        throw e;
                    }
                    s.park(Long.MAX_VALUE); // onRingSpace and fail unpark it
                }
            }
            writeWaiter = null;
        }
        s.table.schedule(this);
        if (s.failure != null) {
            drainOutbound(); // aborted meanwhile: the writer may never look at this stream again
        }
    }

    /**
     * Any thread that holds the writing role: queues this side's end (EOF or OK, with a result's payload
     * already in {@code f}) only if the ring has room now. False (nothing done, {@code f} still the caller's)
     * otherwise.
     */
    boolean tryQueueEnd(final PooledBuffer f, final int status) {
        if (isFull()) {
            return false;
        }
        commitAndQueue(f, TYPE_STREAM, status, false);
        return true;
    }

    /** Writer thread: a packet left the ring. Wakes a blocked writer and a non-blocking one's listener. */
    void onRingSpace() {
        final Thread w = writeWaiter;
        if (w != null) {
            LockSupport.unpark(w);
        }
        if (wantWritable && WANT_WRITABLE.compareAndSet(this, true, false)) {
            s.signals.signal(StreamSignals.WRITABLE);
        }
    }

    /** Link in the scheduler's hand-over stack; written by the offering thread, then by the writer. */
    StreamSender readyNext;
    @SuppressWarnings("unused") // accessed through IN_READY
    private volatile boolean inReady;

    /** Any thread: claims the one place this stream may have in the scheduler's hand-over stack. */
    boolean enterReady() {
        return IN_READY.compareAndSet(this, false, true);
    }

    /** Writer: the stream left the hand-over stack. */
    void leaveReady() {
        IN_READY.setRelease(this, false);
    }

    boolean trySchedule() {
        return SCHEDULED.compareAndSet(this, false, true);
    }

    void unschedule() {
        SCHEDULED.setVolatile(this, false);
    }

    boolean takeOutToken() {
        return OUT_TOKEN.compareAndSet(this, false, true);
    }

    void releaseOutToken() {
        OUT_TOKEN.setVolatile(this, false);
    }

    /** Releases every queued outbound packet, if no one else is consuming the ring right now. */
    void drainOutbound() {
        do {
            if (!takeOutToken()) {
                return; // the holder drains when it sees the s.failure
            }
            final boolean all;
            try {
                all = releaseQueued();
            } finally {
                releaseOutToken();
            }
            if (!all) {
                break; // the writing thread is appending to the open packet: it drains when it is done
            }
            // a producer may have offered after our last poll and failed to get the token: look again
        } while (s.failure != null && !out.isEmpty());
        final Thread w = writeWaiter;
        if (w != null) {
            LockSupport.unpark(w);
        }
    }

    /**
     * Consumer holding the token: releases every queued packet. Returns false if it stopped at the open
     * packet because the writing thread is appending to it (that thread drains after it, see
     * {@link #appendToOpen}).
     */
    boolean releaseQueued() {
        PooledBuffer f;
        while ((f = out.peek()) != null) {
            if (!sealIfOpen(f)) {
                return false;
            }
            pollRing();
            f.release();
        }
        return true;
    }

    /**
     * Writing thread: offers {@code f} if the ring has a slot and is under its byte bound. The bytes are
     * counted before the offer, so the consumer's subtraction never takes the count below what is queued.
     */
    private boolean tryOffer(final PooledBuffer f, final int length) {
        if (isFull()) {
            return false;
        }
        ringBytes.addAndGet(length);
        if (out.offer(f)) {
            return true;
        }
        ringBytes.addAndGet(-length);
        return false;
    }

    /** Bytes (frames, headers included) written by this side and waiting in the send ring. Any thread. */
    long queuedBytes() {
        return Math.max(0, ringBytes.get());
    }

    /** Whether the writing thread must wait: no free slot, or the ring holds its byte bound. Any thread. */
    boolean isFull() {
        return ringBytes.get() >= OUT_RING_BYTES || out.isFullVolatile();
    }

    /** Consumer (the scheduler, or a drainer holding the token): takes the next packet out of the ring. */
    PooledBuffer pollRing() {
        final PooledBuffer f = out.poll();
        if (f != null) {
            tookFromRing(f);
        }
        return f;
    }

    private void tookFromRing(final PooledBuffer f) {
        ringBytes.addAndGet(-f.byteBuffer().remaining());
    }

    @Override
    public String toString() {
        return s.toString();
    }
}
