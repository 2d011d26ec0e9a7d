package dev.braid.internal.engine;

import dev.braid.EventListener;
import dev.braid.HandlerMode;
import dev.braid.Peer;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.engine.io.ReadGate;

import java.lang.System.Logger.Level;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

/**
 * Delivery of received events (MESSAGEs) to their listeners, with its own reason to stop reading.
 *
 * <p>A {@code NON_BLOCKING} listener runs on the reader at once. A {@code BLOCKING} one runs on the runtime's
 * handler executor, one event at a time per connection and in order ({@link SerialExecutor}); when listeners
 * fall more than {@link #HIGH_WATER} bytes behind the peer, the reader stops (a {@link ReadGate} hold,
 * {@code SLOW_EVENT_LISTENERS}) until they are back under {@link #LOW_WATER}.
 *
 * <p><b>Ownership.</b> {@link #deliver} takes the frame; the event lends its payload to the listener only
 * for the callback and releases the frame when it returns.
 *
 * <p><b>Threads.</b> {@link #deliver} on the connection's reader; deliveries on the reader or the handler
 * executor; the counters from any thread.
 */
final class EventDelivery {
    static final long HIGH_WATER = 8L << 20;
    static final long LOW_WATER = 2L << 20;

    private final Peer peer;
    private final SerialExecutor executor;
    /** Bytes of events handed to listeners and not yet delivered. */
    private final AtomicLong pendingBytes = new AtomicLong();
    private final ReadGate.Hold hold;
    private final BooleanSupplier behind = () -> pendingBytes.get() >= LOW_WATER;
    private volatile long received;

    EventDelivery(final BraidRuntime rt, final ReadGate gate, final Peer peer) {
        this.peer = peer;
        this.hold = gate.newHold(ReadGate.Reason.SLOW_EVENT_LISTENERS);
        this.executor = new SerialExecutor(rt.handlers, (t, e) -> IncomingCallImpl.HANDLER_LOG.log(Level.WARNING,
                "event listener failed on " + peer, e));
    }

    /** Reader: an event for {@code l}; takes ownership of {@code frame}. Returns false to stop decoding. */
    boolean deliver(final ConnectionEngine.Listener l, final PooledBuffer frame) {
        received++;
        final EventImpl event = new EventImpl(l.procedure(), frame, peer);
        if (l.mode() == HandlerMode.NON_BLOCKING) {
            run(l.listener(), event);
            return true;
        }
        final int length = frame.byteBuffer().remaining();
        pendingBytes.addAndGet(length);
        executor.execute(() -> {
            run(l.listener(), event);
            if (pendingBytes.addAndGet(-length) < LOW_WATER) {
                hold.release();
            }
        });
        // Listeners slower than the peer's events: stop reading until they catch up.
        return !(pendingBytes.get() > HIGH_WATER && hold.pause(behind));
    }

    long received() {
        return received;
    }

    /** Bytes of events handed to listeners and not yet delivered. Any thread. */
    long pendingBytes() {
        return pendingBytes.get();
    }

    private void run(final EventListener listener, final EventImpl event) {
        try {
            listener.onEvent(event);
        } catch (Throwable t) {
            IncomingCallImpl.HANDLER_LOG.log(Level.WARNING, "event listener for " + event.procedure() + " failed on " + peer, t);
        } finally {
            event.release();
        }
    }
}
