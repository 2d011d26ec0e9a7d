package dev.braid.testsuite;

import dev.braid.BraidException;
import dev.braid.BraidServer;
import dev.braid.CallOptions;
import dev.braid.CallTimeoutException;
import dev.braid.Connection;
import dev.braid.HandlerMode;
import dev.braid.IncomingCall;
import dev.braid.LimitExceededException;
import dev.braid.Procedure;
import dev.braid.RemoteError;
import dev.braid.RemoteException;
import dev.braid.Reply;
import dev.braid.testing.Await;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class CallsTest extends TransportTest {
    static final int PROG = 0x1234;
    static final Procedure ECHO = Procedure.of(PROG, 1, 1);
    static final Procedure SHUFFLE = Procedure.of(PROG, 1, 2);
    static final Procedure FAIL = Procedure.of(PROG, 1, 3);
    static final Procedure SILENT = Procedure.of(PROG, 1, 4);
    static final Procedure REMOTE_FAIL = Procedure.of(PROG, 1, 5);
    static final Procedure SLOW = Procedure.of(PROG, 1, 6);
    static final Procedure INLINE = Procedure.of(PROG, 1, 7);

    private static byte[] utf8(final String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void echoesPayloadsOfEverySize() throws Exception {
        final BraidServer server = server(s -> s.handle(ECHO, call -> call.reply(call.args())));
        final Connection c = connect(server);
        assertThat(new String(c.call(ECHO, utf8("hello")), StandardCharsets.UTF_8)).isEqualTo("hello");
        try (Reply r = c.callAsync(ECHO, new byte[0]).get()) {
            assertThat(r.payload().remaining()).isZero();
        }
        final Random random = new Random(42);
        for (int size : new int[]{1, 3, 100, 4096, 65_535, 65_536, 200_000, 1_000_000, 4_000_000}) {
            final byte[] payload = new byte[size];
            random.nextBytes(payload);
            assertThat(c.call(ECHO, payload)).as("payload of %d bytes", size).isEqualTo(payload);
        }
        assertThat(c.extensionsNegotiated()).isTrue();
    }

    /**
     * 10,000 calls from 8 threads on one connection; the server holds each batch of replies and answers
     * them in shuffled order, so replies arrive out of order and must still be matched to their calls.
     */
    @Test
    void tenThousandConcurrentCallsWithRepliesOutOfOrder() throws Exception {
        final int threads = 8;
        final int perThread = 1250;
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
            for (IncomingCall c : batch) {
                final ByteBuffer args = c.args();
                final ByteBuffer answer = ByteBuffer.allocate(8);
                answer.putLong(args.getLong(0) * 3 + 1).flip();
                c.reply(answer);
            }
        }));
        final Connection c = connect(server);
        final List<CompletableFuture<Void>> all = new ArrayList<>();
        final CountDownLatch start = new CountDownLatch(1);
        final List<Thread> callers = new ArrayList<>();
        final List<List<CompletableFuture<Void>>> perCaller = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int base = t * perThread;
            final List<CompletableFuture<Void>> mine = Collections.synchronizedList(new ArrayList<>());
            perCaller.add(mine);
            callers.add(Thread.ofPlatform().name("caller-" + t).start(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
                for (int i = 0; i < perThread; i++) {
                    final long v = base + i;
                    final ByteBuffer args = ByteBuffer.allocate(8).putLong(0, v);
                    mine.add(c.callAsync(SHUFFLE, args, CallOptions.DEFAULT).thenAccept(r -> {
                        try (r) {
                            assertThat(r.payload().getLong(0)).isEqualTo(v * 3 + 1);
                        }
                    }));
                }
            }));
        }
        start.countDown();
        for (Thread t : callers) {
            t.join();
        }
        perCaller.forEach(all::addAll);
        CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
        assertThat(all).hasSize(threads * perThread);
        assertThat(c.stats().callsStarted()).isEqualTo(threads * perThread);
        assertThat(c.stats().lateReplies()).isZero();
        assertThat(c.stats().callsInFlight()).isZero();
    }

    @Test
    void unknownProgramVersionAndProcedureGetErrorRepliesNamingThem() {
        final BraidServer server = server(s -> s.handle(ECHO, call -> call.reply(call.args())));
        final Connection c = connect(server);
        assertThatThrownBy(() -> c.call(Procedure.of(0x999, 1, 1), new byte[0]))
                .isInstanceOfSatisfying(RemoteException.class, e -> {
                    assertThat(e.code()).isEqualTo(RemoteError.VIR_ERR_RPC);
                    assertThat(e.domain()).isEqualTo(RemoteError.VIR_FROM_RPC);
                    assertThat(e.remoteMessage()).contains("unknown program 0x999");
                });
        assertThatThrownBy(() -> c.call(Procedure.of(PROG, 7, 1), new byte[0]))
                .isInstanceOfSatisfying(RemoteException.class, e ->
                        assertThat(e.remoteMessage()).contains("unknown version 7").contains("0x1234"));
        assertThatThrownBy(() -> c.call(Procedure.of(PROG, 1, 99), new byte[0]))
                .isInstanceOfSatisfying(RemoteException.class, e -> {
                    assertThat(e.code()).isEqualTo(RemoteError.VIR_ERR_NO_SUPPORT);
                    assertThat(e.remoteMessage()).contains("unknown procedure 99");
                });
        // the connection is still usable
        assertThat(c.call(ECHO, utf8("ok"))).isEqualTo(utf8("ok"));
    }

    @Test
    void handlerFailuresBecomeErrorReplies() {
        final RemoteError custom = new RemoteError(55, 10, "custom failure", 1, null, "s1", null, "s3", 7, 8, null);
        final BraidServer server = server(s -> s
                .handle(FAIL, call -> {
                    throw new IllegalStateException("disk on fire");
                })
                .handle(SILENT, call -> {
                })
                .handle(REMOTE_FAIL, call -> call.fail(custom))
                .handle(ECHO, call -> call.reply(call.args())));
        final Connection c = connect(server);
        assertThatThrownBy(() -> c.call(FAIL, new byte[0]))
                .isInstanceOfSatisfying(RemoteException.class, e -> {
                    assertThat(e.code()).isEqualTo(RemoteError.VIR_ERR_INTERNAL_ERROR);
                    assertThat(e.remoteMessage()).contains("IllegalStateException").contains("disk on fire");
                });
        assertThatThrownBy(() -> c.call(SILENT, new byte[0]))
                .isInstanceOfSatisfying(RemoteException.class, e ->
                        assertThat(e.remoteMessage()).contains("returned without replying"));
        assertThatThrownBy(() -> c.call(REMOTE_FAIL, new byte[0]))
                .isInstanceOfSatisfying(RemoteException.class, e -> assertThat(e.error()).isEqualTo(custom));
        assertThat(c.call(ECHO, utf8("still fine"))).isEqualTo(utf8("still fine"));
    }

    @Test
    void timedOutCallFailsNamingItAndItsLateReplyIsDroppedAndCounted() throws Exception {
        final CountDownLatch release = new CountDownLatch(1);
        final BraidServer server = server(s -> s
                .handle(SLOW, call -> {
                    release.await();
                    call.reply(utf8("late"));
                })
                .handle(ECHO, call -> call.reply(call.args())));
        final Connection c = connect(server);
        final CompletableFuture<Reply> slow = c.callAsync(SLOW, ByteBuffer.allocate(0),
                CallOptions.timeout(Duration.ofMillis(100)));
        assertThatThrownBy(slow::get).isInstanceOf(ExecutionException.class)
                .cause().isInstanceOfSatisfying(CallTimeoutException.class, e -> {
                    assertThat(e.procedure()).isEqualTo(SLOW);
                    assertThat(e.getMessage()).contains("timed out after 100 ms").contains("serial");
                });
        release.countDown();
        // the late reply must not reach a newer call
        for (int i = 0; i < 20; i++) {
            assertThat(c.call(ECHO, utf8("n" + i))).isEqualTo(utf8("n" + i));
        }
        awaitLateReplies(c, 1);
    }

    @Test
    void cancelledCallReleasesItsSlotAndItsReplyIsDropped() throws Exception {
        final CountDownLatch release = new CountDownLatch(1);
        final BraidServer server = server(s -> s
                .handle(SLOW, call -> {
                    release.await();
                    call.reply(utf8("late"));
                })
                .handle(ECHO, call -> call.reply(call.args())));
        final Connection c = connect(server);
        final CompletableFuture<Reply> slow = c.callAsync(SLOW, new byte[0]);
        assertThat(slow.cancel(true)).isTrue();
        assertThatThrownBy(slow::get).isInstanceOf(CancellationException.class);
        release.countDown();
        assertThat(c.call(ECHO, utf8("x"))).isEqualTo(utf8("x"));
        awaitLateReplies(c, 1);
        assertThat(c.stats().callsInFlight()).isZero();
    }

    private static void awaitLateReplies(final Connection c, final long n) {
        Await.until(n + " late replies counted", () -> c.stats().lateReplies() >= n, c::stats);
        assertThat(c.stats().lateReplies()).isEqualTo(n);
    }

    @Test
    void nonBlockingHandlerRunsOnTheIoThread() {
        final BraidServer server = server(s -> s.handle(INLINE,
                call -> call.reply(utf8(Thread.currentThread().getName())), HandlerMode.NON_BLOCKING)
                .handle(ECHO, call -> call.reply(utf8(Thread.currentThread().getName()))));
        final Connection c = connect(server);
        // A non-blocking handler runs on the backend's I/O thread (a platform loop thread on nio and epoll, the
        // connection's reader virtual thread on loom); a blocking one on the handler executor.
        assertThat(new String(c.call(INLINE, new byte[0]), StandardCharsets.UTF_8)).startsWith("braid-")
                .doesNotContain("-handler-");
        assertThat(new String(c.call(ECHO, new byte[0]), StandardCharsets.UTF_8)).contains("-handler-");
    }

    @Test
    void callLargerThanTheNegotiatedMaximumFailsBeforeSending() {
        final BraidServer server = server(config(true).maxMessageSize(64 * 1024),
                s -> s.handle(ECHO, call -> call.reply(call.args())));
        final Connection c = connect(server);
        assertThat(c.limits().maxMessageSize()).isEqualTo(64 * 1024);
        assertThatThrownBy(() -> c.call(ECHO, new byte[64 * 1024]))
                .isInstanceOfSatisfying(LimitExceededException.class, e -> {
                    assertThat(e.limit()).isEqualTo("maxMessageSize");
                    assertThat(e.value()).isEqualTo(64 * 1024);
                });
        assertThat(c.call(ECHO, new byte[64 * 1024 - 28])).hasSize(64 * 1024 - 28);
    }

    @Test
    void zeroCopyWritersFillFramesDirectly() throws Exception {
        final BraidServer server = server(s -> s.handle(ECHO, call -> {
            final ByteBuffer args = call.args();
            call.reply(args.remaining(), dst -> dst.put(args));
        }));
        final Connection c = connect(server);
        try (Reply r = c.callAsync(ECHO, 5, dst -> dst.put(utf8("abcde")), CallOptions.DEFAULT).get()) {
            assertThat(r.toByteArray()).isEqualTo(utf8("abcde"));
        }
    }

    @Test
    void aPayloadWriterThatWritesLessThanItDeclaredIsRefused() {
        final BraidServer server = server(s -> s.handle(ECHO, call -> call.reply(call.args())));
        final Connection c = connect(server);
        assertThatThrownBy(() -> c.callAsync(ECHO, 10, dst -> dst.put((byte) 1), CallOptions.DEFAULT))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("wrote 1 of the 10 bytes");
        assertThat(c.call(ECHO, utf8("after"))).isEqualTo(utf8("after"));
    }

    @Test
    void connectingToAPortNobodyListensOnFailsWithTheCause() throws Exception {
        final java.net.InetSocketAddress nobody;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            nobody = new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), s.getLocalPort());
        }
        assertThatThrownBy(() -> clientBraid().connect(nobody))
                .isInstanceOfSatisfying(BraidException.class, e -> {
                    assertThat(e.category()).isEqualTo(BraidException.Category.IO);
                    assertThat(e.getMessage()).contains("cannot connect to").contains("refused");
                });
    }

    @Test
    void callsOnAClosedConnectionFailAtOnce() {
        final BraidServer server = server(s -> s.handle(ECHO, call -> call.reply(call.args())));
        final Connection c = connect(server);
        c.close();
        assertThat(c.isOpen()).isFalse();
        assertThatThrownBy(() -> c.call(ECHO, new byte[0])).isInstanceOfSatisfying(BraidException.class,
                e -> assertThat(e.category()).isEqualTo(BraidException.Category.CONNECTION_CLOSED));
    }
}
