package dev.braid.internal.engine.call;

import dev.braid.BraidConfig;
import dev.braid.BraidException;
import dev.braid.CallTimeoutException;
import dev.braid.ConnectionClosedException;
import dev.braid.ConnectionClosedException.Reason;
import dev.braid.LimitExceededException;
import dev.braid.Procedure;
import dev.braid.ProtocolException;
import dev.braid.RemoteError;
import dev.braid.RemoteException;
import dev.braid.Marshaller;
import dev.braid.ReplyHandler;
import dev.braid.TypedReplyHandler;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.concurrent.MpmcArrayQueue;
import dev.braid.internal.engine.io.Outbound;
import dev.braid.internal.observe.Observation;
import dev.braid.BraidObserver.CallOutcome;
import dev.braid.internal.wire.Frames;
import dev.braid.internal.wire.RemoteErrorCodec;
import org.agrona.collections.Int2ObjectHashMap;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

import static dev.braid.internal.wire.FrameHeader.STATUS_OK;

/**
 * A client connection's calls: serials, the pending table, outstanding-call slots, the queue of calls
 * waiting for a slot, the recycled records, and the exactly-once rules that tie them together.
 *
 * <h2>A call's path</h2>
 * A call gets the next serial (+1 per call, skipping 0), is entered in {@link #pending} (a primitive-keyed
 * open-addressing map guarded by its own monitor, held only for a put, get or remove, so the reply, the
 * timer, a cancel and a close can race and exactly one removes it), and then either takes an
 * outstanding-call slot and goes to the writer, or waits in {@link #waiting}. A finished call hands its
 * slot straight to the next waiting call. Because the client never has more calls outstanding than the
 * server's advertised limit, a braid server never has to stop reading a braid client.
 *
 * <h2>Records</h2>
 * Three kinds ({@link CallRecord}): futures, blocking callers and reply handlers; the last two are recycled
 * through {@link #freeBlocking} and {@link #freeHandlers} ({@link #RECORD_POOL} idle records each), so those
 * paths allocate nothing per call. The record's states and who may finish it are in {@link CallRecord}.
 *
 * <h2>Threads</h2>
 * Every method may be called from any thread except {@link #onReply} (the connection's reader). The
 * timer thread enforces timeouts. An outcome is decided on the thread that finishes the call (usually the
 * reader, the timer for timeouts, or the closing thread) and delivered through {@link Callbacks}: on the
 * callback executor (futures' completion and their dependent stages, reply handlers), or right there with
 * {@code DIRECT_CALLBACKS}. A blocking caller is woken on its own thread either way.
 */
public final class ClientCalls {
    /** Idle records kept per kind and connection: enough for the calls a connection keeps in flight in practice. */
    static final int RECORD_POOL = 256;

    private final BraidConfig cfg;
    /** Where futures complete and reply handlers run. */
    final Callbacks callbacks;
    private final ScheduledExecutorService timer;
    private final Outbound outbound;
    /** Calls by serial; guarded by its own monitor. */
    private final Int2ObjectHashMap<CallRecord> pending = new Int2ObjectHashMap<>();
    private final ConcurrentLinkedQueue<CallRecord> waiting = new ConcurrentLinkedQueue<>();
    private final MpmcArrayQueue<BlockingCall> freeBlocking = new MpmcArrayQueue<>(RECORD_POOL);
    private final MpmcArrayQueue<HandlerCall> freeHandlers = new MpmcArrayQueue<>(RECORD_POOL);
    private final AtomicInteger slots = new AtomicInteger();
    final AtomicInteger queuedCalls = new AtomicInteger();
    private final AtomicInteger lastSerial = new AtomicInteger();
    private final LongAdder callsStarted = new LongAdder();
    private final java.util.concurrent.atomic.AtomicLong lateReplies = new java.util.concurrent.atomic.AtomicLong();
    private volatile int maxOutstanding;
    /** 1 while HELLO, sent without a slot, is outstanding: it returns one when it finishes. */
    private volatile int helloSlot;
    /** Serials went past 2^32 once; from then on "issued" is a window check. */
    private volatile boolean serialsWrapped;
    private volatile boolean closing;
    private volatile ConnectionClosedException closed;
    /** Draining (issue 14 §1): new calls fail with {@link #drainRefusal}; {@link #onOutcome} runs after each outcome. */
    private volatile boolean draining;
    private volatile String drainReason;
    private volatile Runnable onOutcome;
    /** Told (once per refusal) when the server refused a call because it is draining. */
    private volatile java.util.function.Consumer<String> serverDraining = reason -> { };

