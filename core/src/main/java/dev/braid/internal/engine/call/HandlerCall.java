package dev.braid.internal.engine.call;

import dev.braid.ReplyHandler;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.wire.Frames;

import java.lang.System.Logger.Level;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A call whose outcome goes to a {@link ReplyHandler}. Recycled after a clean run: no allocation per call.
 * The first of {@link #completeWithReply} and {@link #completeExceptionally} to flip {@code done} calls the
 * handler; a record is returned to its connection's pool only after the handler returned, and only if no
 * timer or slot queue saw it (see {@link CallRecord}).
 */
public final class HandlerCall extends CallRecord {
    private static final System.Logger LOG = System.getLogger("dev.braid.call");
    private static final VarHandle DONE_FLAG;

    static {
        try {
            DONE_FLAG = MethodHandles.lookup().findVarHandle(HandlerCall.class, "done", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // accessed through DONE_FLAG
    private volatile boolean done;
    private ReplyHandler handler;

    HandlerCall(final ClientCalls calls) {
        super(calls);
    }

    /** Caller's thread, before the record is published. */
    void prepare(final ReplyHandler h) {
        handler = h;
        DONE_FLAG.setRelease(this, false);
    }

    @Override
    boolean completeWithReply(final PooledBuffer frame) {
        if (!DONE_FLAG.compareAndSet(this, false, true)) {
            return false;
        }
        final ReplyHandler h = handler;
        try {
            h.onReply(procedure, serial, Frames.lentPayload(frame));
        } catch (RuntimeException | Error e) {
            LOG.log(Level.WARNING, "reply handler for " + this + " failed", e);
        } finally {
            frame.release();
        }
        recycle();
        return true;
    }

    @Override
    boolean completeExceptionally(final Throwable error) {
        if (!DONE_FLAG.compareAndSet(this, false, true)) {
            return false;
        }
        try {
            handler.onFailure(procedure, serial, ClientCalls.unwrap(error));
        } catch (RuntimeException | Error e) {
            LOG.log(Level.WARNING, "reply handler for " + this + " failed", e);
        }
        return true;
    }

    /** Reader thread, after a reply was handed over: back to the pool if nobody else can still see it. */
    private void recycle() {
        if (!queued && timeout.isZero()) { // a timer, even cancelled, may still be running: never reuse then
            handler = null;
            calls.recycle(this);
        }
    }

    @Override
    boolean isCompleted() {
        return (boolean) DONE_FLAG.getVolatile(this);
    }

    /** Reader thread: an ERROR reply was decoded into {@code error}; the record is recycled like after a reply. */
    @Override
    boolean completeWithRemoteError(final dev.braid.RemoteException error) {
        if (!completeExceptionally(error)) {
            return false;
        }
        recycle();
        return true;
    }
}
