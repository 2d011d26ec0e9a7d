package dev.braid.internal.engine.stream;

import dev.braid.StreamListener;
import dev.braid.spi.IoThreads;
import dev.braid.spi.Transport;

import java.lang.System.Logger.Level;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Delivery of one stream's readiness to its {@link StreamListener}.
 *
 * <h2>Contract (enforced here)</h2>
 * Callbacks of one stream never overlap, and they run only on braid's I/O threads: readiness raised on an
 * I/O thread (data, credit, hang-up, an abort from the peer, the connection's close) is delivered there at
 * once; readiness raised on an application thread (its own abort, {@code setListener}'s current state,
 * ring space freed by a write-through on the caller's thread) is handed to the connection's I/O thread with
 * {@link Transport#execute}.
 *
 * <h2>How</h2>
 * {@link #signal} ORs bits into {@code pending}. A deliverer takes {@code delivering} (CAS), drains the bits
 * and calls back, then releases the flag and looks again, so bits set by another thread while it delivered
 * are never lost. One hand-off task at a time ({@code queued}, CAS; cleared by the task before it reads the
 * bits), made once per stream: signalling allocates nothing.
 *
 * <p><b>Threads.</b> {@link #signal} and {@link #setListener} from any thread.
 */
final class StreamSignals {
    static final int READABLE = 1;
    static final int WRITABLE = 2;
    static final int HANGUP = 4;
    static final int ERROR = 8;
    private static final System.Logger LOG = System.getLogger("dev.braid.stream");
    private static final VarHandle QUEUED;

    static {
        try {
            QUEUED = MethodHandles.lookup().findVarHandle(StreamSignals.class, "queued", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final StreamImpl stream;
    private final Runnable deliveryTask = this::deliverPending;
    private final AtomicInteger pending = new AtomicInteger();
    private final AtomicBoolean delivering = new AtomicBoolean();
    private volatile StreamListener listener;
    @SuppressWarnings("unused") // accessed through QUEUED
    private volatile boolean queued;

    StreamSignals(final StreamImpl stream) {
        this.stream = stream;
    }

    void setListener(final StreamListener l) {
        listener = l;
    }

    boolean hasListener() {
        return listener != null;
    }

    /** Records readiness {@code bits} and delivers them where the contract says. Any thread. */
    void signal(final int bits) {
        if (listener == null) {
            return;
        }
        pending.getAndAccumulate(bits, (a, b) -> a | b);
        if (!IoThreads.isIoThread()) {
            final Transport t = stream.table.transport;
            if (t != null && QUEUED.compareAndSet(this, false, true)) {
                t.execute(deliveryTask);
            }
            return;
        }
        deliverPending();
    }

    /** I/O thread: delivers every pending bit. */
    private void deliverPending() {
        QUEUED.setVolatile(this, false); // before reading the bits: a later hand-off is never lost
        while (pending.get() != 0 && delivering.compareAndSet(false, true)) {
            try {
                int bits;
                while ((bits = pending.getAndSet(0)) != 0) {
                    deliver(bits);
                }
            } finally {
                delivering.set(false);
            }
        }
    }

    private void deliver(final int bits) {
        final StreamListener l = listener;
        if (l == null) {
            return;
        }
        try {
            if ((bits & ERROR) != 0) {
                l.onError(stream, stream.failure());
            }
            if ((bits & READABLE) != 0) {
                l.onReadable(stream);
            }
            if ((bits & HANGUP) != 0) {
                l.onHangup(stream);
            }
            if ((bits & WRITABLE) != 0) {
                l.onWritable(stream);
            }
        } catch (Throwable t) {
            LOG.log(Level.WARNING, "stream listener of " + stream + " failed", t);
        }
    }
}