    private final Observation obs;

    public ClientCalls(final BraidConfig cfg, final Callbacks callbacks, final ScheduledExecutorService timer,
                       final Outbound outbound) {
        this(cfg, callbacks, timer, outbound, Observation.NONE);
    }

    public ClientCalls(final BraidConfig cfg, final Callbacks callbacks, final ScheduledExecutorService timer,
                       final Outbound outbound, final Observation obs) {
        this.obs = obs;
        this.cfg = cfg;
        this.callbacks = callbacks;
        this.timer = timer;
        this.outbound = outbound;
    }

    // ------------------------------------------------------------------ serials and records

    /** The next serial: +1 per call, skipping 0. Any thread. */
    public int nextSerial() {
        int s;
        do {
            s = lastSerial.incrementAndGet();
            if (s == 0) {
                serialsWrapped = true;
            }
        } while (s == 0);
        return s;
    }

    /** The last serial given to a call (0 before the first). */
    public int lastSerial() {
        return lastSerial.get();
    }

    /** Whether {@code serial} was given to some call (before the first wrap: exactly; after: approximately). */
    boolean issued(final int serial) {
        if (serial == 0) {
            return false;
        }
        final int last = lastSerial.get();
        return serialsWrapped ? last - serial >= 0 : Integer.compareUnsigned(serial, last) <= 0;
    }

    /** A record whose future completes on the callback executor. */
    public FutureCall futureCall() {
        return new FutureCall(this, callbacks);
    }

    /** A record for braid's own use (HELLO) whose future completes on the thread that decides it. */
    public FutureCall internalFutureCall() {
        return new FutureCall(this, Callbacks.DIRECT);
    }

    /** A (recycled) record for a reply handler, with the caller's attachment (or null). */
    public HandlerCall handlerCall(final ReplyHandler handler, final Object attachment) {
        HandlerCall call = freeHandlers.poll();
        if (call == null) {
            call = new HandlerCall(this);
        }
        call.prepare(handler, attachment);
        return call;
    }

    /** A (recycled) record for a typed reply handler: the reply is decoded by {@code reply} first. */
    public HandlerCall handlerCall(final Marshaller<?> reply, final TypedReplyHandler<?> handler,
                                   final Object attachment) {
        HandlerCall call = freeHandlers.poll();
        if (call == null) {
            call = new HandlerCall(this);
        }
        call.prepare(reply, handler, attachment);
        return call;
    }

    /** A (recycled) record for a caller that waits on its own thread. */
    public BlockingCall blockingCall() {
        BlockingCall call = freeBlocking.poll();
        if (call == null) {
            call = new BlockingCall(this);
        }
        call.prepare();
        return call;
    }

    /** Caller's thread, after it consumed the outcome of {@code call}: the record may serve another call. */
    public void recycle(final BlockingCall call) {
        if (call.recyclable()) {
            freeBlocking.offer(call);
        }
    }

    /** A handler call ran cleanly to its end (the thread that delivered its outcome). */
    void recycle(final HandlerCall call) {
        freeHandlers.offer(call);
    }

    // ------------------------------------------------------------------ starting

    /**
     * Refuses a call when every slot is taken and {@code maxQueuedCalls} already wait.
     *
     * @throws LimitExceededException naming the limit
     */
    public void checkQueue() {
        if (slots.get() <= 0 && queuedCalls.get() >= cfg.maxQueuedCalls()) {
            throw obs.refused(new LimitExceededException("maxQueuedCalls", cfg.maxQueuedCalls(),
                    "too many calls waiting for one of " + maxOutstanding + " outstanding-call slots"));
        }
    }

    /**
     * Starts {@code call}: registers it, arms its timer, and sends it if a slot is free (on this thread when
     * it is the only call in flight), or queues it for the next slot. Ownership of {@code frame} passes to
     * the call.
     *
     * @param timeout null for the configured default
     */
    public void start(final CallRecord call, final Procedure p, final int serial, final PooledBuffer frame,
                      final Duration timeout) {
        call.reset(p, serial, frame, timeout != null ? timeout : cfg.defaultCallTimeout());
        call.startNanos = obs.callStart(); // before the record is published: the reply may come at once
        obs.callStarted(p, serial);
        queuedCalls.incrementAndGet();
        callsStarted.increment();
        register(call);
        if (draining) {
            failIfPending(call, drainRefusal(call)); // raced with the drain (or its close): never sent
            return;
        }
        if (closed != null || closing) {
            failIfPending(call, closedOrClosing()); // raced with close: whoever removes the call fails it
            return;
        }
        if (call.timedByTimer()) {
            armTimeout(call);
        }
        final int before = tryTakeSlot();
        if (before > 0) {
            // The only call in flight: the backend may write it on this thread rather than wake its I/O thread.
            admitAndSend(call, before == maxOutstanding);
        } else {
            call.queued = true;
            waiting.add(call);
            if (tryTakeSlot() > 0) {
                releaseSlot(); // a slot freed while we queued: hand it to the head of the queue
            }
        }
    }

