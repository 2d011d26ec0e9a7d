package dev.braid.internal.engine.io;

import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.concurrent.MpscBufferQueue;
import dev.braid.spi.Transport;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;

/**
 * A connection's outbound side: the lanes frames wait in, the flush handshake with the backend, the
 * writer's batch, and the one place that states the order in which frames leave.
 *
 * <h2>Policy</h2>
 * Each writer pass ({@link #gather}) takes, in this order: every control frame waiting (keepalive, CREDIT,
 * aborts, RELEASE), then calls, replies and events from the main lane, then at most one stream quantum
 * ({@link #STREAM_QUANTUM} bytes: one maximal stream packet) from the {@link StreamSource}, and only if the
 * batch holds no stream data not yet written. So a small call waits behind at most one quantum of stream
 * data queued in braid, however many streams are sending and however slowly the socket drains (plus what
 * the kernel already holds). Without that last rule, a socket taking partial writes let passes pile quanta
 * into the batch, up to a megabyte ahead of any new call ({@code WriterPolicyTest} measured 1,145,776
 * bytes). A batch holds at most {@link #MAX_BATCH} frames and about {@link #MAX_BATCH_BYTES} bytes.
 *
 * <h2>Lanes</h2>
 * {@link #replyLane} (PONGs: answers to the peer's control frames), then {@link #controlLane}, then
 * {@link #mainLane}. Each is an intrusive MPSC queue: producers offer with a CAS (release), the writer takes
 * with an acquiring swap, so a frame's bytes written by the producer are visible to the writer.
 *
 * <h2>What a queued frame holds (issue 11 §1.3)</h2>
 * {@link #laneBytes} counts what the frames waiting in the lanes really hold, not their frame bytes: each
 * frame costs its pooled buffer's capacity plus {@link #FRAME_OVERHEAD} (the buffer's objects), counted
 * before the offer and taken off by the writer. A 28-byte PONG thus counts 512 + 192 bytes. The server stops
 * reading a peer whose answers hold more than {@link #LANE_HIGH_WATER} (it does not read them), so a peer
 * that floods calls (or anything answered) and never reads pins at most about 8 MiB of memory, whatever the
 * answers' size. Answers to the peer's control frames are bounded in count as well: more than
 * {@code maxQueuedControlReplies} PONGs waiting ({@link #enqueueControlReply}) is a peer flooding PINGs
 * without reading, and closes the connection (a client never stops reading, so this is its only bound).
 *
 * <h2>Flush handshake</h2>
 * A producer calls {@link #scheduleFlush()} after offering, which asks the backend to write only when
 * {@code flushScheduled} goes from false to true; the writer clears the flag before it polls the lanes,
 * so a frame offered after the writer looked always triggers another flush.
 *
 * <h2>Threads</h2>
 * <ul>
 *   <li>Any thread: {@link #enqueue}, {@link #scheduleFlush()}, {@link #closeAfterFlush()}, the counters.</li>
 *   <li>Writer context (one thread at a time, per the backend's contract): {@link #gather},
 *       {@link #written}. It owns the batch.</li>
 *   <li>Reader: {@link #pauseIfPeerNotReading()}.</li>
 *   <li>Once, after the backend's last writer call: {@link #close()}.</li>
 * </ul>
 *
 * <h2>Closing and ownership</h2>
 * {@link #enqueue} takes ownership of the frame in every case. {@link #close()} sets {@code closed}
 * (volatile) and releases everything queued; a producer that finds {@code closed} set after its offer drains
 * the lanes itself under {@link #closeLock} (the writer no longer consumes, so the lock makes the drain
 * single-consumer). Every frame therefore ends released exactly once.
 */
public final class Outbound {
    /** Bytes a stream may add to one writer pass: one maximal libvirt stream packet, header included. */
    public static final int STREAM_QUANTUM = dev.braid.internal.wire.FrameHeader.HEADER_LENGTH
            + dev.braid.internal.wire.FrameHeader.MAX_STREAM_PAYLOAD;
    static final int MAX_BATCH = 64;
    static final int MAX_BATCH_BYTES = 1 << 20;
    /**
     * What one queued frame holds besides its buffer's capacity: the {@code PooledBuffer}, its
     * {@code DirectByteBuffer} with its cleaner, and a view (about 190 bytes on a 64-bit JVM with compressed
     * references). An estimate; it makes a flood of tiny frames count for what it costs.
     */
    public static final int FRAME_OVERHEAD = 192;
    /** Answers queued beyond this (counted as held memory) stop the server's reads (the peer is not reading them) ... */
    static final long LANE_HIGH_WATER = 8L << 20;
    /** ... until the writer has brought them below this. */
    static final long LANE_LOW_WATER = 2L << 20;
    private static final VarHandle FLUSH_SCHEDULED;

