package dev.braid.internal.engine;

import dev.braid.BraidException;
import dev.braid.BraidStream;
import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.ConnectionClosedException;
import dev.braid.ConnectionClosedException.Reason;
import dev.braid.ConnectionStats;
import dev.braid.DrainingException;
import dev.braid.EventListener;
import dev.braid.LimitExceededException;
import dev.braid.Marshaller;
import dev.braid.NegotiatedLimits;
import dev.braid.PayloadWriter;
import dev.braid.Procedure;
import dev.braid.ProcedureDescriptor;
import dev.braid.ReconnectPolicy;
import dev.braid.ReconnectingConnection;
import dev.braid.Reply;
import dev.braid.ReplyHandler;
import dev.braid.ReplyTooLargeException;
import dev.braid.StreamOptions;
import dev.braid.TypedReplyHandler;
import dev.braid.internal.engine.call.ClientCalls;
import dev.braid.spi.IoThreads;

import java.lang.System.Logger.Level;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * A {@link ReconnectingConnection}: one {@link ClientConnection} at a time ({@link #current}), replaced by a
 * new one, after backoff, when it is lost.
 *
 * <h2>States</h2>
 * <pre>
 *   CONNECTED ──connection lost──▶ RECONNECTING ──attempt n fails──▶ RECONNECTING (wait backoff(n+1))
 *       ▲                               │  └──maxAttempts reached──▶ CLOSED (parked calls fail)
 *       └───────attempt succeeds────────┘
 *   any ──close() / abort() / shutdown() done──▶ CLOSED
 * </pre>
 * Every transition goes through {@link #transition} (a CAS on {@code state}) and is reported to the state
 * listeners through a {@link SerialExecutor} on the callback executor, so they see them in order.
 *
 * <h2>Calls</h2>
 * Every call is an {@link Attempt} that can be run on a connection. {@link #submit} runs it on the current
 * connection if that connection is of a later generation than the one the attempt last failed on, and
 * otherwise parks it in {@link #parked} until the next connection is up ({@link #flushParked}). An attempt
 * whose call was not sent (the connection was closed when it started, the call still waited for a slot
 * when the connection went, or a draining server refused it) is submitted again; one whose call was sent
 * fails with a {@link ConnectionClosedException} saying it may have executed. A parked attempt is taken
 * exactly once ({@link Parked#taken}): by a flush, by its timeout, or by the close.
 *
 * <h2>Threads</h2>
 * Any thread for the {@link dev.braid.Connection} methods. The reconnect attempts run on the runtime's
 * timer thread and complete on the callback executor; a lost connection is noticed on the thread that
 * completes its close future. {@code current}, {@code generation} and {@code state} are volatile; a new
 * connection is published (current, then generation) before the parked calls are flushed.
 */
public final class ReconnectingClient implements ReconnectingConnection {
    private final BraidRuntime rt;
    private final InetSocketAddress address;
    private final ReconnectPolicy policy;
    private final java.util.function.BiFunction<InetSocketAddress, java.util.function.Consumer<Connection>,
            CompletableFuture<Connection>> connector;
    private final ConcurrentHashMap<Procedure, EventListener> listeners = new ConcurrentHashMap<>();
    private final CopyOnWriteArrayList<StateListener> stateListeners = new CopyOnWriteArrayList<>();
    private final SerialExecutor stateEvents;
    private final ConcurrentLinkedQueue<Parked> parked = new ConcurrentLinkedQueue<>();
    private final AtomicInteger parkedCount = new AtomicInteger();
    private final CompletableFuture<ConnectionClosedException> closeFuture = new CompletableFuture<>();
    private final java.util.concurrent.atomic.AtomicReference<State> state =
            new java.util.concurrent.atomic.AtomicReference<>(State.CONNECTED);
    /** A connection that is up and its generation, published together (one volatile read gives both). */
    private record Link(Connection connection, int generation) {
    }

    /** The connection in use, or null while none is up. */
    private volatile Link current;
    /** The last connection that was up (null only before the first one): stats, limits and addresses come from it. */
    private volatile Connection last;
    /**
     * +1 per connection that came up; an attempt that failed on generation g waits for one above g. Written
     * only by {@link #up} (never two at once: one attempt at a time), before the link that carries it.
     */
    private volatile int generation;
    private volatile boolean closing;
    private volatile ScheduledFuture<?> nextAttempt;
    private final AtomicInteger reconnects = new AtomicInteger();

    /**
     * @param first     the connection made by {@code connectReconnecting} (HELLO done), or null to make the
     *                  first one here, as a reconnection after a loss ({@link ReconnectPolicy#retryFirstConnect()})
     * @param connector makes each new connection (HELLO included), calling its second argument with the new
     *                  connection before the socket opens, so the event listeners are on it before any frame
     */
    public ReconnectingClient(final BraidRuntime rt, final InetSocketAddress address, final ReconnectPolicy policy,
                              final java.util.function.BiFunction<InetSocketAddress,
                                      java.util.function.Consumer<Connection>, CompletableFuture<Connection>> connector,
                              final Connection first) {
        this.rt = rt;
        this.address = address;
        this.policy = policy;
        this.connector = connector;
        this.stateEvents = new SerialExecutor(rt.callbacks::execute, (t, e) -> BraidRuntime.LOG.log(Level.WARNING,
                "a ReconnectingConnection state listener failed", e));
        this.last = first;
        if (first != null) {
            up(first);
        } else {
            state.set(State.RECONNECTING); // nothing is up yet: calls wait for the first connection
            try {
                nextAttempt = rt.timer.schedule(() -> attempt(1), 0, TimeUnit.NANOSECONDS);
            } catch (RejectedExecutionException e) {
                giveUp(new ConnectionClosedException(Reason.LOCAL_CLOSE, "braid is closing", e));
            }
        }
    }

    // ------------------------------------------------------------------ connections coming and going

    /** A connection is up: listeners on it, publish it, watch its close, send what waited. */
    private void up(final Connection c) {
        listeners.forEach(c::onEvent);
        final int gen = generation + 1;
        generation = gen;
        last = c;
        current = new Link(c, gen);
        if (closing) { // close() ran meanwhile: it set closing before reading current, so one of us sees the other
            current = null;
            c.abort();
            return;
        }
        c.closeFuture().whenComplete((why, e) -> lost(c, why));
        flushParked();
    }

    /** {@code c} closed, for whatever reason: reconnect, unless we are closing. */
    private void lost(final Connection c, final ConnectionClosedException why) {
        final Link l = current;
        if (l == null || l.connection != c) {
            return;
        }
        current = null;
        if (closing) {
            closed(why);
            return;
        }
        if (transition(State.CONNECTED, State.RECONNECTING, why)) {
            schedule(1);
        }
    }

    private void schedule(final int attempt) {
        if (closing) {
            return;
        }
        final long delay = policy.backoffNanos(attempt, ThreadLocalRandom.current().nextDouble());
        try {
            nextAttempt = rt.timer.schedule(() -> attempt(attempt), delay, TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) { // braid is closing
            giveUp(new ConnectionClosedException(Reason.LOCAL_CLOSE, "braid is closing", e));
        }
    }

    /** Timer thread: one attempt to connect (and HELLO). */
    private void attempt(final int n) {
        if (closing) {
            return;
        }
        final CompletableFuture<Connection> f;
        try {
            f = connector.apply(address, c -> listeners.forEach(c::onEvent)); // before HELLO: no event missed
        } catch (RuntimeException e) {
            failedAttempt(n, e);
            return;
        }
        f.whenComplete((c, e) -> {
            if (e != null) {
                failedAttempt(n, e instanceof java.util.concurrent.CompletionException && e.getCause() != null
                        ? e.getCause() : e);
                return;
            }
            if (closing) {
                c.abort();
                return;
            }
            if (last != null) {
                reconnects.incrementAndGet(); // not for the first connection of a retryFirstConnect policy
            }
            up(c);
            transition(State.RECONNECTING, State.CONNECTED, null);
        });
    }

    private void failedAttempt(final int n, final Throwable e) {
        final String verb = last == null ? "connecting" : "reconnecting";
        BraidRuntime.LOG.log(Level.DEBUG, verb + " to " + address + ": attempt " + n + " failed: " + e);
        if (policy.maxAttempts() > 0 && n >= policy.maxAttempts()) {
            giveUp(new ConnectionClosedException(Reason.RESET, "gave up " + verb + " to " + address + " after "
                    + n + " attempts (ReconnectPolicy.maxAttempts); the last failed with: " + e.getMessage(), e));
        } else {
            schedule(n + 1);
        }
    }

    private void giveUp(final ConnectionClosedException why) {
        closing = true;
        closed(why);
    }

    /** Closed for good: state, parked calls, close future. */
    private void closed(final ConnectionClosedException why) {
        final State from = state.getAndSet(State.CLOSED);
        if (from != State.CLOSED) {
            report(from, State.CLOSED, why);
        }
        Parked p;
        while ((p = parked.poll()) != null) {
            if (p.taken.compareAndSet(false, true)) {
                parkedCount.decrementAndGet();
                p.attempt.fail(new ConnectionClosedException(why.reason(), "the call was not sent ("
                        + why.getMessage() + ")", why, true));
            }
        }
        closeFuture.complete(why);
    }

    private boolean transition(final State from, final State to, final Throwable cause) {
        if (!state.compareAndSet(from, to)) {
            return false;
        }
        report(from, to, cause);
        return true;
    }

    private void report(final State from, final State to, final Throwable cause) {
        for (StateListener l : stateListeners) {
            stateEvents.execute(() -> l.onStateChange(from, to, cause));
        }
    }

    // ------------------------------------------------------------------ attempts

    /** One call (or stream opening), runnable on any connection. */
    private interface Attempt {
        /** Starts it on {@code c} (generation {@code gen}); reports its outcome, or resubmits it. */
        void run(Connection c, int gen);

        /** It will never run: fail it with {@code e}. */
        void fail(BraidException e);

        /** What it is, for messages ("call 0x1/1/2"). */
        String what();
    }

    /** A parked attempt: taken once, by a flush, its timeout or the close. */
    private static final class Parked {
        final Attempt attempt;
        final AtomicBoolean taken = new AtomicBoolean();
        volatile ScheduledFuture<?> timer;

        Parked(final Attempt attempt) {
            this.attempt = attempt;
        }
    }

    /**
     * Runs {@code a} on the current connection if it is newer than generation {@code failedOn}, else parks
     * it (bounded by maxQueuedCalls, timed by {@code timeout} when it has one).
     */
    private void submit(final Attempt a, final int failedOn, final java.time.Duration timeout) {
        final Link l = current;
        if (l != null && l.generation > failedOn && state.get() == State.CONNECTED) {
            a.run(l.connection, l.generation);
            return;
        }
        if (state.get() == State.CLOSED || closing) {
            a.fail(closing && state.get() != State.CLOSED
                    ? new DrainingException("the reconnecting connection to " + address + " is shutting down: "
                    + a.what() + " was not sent; retry it on another connection", false)
                    : closedException());
            return;
        }
        if (parkedCount.incrementAndGet() > rt.config.maxQueuedCalls()) {
            parkedCount.decrementAndGet();
            a.fail(new LimitExceededException("maxQueuedCalls", rt.config.maxQueuedCalls(), "too many calls waiting "
                    + "for the connection to " + address + " to come back"));
            return;
        }
        final Parked p = new Parked(a);
        parked.add(p);
        final java.time.Duration t = timeout != null ? timeout : rt.config.defaultCallTimeout();
        if (!t.isZero()) {
            p.timer = rt.timer.schedule(() -> {
                if (p.taken.compareAndSet(false, true)) {
                    parked.remove(p);
                    parkedCount.decrementAndGet();
                    a.fail(new BraidException(BraidException.Category.TIMEOUT, a.what() + " timed out after "
                            + t.toMillis() + " ms waiting for the connection to " + address + " to come back; it "
                            + "was not sent"));
                }
            }, t.toNanos(), TimeUnit.NANOSECONDS);
        }
        final Link now = current;
        if (now != null && now.generation > failedOn) {
            flushParked(); // a connection came up while we parked: do not wait for the next one
        }
        if (state.get() == State.CLOSED && p.taken.compareAndSet(false, true)) { // closed while we parked
            parked.remove(p);
            parkedCount.decrementAndGet();
            a.fail(closedException());
        }
    }

    /** A connection is up: every parked attempt runs on it (in the order they were parked). */
    private void flushParked() {
        Parked p;
        while ((p = parked.poll()) != null) {
            if (!p.taken.compareAndSet(false, true)) {
                continue;
            }
            parkedCount.decrementAndGet();
            final ScheduledFuture<?> t = p.timer;
            if (t != null) {
                t.cancel(false);
            }
            final Link l = current;
            if (l == null) { // lost again meanwhile: back in line for the next one
                submitAgain(p.attempt, generation, null);
                continue;
            }
            p.attempt.run(l.connection, l.generation);
        }
    }

    private void submitAgain(final Attempt a, final int failedOn, final java.time.Duration timeout) {
        submit(a, failedOn, timeout);
    }

    private ConnectionClosedException closedException() {
        final ConnectionClosedException why = closeFuture.getNow(null);
        return why != null ? new ConnectionClosedException(why.reason(), "the call was not sent (" + why.getMessage()
                + ")", why, true) : new ConnectionClosedException(Reason.LOCAL_CLOSE, "the reconnecting connection "
                + "is closing; the call was not sent", null, true);
    }

    /** Whether a failure means the call never reached the server, so it may go on the next connection. */
    private static boolean notSent(final Throwable e) {
        return e instanceof ConnectionClosedException cce && cce.callNotSent() || e instanceof DrainingException;
    }

    private static Throwable unwrap(final Throwable e) {
        return (e instanceof java.util.concurrent.CompletionException || e instanceof ExecutionException)
                && e.getCause() != null ? e.getCause() : e;
    }

    /** A sent call lost with its connection: it may have executed, and is not retried. */
    private static Throwable mayHaveExecuted(final Throwable e, final Object what) {
        if (e instanceof ConnectionClosedException cce) {
            return new ConnectionClosedException(cce.reason(), "the connection was lost after " + what + " was sent: "
                    + "it may have executed; not retried (" + cce.getMessage() + ")", cce);
        }
        return e;
    }

    /**
     * The common attempt: {@code start} makes the call on a connection; a not-sent failure (thrown or
     * reported) resubmits it, anything else completes {@code result}.
     */
    private <T> CompletableFuture<T> retrying(final Object what, final java.time.Duration timeout,
                                              final Function<Connection, CompletableFuture<T>> start,
                                              final java.util.function.Consumer<T> discard) {
        final CompletableFuture<T> result = new CompletableFuture<>();
        final Attempt a = new Attempt() {
            @Override
            public void run(final Connection c, final int gen) {
                if (result.isDone()) {
                    return; // cancelled while parked
                }
                final CompletableFuture<T> f;
                try {
                    f = start.apply(c);
                } catch (BraidException e) {
                    if (notSent(e) || e instanceof ConnectionClosedException) { // refused before sending
                        submit(this, gen, timeout);
                    } else {
                        result.completeExceptionally(e);
                    }
                    return;
                }
                result.whenComplete((v, e) -> {
                    if (result.isCancelled()) {
                        f.cancel(false);
                    }
                });
                f.whenComplete((v, e) -> {
                    if (e == null) {
                        if (!result.complete(v) && discard != null) {
                            discard.accept(v);
                        }
                        return;
                    }
                    final Throwable cause = unwrap(e);
                    if (notSent(cause) && !result.isDone()) {
                        submit(this, gen, timeout);
                    } else {
                        result.completeExceptionally(mayHaveExecuted(cause, what));
                    }
                });
            }

            @Override
            public void fail(final BraidException e) {
                result.completeExceptionally(e);
            }

            @Override
            public String what() {
                return String.valueOf(what);
            }
        };
        submit(a, 0, timeout);
        return result;
    }

    private static ByteBuffer copy(final ByteBuffer args) {
        return ByteBuffer.allocate(args.remaining()).put(args.duplicate()).flip();
    }

    private static <T> T await(final CompletableFuture<T> f, final String op) {
        IoThreads.checkBlockingAllowed(op);
        try {
            return f.get();
        } catch (ExecutionException e) {
            throw ClientCalls.unwrap(e.getCause());
        } catch (InterruptedException e) {
            f.cancel(false);
            Thread.currentThread().interrupt();
            throw new BraidException(BraidException.Category.CANCELLED, "interrupted in " + op, e);
        }
    }

    // ------------------------------------------------------------------ calls

    @Override
    public CompletableFuture<Reply> callAsync(final Procedure p, final ByteBuffer args, final CallOptions options) {
        final ByteBuffer a = copy(args);
        return retrying("call " + p, options.timeout(), c -> c.callAsync(p, a.duplicate(), options), Reply::close);
    }

    @Override
    public CompletableFuture<Reply> callAsync(final Procedure p, final int length, final PayloadWriter writer,
                                              final CallOptions options) {
        final ByteBuffer a = ByteBuffer.allocate(length);
        writer.write(a);
        if (a.hasRemaining()) {
            throw new IllegalStateException("PayloadWriter wrote " + a.position() + " of the " + length
                    + " bytes it declared");
        }
        return callAsync(p, a.flip(), options);
    }

    /**
     * The connection a blocking call goes on: the current one if it is up and newer than generation
     * {@code failedOn}, else the next one, waited for like a parked call (bounded by maxQueuedCalls, its
     * timeout, the close). Allocates only when it has to wait.
     */
    private Link linkFor(final int failedOn, final java.time.Duration timeout, final Procedure p) {
        final Link l = current;
        if (l != null && l.generation > failedOn && state.get() == State.CONNECTED) {
            return l;
        }
        final CompletableFuture<Link> next = new CompletableFuture<>();
        submit(new Attempt() {
            @Override
            public void run(final Connection c, final int gen) {
                next.complete(new Link(c, gen)); // false if the caller gave up (interrupted): nothing was sent
            }

            @Override
            public void fail(final BraidException e) {
                next.completeExceptionally(e);
            }

            @Override
            public String what() {
                return "call " + p;
            }
        }, failedOn, timeout);
        return await(next, "Connection.call");
    }

    /**
     * A blocking call's failure on {@code l}: returns the generation to wait past if the call was not sent
     * (the caller then tries again on the next connection, with the same arguments), or throws what the
     * caller sees: the failure, or for a sent call lost with its connection the "may have executed" error.
     */
    private static int retryOrThrow(final BraidException e, final Link l, final Procedure p) {
        if (notSent(e)) {
            return l.generation;
        }
        final Throwable t = mayHaveExecuted(e, "call " + p);
        throw t instanceof BraidException b ? b : e;
    }

    /*
     * The blocking calls run on the current connection directly (the plain client's allocation-free path:
     * no copy of the arguments, no future); the caller's thread holds the arguments while it waits, so a call
     * that was not sent is made again from them on the next connection.
     */
    @Override
    public int call(final Procedure p, final ByteBuffer args, final ByteBuffer replyInto, final CallOptions options) {
        final int position = args.position();
        final int limit = args.limit();
        int failedOn = 0;
        while (true) {
            final Link l = linkFor(failedOn, options.timeout(), p);
            try {
                return l.connection.call(p, args, replyInto, options);
            } catch (ConnectionClosedException | DrainingException e) {
                failedOn = retryOrThrow(e, l, p);
                args.limit(limit).position(position);
            }
        }
    }

    @Override
    public void callAsync(final Procedure p, final ByteBuffer args, final CallOptions options,
                          final ReplyHandler handler) {
        callAsync(p, args, options, handler, null);
    }

    @Override
    public void callAsync(final Procedure p, final ByteBuffer args, final CallOptions options,
                          final ReplyHandler handler, final Object attachment) {
        Objects.requireNonNull(handler, "handler");
        callAsync(p, args, options).whenComplete((r, e) -> {
            if (e != null) {
                handler.onFailure(p, 0, ClientCalls.unwrap(unwrap(e)), attachment);
                return;
            }
            try (r) {
                handler.onReply(p, r.serial(), r.payload(), attachment);
            }
        });
    }

    @Override
    public <Q, R> R call(final ProcedureDescriptor<Q, R> d, final Q request, final CallOptions options) {
        int failedOn = 0;
        while (true) {
            final Link l = linkFor(failedOn, options.timeout(), d.procedure());
            try {
                return l.connection.call(d, request, options);
            } catch (ConnectionClosedException | DrainingException e) {
                failedOn = retryOrThrow(e, l, d.procedure());
            }
        }
    }

    @Override
    public <Q, R> R call(final ProcedureDescriptor<Q, R> d, final Q request, final R replyInto,
                         final CallOptions options) {
        int failedOn = 0;
        while (true) {
            final Link l = linkFor(failedOn, options.timeout(), d.procedure());
            try {
                return l.connection.call(d, request, replyInto, options);
            } catch (ConnectionClosedException | DrainingException e) {
                failedOn = retryOrThrow(e, l, d.procedure());
            }
        }
    }

    @Override
    public <Q, R> CompletableFuture<R> callAsync(final ProcedureDescriptor<Q, R> d, final Q request,
                                                 final CallOptions options) {
        return retrying("call " + d.procedure(), options.timeout(), c -> c.callAsync(d, request, options), null);
    }

    @Override
    public <Q, R> void callAsync(final ProcedureDescriptor<Q, R> d, final Q request, final CallOptions options,
                                 final TypedReplyHandler<R> handler, final Object attachment) {
        Objects.requireNonNull(handler, "handler");
        callAsync(d, request, options).whenComplete((r, e) -> {
            if (e != null) {
                handler.onFailure(0, ClientCalls.unwrap(unwrap(e)), attachment);
            } else {
                handler.onReply(0, r, attachment);
            }
        });
    }

    @Override
    public byte[] call(final Procedure p, final byte[] args, final CallOptions options) {
        try (Reply r = await(callAsync(p, ByteBuffer.wrap(args), options), "Connection.call")) {
            return r.toByteArray();
        }
    }

    // ------------------------------------------------------------------ streams

    @Override
    public BraidStream openStream(final Procedure p, final ByteBuffer args, final StreamOptions options) {
        return await(openStreamAsync(p, args, options), "Connection.openStream");
    }

    @Override
    public CompletableFuture<BraidStream> openStreamAsync(final Procedure p, final ByteBuffer args,
                                                          final StreamOptions options) {
        final ByteBuffer a = copy(args);
        return retrying("stream " + p, options.timeout(), c -> c.openStreamAsync(p, a.duplicate(), options),
                s -> s.abort("the opener gave it up"));
    }

    @Override
    public <Q> BraidStream openStream(final ProcedureDescriptor<Q, ?> d, final Q request,
                                      final StreamOptions options) {
        return await(openStreamAsync(d, request, options), "Connection.openStream");
    }

    @Override
    public <Q> CompletableFuture<BraidStream> openStreamAsync(final ProcedureDescriptor<Q, ?> d, final Q request,
                                                              final StreamOptions options) {
        return retrying("stream " + d.procedure(), options.timeout(), c -> c.openStreamAsync(d, request, options),
                s -> s.abort("the opener gave it up"));
    }

    // ------------------------------------------------------------------ events

    @Override
    public void onEvent(final Procedure procedure, final EventListener listener) {
        listeners.put(procedure, listener);
        final Link l = current;
        if (l != null) {
            l.connection.onEvent(procedure, listener);
        }
    }

    private Connection live() {
        final Link l = current;
        final Connection c = l == null ? null : l.connection;
        if (c == null) {
            throw new ConnectionClosedException(Reason.RESET, "not connected to " + address + " (state " + state.get()
                    + "); the event was not sent", null, true);
        }
        return c;
    }

    @Override
    public void sendEvent(final Procedure procedure, final ByteBuffer payload) {
        live().sendEvent(procedure, payload);
    }

    @Override
    public void sendEvent(final Procedure procedure, final int length, final PayloadWriter writer) {
        live().sendEvent(procedure, length, writer);
    }

    @Override
    public <T> void sendEvent(final Procedure procedure, final Marshaller<T> marshaller, final T value) {
        live().sendEvent(procedure, marshaller, value);
    }

    // ------------------------------------------------------------------ state, introspection

    @Override
    public State state() {
        return state.get();
    }

    @Override
    public void addStateListener(final StateListener listener) {
        stateListeners.add(Objects.requireNonNull(listener, "listener"));
    }

    @Override
    public int reconnects() {
        return reconnects.get();
    }

    /** Before the first connection ({@link ReconnectPolicy#retryFirstConnect()}): what has no value yet. */
    private IllegalStateException notConnectedYet(final String what) {
        return new IllegalStateException("no connection to " + address + " was made yet (state " + state.get()
                + "): no " + what);
    }

    @Override
    public boolean extensionsNegotiated() {
        final Connection l = last;
        return l != null && l.extensionsNegotiated();
    }

    @Override
    public NegotiatedLimits limits() {
        final Connection l = last;
        if (l == null) {
            throw notConnectedYet("limits were negotiated");
        }
        return l.limits();
    }

    @Override
    public SocketAddress remoteAddress() {
        final Connection l = last;
        return l != null ? l.remoteAddress() : address;
    }

    @Override
    public SocketAddress localAddress() {
        final Connection l = last;
        return l != null ? l.localAddress() : null;
    }

    @Override
    public boolean isOpen() {
        return state.get() != State.CLOSED;
    }

    @Override
    public CompletableFuture<ConnectionClosedException> closeFuture() {
        return closeFuture;
    }

    @Override
    public ConnectionStats stats() {
        final Connection l = last;
        return l != null ? l.stats() : new ConnectionStats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, false, 0, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    }

    @Override
    public java.util.Optional<dev.braid.TlsIdentity> tls() {
        final Connection l = last; // the current connection's (the last one's, while reconnecting)
        return l != null ? l.tls() : java.util.Optional.empty();
    }

    @Override
    public java.util.List<dev.braid.StreamStats> streams() {
        final Connection l = last; // the current connection's (the last one's, while reconnecting)
        return l != null ? l.streams() : java.util.List.of();
    }

    @Override
    public String backendName() {
        return rt.backend.name();
    }

    // ------------------------------------------------------------------ closing

    /** Stops reconnecting: no new attempt is scheduled, a pending one is cancelled. */
    private void stopReconnecting() {
        closing = true;
        final ScheduledFuture<?> t = nextAttempt;
        if (t != null) {
            t.cancel(false);
        }
    }

    @Override
    public void shutdown() {
        stopReconnecting();
        final Link l = current;
        final Connection c = l == null ? null : l.connection;
        if (c != null) {
            c.shutdown(); // closes once drained; lost() then completes the close
        } else {
            closed(new ConnectionClosedException(Reason.LOCAL_CLOSE, "shut down while reconnecting", null));
        }
    }

    @Override
    public boolean isDraining() {
        final Link l = current;
        return closing || l != null && l.connection.isDraining();
    }

    @Override
    public boolean awaitTermination(final java.time.Duration timeout) {
        IoThreads.checkBlockingAllowed("Connection.awaitTermination");
        try {
            closeFuture.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
            return true;
        } catch (java.util.concurrent.TimeoutException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BraidException(BraidException.Category.CANCELLED, "interrupted in awaitTermination", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        stopReconnecting();
        final Link l = current;
        final Connection c = l == null ? null : l.connection;
        if (c != null) {
            c.close();
        }
        closed(new ConnectionClosedException(Reason.LOCAL_CLOSE, "closed gracefully", null));
    }

    @Override
    public void abort() {
        stopReconnecting();
        final Link l = current;
        final Connection c = l == null ? null : l.connection;
        if (c != null) {
            c.abort();
        }
        closed(new ConnectionClosedException(Reason.LOCAL_CLOSE, "aborted", null));
    }

    @Override
    public String toString() {
        return "ReconnectingConnection[" + address + ", " + state.get() + ", " + reconnects.get() + " reconnects]";
    }

    /** For tests and logs: the parked calls waiting for a connection. */
    int parkedCalls() {
        return parkedCount.get();
    }
}