    /**
     * Starts the HELLO call, before any limit is known: it goes out without a slot, and returns one when it
     * finishes, which {@link #useLimits} counts.
     */
    public void startHello(final FutureCall call, final Procedure p, final int serial, final PooledBuffer frame,
                           final Duration timeout) {
        call.reset(p, serial, frame, timeout);
        queuedCalls.incrementAndGet();
        register(call);
        armTimeout(call);
        helloSlot = 1;
        outbound.enqueue(call.admit(), false, false);
    }

    /** The server's limit is known: that many calls may be outstanding. Once. */
    public void useLimits(final int maxOutstandingCalls) {
        maxOutstanding = maxOutstandingCalls;
        slots.addAndGet(maxOutstandingCalls - helloSlot);
    }

    private void register(final CallRecord call) {
        synchronized (pending) {
            pending.put(call.serial, call);
        }
    }

    /** Removes {@code call} from the table if it is still there. */
    private boolean unregister(final CallRecord call) {
        synchronized (pending) {
            if (pending.get(call.serial) == call) {
                pending.remove(call.serial);
                return true;
            }
            return false;
        }
    }

    private void armTimeout(final CallRecord call) {
        if (!call.timeout.isZero()) {
            call.timeoutTask = timer.schedule(() -> {
                // Queued: it leaves at once. Sent: the server still holds it, so its slot stays taken until
                // the late reply, which is then dropped and counted; returning the slot now would let this
                // client exceed the server's limit.
                dropIfQueued(call);
                if (call.completeExceptionally(new CallTimeoutException(call.procedure, call.serial, call.timeout))) {
                    ended(call, CallOutcome.TIMEOUT); // never recycled: a timer saw it
                }
            }, call.timeout.toNanos(), TimeUnit.NANOSECONDS);
            if (call.isCompleted()) { // finished before the task was stored: finish() could not cancel it
                call.timeoutTask.cancel(false);
            }
        }
    }

    /** Takes a slot if one is free: returns the free count before taking it, or 0 if none was free. */
    private int tryTakeSlot() {
        int s;
        do {
            s = slots.get();
            if (s <= 0) {
                return 0;
            }
        } while (!slots.compareAndSet(s, s - 1));
        return s;
    }

    /** Holder of a slot: send this call, or pass the slot on if the call is already finished. */
    private void admitAndSend(final CallRecord call, final boolean alone) {
        final PooledBuffer f = call.admit();
        if (f == null) {
            releaseSlot();
            return;
        }
        outbound.enqueue(f, false, alone);
    }

    /** A slot is free: give it to the first waiting call that is not finished, or return it. Any thread. */
    void releaseSlot() {
        while (true) {
            final CallRecord next = waiting.poll();
            if (next == null) {
                slots.incrementAndGet();
                // A caller may have queued after our poll and missed the slot: take it back and retry.
                if (waiting.isEmpty() || tryTakeSlot() == 0) {
                    return;
                }
                continue;
            }
            final PooledBuffer f = next.admit();
            if (f != null) {
                outbound.enqueue(f, false, false);
                return;
            }
        }
    }

    // ------------------------------------------------------------------ ending

    /** The caller cancelled {@code call}'s future, or stopped waiting for it. */
    void abandon(final CallRecord call) {
        dropIfQueued(call); // a sent call keeps its slot until its reply comes back (see armTimeout)
    }

    /** A call that was never sent leaves at once: table, queue, frame. Returns false if it was sent. */
    public boolean dropIfQueued(final CallRecord call) {
        if (!call.finishIfQueued()) {
            return false;
        }
        unregister(call);
        waiting.remove(call);
        afterOutcome(); // it may have been the last thing a drain waited for
        return true;
    }