    static {
        try {
            FLUSH_SCHEDULED = MethodHandles.lookup().findVarHandle(Outbound.class, "flushScheduled", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Where stream packets come from: the stream scheduler. Writer context only. */
    public interface StreamSource {
        /**
         * Appends stream packets to {@code batch} from index {@code count} (ownership passes to the batch),
         * at most about {@code budget} bytes and up to index {@code max}. Returns the new count.
         */
        int pump(PooledBuffer[] batch, int count, int max, long budget);
    }

    private final MpscBufferQueue replyLane = new MpscBufferQueue();
    private final MpscBufferQueue controlLane = new MpscBufferQueue();
    /** PONGs in {@link #replyLane}: added by the reader, taken off by the writer. */
    private final java.util.concurrent.atomic.AtomicInteger queuedReplies = new java.util.concurrent.atomic.AtomicInteger();
    private final int maxQueuedReplies;
    private final MpscBufferQueue mainLane = new MpscBufferQueue();
    private final Object closeLock = new Object();
    private final java.util.concurrent.atomic.AtomicLong laneBytes = new java.util.concurrent.atomic.AtomicLong();
    private final StreamSource streams;
    private final ReadGate.Hold unreadAnswers;
    private final java.util.function.BooleanSupplier answersPiledUp = () -> laneBytes.get() >= LANE_LOW_WATER;
    private volatile Transport transport;
    @SuppressWarnings("unused") // accessed through FLUSH_SCHEDULED
    private volatile boolean flushScheduled;
    private volatile boolean closed;
    /** Set by any thread, read by the writer: close once the lanes are empty. */
    private volatile boolean closeWhenFlushed;
    private volatile Throwable closeReason;

    // writer-owned
    private final PooledBuffer[] batch = new PooledBuffer[MAX_BATCH];
    private int batchCount;
    /** Which batch entries came from the stream source (parallel to {@link #batch}). */
    private final boolean[] pumped = new boolean[MAX_BATCH];
    /** Stream frames in the batch not yet fully written: no new quantum is pumped while there are any. */
    private int streamFramesInBatch;
    /** Single writer (the writer context), read racily by stats. */
    private volatile long bytesWritten;

    /**
     * @param maxQueuedControlReplies how many answers to the peer's control frames (PONGs) may wait unwritten
     *                                before the peer is closed for not reading them
     */
    public Outbound(final StreamSource streams, final ReadGate gate, final int maxQueuedControlReplies) {
        this.streams = streams;
        this.maxQueuedReplies = maxQueuedControlReplies;
        this.unreadAnswers = gate.newHold(ReadGate.Reason.UNREAD_ANSWERS);
    }

    /** Reader, once, when the connection opens. */
    public void attach(final Transport t) {
        transport = t;
    }

    // ------------------------------------------------------------------ producers, any thread

    /**
     * Hands {@code frame} (ready to write) to the writer. Ownership passes here in every case: if the
     * connection is closed the frame is released at once.
     *
     * @param control a control frame (keepalive, credit, abort): leaves before calls and replies
     * @param urgent  latency-sensitive on an otherwise quiet connection: the backend may write it on this
     *                thread ({@link Transport#requestUrgentFlush()})
     * @return false if the connection was already closed
     */
    public boolean enqueue(final PooledBuffer frame, final boolean control, final boolean urgent) {
        if (closed) {
            frame.release();
            return false;
        }
        // Counted before the offer: the writer subtracts once it takes the frame, so the count never goes
        // below what is really queued (counted after, it went briefly negative and reads resumed early).
        laneBytes.addAndGet(held(frame));
        (control ? controlLane : mainLane).offer(frame);
        if (closed) {
            drainAfterClose();
            return false;
        }
        if (urgent) {
            scheduleFlush(true);
        } else {
            scheduleFlush();
        }
        return true;
    }

    /**
     * Reader: queues an answer to the peer's control frame (a PONG), unless {@code maxQueuedControlReplies}
     * already wait unwritten: the peer sends them faster than it reads the answers. Ownership of
     * {@code frame} passes here in every case (released at once when refused or closed).
     *
     * @param frame the answer, ready to write
     * @return false if refused for the bound (the caller closes the connection naming it); true otherwise
     */
    public boolean enqueueControlReply(final PooledBuffer frame) {
        if (closed) {
            frame.release();
            return true;
        }
        if (queuedReplies.incrementAndGet() > maxQueuedReplies) {
            queuedReplies.decrementAndGet();
            frame.release();
            return false;
        }
        laneBytes.addAndGet(held(frame));
        replyLane.offer(frame);
        if (closed) {
            drainAfterClose();
            return true;
        }
        scheduleFlush();
        return true;
    }

    /** The bound {@link #enqueueControlReply} enforces. */
    public int maxQueuedControlReplies() {
        return maxQueuedReplies;
    }

    /** Answers to the peer's control frames waiting unwritten. Any thread. */
    public int queuedControlReplies() {
        return queuedReplies.get();
    }

    /** What a queued frame holds: its buffer's capacity and its objects (see the class comment). */
    static long held(final PooledBuffer frame) {
        return (long) frame.byteBuffer().capacity() + FRAME_OVERHEAD;
    }

    /** Asks the backend for a writer pass, unless one is already due. Any thread. */
    public void scheduleFlush() {
        scheduleFlush(false);
    }

    private void scheduleFlush(final boolean urgent) {
        if (!(boolean) FLUSH_SCHEDULED.getAndSet(this, true)) {
            final Transport t = transport;
            if (t != null) {
                if (urgent) {
                    t.requestUrgentFlush();
                } else {
                    t.requestFlush();
                }
            }
        }
    }

    /** Asks the writer to close the socket once everything queued so far is written. Any thread. */
    public void closeAfterFlush(final Throwable reason) {
        closeReason = reason;
        closeWhenFlushed = true;
        FLUSH_SCHEDULED.setVolatile(this, false); // force a writer pass even if a flush is already scheduled
        scheduleFlush();
    }

    /** Memory held by the frames waiting in the lanes (capacities plus overhead, see the class comment). Any thread. */
    public long queuedBytes() {
        return laneBytes.get();
    }

    public long bytesWritten() {
        return bytesWritten;
    }

    // ------------------------------------------------------------------ reader

    /**
     * Reader, after each frame, on a server: when answers to this peer pile up beyond the high-water mark
     * (it does not read them), stop reading its requests until the writer brings them below the low-water
     * mark. Returns true if reading is paused (stop decoding). A client never calls this: its replies are
     * what drains the server, so it must keep reading.
     */
    public boolean pauseIfPeerNotReading() {
        if (laneBytes.get() <= LANE_HIGH_WATER) {
            return unreadAnswers.isHeld();
        }
        return unreadAnswers.pause(answersPiledUp);
    }

    // ------------------------------------------------------------------ writer

    /** Writer: fills {@code dst} with the next batch, in the policy's order. See ConnectionHandler. */
    public int gather(final ByteBuffer[] dst) {
        FLUSH_SCHEDULED.setVolatile(this, false);
        long bytes = 0;
        for (int i = 0; i < batchCount; i++) {
            bytes += batch[i].byteBuffer().remaining();
        }
        final int max = Math.min(dst.length, MAX_BATCH);
        long taken = 0;
        while (batchCount < max && bytes < MAX_BATCH_BYTES) {
            PooledBuffer f = replyLane.poll();
            if (f != null) {
                queuedReplies.decrementAndGet();
            } else if ((f = controlLane.poll()) == null && (f = mainLane.poll()) == null) {
                break;
            }
            batch[batchCount++] = f;
            bytes += f.byteBuffer().remaining();
            taken += held(f);
        }
        if (taken > 0 && laneBytes.addAndGet(-taken) < LANE_LOW_WATER) {
            unreadAnswers.release();
        }
        if (streamFramesInBatch == 0 && batchCount < max && bytes < MAX_BATCH_BYTES) {
            final int before = batchCount;
            batchCount = streams.pump(batch, batchCount, max, STREAM_QUANTUM);
            streamFramesInBatch = batchCount - before;
            for (int i = before; i < batchCount; i++) {
                pumped[i] = true;
            }
        }
        for (int i = 0; i < batchCount; i++) {
            dst[i] = batch[i].byteBuffer();
        }
        if (batchCount == 0 && closeWhenFlushed) {
            transport.close(closeReason);
        }
        return batchCount;
    }

    /** Writer: the backend wrote {@code bytes} of the last batch; releases the frames fully written. */
    public void written(final long bytes) {
        bytesWritten = bytesWritten + bytes;
        int done = 0;
        while (done < batchCount && !batch[done].byteBuffer().hasRemaining()) {
            if (pumped[done]) {
                streamFramesInBatch--;
            }
            batch[done].release();
            batch[done] = null;
            done++;
        }
        if (done > 0) {
            final int left = batchCount - done;
            System.arraycopy(batch, done, batch, 0, left);
            System.arraycopy(pumped, done, pumped, 0, left);
            for (int i = left; i < batchCount; i++) {
                batch[i] = null;
                pumped[i] = false;
            }
            batchCount = left;
        }
    }

    // ------------------------------------------------------------------ closing

    /**
     * Once, after the backend's last writer call: releases the batch and everything queued; later
     * {@link #enqueue}s release their frame at once.
     */
    public void close() {
        synchronized (closeLock) {
            closed = true;
        }
        for (int i = 0; i < batchCount; i++) {
            batch[i].release();
            batch[i] = null;
            pumped[i] = false;
        }
        batchCount = 0;
        streamFramesInBatch = 0;
        drainAfterClose();
        unreadAnswers.release();
    }

    public boolean isClosed() {
        return closed;
    }

    private void drainAfterClose() {
        synchronized (closeLock) {
            PooledBuffer f;
            while ((f = replyLane.poll()) != null) {
                queuedReplies.decrementAndGet();
                laneBytes.addAndGet(-held(f));
                f.release();
            }
            while ((f = controlLane.poll()) != null) {
                laneBytes.addAndGet(-held(f));
                f.release();
            }
            while ((f = mainLane.poll()) != null) {
                laneBytes.addAndGet(-held(f));
                f.release();
            }
        }
    }
}
