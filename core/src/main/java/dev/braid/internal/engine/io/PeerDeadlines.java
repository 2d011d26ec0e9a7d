package dev.braid.internal.engine.io;

import dev.braid.ConnectionClosedException;
import dev.braid.ConnectionClosedException.Reason;
import dev.braid.internal.wire.FrameDecoder;
import dev.braid.spi.Transport;

import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Deadlines on the peer's progress, which keepalive cannot give (any byte resets keepalive, so a peer that
 * sends one byte every few seconds would hold a connection, and its buffers, for ever):
 * <ul>
 *   <li><b>A frame must complete</b> within {@code frameTimeout} plus its announced length at
 *       {@code minFrameRate} bytes per second, counted from its first byte. A header announcing a large
 *       frame and a trickle of bytes after it (slowloris) closes the connection with reason
 *       {@code PEER_NOT_RESPONDING} and a message naming the frame, the bytes received and the limits.</li>
 *   <li><b>The first frame must arrive</b> within {@code firstFrameTimeout} of the connection opening
 *       (servers: the HELLO, or a libvirt client's first call), so a connection that never says anything
 *       does not hold a slot for ever.</li>
 * </ul>
 * While this side holds the reads ({@link ReadGate}), no deadline runs: bytes waiting in the kernel or in the
 * decoder are not the peer's fault; the clocks restart when reading resumes.
 *
 * <p><b>Threads.</b> {@link #start} and {@link #frameSeen()} on the reader; the check on the runtime's timer
 * thread (it reads the decoder's volatile progress fields only); {@link #stop()} once, on close.
 */
public final class PeerDeadlines {
    private final long frameTimeoutNanos;
    private final long minFrameRate;
    private final long firstFrameTimeoutNanos;
    private final FrameDecoder decoder;
    private final ReadGate gate;
    private volatile Transport transport;
    private volatile boolean frameSeen;
    private volatile long openedNanos;
    /** Timer thread: the decoder's partialSince the check last judged, and the restart after a pause. */
    private long pausedAt;
    private long pausedFor;
    /** Timer thread: the decoder's decode count at the last check (an unchanged count: an idle connection). */
    private long lastDecodes = -1;
    private ScheduledFuture<?> task;

    /**
     * @param frameTimeout      base time to complete a frame (0: no frame deadline)
     * @param minFrameRate      bytes per second a frame must arrive at beyond the base time (> 0)
     * @param firstFrameTimeout time for the first frame (0: none; clients use none)
     */
    public PeerDeadlines(final Duration frameTimeout, final long minFrameRate, final Duration firstFrameTimeout,
                         final FrameDecoder decoder, final ReadGate gate) {
        this.frameTimeoutNanos = frameTimeout.toNanos();
        this.minFrameRate = Math.max(1, minFrameRate);
        this.firstFrameTimeoutNanos = firstFrameTimeout.toNanos();
        this.decoder = decoder;
        this.gate = gate;
    }

    /** Reader, once, when the connection opens. */
    public void start(final Transport t, final ScheduledExecutorService timer) {
        transport = t;
        openedNanos = System.nanoTime();
        final long shortest = Math.min(frameTimeoutNanos > 0 ? frameTimeoutNanos : Long.MAX_VALUE,
                firstFrameTimeoutNanos > 0 ? firstFrameTimeoutNanos : Long.MAX_VALUE);
        if (shortest == Long.MAX_VALUE) {
            return;
        }
        final long period = Math.max(TimeUnit.MILLISECONDS.toNanos(10), Math.min(shortest / 4,
                TimeUnit.SECONDS.toNanos(1)));
        task = timer.scheduleWithFixedDelay(this::check, period, period, TimeUnit.NANOSECONDS);
    }

    /** Reader: a whole frame arrived. */
    public void frameSeen() {
        if (!frameSeen) {
            frameSeen = true;
        }
    }

    public void stop() {
        final ScheduledFuture<?> t = task;
        if (t != null) {
            t.cancel(false);
        }
    }

    /** Timer thread. */
    private void check() {
        final Transport t = transport;
        final long now = System.nanoTime();
        final long d = decoder.decodes();
        if (d == lastDecodes) {
            decoder.trimWhenIdle(); // no read since the last check: the read buffer goes back at the next one
        }
        lastDecodes = d;
        if (gate.paused()) {
            if (pausedAt == 0) {
                pausedAt = now;
            }
            return;
        }
        if (pausedAt != 0) {
            pausedFor += now - pausedAt; // the peer's clocks stood still while this side did not read
            pausedAt = 0;
        }
        if (firstFrameTimeoutNanos > 0 && !frameSeen && now - openedNanos - pausedFor > firstFrameTimeoutNanos) {
            t.close(new ConnectionClosedException(Reason.PEER_NOT_RESPONDING, "no complete frame within "
                    + TimeUnit.NANOSECONDS.toMillis(firstFrameTimeoutNanos) + " ms of connecting (" + t.remoteAddress()
                    + ", firstFrameTimeout)", null));
            return;
        }
        final long since = decoder.partialSinceNanos();
        if (frameTimeoutNanos <= 0 || since == 0) {
            if (since == 0) {
                pausedFor = 0;
            }
            return;
        }
        final int length = decoder.partialLength();
        final long allowed = frameTimeoutNanos + (long) ((double) length / minFrameRate * 1e9);
        final long age = now - since - pausedFor;
        if (age > allowed) {
            t.close(new ConnectionClosedException(Reason.PEER_NOT_RESPONDING, "a frame"
                    + (length > 0 ? " of " + length + " bytes" : "") + " from " + t.remoteAddress()
                    + " was not completed within " + TimeUnit.NANOSECONDS.toMillis(allowed) + " ms (frameTimeout "
                    + TimeUnit.NANOSECONDS.toMillis(frameTimeoutNanos) + " ms + its length at minFrameRate "
                    + minFrameRate + " B/s)", null));
        }
    }
}