    private void failIfPending(final CallRecord call, final Throwable error) {
        if (unregister(call)) {
            call.finish();
            final Procedure p = call.procedure; // read before the outcome: a record may be recycled after it
            final int serial = call.serial;
            final long start = call.startNanos;
            final int request = call.requestBytes;
            if (call.completeExceptionally(error)) {
                obs.callEnded(p, serial, CallOutcome.CLOSED, start, request, 0);
            }
            afterOutcome();
        }
    }

    /**
     * The caller's end of {@code call} was set by this thread with {@code outcome}, and no other thread can
     * recycle the record meanwhile (timeouts, cancels: such records are never reused). Reports it.
     */
    void ended(final CallRecord call, final CallOutcome outcome) {
        obs.callEnded(call.procedure, call.serial, outcome, call.startNanos, call.requestBytes, 0);
    }

    /**
     * Reader: a REPLY frame; takes ownership. Completes its call exactly once, or drops and counts a late
     * reply (a call that timed out or was cancelled).
     *
     * @throws ProtocolException for a reply to a call not sent yet, to a serial never used, or one that does
     *                           not match its call (the caller closes the connection)
     */
    public void onReply(final PooledBuffer frame) {
        final int serial = Frames.serial(frame);
        final CallRecord call;
        synchronized (pending) {
            final CallRecord found = pending.get(serial);
            if (found != null && !found.wasSent()) {
                final String what = Frames.describe(frame.byteBuffer(), 0);
                frame.release();
                throw new ProtocolException("REPLY for a call that was not sent yet: " + what);
            }
            call = found == null ? null : pending.remove(serial);
        }
        if (call == null) {
            if (!issued(serial)) {
                final String what = Frames.describe(frame.byteBuffer(), 0);
                frame.release();
                throw new ProtocolException("REPLY for a serial no call used: " + what);
            }
            frame.release();
            lateReplies.incrementAndGet();
            return;
        }
        call.finish();
        final Procedure p = call.procedure;
        // Read before the outcome is set: a recycled record may serve another call right after it.
        final long start = call.startNanos;
        final int request = call.requestBytes;
        final int replyBytes = Frames.length(frame);
        if (Frames.prog(frame) != p.program() || Frames.vers(frame) != p.version() || Frames.proc(frame) != p.procedure()) {
            final ProtocolException e = new ProtocolException("REPLY does not match its call " + p + ": "
                    + Frames.describe(frame.byteBuffer(), 0));
            frame.release();
            if (call.completeExceptionally(new ConnectionClosedException(Reason.PROTOCOL_ERROR, e.getMessage(), e))) {
                obs.callEndedAtRead(p, serial, CallOutcome.PROTOCOL_ERROR, start, request, replyBytes);
            }
            throw e;
        }
        if (Frames.status(frame) == STATUS_OK) {
            if (!call.completeWithReply(frame)) {
                frame.release();
                lateReplies.incrementAndGet();
            } else {
                obs.callEndedAtRead(p, serial, CallOutcome.OK, start, request, replyBytes);
            }
            afterOutcome();
            return;
        }
        final RemoteError error;
        try {
            error = RemoteErrorCodec.decode(Frames.payloadView(frame));
        } catch (ProtocolException e) {
            if (call.completeExceptionally(new ConnectionClosedException(Reason.PROTOCOL_ERROR, e.getMessage(), e))) {
                obs.callEndedAtRead(p, serial, CallOutcome.PROTOCOL_ERROR, start, request, replyBytes);
            }
            throw e;
        } finally {
            frame.release();
        }
        final BraidException failure;
        if (error.int1() == dev.braid.internal.wire.Extension.DRAIN_REFUSAL_MARKER
                && error.domain() == RemoteError.VIR_FROM_RPC) {
            failure = new dev.braid.DrainingException(error.message(), true); // not executed: retry elsewhere
            serverDraining.accept(error.message());
        } else {
            failure = new RemoteException(error);
        }
        if (!call.completeWithRemoteError(failure)) {
            lateReplies.incrementAndGet();
        } else {
            obs.callEndedAtRead(p, serial, CallOutcome.ERROR, start, request, replyBytes);
        }
        afterOutcome();
    }

    // ------------------------------------------------------------------ draining

    /**
     * Where a refusal by a draining server is reported (the connection begins its own drain). Set once,
     * before the connection is published.
     */
    public void onServerDraining(final java.util.function.Consumer<String> listener) {
        serverDraining = listener;
    }

