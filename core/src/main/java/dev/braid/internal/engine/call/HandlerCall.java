package dev.braid.internal.engine.call;

import dev.braid.Marshaller;
import dev.braid.ReplyHandler;
import dev.braid.TypedReplyHandler;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.wire.Frames;

import java.lang.System.Logger.Level;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A call whose outcome goes to a {@link ReplyHandler}, or, for a typed call, is decoded by the reply
 * {@link Marshaller} and goes to a {@link TypedReplyHandler}; either way with the caller's attachment.
 * Recycled after a clean run: no allocation per call.
 * The first of {@link #completeWithReply} and {@link #completeExceptionally} to flip {@code done} decides the
 * outcome. With {@code DIRECT_CALLBACKS} it calls the handler right there; otherwise it parks the outcome in
 * the record ({@link #outFrame}, which then owns the reply frame, or {@link #outError}) and hands the record
 * itself, a {@link Runnable}, to the callback executor: braid allocates no task for it. A record is returned
 * to its connection's pool only after the handler returned, and only if no timer or slot queue saw it (see
 * {@link CallRecord}).
 *
 * <p><b>Threads.</b> The deciding thread writes {@code outFrame} / {@code outError} / {@code recycleAfter}
 * before {@code Executor.execute}; {@link #run} reads them on the executor's thread after it (the
 * executor's happens-before edge). Nobody else touches them: the record is not reused before run() ends.
 */
public final class HandlerCall extends CallRecord implements Runnable {
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
    /** Typed calls: the reply's marshaller and the handler (handler is null then). */
    private Marshaller<Object> marshaller;
    private TypedReplyHandler<Object> typed;
    private Object attachment;
    /**
     * Typed calls: the last reply decoded by this record, and the marshaller that decoded it. The next typed
     * call with the same marshaller decodes into it ({@link Marshaller#read(java.nio.ByteBuffer, Object)}), so
     * a recycled record allocates nothing for replies of a mutable type. Touched only by the thread that
     * delivers this record's outcome (one at a time: a record is reused only after its delivery ended).
     */
    private Object lastReply;
    private Marshaller<Object> lastReplyMarshaller;
    /** An outcome waiting for the callback executor: the reply frame (owned) or the error. */
    private PooledBuffer outFrame;
    private Throwable outError;
    private boolean recycleAfter;

    HandlerCall(final ClientCalls calls) {
        super(calls);
    }

    /** Caller's thread, before the record is published. */
    void prepare(final ReplyHandler h, final Object a) {
        handler = h;
        marshaller = null;
        typed = null;
        attachment = a;
        DONE_FLAG.setRelease(this, false);
    }

    /** Caller's thread, before the record is published: a typed call. */
    @SuppressWarnings("unchecked")
    void prepare(final Marshaller<?> m, final TypedReplyHandler<?> h, final Object a) {
        handler = null;
        marshaller = (Marshaller<Object>) m;
        typed = (TypedReplyHandler<Object>) h;
        attachment = a;
        DONE_FLAG.setRelease(this, false);
    }

    @Override
    boolean completeWithReply(final PooledBuffer frame) {
        if (!DONE_FLAG.compareAndSet(this, false, true)) {
            return false;
        }
        if (!calls.callbacks.direct()) {
            outFrame = frame;
            outError = null;
            recycleAfter = true;
            calls.callbacks.execute(this);
            return true;
        }
        deliverReply(frame);
        recycle();
        return true;
    }

    /** Callback executor: delivers the outcome parked by the deciding thread. */
    @Override
    public void run() {
        final PooledBuffer f = outFrame;
        final Throwable e = outError;
        final boolean r = recycleAfter;
        outFrame = null;
        outError = null;
        if (f != null) {
            deliverReply(f);
        } else {
            deliverFailure(e);
        }
        if (r) {
            recycle();
        }
    }

    /** Hands the reply to the handler and releases its frame. */
    private void deliverReply(final PooledBuffer frame) {
        try {
            if (typed != null) {
                deliverTyped(frame);
            } else {
                handler.onReply(procedure, serial, Frames.lentPayload(frame), attachment);
            }
        } catch (RuntimeException | Error e) {
            LOG.log(Level.WARNING, "reply handler for " + this + " failed", e);
        } finally {
            frame.release();
        }
    }

    @Override
    boolean completeExceptionally(final Throwable error) {
        return fail(error, false);
    }

    /** Decides a failure; {@code recycle}: the record may be reused once the handler heard it. */
    private boolean fail(final Throwable error, final boolean recycle) {
        if (!DONE_FLAG.compareAndSet(this, false, true)) {
            return false;
        }
        if (!calls.callbacks.direct()) {
            outFrame = null;
            outError = error;
            recycleAfter = recycle;
            calls.callbacks.execute(this);
            return true;
        }
        deliverFailure(error);
        if (recycle) {
            recycle();
        }
        return true;
    }

    private void deliverFailure(final Throwable error) {
        try {
            if (typed != null) {
                typed.onFailure(serial, ClientCalls.unwrap(error), attachment);
            } else {
                handler.onFailure(procedure, serial, ClientCalls.unwrap(error), attachment);
            }
        } catch (RuntimeException | Error e) {
            LOG.log(Level.WARNING, "reply handler for " + this + " failed", e);
        }
    }

    /** Decodes the reply (outside the handler's own exceptions) and hands it over. */
    private void deliverTyped(final PooledBuffer frame) {
        final Object reply;
        try {
            final Object reuse = lastReplyMarshaller == marshaller ? lastReply : null;
            reply = marshaller.read(Frames.lentPayload(frame), reuse);
            // Kept for the next reply only while the marshaller decodes into what it is given (or has not been
            // given anything yet): a marshaller that always makes new values must not have them retained here.
            lastReply = reuse == null || reply == reuse ? reply : null;
            lastReplyMarshaller = marshaller;
        } catch (RuntimeException e) {
            typed.onFailure(serial, ClientCalls.undecodable(procedure, e), attachment);
            return;
        }
        typed.onReply(serial, reply, attachment);
    }

    /** After the handler heard the outcome: back to the pool if nobody else can still see it. */
    private void recycle() {
        if (!queued && timeout.isZero()) { // a timer, even cancelled, may still be running: never reuse then
            handler = null;
            marshaller = null;
            typed = null;
            attachment = null;
            calls.recycle(this);
        }
    }

    @Override
    boolean isCompleted() {
        return (boolean) DONE_FLAG.getVolatile(this);
    }

    /** Reader thread: an ERROR reply was decoded into {@code error}; the record is recycled like after a reply. */
    @Override
    boolean completeWithRemoteError(final dev.braid.BraidException error) {
        return fail(error, true);
    }
}
