package dev.braid.internal.engine;

import dev.braid.BraidException;
import dev.braid.HandlerMode;
import dev.braid.Marshaller;
import dev.braid.IncomingCall;
import dev.braid.PayloadWriter;
import dev.braid.Peer;
import dev.braid.Procedure;
import dev.braid.RemoteError;
import dev.braid.RemoteException;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.engine.stream.StreamHandle;
import dev.braid.internal.wire.Frames;

import java.lang.System.Logger.Level;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.util.concurrent.RejectedExecutionException;

import static dev.braid.internal.wire.FrameHeader.*;

/**
 * One call being served. Runs its handler ({@link #run()}) and sends exactly one answer.
 *
 * <p>The argument frame is released when both the handler has returned and the answer has been sent
 * ({@link #holds} counts the two, the last one to drop releases). {@link #answered} (CAS) makes the first
 * answer win.
 */
final class IncomingCallImpl implements IncomingCall, Runnable {
    private static final VarHandle ANSWERED;
    private static final VarHandle HOLDS;

    static {
        try {
            final MethodHandles.Lookup l = MethodHandles.lookup();
            ANSWERED = l.findVarHandle(IncomingCallImpl.class, "answered", boolean.class);
            HOLDS = l.findVarHandle(IncomingCallImpl.class, "holds", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Server handlers and event listeners that fail. */
    static final System.Logger HANDLER_LOG = System.getLogger("dev.braid.handler");
    private final ServerConnection connection;
    private final ProcedureRegistry.Entry entry;
    private PooledBuffer frame;
    private int serial;
    @SuppressWarnings("unused") // accessed through ANSWERED
    private volatile boolean answered;
    @SuppressWarnings("unused") // accessed through HOLDS
    private volatile int holds = 2;
    private volatile boolean deferred;
    /** The connection closed before the answer: later answers are dropped silently. */
    private volatile boolean abandoned;
    /**
     * A typed procedure's last decoded request, which the next call served by this (recycled) record decodes
     * into; the record only ever serves one procedure, so one type. Handler thread (the reader, when recycled).
     */
    Object typedRequest;
    /** The stream this call opens, for a stream procedure; null for a plain call. */
    final StreamHandle stream;

    IncomingCallImpl(final ServerConnection connection, final ProcedureRegistry.Entry entry, final PooledBuffer frame,
                     final StreamHandle stream) {
        this.connection = connection;
        this.entry = entry;
        this.frame = frame;
        this.serial = Frames.serial(frame);
        this.stream = stream;
        started();
    }

    /** {@code Observation.callStart()} when the call arrived (0: not timed), and its frame's size. */
    private long startNanos;
    private int requestBytes;

    /** Reader thread, in the pass that decoded the call (new or reused record): reports it. */
    private void started() {
        requestBytes = Frames.length(frame);
        startNanos = connection.obs.callStartAtRead(); // the reader's clock for this pass: no clock read per call
        connection.obs.callStarted(entry.procedure(), serial);
    }

    /** The call ended with {@code outcome} (once, from the thread that settled it): reports it. */
    private int ended(final dev.braid.BraidObserver.CallOutcome outcome, final int replyBytes) {
        connection.obs.callEnded(entry.procedure(), serial, outcome, startNanos, requestBytes, replyBytes);
        return connection.callDone();
    }

    /**
     * Reader thread: reuse this record, which ran inline and answered without deferring, for the next
     * plain call (see {@link ServerConnection#dispatch}). Plain writes, published to any later thread by the
     * hand-offs every answer goes through.
     */
    IncomingCallImpl reuse(final PooledBuffer frame) {
        this.frame = frame;
        this.serial = Frames.serial(frame);
        this.deferred = false;
        this.abandoned = false;
        HOLDS.setVolatile(this, 2);
        ANSWERED.setVolatile(this, false);
        started();
        return this;
    }

    /** Reader thread, after an inline run: answered, or deferred with the answer still to come. */
    boolean deferredAndUnanswered() {
        return deferred && !(boolean) ANSWERED.getVolatile(this);
    }

    boolean isDeferred() {
        return deferred;
    }

    ProcedureRegistry.Entry entry() {
        return entry;
    }

    /**
     * Reader thread: runs the handler inline. Until it defers, the call takes answers only from
     * {@code reader} (this thread): a reference kept past the handler's return cannot answer another call
     * from elsewhere once the record is reused.
     */
    void runInline(final Thread reader) {
        inlineThread = reader;
        run();
    }

    /** Set while an inline record has not deferred: the only thread that may answer it. */
    private Thread inlineThread;

    /** Refuses an answer from another thread to an inline call that did not defer. */
    private void checkAnsweringThread() {
        final Thread t = inlineThread;
        if (t != null && !deferred && Thread.currentThread() != t) {
            throw new IllegalStateException("call " + entry.procedure() + " is served by a non-blocking handler that"
                    + " did not defer its reply: it can only be answered from inside that handler (call deferReply()"
                    + " first to answer later or from another thread)");
        }
    }

    @Override
    public void run() {
        try {
            if (stream != null) {
                entry.streamHandler().handle(this, stream);
            } else {
                entry.handler().handle(this);
            }
        } catch (Throwable t) {
            final RemoteError error = toRemoteError(t);
            if (!tryFail(error)) {
                if (stream != null) {
                    stream.abortWithRemoteError(error); // the client's next read/write/finish reports it
                } else {
                    HANDLER_LOG.log(Level.WARNING, "handler for " + entry.procedure() + " threw after answering", t);
                }
            }
        } finally {
            // A handler that deferred (a stream handler too: it accepts later, from elsewhere) answers later.
            if (!deferred && !(boolean) ANSWERED.getVolatile(this)) {
                tryFail(RemoteError.of(RemoteError.VIR_ERR_INTERNAL_ERROR, RemoteError.VIR_FROM_RPC,
                        "handler for " + entry.procedure() + " returned without replying"));
            }
            if (stream != null) {
                // Left open with nobody to end it: aborted. A listener, a deferred answer or finishAsync means
                // the stream goes on without the handler (the non-blocking style).
                if (stream.isOpen() && !stream.hasListener() && !deferred && !stream.endInProgress()) {
                    stream.abortWithRemoteError(RemoteError.of(RemoteError.VIR_ERR_INTERNAL_ERROR,
                            RemoteError.VIR_FROM_RPC, "stream handler for " + entry.procedure()
                                    + " returned without finishing the stream"));
                }
                stream.releaseHold(); // the handler's hold on the stream slot
            }
            drop();
        }
    }

    HandlerMode mode() {
        return entry.mode();
    }

    /** The connection closed before this parked call was dispatched: release its arguments. */
    void discard() {
        connection.obs.callEnded(entry.procedure(), serial, dev.braid.BraidObserver.CallOutcome.CLOSED, startNanos,
                requestBytes, 0);
        frame.release();
        if (stream != null) {
            stream.releaseHold(); // the handler never ran
        }
    }

    /** The executor refused the call (braid is closing): answer with an error. */
    void rejected(final RejectedExecutionException e) {
        tryFail(RemoteError.of(RemoteError.VIR_ERR_INTERNAL_ERROR, RemoteError.VIR_FROM_RPC,
                "server is shutting down: " + e.getMessage()));
        if (stream != null) {
            stream.releaseHold(); // the handler's hold: it will never run
        }
        drop();
    }

    private RemoteError toRemoteError(final Throwable t) {
        if (t instanceof RemoteException re) {
            return re.error();
        }
        final String text = t instanceof BraidException ? t.getMessage() : t.getClass().getName()
                + (t.getMessage() == null ? "" : ": " + t.getMessage());
        return RemoteError.of(RemoteError.VIR_ERR_INTERNAL_ERROR, RemoteError.VIR_FROM_RPC,
                "handler for " + entry.procedure() + " failed: " + text);
    }

    private boolean tryAnswer() {
        if (ANSWERED.compareAndSet(this, false, true)) {
            connection.unanswered.remove(this);
            return true;
        }
        return false;
    }

    /** The connection closed with this call unanswered: release what the answer would have. Once. */
    void abandon() {
        abandoned = true; // before the CAS: an answer racing with it must see it to stay silent
        if (ANSWERED.compareAndSet(this, false, true)) {
            ended(dev.braid.BraidObserver.CallOutcome.CLOSED, 0);
            drop();
        }
    }

    /** Dispatch lost a race with the close: the handler will never run; drop its holds too. */
    void neverRun() {
        abandon();
        if (stream != null) {
            stream.fail(new dev.braid.ConnectionClosedException(
                    dev.braid.ConnectionClosedException.Reason.LOCAL_CLOSE, "connection closed", null));
            stream.releaseHold();
        }
        drop();
    }

    /**
     * The slot is returned before the reply leaves, so the client's next call always finds it free. The
     * answer to the only call being served may be written on this thread (an urgent flush).
     */
    private void answeredWith(final PooledBuffer reply) {
        if (stream != null) {
            stream.accept();
        }
        final boolean alone = ended(dev.braid.BraidObserver.CallOutcome.OK, Frames.length(reply)) == 0;
        connection.enqueue(reply, false, alone);
        connection.checkDrained(); // after the answer is queued: a drained connection closes behind it
        drop();
    }

    private void drop() {
        if ((int) HOLDS.getAndAdd(this, -1) == 1) {
            frame.release();
        }
    }

    private boolean tryFail(final RemoteError error) {
        if (!tryAnswer()) {
            return false;
        }
        if (stream != null) {
            stream.fail(new RemoteException(error)); // refused: the client never had this stream
        }
        final PooledBuffer f = connection.errorFrame(entry.procedure().program(), entry.procedure().version(),
                entry.procedure().procedure(), serial, error);
        ended(dev.braid.BraidObserver.CallOutcome.ERROR, Frames.length(f));
        connection.enqueue(f, false);
        connection.checkDrained();
        drop();
        return true;
    }

    /**
     * The server shuts down now with this call still running: the client gets an ERROR naming {@code reason}
     * (the call may have partly executed); the handler's answer, if it comes, is dropped. Any thread.
     */
    void failForShutdown(final String reason) {
        abandoned = true; // the handler's own answer, later, stays silent
        tryFail(RemoteError.of(RemoteError.VIR_ERR_INTERNAL_ERROR, RemoteError.VIR_FROM_RPC, "server shut down "
                + "before call " + entry.procedure() + " serial " + Integer.toUnsignedString(serial) + " finished ("
                + reason + "); it may have partly executed"));
    }

    /**
     * The connection closes now because the peer broke a limit ({@code reason}) with this call still running:
     * the client gets an ERROR naming it (the call may have partly executed); the handler's answer, if it
     * comes, is dropped. Any thread.
     */
    void failForClose(final String reason) {
        abandoned = true; // the handler's own answer, later, stays silent
        tryFail(RemoteError.of(RemoteError.VIR_ERR_INTERNAL_ERROR, RemoteError.VIR_FROM_RPC, "call "
                + entry.procedure() + " serial " + Integer.toUnsignedString(serial) + " was not finished: the server "
                + "closed the connection (" + reason + "); it may have partly executed"));
    }

    private void alreadyAnswered() {
        if (abandoned) {
            return; // the connection is gone; the answer has nowhere to go
        }
        throw new IllegalStateException("call " + entry.procedure() + " serial " + Integer.toUnsignedString(serial)
                + " was already answered");
    }

    @Override
    public Procedure procedure() {
        return entry.procedure();
    }

    @Override
    public int serial() {
        return serial;
    }

    @Override
    public ByteBuffer args() {
        return Frames.lentPayload(frame);
    }

    @Override
    public Peer peer() {
        return connection;
    }

    @Override
    public void reply(final byte[] payload) {
        reply(ByteBuffer.wrap(payload));
    }

    @Override
    public void reply(final ByteBuffer payload) {
        checkAnsweringThread();
        connection.checkOutboundSize(payload.remaining(), "reply to", entry.procedure());
        final Procedure p = entry.procedure();
        final PooledBuffer f = connection.frameOf(p.program(), p.version(), p.procedure(), TYPE_REPLY, serial,
                STATUS_OK, payload);
        if (!tryAnswer()) {
            f.release();
            alreadyAnswered();
            return;
        }
        answeredWith(f);
    }

    @Override
    public void reply(final int length, final PayloadWriter writer) {
        checkAnsweringThread();
        connection.checkOutboundSize(length, "reply to", entry.procedure());
        final Procedure p = entry.procedure();
        final PooledBuffer f = connection.frameOf(p.program(), p.version(), p.procedure(), TYPE_REPLY, serial,
                STATUS_OK, length, writer);
        if (!tryAnswer()) {
            f.release();
            alreadyAnswered();
            return;
        }
        answeredWith(f);
    }

    @Override
    public <T> void reply(final Marshaller<T> marshaller, final T value) {
        checkAnsweringThread();
        final PooledBuffer f = connection.frameOf(TYPE_REPLY, serial, STATUS_OK, entry.procedure(), marshaller, value,
                "reply to");
        if (!tryAnswer()) {
            f.release();
            alreadyAnswered();
            return;
        }
        answeredWith(f);
    }

    /** Whether the handler answered (reply or fail) or deferred its answer. Any thread. */
    boolean answeredOrDeferred() {
        return deferred || (boolean) ANSWERED.getVolatile(this);
    }

    @Override
    public void fail(final RemoteError error) {
        checkAnsweringThread();
        if (!tryFail(error)) {
            alreadyAnswered();
        }
    }

    @Override
    public void deferReply() {
        if (inlineThread != null && !deferred && Thread.currentThread() == inlineThread) {
            connection.procedureDefers(entry); // the handler, running inline on the reader
        }
        deferred = true;
    }
}
