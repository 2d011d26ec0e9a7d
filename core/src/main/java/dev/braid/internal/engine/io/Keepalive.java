package dev.braid.internal.engine.io;

import dev.braid.ConnectionClosedException;
import dev.braid.ConnectionClosedException.Reason;
import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.wire.Extension;
import dev.braid.internal.wire.Frames;
import dev.braid.spi.Transport;

import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.braid.internal.wire.FrameHeader.STATUS_OK;
import static dev.braid.internal.wire.FrameHeader.TYPE_MESSAGE;

/**
 * libvirt's keepalive, both roles: PINGs when the peer has been silent for an interval, the connection
 * closed after {@code count} unanswered PINGs, and a PONG for each PING received.
 *
 * <h2>Threads</h2>
 * {@link #start} once, on the thread that completes the handshake (the reader when a server opens, the
 * HELLO's completion on a client: before it, HELLO's own deadline covers a silent peer, and a PING could
 * overtake the HELLO on the control lane); {@link #received()} and {@link #onMessage} on the reader; the
 * check ({@link #tick}) on the runtime's timer thread; {@link #stop()} once, on close, on any thread. A
 * start and a stop that race leave no check scheduled: each writes its own volatile field, then reads the
 * other's.
 * While the connection's {@link ReadGate} holds the reads, the check neither PINGs nor closes: this side is
 * not listening, so the peer's silence proves nothing.
 * {@code lastReceivedNanos} (volatile) and {@code unanswered} (atomic) are the only shared state: the
 * timer bumps {@code unanswered} with a CAS from the value it read, so a frame that arrives meanwhile
 * (which resets it) wins and no PING is sent to a live peer.
 */
public final class Keepalive {
    private final Duration interval;
    private final int count;
    private final BufferPool pool;
    private final Outbound outbound;
    private final ReadGate gate;
    private volatile long lastReceivedNanos = System.nanoTime();
    private final AtomicInteger unanswered = new AtomicInteger();
    private volatile Transport transport;
    private volatile ScheduledFuture<?> task;
    private volatile boolean stopped;

    public Keepalive(final Duration interval, final int count, final BufferPool pool, final Outbound outbound,
                     final ReadGate gate) {
        this.interval = interval;
        this.gate = gate;
        this.count = count;
        this.pool = pool;
        this.outbound = outbound;
    }

    /** Once, when the handshake is done: starts the timer check (nothing when the interval is 0). */
    public void start(final Transport t, final ScheduledExecutorService timer) {
        transport = t;
        final long nanos = interval.toNanos();
        if (nanos > 0 && !stopped) {
            lastReceivedNanos = System.nanoTime(); // the peer's silence counts from now
            final ScheduledFuture<?> f = timer.scheduleWithFixedDelay(this::tick, nanos, nanos, TimeUnit.NANOSECONDS);
            task = f;
            if (stopped) {
                f.cancel(false); // closed meanwhile: stop may have looked before task was set
            }
        }
    }

    /** Reader: bytes arrived from the peer at {@code now} (System.nanoTime): it is alive. */
    public void received(final long now) {
        lastReceivedNanos = now;
        if (unanswered.get() != 0) {
            unanswered.set(0);
        }
    }

    /**
     * Reader: a MESSAGE on the keepalive program; takes ownership of {@code frame}. Answers a PING with a
     * PONG (a control reply, bounded in count: see {@link Outbound#enqueueControlReply}). Returns false if it was neither a PING nor a PONG of version 1 (the caller
     * counts it as dropped).
     */
    public boolean onMessage(final PooledBuffer frame) {
        final int proc = Frames.proc(frame);
        final int vers = Frames.vers(frame);
        frame.release();
        if (vers == Extension.KEEPALIVE_VERSION && proc == Extension.KEEPALIVE_PING) {
            if (!outbound.enqueueControlReply(Frames.empty(pool, Extension.KEEPALIVE_PROGRAM,
                    Extension.KEEPALIVE_VERSION, Extension.KEEPALIVE_PONG, TYPE_MESSAGE, 0, STATUS_OK))) {
                throw new dev.braid.ProtocolException("the peer sent PINGs faster than it reads the PONGs: "
                        + outbound.maxQueuedControlReplies() + " PONGs wait unread (limit maxQueuedControlReplies = "
                        + outbound.maxQueuedControlReplies() + ")");
            }
            return true;
        }
        return vers == Extension.KEEPALIVE_VERSION && proc == Extension.KEEPALIVE_PONG;
    }

    /** Once, when the connection closes. */
    public void stop() {
        stopped = true;
        final ScheduledFuture<?> t = task;
        if (t != null) {
            t.cancel(false);
        }
    }

    /** Timer thread. */
    private void tick() {
        if (outbound.isClosed() || System.nanoTime() - lastReceivedNanos < interval.toNanos()) {
            return;
        }
        if (gate.paused()) {
            // This side stopped reading (a limit, a peer not reading its answers): the peer's bytes wait in
            // the kernel unseen, so its silence says nothing. The clock restarts when reading resumes.
            lastReceivedNanos = System.nanoTime();
            return;
        }
        final int n = unanswered.get();
        if (n >= count) {
            transport.close(new ConnectionClosedException(Reason.PEER_NOT_RESPONDING, "no answer to " + n
                    + " keepalive PINGs sent every " + interval.toMillis() + " ms", null));
            return;
        }
        if (!unanswered.compareAndSet(n, n + 1)) {
            return; // something arrived meanwhile: the peer is alive
        }
        outbound.enqueue(Frames.empty(pool, Extension.KEEPALIVE_PROGRAM, Extension.KEEPALIVE_VERSION,
                Extension.KEEPALIVE_PING, TYPE_MESSAGE, 0, STATUS_OK), true, false);
    }
}
