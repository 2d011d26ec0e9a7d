package dev.braid.testsuite;

import dev.braid.BraidException;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.CallHandler;
import dev.braid.CallOptions;
import dev.braid.CallTimeoutException;
import dev.braid.Connection;
import dev.braid.ConnectionClosedException;
import dev.braid.ConnectionClosedException.Reason;
import dev.braid.HandlerMode;
import dev.braid.IncomingCall;
import dev.braid.LimitExceededException;
import dev.braid.Procedure;
import dev.braid.RemoteError;
import dev.braid.RemoteException;
import dev.braid.Reply;
import dev.braid.ReplyHandler;
import dev.braid.testing.Await;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The call paths that allocate nothing per call: {@code call(procedure, args, replyInto, options)} (a
 * recycled blocking record, the reply copied into the caller's buffer) and
 * {@code callAsync(procedure, args, options, ReplyHandler)} (a recycled handler record, the payload lent
 * for the callback), and on the server the inline (NON_BLOCKING) handler whose call record is reused for
 * the next call. Every test asserts outcomes only (never timing): each call gets exactly its own answer or
 * exactly one failure, records are never shared between two live calls, and no pooled buffer leaks (the
 * base class counts them after each test).
 *
 * <p>Payloads are small and deterministic; every payload and every answer encodes which call it belongs
 * to (an index, and the serial the server saw), so a reply delivered to the wrong call, or a view of a
 * recycled buffer, shows up as a mismatch naming the call.
 */
class CallPathTest extends TransportTest {
    static final int PROG = 0x43504154; // "CPAT"
    static final Procedure ECHO = Procedure.of(PROG, 1, 1);
    static final Procedure ECHO_INLINE = Procedure.of(PROG, 1, 2);
    static final Procedure FAIL = Procedure.of(PROG, 1, 3);
    static final Procedure HANG = Procedure.of(PROG, 1, 4);
    static final Procedure SHUFFLE = Procedure.of(PROG, 1, 5);
    static final Procedure GATED = Procedure.of(PROG, 1, 6);
    static final Procedure DEFER_INLINE = Procedure.of(PROG, 1, 7);
    static final Procedure SILENT_INLINE = Procedure.of(PROG, 1, 8);
    static final Procedure THROW_INLINE = Procedure.of(PROG, 1, 9);
    static final Procedure MIXED = Procedure.of(PROG, 1, 10);
    static final Procedure MIXED_INLINE = Procedure.of(PROG, 1, 11);
    static final Procedure ARGS_CHECK_INLINE = Procedure.of(PROG, 1, 12);
    static final Procedure THROWS = Procedure.of(PROG, 1, 13);
    static final Procedure UPLOAD = Procedure.of(PROG, 1, 14);

    private static final byte SENTINEL = 0x5A;
    private static final long WAIT_SECONDS = 30;
    private static final RemoteError CUSTOM = new RemoteError(55, 10, "custom failure", 2, null, "s1", null, "s3", 7, 8,
            null);

    // ------------------------------------------------------------------ helpers

    /** {@code size} deterministic bytes that depend on {@code seed}. */
    static byte[] pattern(final long seed, final int size) {
        final byte[] b = new byte[size];
        for (int i = 0; i < size; i++) {
            b[i] = patternByte(seed, i);
        }
        return b;
    }

    static byte patternByte(final long seed, final int i) {
        return (byte) (seed * 31 + i * 7 + (i >>> 8) + (seed >>> 8));
    }

    /** Checks that {@code b}'s bytes from absolute {@code from} are {@code pattern(seed, n)}; a message or null. */
    static String checkPattern(final ByteBuffer b, final int from, final long seed, final int n) {
        for (int i = 0; i < n; i++) {
            if (b.get(from + i) != patternByte(seed, i)) {
                return "byte " + i + " of call " + seed + " is " + b.get(from + i) + ", expected " + patternByte(seed, i);
            }
        }
        return null;
    }

    private static ByteBuffer allocate(final boolean direct, final int capacity) {
        return direct ? ByteBuffer.allocateDirect(capacity) : ByteBuffer.allocate(capacity);
    }

    private static ByteBuffer sentinelFilled(final boolean direct, final int capacity) {
        final ByteBuffer b = allocate(direct, capacity);
        for (int i = 0; i < capacity; i++) {
            b.put(i, SENTINEL);
        }
        return b;
    }

    /** Checks bytes [from, to) of {@code b}, up to its capacity whatever its limit. */
    private static void assertAllSentinel(final ByteBuffer b, final int from, final int to) {
        final ByteBuffer all = b.duplicate().clear();
        for (int i = from; i < to; i++) {
            if (all.get(i) != SENTINEL) {
                throw new AssertionError("byte " + i + " of the reply buffer was overwritten: " + all.get(i));
            }
        }
    }

    private static ByteBuffer bytes(final byte... b) {
        return ByteBuffer.wrap(b);
    }

    /** Waits (bounded) until {@code condition} holds, then asserts it, naming {@code what}. */
    private static void await(final String what, final BooleanSupplier condition) {
        Await.until(what, Duration.ofSeconds(WAIT_SECONDS), condition);
    }

    /** Runs {@code task} on a new platform thread (not named braid-*); the future carries its outcome. */
    private static <T> CompletableFuture<T> inThread(final String name, final Callable<T> task) {
        final CompletableFuture<T> f = new CompletableFuture<>();
        Thread.ofPlatform().name(name).daemon().start(() -> {
            try {
                f.complete(task.call());
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f;
    }

    /** The failure of {@code f} (unwrapped from the CompletionException runAsync adds), or null. */
    private static Throwable failureOf(final CompletableFuture<?> f) throws Exception {
        final Throwable t = f.handle((r, e) -> e).get(WAIT_SECONDS, TimeUnit.SECONDS);
        return t instanceof java.util.concurrent.CompletionException && t.getCause() != null ? t.getCause() : t;
    }

    private static CallHandler echo() {
        return call -> call.reply(call.args());
    }

    /** Records every callback it gets, for tests that count them. */
    static final class RecordingHandler implements ReplyHandler {
        record Event(Procedure procedure, int serial, byte[] payload, BraidException error) {
        }

        final ConcurrentLinkedQueue<Event> events = new ConcurrentLinkedQueue<>();

        @Override
        public void onReply(final Procedure procedure, final int serial, final ByteBuffer payload) {
            final byte[] copy = new byte[payload.remaining()];
            payload.get(payload.position(), copy);
            events.add(new Event(procedure, serial, copy, null));
        }

        @Override
        public void onFailure(final Procedure procedure, final int serial, final BraidException error) {
            events.add(new Event(procedure, serial, null, error));
        }
    }

    // ------------------------------------------------------------------ call into a buffer

    /**
     * Sizes 0, 1, 64, 4096 and 1 MiB, heap and direct, arguments with position > 0 and a reply buffer with
     * position > 0 and a limit below its capacity: the reply lands from the reply buffer's position, which
     * advances by the returned length; nothing outside [position, position + length) is touched; the
     * arguments' position and limit are not consumed.
     */
    @Test
    void callIntoABufferCopiesTheReplyAtItsPositionAndLeavesTheArgumentsUnconsumed() {
        final BraidServer server = server(s -> s.handle(ECHO, echo()).handle(ECHO_INLINE, echo(), HandlerMode.NON_BLOCKING));
        final Connection c = connect(server);
        int seed = 0;
        for (Procedure p : List.of(ECHO, ECHO_INLINE)) {
            for (boolean directArgs : new boolean[]{false, true}) {
                for (boolean directReply : new boolean[]{false, true}) {
                    for (int size : new int[]{0, 1, 64, 4096, 1 << 20}) {
                        seed++;
                        final String what = p + " " + size + " bytes, direct args " + directArgs + ", direct reply "
                                + directReply;
                        final byte[] payload = pattern(seed, size);
                        final ByteBuffer args = allocate(directArgs, size + 5);
                        args.put(new byte[]{9, 9, 9}).put(payload).put(new byte[]{8, 8}).position(3).limit(3 + size);

                        // room to spare: position 7, 5 bytes more than needed, 2 bytes past the limit
                        final ByteBuffer roomy = sentinelFilled(directReply, size + 14);
                        roomy.position(7).limit(size + 12);
                        assertThat(c.call(p, args, roomy, CallOptions.DEFAULT)).as(what).isEqualTo(size);
                        assertThat(roomy.position()).as(what).isEqualTo(7 + size);
                        assertThat(roomy.limit()).as(what).isEqualTo(size + 12);
                        assertAllSentinel(roomy, 0, 7);
                        assertThat(checkPattern(roomy, 7, seed, size)).as(what).isNull();
                        assertAllSentinel(roomy, 7 + size, size + 14);
                        assertThat(args.position()).as(what + ": args not consumed").isEqualTo(3);
                        assertThat(args.limit()).as(what).isEqualTo(3 + size);

                        // exactly the room needed, the same args buffer sent again
                        final ByteBuffer exact = sentinelFilled(directReply, size);
                        assertThat(c.call(p, args, exact, CallOptions.DEFAULT)).as(what).isEqualTo(size);
                        assertThat(exact.position()).as(what).isEqualTo(size);
                        assertThat(exact.hasRemaining()).as(what).isFalse();
                        assertThat(checkPattern(exact, 0, seed, size)).as(what).isNull();
                        assertThat(args.position()).as(what).isEqualTo(3);
                    }
                }
            }
        }
        assertThat(c.stats().callsInFlight()).isZero();
    }

    /**
     * A reply larger than the room left fails with LimitExceededException ("replyBuffer", the room, the
     * sizes), copies nothing, leaks nothing (the reply frame is released; the base class counts buffers)
     * and leaves the connection usable.
     */
    @Test
    void aReplyLargerThanTheBufferFailsNamingTheSizesAndCopiesNothing() {
        final BraidServer server = server(s -> s.handle(ECHO, echo()).handle(ECHO_INLINE, echo(), HandlerMode.NON_BLOCKING));
        final Connection c = connect(server);
        final int[][] cases = {{100, 99}, {1, 0}, {1 << 20, 4096}, {65_536, 65_535}};
        int seed = 100;
        for (Procedure p : List.of(ECHO, ECHO_INLINE)) {
            for (int[] sizeAndRoom : cases) {
                seed++;
                final int size = sizeAndRoom[0];
                final int room = sizeAndRoom[1];
                final ByteBuffer args = ByteBuffer.wrap(pattern(seed, size));
                final ByteBuffer small = sentinelFilled(seed % 2 == 0, room + 4);
                small.position(2).limit(2 + room);
                assertThatThrownBy(() -> c.call(p, args, small, CallOptions.DEFAULT))
                        .isInstanceOfSatisfying(LimitExceededException.class, e -> {
                            assertThat(e.limit()).isEqualTo("replyBuffer");
                            assertThat(e.value()).isEqualTo(room);
                            assertThat(e.category()).isEqualTo(BraidException.Category.LIMIT);
                            assertThat(e.getMessage()).contains(p.toString()).contains(size + " bytes")
                                    .contains("room for " + room);
                        });
                assertThat(small.position()).isEqualTo(2);
                assertThat(small.limit()).isEqualTo(2 + room);
                assertAllSentinel(small, 0, room + 4);
                assertThat(args.position()).isZero();

                // the same call into a buffer with room: the connection is still usable
                final ByteBuffer enough = ByteBuffer.allocate(size);
                assertThat(c.call(p, args, enough, CallOptions.DEFAULT)).isEqualTo(size);
                assertThat(checkPattern(enough, 0, seed, size)).isNull();
            }
        }
        assertThat(c.isOpen()).isTrue();
        assertThat(c.stats().callsInFlight()).isZero();
        assertThat(c.stats().lateReplies()).isZero();
    }

    @Test
    void aServerErrorBecomesARemoteExceptionWithTheServersCodeAndMessage() {
        final BraidServer server = server(s -> s
                .handle(FAIL, call -> call.fail(CUSTOM))
                .handle(THROWS, call -> {
                    throw new IllegalStateException("disk on fire");
                })
                .handle(ECHO, echo()));
        final Connection c = connect(server);
        final ByteBuffer into = sentinelFilled(true, 64);
        for (int i = 0; i < 3; i++) { // the error path recycles nothing wrongly: repeat, interleaved with successes
            assertThatThrownBy(() -> c.call(FAIL, bytes((byte) 1), into, CallOptions.DEFAULT))
                    .isInstanceOfSatisfying(RemoteException.class, e -> {
                        assertThat(e.error()).isEqualTo(CUSTOM);
                        assertThat(e.code()).isEqualTo(55);
                        assertThat(e.domain()).isEqualTo(10);
                        assertThat(e.remoteMessage()).isEqualTo("custom failure");
                    });
            assertThatThrownBy(() -> c.call(THROWS, bytes(), into, CallOptions.DEFAULT))
                    .isInstanceOfSatisfying(RemoteException.class, e -> {
                        assertThat(e.code()).isEqualTo(RemoteError.VIR_ERR_INTERNAL_ERROR);
                        assertThat(e.remoteMessage()).contains("IllegalStateException").contains("disk on fire");
                    });
            assertThat(into.position()).isZero();
            assertAllSentinel(into, 0, 64);
            final ByteBuffer ok = ByteBuffer.allocate(3);
            assertThat(c.call(ECHO, bytes((byte) i, (byte) 2, (byte) 3), ok, CallOptions.DEFAULT)).isEqualTo(3);
            assertThat(ok.array()).containsExactly(i, 2, 3);
        }
    }

    /**
     * A call into a buffer that times out fails with CallTimeoutException and copies nothing. Its slot stays
     * taken until the late reply (the server still holds the call); that reply is then dropped and counted,
     * and the slot is free again: with the server's limit of 2, two calls are served at once afterwards.
     */
    @Test
    void aTimedOutCallFailsItsLateReplyIsDroppedAndCountedAndItsSlotIsFreed() throws Exception {
        final CountDownLatch release = new CountDownLatch(1);
        final Semaphore gate = new Semaphore(0);
        final AtomicInteger entered = new AtomicInteger();
        final BraidServer server = server(config(true).maxOutstandingCalls(2), s -> s
                .handle(HANG, call -> {
                    release.await();
                    call.reply(new byte[]{'l', 'a', 't', 'e'});
                })
                .handle(GATED, call -> {
                    entered.incrementAndGet();
                    gate.acquire();
                    call.reply(call.args());
                })
                .handle(ECHO, echo()));
        final Connection c = connect(server);
        assertThat(c.limits().maxOutstandingCalls()).isEqualTo(2);
        final ByteBuffer into = sentinelFilled(false, 16);
        assertThatThrownBy(() -> c.call(HANG, bytes(), into, CallOptions.timeout(Duration.ofMillis(100))))
                .isInstanceOfSatisfying(CallTimeoutException.class, e -> {
                    assertThat(e.procedure()).isEqualTo(HANG);
                    assertThat(e.timeout()).isEqualTo(Duration.ofMillis(100));
                    assertThat(e.getMessage()).contains("timed out after 100 ms");
                });
        assertThat(into.position()).isZero();
        assertAllSentinel(into, 0, 16);
        assertThat(c.stats().callsInFlight()).as("the server still holds the call: its slot stays taken").isEqualTo(1);

        // a call made meanwhile (on the one slot left) gets its own answer
        final ByteBuffer own = ByteBuffer.allocate(2);
        assertThat(c.call(ECHO, bytes((byte) 4, (byte) 2), own, CallOptions.DEFAULT)).isEqualTo(2);
        assertThat(own.array()).containsExactly(4, 2);

        release.countDown();
        await("the late reply is dropped and counted", () -> c.stats().lateReplies() == 1);
        await("the timed-out call's slot is free", () -> c.stats().callsInFlight() == 0);

        // both slots usable again: two calls held by the server at the same time
        final List<CompletableFuture<byte[]>> calls = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            final byte id = (byte) (10 + i);
            calls.add(inThread("gated-" + i, () -> {
                final ByteBuffer b = ByteBuffer.allocate(1);
                assertThat(c.call(GATED, bytes(id), b, CallOptions.DEFAULT)).isEqualTo(1);
                return b.array();
            }));
        }
        await("two calls at the server at once", () -> entered.get() == 2);
        gate.release(2);
        assertThat(calls.get(0).get(WAIT_SECONDS, TimeUnit.SECONDS)).containsExactly(10);
        assertThat(calls.get(1).get(WAIT_SECONDS, TimeUnit.SECONDS)).containsExactly(11);
        for (int i = 0; i < 20; i++) {
            final ByteBuffer b = ByteBuffer.allocate(1);
            c.call(ECHO, bytes((byte) i), b, CallOptions.DEFAULT);
            assertThat(b.get(0)).isEqualTo((byte) i);
        }
        assertThat(c.stats().lateReplies()).isEqualTo(1);
    }

    /** Interrupting a thread blocked in call(): CANCELLED, its interrupt status kept, the connection usable. */
    @Test
    void anInterruptedCallFailsCancelledKeepsTheInterruptAndLeavesTheConnectionUsable() throws Exception {
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final BraidServer server = server(s -> s
                .handle(HANG, call -> {
                    entered.countDown();
                    release.await();
                    call.reply(new byte[100]);
                })
                .handle(ECHO, echo()));
        final Connection c = connect(server);
        final CompletableFuture<Boolean> interruptKept = new CompletableFuture<>();
        final CompletableFuture<Throwable> failure = new CompletableFuture<>();
        final ByteBuffer into = sentinelFilled(true, 200);
        final Thread caller = Thread.ofPlatform().name("interrupted-caller").daemon().start(() -> {
            try {
                c.call(HANG, bytes((byte) 1), into, CallOptions.DEFAULT);
                failure.complete(null);
            } catch (Throwable t) {
                failure.complete(t);
            }
            interruptKept.complete(Thread.currentThread().isInterrupted());
        });
        assertThat(entered.await(WAIT_SECONDS, TimeUnit.SECONDS)).isTrue();
        caller.interrupt();
        assertThat(failure.get(WAIT_SECONDS, TimeUnit.SECONDS)).isInstanceOfSatisfying(BraidException.class, e -> {
            assertThat(e.category()).isEqualTo(BraidException.Category.CANCELLED);
            assertThat(e.getMessage()).contains("interrupted").contains(HANG.toString());
        });
        assertThat(interruptKept.get(WAIT_SECONDS, TimeUnit.SECONDS)).as("interrupt status kept").isTrue();
        assertThat(into.position()).isZero();
        assertAllSentinel(into, 0, 200);
        release.countDown();
        await("the abandoned call's reply is dropped and counted", () -> c.stats().lateReplies() == 1);
        await("its slot is free", () -> c.stats().callsInFlight() == 0);
        final ByteBuffer b = ByteBuffer.allocate(2);
        assertThat(c.call(ECHO, bytes((byte) 7, (byte) 8), b, CallOptions.DEFAULT)).isEqualTo(2);
        assertThat(b.array()).containsExactly(7, 8);
        assertThat(c.isOpen()).isTrue();
    }

    @Test
    void aPeerCloseWhileBlockedInCallFailsWithConnectionClosed() throws Exception {
        final CountDownLatch entered = new CountDownLatch(3);
        final CountDownLatch never = new CountDownLatch(1);
        final BraidServer server = server(s -> s.handle(HANG, call -> {
            entered.countDown();
            never.await();
        }));
        final Connection c = connect(server);
        final List<CompletableFuture<Integer>> calls = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            calls.add(inThread("blocked-" + i, () -> c.call(HANG, bytes(), ByteBuffer.allocate(8), CallOptions.DEFAULT)));
        }
        assertThat(entered.await(WAIT_SECONDS, TimeUnit.SECONDS)).isTrue();
        server.close();
        for (CompletableFuture<Integer> f : calls) {
            assertThat(failureOf(f)).isInstanceOfSatisfying(ConnectionClosedException.class,
                    e -> assertThat(e.reason()).isEqualTo(Reason.PEER_CLOSED));
        }
        assertThatThrownBy(() -> c.call(HANG, bytes(), ByteBuffer.allocate(8), CallOptions.DEFAULT))
                .isInstanceOf(ConnectionClosedException.class);
        never.countDown();
    }

    // ------------------------------------------------------------------ reply handlers

    /**
     * 10,000 handler calls from 4 threads through one shared handler; the server answers in shuffled
     * batches. Each call gets exactly one onReply, with its own payload (checked byte for byte inside the
     * callback) and the serial the server saw.
     */
    @Test
    void tenThousandHandlerCallsGetExactlyOneCallbackEachWithTheirOwnPayload() throws Exception {
        final int threads = 4;
        final int perThread = 2500;
        final int total = threads * perThread;
        final List<IncomingCall> held = new ArrayList<>();
        final Random random = new Random(7);
        final BraidServer server = server(s -> s.handle(SHUFFLE, call -> {
            call.deferReply();
            final List<IncomingCall> batch;
            synchronized (held) {
                held.add(call);
                if (held.size() < 16) { // 10,000 is a multiple of 16: every call is answered
                    return;
                }
                batch = new ArrayList<>(held);
                held.clear();
            }
            Collections.shuffle(batch, random);
            for (IncomingCall ic : batch) {
                final ByteBuffer args = ic.args();
                final long index = args.getLong(0);
                final String bad = checkPattern(args, 8, index, args.remaining() - 8);
                if (bad != null || args.remaining() != 8 + (int) (index % 53)) {
                    ic.fail(RemoteError.of(RemoteError.VIR_ERR_INTERNAL_ERROR, RemoteError.VIR_FROM_RPC,
                            "arguments of call " + index + ": " + bad + ", " + args.remaining() + " bytes"));
                    continue;
                }
                final int filler = (int) (index % 61);
                final ByteBuffer answer = ByteBuffer.allocate(12 + filler).putLong(index).putInt(ic.serial())
                        .put(pattern(~index, filler)).flip();
                ic.reply(answer);
            }
        }));
        final Connection c = connect(server);
        final AtomicIntegerArray callbacks = new AtomicIntegerArray(total);
        final AtomicInteger done = new AtomicInteger();
        final Set<Integer> serials = ConcurrentHashMap.newKeySet();
        final ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();
        final ReplyHandler shared = new ReplyHandler() {
            @Override
            public void onReply(final Procedure procedure, final int serial, final ByteBuffer payload) {
                try {
                    if (!procedure.equals(SHUFFLE) || payload.position() != 0 || payload.remaining() < 12) {
                        problems.add("serial " + serial + ": " + procedure + ", " + payload);
                        return;
                    }
                    final long index = payload.getLong(0);
                    if (index < 0 || index >= total) {
                        problems.add("serial " + serial + ": index " + index);
                        return;
                    }
                    callbacks.incrementAndGet((int) index);
                    if (payload.getInt(8) != serial) {
                        problems.add("call " + index + " got serial " + serial + " but the server answered serial "
                                + payload.getInt(8));
                    }
                    if (!serials.add(serial)) {
                        problems.add("serial " + serial + " reported twice");
                    }
                    final int filler = (int) (index % 61);
                    if (payload.remaining() != 12 + filler) {
                        problems.add("call " + index + ": " + payload.remaining() + " bytes");
                    } else {
                        final String bad = checkPattern(payload, 12, ~index, filler);
                        if (bad != null) {
                            problems.add(bad);
                        }
                    }
                } finally {
                    done.incrementAndGet();
                }
            }

            @Override
            public void onFailure(final Procedure procedure, final int serial, final BraidException error) {
                problems.add("serial " + serial + " failed: " + error);
                done.incrementAndGet();
            }
        };
        final CountDownLatch start = new CountDownLatch(1);
        final List<CompletableFuture<Void>> callers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int base = t * perThread;
            callers.add(inThread("handler-caller-" + t, () -> {
                start.await();
                final ByteBuffer args = ByteBuffer.allocate(8 + 53); // one buffer reused: args are copied at send
                for (int i = 0; i < perThread; i++) {
                    final long index = base + i;
                    args.clear().putLong(index).put(pattern(index, (int) (index % 53))).flip();
                    c.callAsync(SHUFFLE, args, CallOptions.DEFAULT, shared);
                    assertThat(args.position()).isZero();
                }
                return null;
            }));
        }
        start.countDown();
        for (CompletableFuture<Void> f : callers) {
            f.get(WAIT_SECONDS, TimeUnit.SECONDS);
        }
        await("all " + total + " callbacks", () -> done.get() >= total);
        assertThat(problems).isEmpty();
        assertThat(done.get()).isEqualTo(total);
        for (int i = 0; i < total; i++) {
            assertThat(callbacks.get(i)).as("callbacks for call %d", i).isEqualTo(1);
        }
        assertThat(serials).hasSize(total);
        assertThat(c.stats().callsStarted()).isEqualTo(total);
        assertThat(c.stats().lateReplies()).isZero();
        await("nothing in flight", () -> c.stats().callsInFlight() == 0);
    }

    /**
     * A server error, a timeout and a close each reach the handler once, through onFailure, with the call's
     * procedure and serial; the timed-out call's late reply is not reported again.
     */
    @Test
    void failuresReachTheHandlerOnceThroughOnFailure() throws Exception {
        final CountDownLatch release = new CountDownLatch(1);
        final CountDownLatch never = new CountDownLatch(1);
        final AtomicInteger gatedEntered = new AtomicInteger();
        final BraidServer server = server(s -> s
                .handle(FAIL, call -> call.fail(CUSTOM))
                .handle(HANG, call -> {
                    release.await();
                    call.reply(new byte[]{1});
                })
                .handle(GATED, call -> {
                    gatedEntered.incrementAndGet();
                    never.await();
                })
                .handle(ECHO, echo()));
        final Connection c = connect(server);

        final RecordingHandler remote = new RecordingHandler();
        c.callAsync(FAIL, bytes((byte) 1), CallOptions.DEFAULT, remote);
        await("one callback", () -> remote.events.size() == 1);
        final RecordingHandler.Event r = remote.events.peek();
        assertThat(r.procedure()).isEqualTo(FAIL);
        assertThat(r.payload()).isNull();
        assertThat(r.error()).isInstanceOfSatisfying(RemoteException.class, e -> assertThat(e.error()).isEqualTo(CUSTOM));

        final RecordingHandler timeout = new RecordingHandler();
        c.callAsync(HANG, bytes(), CallOptions.timeout(Duration.ofMillis(100)), timeout);
        await("one callback", () -> timeout.events.size() == 1);
        final RecordingHandler.Event t = timeout.events.peek();
        assertThat(t.procedure()).isEqualTo(HANG);
        assertThat(t.error()).isInstanceOfSatisfying(CallTimeoutException.class, e -> {
            assertThat(e.procedure()).isEqualTo(HANG);
            assertThat(e.serial()).isEqualTo(t.serial());
        });
        release.countDown();
        await("the late reply is dropped and counted", () -> c.stats().lateReplies() == 1);
        final RecordingHandler ok = new RecordingHandler();
        c.callAsync(ECHO, bytes((byte) 3), CallOptions.DEFAULT, ok);
        await("one reply", () -> ok.events.size() == 1);
        assertThat(ok.events.peek().payload()).containsExactly(3);
        assertThat(timeout.events).as("the late reply is not reported").hasSize(1);
        assertThat(remote.events).hasSize(1);

        final RecordingHandler closed = new RecordingHandler();
        for (int i = 0; i < 3; i++) {
            c.callAsync(GATED, bytes((byte) i), CallOptions.DEFAULT, closed);
        }
        await("three calls at the server", () -> gatedEntered.get() == 3);
        c.abort();
        await("three callbacks", () -> closed.events.size() == 3);
        assertThat(closed.events).allSatisfy(e -> {
            assertThat(e.procedure()).isEqualTo(GATED);
            assertThat(e.error()).isInstanceOfSatisfying(ConnectionClosedException.class,
                    cce -> assertThat(cce.reason()).isEqualTo(Reason.LOCAL_CLOSE));
        });
        assertThat(closed.events.stream().map(RecordingHandler.Event::serial).distinct()).hasSize(3);
        assertThatThrownBy(() -> c.callAsync(ECHO, bytes(), CallOptions.DEFAULT, closed))
                .isInstanceOf(ConnectionClosedException.class);
        c.closeFuture().get(WAIT_SECONDS, TimeUnit.SECONDS);
        assertThat(closed.events).as("a call refused at once is not reported to the handler").hasSize(3);
        assertThat(timeout.events).hasSize(1);
        assertThat(remote.events).hasSize(1);
        never.countDown();
    }

    /** A handler that throws from onReply or onFailure breaks neither the connection nor later calls. */
    @Test
    void aHandlerThatThrowsDoesNotBreakTheConnection() throws Exception {
        final BraidServer server = server(s -> s
                .handle(ECHO_INLINE, echo(), HandlerMode.NON_BLOCKING)
                .handle(FAIL, call -> call.fail(CUSTOM)));
        final Connection c = connect(server);
        final AtomicInteger replies = new AtomicInteger();
        final AtomicInteger failures = new AtomicInteger();
        final ReplyHandler throwing = new ReplyHandler() {
            @Override
            public void onReply(final Procedure procedure, final int serial, final ByteBuffer payload) {
                replies.incrementAndGet();
                throw new IllegalStateException("a buggy reply handler (expected by the test)");
            }

            @Override
            public void onFailure(final Procedure procedure, final int serial, final BraidException error) {
                failures.incrementAndGet();
                throw new IllegalStateException("a buggy failure handler (expected by the test)");
            }
        };
        for (int i = 0; i < 5; i++) {
            c.callAsync(ECHO_INLINE, ByteBuffer.wrap(pattern(i, 1000)), CallOptions.DEFAULT, throwing);
            c.callAsync(FAIL, bytes(), CallOptions.DEFAULT, throwing);
        }
        await("5 replies and 5 failures", () -> replies.get() == 5 && failures.get() == 5);
        assertThat(c.isOpen()).isTrue();
        final RecordingHandler fine = new RecordingHandler();
        for (int i = 0; i < 100; i++) {
            c.callAsync(ECHO_INLINE, ByteBuffer.wrap(pattern(i, i)), CallOptions.DEFAULT, fine);
        }
        await("100 replies", () -> fine.events.size() == 100);
        assertThat(fine.events).allSatisfy(e -> {
            assertThat(e.error()).isNull();
            assertThat(e.payload()).isEqualTo(pattern(e.payload().length, e.payload().length));
        });
        final ByteBuffer b = ByteBuffer.allocate(4);
        assertThat(c.call(ECHO_INLINE, bytes((byte) 1, (byte) 2), b, CallOptions.DEFAULT)).isEqualTo(2);
        assertThat(replies.get()).isEqualTo(5);
        assertThat(failures.get()).isEqualTo(5);
    }

    /** A handler starts the next call from inside onReply: a chain of 300 calls, in order, with and without timers. */
    @Test
    void aHandlerMayStartTheNextCallFromInsideOnReply() throws Exception {
        final BraidServer server = server(s -> s.handle(ECHO, echo()).handle(ECHO_INLINE, echo(), HandlerMode.NON_BLOCKING));
        final Connection c = connect(server);
        final int last = 300;
        for (Procedure p : List.of(ECHO, ECHO_INLINE)) {
            final CompletableFuture<Integer> finished = new CompletableFuture<>();
            final List<Integer> seen = Collections.synchronizedList(new ArrayList<>());
            final ReplyHandler chain = new ReplyHandler() {
                @Override
                public void onReply(final Procedure procedure, final int serial, final ByteBuffer payload) {
                    final int n = payload.getInt(0);
                    seen.add(n);
                    if (payload.remaining() != 4 + n % 17 || checkPattern(payload, 4, n, n % 17) != null) {
                        finished.completeExceptionally(new AssertionError("wrong payload for link " + n));
                        return;
                    }
                    if (n == last) {
                        finished.complete(n);
                        return;
                    }
                    try {
                        final int next = n + 1;
                        final ByteBuffer args = ByteBuffer.allocate(4 + next % 17).putInt(next)
                                .put(pattern(next, next % 17)).flip();
                        c.callAsync(procedure, args, next % 3 == 0 ? CallOptions.timeout(Duration.ofSeconds(30))
                                : CallOptions.DEFAULT, this);
                    } catch (RuntimeException e) {
                        finished.completeExceptionally(e);
                    }
                }

                @Override
                public void onFailure(final Procedure procedure, final int serial, final BraidException error) {
                    finished.completeExceptionally(error);
                }
            };
            c.callAsync(p, ByteBuffer.allocate(4).putInt(0, 0), CallOptions.DEFAULT, chain);
            assertThat(finished.get(WAIT_SECONDS, TimeUnit.SECONDS)).isEqualTo(last);
            final List<Integer> expected = new ArrayList<>();
            for (int i = 0; i <= last; i++) {
                expected.add(i);
            }
            assertThat(seen).as("chain over %s", p).isEqualTo(expected);
        }
        await("nothing in flight", () -> c.stats().callsInFlight() == 0);
    }

    // ------------------------------------------------------------------ recycling

    private static final byte FAST = 0;
    private static final byte HOLD = 1;
    private static final Object GAVE_UP = new Object();

    /** The answer to call {@code id} as the server saw it with {@code serial}. */
    static ByteBuffer mixedAnswer(final long id, final int serial) {
        final int filler = (int) (id % 41);
        return ByteBuffer.allocate(20 + filler).putLong(id).putLong(~id).putInt(serial).put(pattern(id, filler)).flip();
    }

    /** Checks a mixed answer for call {@code id}; a message or null. {@code serial} < 0: not known. */
    static String checkMixedAnswer(final ByteBuffer b, final int length, final long id, final long serial) {
        final int filler = (int) (id % 41);
        if (length != 20 + filler) {
            return "call " + id + ": " + length + " bytes, expected " + (20 + filler);
        }
        if (b.getLong(0) != id || b.getLong(8) != ~id) {
            return "call " + id + " got the answer to call " + b.getLong(0);
        }
        if (serial >= 0 && b.getInt(16) != (int) serial) {
            return "call " + id + " with serial " + serial + " got the answer for serial " + b.getInt(16);
        }
        return checkPattern(b, 20, id, filler);
    }

    /**
     * Blocking, handler and future calls at once from 4 threads, on a blocking and an inline server
     * procedure, where about one call in eight is held by the server until its caller gave up on it
     * (timeout or cancel): those fail exactly so, their late replies are dropped and counted, and every
     * other call gets exactly its own answer (its id, its serial, its bytes), however records are recycled.
     * The server and the client meet over an in-memory table (not a clock) to decide when a held call is
     * answered, so the outcome of each call is fixed by the test.
     */
    @Test
    void recycledRecordsNeverCarryAnotherCallsAnswer() throws Exception {
        final ConcurrentHashMap<Long, Object> meet = new ConcurrentHashMap<>();
        final AtomicInteger heldReceived = new AtomicInteger();
        final CallHandler mixed = call -> {
            final ByteBuffer a = call.args();
            final long id = a.getLong(0);
            if (a.get(8) == FAST) {
                call.reply(mixedAnswer(id, call.serial()));
                return;
            }
            call.deferReply();
            heldReceived.incrementAndGet();
            if (meet.putIfAbsent(id, call) != null) { // the caller already gave up: answer now, late
                call.reply(mixedAnswer(id, call.serial()));
            }
        };
        final BraidServer server = server(s -> s.handle(MIXED, mixed).handle(MIXED_INLINE, mixed, HandlerMode.NON_BLOCKING));
        final Connection c = connect(server);

        final int threads = 4;
        final int perThread = 1000;
        final int total = threads * perThread;
        final AtomicIntegerArray outcomes = new AtomicIntegerArray(total);
        final AtomicInteger done = new AtomicInteger();
        final AtomicInteger timeouts = new AtomicInteger();
        final AtomicInteger cancels = new AtomicInteger();
        final ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();

        final class Caller {
            /** The caller gave up on held call {@code id}: if the server has it, answer it now (late). */
            void giveUp(final long id) {
                final Object prev = meet.putIfAbsent(id, GAVE_UP);
                if (prev instanceof IncomingCall ic) {
                    ic.reply(mixedAnswer(id, ic.serial()));
                }
            }

            void outcome(final long id, final String problem) {
                if (problem != null) {
                    problems.add(problem);
                }
                if (outcomes.incrementAndGet((int) id) != 1) {
                    problems.add("call " + id + " had a second outcome");
                }
                done.incrementAndGet();
            }
        }
        final Caller caller = new Caller();

        final ReplyHandler sharedFast = new ReplyHandler() {
            @Override
            public void onReply(final Procedure procedure, final int serial, final ByteBuffer payload) {
                final long id = payload.remaining() >= 8 ? payload.getLong(0) : -1;
                if (id < 0 || id >= total) {
                    problems.add("serial " + serial + ": an answer for no call: " + payload);
                    return;
                }
                caller.outcome(id, checkMixedAnswer(payload, payload.remaining(), id, Integer.toUnsignedLong(serial)));
            }

            @Override
            public void onFailure(final Procedure procedure, final int serial, final BraidException error) {
                problems.add("fast handler call serial " + serial + " failed: " + error);
            }
        };

        final List<CompletableFuture<Void>> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int thread = t;
            workers.add(inThread("mixed-" + t, () -> {
                final Random random = new Random(1000 + thread);
                final Semaphore inFlight = new Semaphore(48); // async calls this worker has in flight
                final ByteBuffer args = ByteBuffer.allocateDirect(9 + 64);
                final ByteBuffer into = ByteBuffer.allocate(20 + 41);
                for (int i = 0; i < perThread; i++) {
                    final long id = (long) thread * perThread + i;
                    final int kind = random.nextInt(3);
                    final boolean hold = random.nextInt(8) == 0;
                    final Procedure p = random.nextBoolean() ? MIXED : MIXED_INLINE;
                    final CallOptions timed = CallOptions.timeout(Duration.ofMillis(1 + random.nextInt(3)));
                    final CallOptions options = hold ? timed
                            : random.nextInt(4) == 0 ? CallOptions.timeout(Duration.ofSeconds(60)) : CallOptions.DEFAULT;
                    args.clear().putLong(id).put(hold ? HOLD : FAST).put(pattern(id, random.nextInt(64))).flip();
                    switch (kind) {
                        case 0 -> { // blocking, into a buffer
                            into.clear();
                            try {
                                final int n = c.call(p, args, into, options);
                                caller.outcome(id, hold ? "held call " + id + " was answered"
                                        : checkMixedAnswer(into, n, id, -1));
                            } catch (CallTimeoutException e) {
                                timeouts.incrementAndGet();
                                caller.outcome(id, hold ? null : "call " + id + " timed out: " + e);
                                caller.giveUp(id);
                            }
                        }
                        case 1 -> { // reply handler: one shared handler for fast calls, one per held call
                            inFlight.acquire();
                            if (!hold) {
                                c.callAsync(p, args, options, new ReplyHandler() {
                                    @Override
                                    public void onReply(final Procedure procedure, final int serial, final ByteBuffer payload) {
                                        try {
                                            sharedFast.onReply(procedure, serial, payload);
                                        } finally {
                                            inFlight.release();
                                        }
                                    }

                                    @Override
                                    public void onFailure(final Procedure procedure, final int serial, final BraidException error) {
                                        caller.outcome(id, "fast handler call " + id + " failed: " + error);
                                        inFlight.release();
                                    }
                                });
                            } else {
                                c.callAsync(p, args, options, new ReplyHandler() {
                                    @Override
                                    public void onReply(final Procedure procedure, final int serial, final ByteBuffer payload) {
                                        caller.outcome(id, "held call " + id + " was answered");
                                        inFlight.release();
                                    }

                                    @Override
                                    public void onFailure(final Procedure procedure, final int serial, final BraidException error) {
                                        timeouts.incrementAndGet();
                                        caller.outcome(id, error instanceof CallTimeoutException ? null
                                                : "held call " + id + " failed: " + error);
                                        caller.giveUp(id);
                                        inFlight.release();
                                    }
                                });
                            }
                        }
                        default -> { // CompletableFuture: held ones time out or are cancelled
                            inFlight.acquire();
                            final boolean cancel = hold && random.nextBoolean();
                            final CompletableFuture<Reply> f = c.callAsync(p, args, cancel ? CallOptions.DEFAULT : options);
                            f.whenComplete((reply, error) -> {
                                try {
                                    if (reply != null) {
                                        try (reply) {
                                            caller.outcome(id, hold ? "held call " + id + " was answered"
                                                    : checkMixedAnswer(reply.payload(), reply.payload().remaining(), id,
                                                    Integer.toUnsignedLong(reply.serial())));
                                        }
                                    } else if (hold && (error instanceof CancellationException
                                            || error instanceof CallTimeoutException)) {
                                        (error instanceof CancellationException ? cancels : timeouts).incrementAndGet();
                                        caller.outcome(id, null);
                                        caller.giveUp(id);
                                    } else {
                                        caller.outcome(id, "call " + id + " failed: " + error);
                                    }
                                } finally {
                                    inFlight.release();
                                }
                            });
                            if (cancel) {
                                assertThat(f.cancel(false)).isTrue();
                            }
                        }
                    }
                    assertThat(args.position()).isZero();
                }
                return null;
            }));
        }
        for (CompletableFuture<Void> w : workers) {
            w.get(60, TimeUnit.SECONDS);
        }
        await("an outcome for each of " + total + " calls", () -> done.get() >= total);
        assertThat(problems).isEmpty();
        for (int i = 0; i < total; i++) {
            assertThat(outcomes.get(i)).as("outcomes of call %d", i).isEqualTo(1);
        }
        assertThat(timeouts.get() + cancels.get()).as("held calls").isPositive();
        await("every held call the server got was answered late, dropped and counted",
                () -> c.stats().lateReplies() == heldReceived.get() && c.stats().callsInFlight() == 0);
        assertThat(meet.values()).as("held calls").hasSizeLessThanOrEqualTo(timeouts.get() + cancels.get());
        assertThat(c.stats().callsQueued()).isZero();
        assertThat(c.stats().callsStarted()).isEqualTo(total);
    }

    // ------------------------------------------------------------------ beyond the outstanding-call limit

    /**
     * Blocking and handler calls beyond the outstanding-call limit wait in the client's queue and all
     * complete with their own answers; never more than the limit at the server at once.
     */
    private void callsBeyondTheLimitQueueAndComplete(final Connection c, final int limit, final AtomicInteger entered,
                                                     final AtomicInteger maxConcurrent, final Semaphore gate)
            throws Exception {
        assertThat(c.limits().maxOutstandingCalls()).isEqualTo(limit);

        // blocking calls: 3 × limit callers at once
        final int blockers = 3 * limit;
        final List<CompletableFuture<byte[]>> blocking = new ArrayList<>();
        for (int i = 0; i < blockers; i++) {
            final byte[] payload = pattern(i, 5 + i);
            blocking.add(inThread("queued-blocking-" + i, () -> {
                final ByteBuffer into = ByteBuffer.allocate(100);
                final int n = c.call(GATED, ByteBuffer.wrap(payload), into, CallOptions.DEFAULT);
                return java.util.Arrays.copyOf(into.array(), n);
            }));
        }
        await("the limit reached and the rest queued",
                () -> entered.get() == limit && c.stats().callsQueued() == blockers - limit);
        gate.release(blockers);
        for (int i = 0; i < blockers; i++) {
            assertThat(blocking.get(i).get(WAIT_SECONDS, TimeUnit.SECONDS)).isEqualTo(pattern(i, 5 + i));
        }

        // handler calls: 10 × limit from one thread, one shared handler
        final int handled = 10 * limit;
        entered.set(0);
        final RecordingHandler h = new RecordingHandler();
        for (int i = 0; i < handled; i++) {
            c.callAsync(GATED, ByteBuffer.wrap(pattern(1000 + i, 1 + i % 50)), CallOptions.DEFAULT, h);
        }
        await("the limit reached and the rest queued",
                () -> entered.get() == limit && c.stats().callsQueued() == handled - limit);
        gate.release(handled);
        await("every handler call answered", () -> h.events.size() >= handled);
        final Set<Integer> serials = new java.util.HashSet<>();
        for (RecordingHandler.Event e : h.events) {
            assertThat(e.error()).isNull();
            assertThat(serials.add(e.serial())).as("one callback for serial %d", e.serial()).isTrue();
        }
        final List<byte[]> got = h.events.stream().map(RecordingHandler.Event::payload).toList();
        for (int i = 0; i < handled; i++) {
            final byte[] expected = pattern(1000 + i, 1 + i % 50);
            assertThat(got).as("answer to call %d", i).anySatisfy(b -> assertThat(b).isEqualTo(expected));
        }
        assertThat(h.events).hasSize(handled);

        // both kinds at once from 6 threads with the gate open
        gate.release(1_000_000);
        final List<CompletableFuture<Void>> mixed = new ArrayList<>();
        for (int t = 0; t < 6; t++) {
            final int thread = t;
            mixed.add(inThread("queued-mixed-" + t, () -> {
                final RecordingHandler mine = new RecordingHandler();
                final ByteBuffer into = ByteBuffer.allocate(64);
                for (int i = 0; i < 100; i++) {
                    final byte[] payload = pattern(thread * 1000 + i, i % 64);
                    c.callAsync(GATED, ByteBuffer.wrap(payload), CallOptions.DEFAULT, mine);
                    into.clear();
                    final int n = c.call(GATED, ByteBuffer.wrap(payload), into, CallOptions.DEFAULT);
                    assertThat(java.util.Arrays.copyOf(into.array(), n)).isEqualTo(payload);
                }
                await("100 handler replies", () -> mine.events.size() >= 100);
                assertThat(mine.events).hasSize(100).allSatisfy(e -> assertThat(e.error()).isNull());
                return null;
            }));
        }
        for (CompletableFuture<Void> f : mixed) {
            f.get(WAIT_SECONDS * 2, TimeUnit.SECONDS);
        }
        assertThat(maxConcurrent.get()).isLessThanOrEqualTo(limit);
        await("queue empty and nothing in flight",
                () -> c.stats().callsQueued() == 0 && c.stats().callsInFlight() == 0);
    }

    private CallHandler gated(final AtomicInteger entered, final AtomicInteger concurrent,
                              final AtomicInteger maxConcurrent, final Semaphore gate) {
        return call -> {
            entered.incrementAndGet();
            maxConcurrent.accumulateAndGet(concurrent.incrementAndGet(), Math::max);
            gate.acquire();
            concurrent.decrementAndGet();
            call.reply(call.args());
        };
    }

    @Test
    void callsBeyondTheServersAdvertisedLimitQueueAndAllComplete() throws Exception {
        final AtomicInteger entered = new AtomicInteger();
        final AtomicInteger concurrent = new AtomicInteger();
        final AtomicInteger maxConcurrent = new AtomicInteger();
        final Semaphore gate = new Semaphore(0);
        final BraidServer server = server(config(true).maxOutstandingCalls(4),
                s -> s.handle(GATED, gated(entered, concurrent, maxConcurrent, gate)));
        final Connection c = connect(server);
        callsBeyondTheLimitQueueAndComplete(c, 4, entered, maxConcurrent, gate);
        assertThat(server.connections().get(0).stats().readSuspensions()).isZero();
    }

    /** Without braid's extensions (libvirt-compatible mode) the client's own maxOutstandingCalls is the limit. */
    @Test
    void callsBeyondTheClientsOwnLimitQueueAndAllComplete() throws Exception {
        final AtomicInteger entered = new AtomicInteger();
        final AtomicInteger concurrent = new AtomicInteger();
        final AtomicInteger maxConcurrent = new AtomicInteger();
        final Semaphore gate = new Semaphore(0);
        final BraidServer server = server(s -> s.handle(GATED, gated(entered, concurrent, maxConcurrent, gate)));
        final Connection c = connect(config(false).extensions(false).maxOutstandingCalls(3), server);
        assertThat(c.extensionsNegotiated()).isFalse();
        callsBeyondTheLimitQueueAndComplete(c, 3, entered, maxConcurrent, gate);
    }

    // ------------------------------------------------------------------ server: inline (NON_BLOCKING) handlers

    /**
     * An inline handler that defers its answer, answered later from another thread while many other inline
     * calls run on the same connection (each of which reuses the server's spare call record): the deferred
     * call keeps its own serial and arguments and its answer reaches its own caller.
     */
    @Test
    void aDeferredInlineCallKeepsItsRecordWhileOtherInlineCallsRun() throws Exception {
        record Held(IncomingCall call, int serial, long inlineMark) {
        }
        final LinkedBlockingQueue<Held> held = new LinkedBlockingQueue<>();
        final AtomicLong inlineServed = new AtomicLong();
        final ConcurrentLinkedQueue<String> serverProblems = new ConcurrentLinkedQueue<>();
        final BraidServer server = server(s -> s
                .handle(DEFER_INLINE, call -> {
                    call.deferReply();
                    held.add(new Held(call, call.serial(), inlineServed.get()));
                }, HandlerMode.NON_BLOCKING)
                .handle(ECHO_INLINE, call -> {
                    final ByteBuffer a = call.args();
                    if (a.position() != 0 || !a.isReadOnly()) {
                        serverProblems.add("args view " + a);
                    }
                    call.reply(a);
                    inlineServed.incrementAndGet();
                }, HandlerMode.NON_BLOCKING));
        final Connection c = connect(server);
        final int threads = 3;
        final int perThread = 150;
        final int total = threads * perThread;
        final int[] sizes = {0, 1, 13, 100, 4096, 3, 65_536, 777};
        final CountDownLatch clientsDone = new CountDownLatch(threads);

        // the answerer: each deferred call is answered, in shuffled batches, only after 3 more inline calls ran
        final CompletableFuture<Integer> answerer = inThread("deferred-answerer", () -> {
            final Random random = new Random(3);
            int answered = 0;
            final List<Held> batch = new ArrayList<>();
            while (answered < total) {
                final Held first = held.poll(WAIT_SECONDS, TimeUnit.SECONDS);
                if (first == null) {
                    throw new AssertionError("no deferred call arrived; " + answered + " answered");
                }
                batch.add(first);
                held.drainTo(batch, 5);
                Collections.shuffle(batch, random);
                for (Held h : batch) {
                    final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
                    while (inlineServed.get() < h.inlineMark() + 3 && clientsDone.getCount() > 0
                            && System.nanoTime() - deadline < 0) {
                        Thread.onSpinWait();
                    }
                    final IncomingCall ic = h.call();
                    final ByteBuffer a = ic.args(); // still the deferred call's arguments
                    final long id = a.remaining() >= 8 ? a.getLong(0) : -1;
                    if (ic.serial() != h.serial() || !ic.procedure().equals(DEFER_INLINE)
                            || a.remaining() != 8 + (int) (id % 200) || checkPattern(a, 8, id, (int) (id % 200)) != null) {
                        ic.fail(RemoteError.of(RemoteError.VIR_ERR_INTERNAL_ERROR, RemoteError.VIR_FROM_RPC,
                                "deferred call serial " + h.serial() + " changed: now serial " + ic.serial() + ", "
                                        + ic.procedure() + ", " + a.remaining() + " bytes of arguments"));
                    } else {
                        final ByteBuffer answer = ByteBuffer.allocate(4 + a.remaining()).putInt(ic.serial()).put(a).flip();
                        ic.reply(answer);
                    }
                    answered++;
                }
                batch.clear();
            }
            return answered;
        });

        final List<CompletableFuture<List<CompletableFuture<Void>>>> clients = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int thread = t;
            clients.add(inThread("inline-client-" + t, () -> {
                final List<CompletableFuture<Void>> deferred = new ArrayList<>();
                final ByteBuffer into = ByteBuffer.allocateDirect(65_536);
                try {
                    for (int i = 0; i < perThread; i++) {
                        final long id = (long) thread * perThread + i;
                        final byte[] args = ByteBuffer.allocate(8 + (int) (id % 200)).putLong(id)
                                .put(pattern(id, (int) (id % 200))).array();
                        deferred.add(c.callAsync(DEFER_INLINE, args).thenAccept(r -> {
                            try (r) {
                                final ByteBuffer p = r.payload();
                                assertThat(p.getInt(0)).as("serial of deferred call %d", id).isEqualTo(r.serial());
                                final byte[] echoed = new byte[p.remaining() - 4];
                                p.get(4, echoed);
                                assertThat(echoed).as("arguments of deferred call %d", id).isEqualTo(args);
                            }
                        }));
                        for (int k = 0; k < 2; k++) {
                            final int size = sizes[(i * 2 + k + thread) % sizes.length];
                            final long seed = id * 2 + k;
                            into.clear();
                            final int n = c.call(ECHO_INLINE, ByteBuffer.wrap(pattern(seed, size)), into, CallOptions.DEFAULT);
                            assertThat(n).isEqualTo(size);
                            assertThat(checkPattern(into, 0, seed, size)).isNull();
                        }
                    }
                } finally {
                    clientsDone.countDown();
                }
                return deferred;
            }));
        }
        final List<CompletableFuture<Void>> all = new ArrayList<>();
        for (CompletableFuture<List<CompletableFuture<Void>>> f : clients) {
            all.addAll(f.get(60, TimeUnit.SECONDS));
        }
        assertThat(answerer.get(60, TimeUnit.SECONDS)).isEqualTo(total);
        for (CompletableFuture<Void> f : all) {
            f.get(WAIT_SECONDS, TimeUnit.SECONDS);
        }
        assertThat(all).hasSize(total);
        assertThat(serverProblems).isEmpty();
    }

    /** An inline handler sees each call's own arguments, whatever sizes come one after another. */
    @Test
    void inlineHandlersSeeTheirOwnArgumentsForInterleavedSizes() throws Exception {
        final BraidServer server = server(s -> s.handle(ARGS_CHECK_INLINE, call -> {
            final ByteBuffer a = call.args();
            final int size = a.remaining();
            final String problem;
            if (a.position() != 0 || !a.isReadOnly() || size < 8) {
                problem = "args view " + a;
            } else if (a.getInt(0) != size) {
                problem = "args of " + size + " bytes say " + a.getInt(0);
            } else {
                final String bad = checkPattern(a, 8, a.getInt(4), size - 8);
                final ByteBuffer again = call.args(); // the same view, rewound: same bytes
                problem = bad != null ? bad : again.remaining() != size || again.getInt(4) != a.getInt(4)
                        ? "a second args() shows " + again : null;
            }
            if (problem != null) {
                call.fail(RemoteError.of(RemoteError.VIR_ERR_INTERNAL_ERROR, RemoteError.VIR_FROM_RPC, problem));
            } else {
                call.reply(ByteBuffer.allocate(8).putInt(0, size).putInt(4, a.getInt(4)));
            }
        }, HandlerMode.NON_BLOCKING));
        final Connection c = connect(server);
        final int[] sizes = {8, 9, 64, 4096, 1 << 20, 12, 70_000, 8, 100_000, 15, 65_536, 65_537};
        final List<CompletableFuture<Void>> callers = new ArrayList<>();
        for (int t = 0; t < 2; t++) {
            final int thread = t;
            callers.add(inThread("args-caller-" + t, () -> {
                final ByteBuffer into = ByteBuffer.allocate(8);
                for (int i = 0; i < 3 * sizes.length; i++) {
                    final int size = sizes[(i + thread * 5) % sizes.length];
                    final int seed = thread * 10_000 + i;
                    final ByteBuffer args = ByteBuffer.allocate(size).putInt(size).putInt(seed)
                            .put(pattern(seed, size - 8)).flip();
                    into.clear();
                    assertThat(c.call(ARGS_CHECK_INLINE, args, into, CallOptions.DEFAULT)).isEqualTo(8);
                    assertThat(into.getInt(0)).isEqualTo(size);
                    assertThat(into.getInt(4)).isEqualTo(seed);
                }
                return null;
            }));
        }
        for (CompletableFuture<Void> f : callers) {
            f.get(60, TimeUnit.SECONDS);
        }
    }

    /** An inline handler that returns without answering (or throws) yields an error; the next inline call works. */
    @Test
    void anInlineHandlerThatReturnsWithoutReplyingYieldsAnError() throws Exception {
        final BraidServer server = server(s -> s
                .handle(SILENT_INLINE, call -> {
                }, HandlerMode.NON_BLOCKING)
                .handle(THROW_INLINE, call -> {
                    throw new IllegalArgumentException("bad input " + call.args().remaining());
                }, HandlerMode.NON_BLOCKING)
                .handle(ECHO_INLINE, echo(), HandlerMode.NON_BLOCKING));
        final Connection c = connect(server);
        final ByteBuffer into = ByteBuffer.allocate(64);
        for (int i = 0; i < 20; i++) {
            assertThatThrownBy(() -> c.call(SILENT_INLINE, bytes((byte) 1), into, CallOptions.DEFAULT))
                    .isInstanceOfSatisfying(RemoteException.class, e -> {
                        assertThat(e.code()).isEqualTo(RemoteError.VIR_ERR_INTERNAL_ERROR);
                        assertThat(e.remoteMessage()).contains("returned without replying").contains(SILENT_INLINE.toString());
                    });
            final int size = i;
            assertThatThrownBy(() -> c.call(THROW_INLINE, ByteBuffer.wrap(pattern(size, size)), into, CallOptions.DEFAULT))
                    .isInstanceOfSatisfying(RemoteException.class, e ->
                            assertThat(e.remoteMessage()).contains("IllegalArgumentException").contains("bad input " + size));
            into.clear();
            assertThat(c.call(ECHO_INLINE, ByteBuffer.wrap(pattern(i, 40 + i)), into, CallOptions.DEFAULT)).isEqualTo(40 + i);
            assertThat(checkPattern(into, 0, i, 40 + i)).isNull();
        }
        final RecordingHandler h = new RecordingHandler();
        c.callAsync(SILENT_INLINE, bytes(), CallOptions.DEFAULT, h);
        c.callAsync(ECHO_INLINE, bytes((byte) 5), CallOptions.DEFAULT, h);
        await("two callbacks", () -> h.events.size() == 2);
        final List<RecordingHandler.Event> events = new ArrayList<>(h.events);
        assertThat(events).anySatisfy(e -> assertThat(e.error()).isInstanceOfSatisfying(RemoteException.class,
                re -> assertThat(re.remoteMessage()).contains("returned without replying")));
        assertThat(events).anySatisfy(e -> assertThat(e.payload()).containsExactly(5));
    }

    /**
     * IncomingCall's contract: "reply/fail may be called from any thread, once: the first answer wins and
     * later ones throw IllegalStateException". An inline handler that answered and kept its IncomingCall
     * (say, a fallback timer that fails the call if nothing answered it) must get that exception from a
     * second answer; the second answer must never reach the call that arrived next on the connection.
     */
    @Test
    void aSecondAnswerToAnAnsweredInlineCallIsRefusedAndNeverReachesTheNextCall() throws Exception {
        final CompletableFuture<IncomingCall> first = new CompletableFuture<>();
        final CompletableFuture<IncomingCall> second = new CompletableFuture<>();
        final BraidServer server = server(s -> s
                .handle(ECHO_INLINE, call -> {
                    call.reply(call.args());
                    first.complete(call); // kept after answering
                }, HandlerMode.NON_BLOCKING)
                .handle(DEFER_INLINE, call -> {
                    call.deferReply();
                    second.complete(call);
                }, HandlerMode.NON_BLOCKING));
        final Connection c = connect(server);
        final ByteBuffer into = ByteBuffer.allocate(8);
        assertThat(c.call(ECHO_INLINE, bytes((byte) 1), into, CallOptions.DEFAULT)).isEqualTo(1);
        final IncomingCall answered = first.get(WAIT_SECONDS, TimeUnit.SECONDS);
        final int answeredSerial = answered.serial();

        final CompletableFuture<Reply> next = c.callAsync(DEFER_INLINE, new byte[]{2});
        final IncomingCall deferred = second.get(WAIT_SECONDS, TimeUnit.SECONDS);
        final Throwable stray = failureOf(CompletableFuture.runAsync(() -> answered.fail(RemoteError.of(
                RemoteError.VIR_ERR_INTERNAL_ERROR, RemoteError.VIR_FROM_RPC, "stray second answer"))));
        final int serialAfter = answered.serial();
        final Throwable ownAnswer = failureOf(CompletableFuture.runAsync(() -> deferred.reply(new byte[]{'o', 'k'})));
        final Throwable nextOutcome = failureOf(next.thenAccept(r -> {
            try (r) {
                assertThat(r.toByteArray()).as("the next call's answer").containsExactly('o', 'k');
            }
        }));
        final org.assertj.core.api.SoftAssertions soft = new org.assertj.core.api.SoftAssertions();
        soft.assertThat(stray).as("a second answer is refused").isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("did not defer its reply");
        soft.assertThat(nextOutcome).as("the next call gets its own answer").isNull();
        soft.assertThat(ownAnswer).as("the deferred call's own answer is accepted").isNull();
        soft.assertThat(serialAfter).as("an answered call keeps its serial").isEqualTo(answeredSerial);
        soft.assertAll();
    }

    // ------------------------------------------------------------------ write-through with a stream

    /**
     * 6 threads making blocking calls (to a blocking and an inline procedure) while a 16 MiB upload runs on
     * the same connection: with nio, callers write their own frames (write-through) when the loop is idle,
     * competing with the loop for the writer flag. Every answer is right, the upload arrives intact.
     */
    @Test
    void blockingCallsFromManyThreadsDuringAnUploadAllGetTheirAnswers() throws Exception {
        final long size = 16L << 20;
        final BraidServer server = server(s -> s
                .stream(UPLOAD, (call, stream) -> {
                    final long id = call.args().getLong(0);
                    final long expected = call.args().getLong(8);
                    call.reply(new byte[0]);
                    final long got = StreamsTest.receive(stream, id);
                    if (got != expected) {
                        throw new IllegalStateException("received " + got + " bytes, expected " + expected);
                    }
                    stream.finish();
                })
                .handle(ECHO, echo())
                .handle(ECHO_INLINE, echo(), HandlerMode.NON_BLOCKING));
        final Connection c = connect(server);
        final BraidStream up = c.openStream(UPLOAD, ByteBuffer.allocate(16).putLong(0, 9).putLong(8, size),
                dev.braid.StreamOptions.DEFAULT);
        final CompletableFuture<Void> upload = inThread("uploader", () -> {
            StreamsTest.send(up, 9, size);
            up.finish();
            return null;
        });
        final int[] sizes = {0, 1, 64, 512, 4096, 20_000};
        final List<CompletableFuture<Integer>> callers = new ArrayList<>();
        for (int t = 0; t < 6; t++) {
            final int thread = t;
            callers.add(inThread("caller-" + t, () -> {
                final ByteBuffer into = ByteBuffer.allocateDirect(20_000);
                final ByteBuffer args = ByteBuffer.allocateDirect(20_000);
                int calls = 0;
                for (int i = 0; i < 250; i++) {
                    final int n = sizes[(i + thread) % sizes.length];
                    final long seed = thread * 100_000L + i;
                    args.clear().put(pattern(seed, n)).flip();
                    into.clear();
                    final Procedure p = (i + thread) % 2 == 0 ? ECHO : ECHO_INLINE;
                    assertThat(c.call(p, args, into, CallOptions.DEFAULT)).isEqualTo(n);
                    assertThat(checkPattern(into, 0, seed, n)).isNull();
                    calls++;
                }
                return calls;
            }));
        }
        for (CompletableFuture<Integer> f : callers) {
            assertThat(f.get(60, TimeUnit.SECONDS)).isEqualTo(250);
        }
        upload.get(60, TimeUnit.SECONDS);
        assertThat(c.stats().lateReplies()).isZero();
        await("nothing in flight", () -> c.stats().callsInFlight() == 0);
    }
}