    /**
     * The connection drains: new calls fail with a {@link dev.braid.DrainingException} naming
     * {@code reason}; calls still waiting for a slot (never sent) fail with it now; {@code afterEachOutcome}
     * runs after every later outcome (the connection checks whether it is idle). Any thread; once.
     */
    public void drain(final String reason, final Runnable afterEachOutcome) {
        drainReason = reason;
        onOutcome = afterEachOutcome;
        draining = true;
        CallRecord w;
        while ((w = waiting.poll()) != null) {
            if (w.finishIfQueued()) { // never sent: the server never saw it
                if (unregister(w)) {
                    w.completeExceptionally(drainRefusal(w));
                }
            }
        }
    }

    /** Whether the connection drains. */
    public boolean draining() {
        return draining;
    }

    /** The failure of a call this side refuses because it drains (never sent). */
    public dev.braid.DrainingException drainRefusal(final Object what) {
        return new dev.braid.DrainingException("connection is draining (" + drainReason + "): " + what
                + " was not sent; retry it on another connection", false);
    }

    /** Whether nothing is pending: every call sent was answered (late replies included) and none waits. */
    public boolean idle() {
        return pendingCount() == 0 && queuedCalls.get() == 0;
    }

    private void afterOutcome() {
        if (draining) {
            final Runnable r = onOutcome;
            if (r != null) {
                r.run();
            }
        }
    }

    // ------------------------------------------------------------------ closing

    /** A graceful close began: new calls fail at once. Any thread. */
    public void closing() {
        closing = true;
    }

    /** Whether every pending call has an outcome (only abandoned ones are left). Any thread. */
    public boolean allCompleted() {
        for (CallRecord c : snapshot()) {
            if (!c.isCompleted()) {
                return false;
            }
        }
        return true;
    }

    public int pendingCount() {
        synchronized (pending) {
            return pending.size();
        }
    }

    /** The connection closed: every call not yet answered fails with {@code reason}, once. */
    public void failAll(final ConnectionClosedException reason) {
        closed = reason;
        CallRecord w;
        while ((w = waiting.poll()) != null) { // first: a slot freed by the failures below must not send them
            if (w.finishIfQueued()) {
                failIfPending(w, notSent(reason));
            }
        }
        for (CallRecord call : snapshot()) {
            failIfPending(call, call.wasSent() ? reason : notSent(reason));
        }
    }

    /** The failure of a call that never left: the connection's reason, marked as not sent (safe to retry). */
    public static ConnectionClosedException notSent(final ConnectionClosedException reason) {
        final String m = reason.getMessage();
        final String prefix = reason.reason().text();
        final String detail = m.startsWith(prefix + ": ") ? m.substring(prefix.length() + 2) : m.equals(prefix) ? null : m;
        return new ConnectionClosedException(reason.reason(), detail, reason.getCause(), true); // same message
    }

    private List<CallRecord> snapshot() {
        synchronized (pending) {
            return new ArrayList<>(pending.values());
        }
    }

    private ConnectionClosedException closedOrClosing() {
        final ConnectionClosedException c = closed;
        return c != null ? c : new ConnectionClosedException(Reason.LOCAL_CLOSE, "connection is closing", null);
    }

    // ------------------------------------------------------------------ counters

    public long started() {
        return callsStarted.sum();
    }

    /** Calls holding a slot now. */
    public int inFlight() {
        final int max = maxOutstanding;
        return max == 0 ? 0 : Math.max(0, max - slots.get());
    }

    public int queued() {
        return queuedCalls.get();
    }

    public long lateReplies() {
        return lateReplies.get();
    }

    /** A reply handed to the callback executor found its future already cancelled: counted as late. */
    void lateReply() {
        lateReplies.incrementAndGet();
    }

    /**
     * A typed call whose reply its marshaller could not decode: that call fails (category PROTOCOL), the
     * connection stays open (the frame itself was well formed).
     */
    public static BraidException undecodable(final Procedure p, final RuntimeException e) {
        return new BraidException(BraidException.Category.PROTOCOL, "cannot decode the reply to " + p + ": "
                + (e instanceof BraidException ? e.getMessage() : e.toString()), e);
    }

    /** The exception a caller gets for a failed call: braid's own, or one wrapping the cause. */
    public static BraidException unwrap(final Throwable t) {
        if (t instanceof BraidException b) {
            return b;
        }
        if (t instanceof CancellationException) {
            return new BraidException(BraidException.Category.CANCELLED, "the call was cancelled", t);
        }
        return new BraidException(BraidException.Category.IO, String.valueOf(t), t);
    }
}
